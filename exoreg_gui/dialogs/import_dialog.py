"""Import exported models: preview each file, ask for trust when needed, register.

Nothing is registered before the person has seen, for each file, its metadata, its format,
whether its checksums match and the safety verdict (:func:`core.transfer.preview_import`,
which reads without loading). A file whose contents are not all on the allowlist (any pickle,
a skops file with other types) is imported only when the person answers Yes to
:meth:`Prompts.confirm_trust`, which lists what the file would import and defaults to No.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui import workers
from exoreg_gui.dialogs.common import (
    MODEL_FILTER,
    FileDropDialog,
    ProgressRow,
    Prompts,
    choose_files,
    is_model_file,
    model_file_for,
    reason_and_action_row,
    start_worker_for,
)
from exoreg_gui.dialogs.messages import Messages, describe_error


@dataclass
class ImportItem:
    """One file to import and what is known about it."""

    path: str
    preview: Any = None  # core.transfer.ImportPreview
    error: BaseException | None = None
    trusted: bool = False
    new_id: str | None = None
    state: str = "reading"  # reading, ready, invalid, declined, imported, failed


def normalise_sources(paths: list[str]) -> tuple[list[str], list[str]]:
    """``(model files and archives, refused paths)``: a metadata JSON stands for the model file beside it."""
    sources: list[str] = []
    refused: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.suffix.lower() == ".json":
            model = model_file_for(path)
            if model is None:
                refused.append(raw)
                continue
            path = model
        elif not is_model_file(path):
            refused.append(raw)
            continue
        text = str(path.expanduser().resolve())
        if text not in sources:
            sources.append(text)
    return sources, refused


def read_preview(path: str):
    """Worker function: read and check one file without loading or registering it."""
    from core.registry.transfer import preview_import

    return preview_import(path)


def import_items(registry, items: list[tuple], *, progress=None, cancelled=None) -> list:
    """Worker function: register each ``(path, trusted[, preview])``; returns ``(path, new id or exception)`` pairs.

    With the preview the person was shown, exactly the bytes they saw (and trusted) are
    registered; the file is not read again.
    """
    from core.errors import RegistryError

    done = []
    for i, (path, trusted, *rest) in enumerate(items):
        if cancelled is not None and cancelled():
            break
        preview = rest[0] if rest else None
        try:
            done.append((path, registry.import_model(path, trusted=trusted, preview=preview)))
        except (RegistryError, OSError, ValueError) as exc:
            done.append((path, exc))
        if progress is not None:
            progress(i + 1, len(items))
    return done


def _escape(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def preview_html(item: ImportItem) -> str:
    """What a person should see before importing one file."""
    name = Path(item.path).name
    if item.error is not None:
        return (f"<h3>{_escape(name)}</h3><p style='color:#b3261e'><b>Cannot be imported:</b> "
                f"{_escape(describe_error(item.error)[0])}</p>")
    preview = item.preview
    if preview is None:
        return f"<h3>{_escape(name)}</h3><p>Reading…</p>"
    meta = preview.metadata
    rows = [
        ("Model", f"{meta.model_name} v{meta.version} (will be the next version of {meta.model_name} here)"),
        ("Algorithm", meta.algorithm),
        ("Original id", meta.model_id),
        ("Trained", meta.training_date),
        ("Metrics", " · ".join(f"{k.replace('_score', '')} {getattr(meta, k):.3f}"
                               for k in ("accuracy", "precision", "recall", "f1_score")
                               if isinstance(getattr(meta, k, None), int | float))),
        ("Features", f"{len(meta.feature_columns)}: {', '.join(meta.feature_columns[:8])}"
                     + (" …" if len(meta.feature_columns) > 8 else "")),
        ("Dataset", meta.training_dataset),
        ("Format", f"{preview.format} · {len(preview.model_bytes):,} bytes"),
        ("scikit-learn", meta.sklearn_version or "not recorded"),
    ]
    if preview.checksum_ok is True:
        checksum = "<span style='color:#1e7b34'>✓ matches the SHA-256 that came with it</span>"
    else:
        checksum = "no checksum came with the file"
    rows.append(("Checksum", checksum))
    table = "".join(f"<tr><td style='color:#5d6877;padding-right:10px'>{k}</td><td>{v if k == 'Checksum' else _escape(v)}"
                    "</td></tr>" for k, v in rows)
    inspection = preview.inspection
    if not preview.needs_trust:
        verdict = ("<p style='color:#1e7b34'><b>✓ Safe:</b> a skops file whose "
                   f"{len(inspection.imports)} types are all on this application's allowlist.</p>")
    else:
        what = ("a pickle: loading it runs whatever code it names" if preview.format == "pickle"
                else "a skops file with types outside this application's allowlist")
        listed = "".join(f"<li><code>{_escape(t)}</code></li>" for t in inspection.untrusted[:20])
        more = f"<li>… and {len(inspection.untrusted) - 20} more</li>" if len(inspection.untrusted) > 20 else ""
        verdict = (f"<p style='color:#b3261e'><b>⚠ Needs your trust:</b> this is {what}. "
                   f"It would import or construct:</p><ul>{listed}{more}</ul>"
                   "<p>You will be asked before it is imported; the default answer is No.</p>")
    state = {
        "declined": "<p><b>Not imported:</b> you did not trust it.</p>",
        "imported": f"<p style='color:#1e7b34'><b>Imported</b> as {_escape(item.new_id)}.</p>",
        "failed": "<p style='color:#b3261e'><b>Import failed.</b></p>",
    }.get(item.state, "")
    return f"<h3>{_escape(name)}</h3><table>{table}</table>{verdict}{state}"


class ImportDialog(FileDropDialog):
    """Preview exported models, then register them (asking for trust where needed)."""

    #: Versions were registered; carries their new ids.
    imported = Signal(object)
    #: Every listed file has been read (previews or errors).
    previews_ready = Signal()

    def __init__(self, registry, paths: list[str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ImportDialog")
        self.setWindowTitle("Import models")
        self.registry = registry
        self.items: dict[str, ImportItem] = {}
        self._preview_workers: dict[str, workers.Worker] = {}
        self._import_worker: workers.Worker | None = None

        self.file_list = QListWidget(self)
        self.file_list.setObjectName("fileList")
        self.file_list.currentRowChanged.connect(lambda _row: self._show_current())
        self.details = QTextBrowser(self)
        self.details.setObjectName("previewText")
        self.details.setOpenLinks(False)
        self.add_button = QPushButton("Add Files…", self)
        self.add_button.clicked.connect(self._on_add_clicked)
        left = QWidget(self)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Drop .exoreg archives or model + metadata pairs here:", self))
        left_layout.addWidget(self.file_list, 1)
        left_layout.addWidget(self.add_button)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(self.details)
        splitter.setSizes([240, 520])

        self.progress = ProgressRow("models", self)
        self.progress.cancel_requested.connect(self._on_cancel_requested)
        self.reason_label, self.import_button, self.close_button, buttons = reason_and_action_row(
            self, "Import", self.start_import, "importButton")
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(800, 520)
        if paths:
            self.add_files(paths)
        self._update_state()

    # ============================================================ public API
    def add_files(self, paths: list[str]) -> list[str]:
        sources, refused = normalise_sources(paths)
        for path in sources:
            if path in self.items:
                continue
            self.items[path] = ImportItem(path)
            item = QListWidgetItem(Path(path).name)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.file_list.addItem(item)
            self._preview_workers[path] = start_worker_for(self,
                read_preview, path,
                on_success=lambda preview, p=path: self._on_preview_read(p, preview, None),
                on_error=lambda exc, p=path: self._on_preview_read(p, None, exc),
            )
        if self.file_list.currentRow() < 0 and self.file_list.count():
            self.file_list.setCurrentRow(0)
        if refused:
            names = ", ".join(Path(p).name for p in refused[:5])
            Messages.information(self, "Not an exported model",
                                 f"{names}: import takes .exoreg archives, or a model file (.skops, .pkl) "
                                 "with its metadata JSON beside it.")
        self._update_state()
        return refused

    def start_import(self) -> None:
        """Ask for trust where needed (default No), then register the accepted files in the background."""
        if self._import_worker is not None:
            return
        chosen: list[tuple[str, bool, Any]] = []
        for path, item in self.items.items():
            if item.state not in ("ready", "declined"):
                continue
            trusted = False
            if item.preview.needs_trust:
                if not Prompts.confirm_trust(self, item.preview):
                    item.state = "declined"
                    self._refresh_item(path)
                    continue
                trusted = True
            item.trusted = trusted
            chosen.append((path, trusted, item.preview))
        self._show_current()
        if not chosen:
            self._update_state()
            return
        self.progress.start(f"Importing {len(chosen)} model{'s' if len(chosen) > 1 else ''}…")
        self._import_worker = start_worker_for(self,
            import_items, self.registry, chosen,
            on_success=self._on_imported,
            on_error=lambda exc: Messages.error(self, "Could not import", exc),
            on_progress=self.progress.set_progress,
            on_finished=self._on_import_finished,
        )
        self._update_state()

    def is_busy(self) -> bool:
        return self._import_worker is not None or bool(self._preview_workers)

    def files_dropped(self, paths: list[str]) -> None:
        self.add_files(paths)

    # ============================================================ slots
    def _on_add_clicked(self) -> None:
        paths = choose_files(self, "Choose exported models", "models", MODEL_FILTER)
        if paths:
            self.add_files(paths)

    def _on_preview_read(self, path: str, preview, exc) -> None:
        self._preview_workers.pop(path, None)
        item = self.items.get(path)
        if item is None:
            return
        item.preview, item.error = preview, exc
        item.state = "ready" if preview is not None else "invalid"
        self._refresh_item(path)
        self._show_current()
        self._update_state()
        if not self._preview_workers:
            self.previews_ready.emit()

    def _on_imported(self, results: list) -> None:
        new_ids = []
        failures = []
        for path, outcome in results:
            item = self.items[path]
            if isinstance(outcome, BaseException):
                item.state, item.error = "failed", outcome
                failures.append(outcome)
            else:
                item.state, item.new_id = "imported", outcome
                new_ids.append(outcome)
            self._refresh_item(path)
        self.progress.finish(f"Imported {len(new_ids)} of {len(results)}.")
        self._show_current()
        if new_ids:
            self.imported.emit(new_ids)
        if failures:
            Messages.error(self, "Some files could not be imported", failures[0])

    def _on_import_finished(self) -> None:
        self._import_worker = None
        self._update_state()

    def _on_cancel_requested(self) -> None:
        if self._import_worker is not None:
            self._import_worker.cancel()

    # ============================================================ display
    def _refresh_item(self, path: str) -> None:
        item = self.items[path]
        marks = {"reading": "…", "ready": "⚠ needs trust" if item.preview and item.preview.needs_trust else "✓",
                 "invalid": "✗", "declined": "not trusted", "imported": "imported", "failed": "failed"}
        for row in range(self.file_list.count()):
            widget_item = self.file_list.item(row)
            if widget_item.data(Qt.ItemDataRole.UserRole) == path:
                widget_item.setText(f"{Path(path).name}   {marks[item.state]}")

    def _show_current(self) -> None:
        current = self.file_list.currentItem()
        item = self.items.get(current.data(Qt.ItemDataRole.UserRole)) if current is not None else None
        self.details.setHtml(preview_html(item) if item is not None else
                             "<p>Drop .exoreg archives, or a model file with its metadata JSON, here.</p>")

    def _update_state(self) -> None:
        ready = [i for i in self.items.values() if i.state in ("ready", "declined")]
        busy = self.is_busy()
        self.import_button.setEnabled(bool(ready) and not busy)
        if not self.items:
            reason = "Add files to import."
        elif self._preview_workers:
            reason = "Reading the files…"
        elif not ready:
            reason = "Nothing left to import."
        else:
            trust = sum(1 for i in ready if i.preview.needs_trust)
            reason = f"{len(ready)} to import" + (f"; {trust} will ask for your trust." if trust else ".")
        self.reason_label.setText(reason)
        self.add_button.setEnabled(self._import_worker is None)
