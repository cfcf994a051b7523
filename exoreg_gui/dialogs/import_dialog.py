"""Import exported models: preview each file, ask for trust when needed, register.

Nothing is registered before the person has seen, for each file, its metadata, its format,
whether its checksums match and the safety verdict (:func:`core.transfer.preview_import`,
which reads without loading). A file whose contents are not all on the allowlist (any pickle,
a skops file with other types) is imported only when the person answers Yes to
:meth:`Prompts.confirm_trust`, which lists what the file would import and defaults to No.

A bare model file (no metadata) shows, after the safety review, a form for what it does not say:
its name, its feature columns and an optional labelled file to score it on, pre-filled from the
estimator (:mod:`core.prediction.importing`). A file the registry already holds (same SHA-256) is
named as such, and the person is asked whether to import it anyway (the default is to skip it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
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
    state: str = "reading"  # reading, ready, invalid, declined, skipped, imported, failed
    duplicate_of: Any = None  # the registered version with the same model file (ModelMetadata)
    model: Any = None  # a bare file's loaded model, once the safety review allowed loading it
    facts: Any = None  # core.transfer.EstimatorFacts of that model
    details: dict | None = None  # what the person said about a bare file (name, features, scoring file)

    @property
    def needs_details(self) -> bool:
        return self.preview is not None and self.preview.needs_details

    def missing_details(self) -> str | None:
        """Why a bare file cannot be imported yet (None when it can)."""
        if not self.needs_details:
            return None
        if self.model is None:
            return "review and trust it first" if self.preview.needs_trust and not self.trusted else "reading the model"
        if not (self.details or {}).get("name"):
            return "give it a name"
        if not (self.details or {}).get("feature_columns"):
            return "give its feature columns"
        return None


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


def read_import_check(registry, path: str):
    """Worker function: the preview of one file and the registered version holding the same file, if any."""
    from core.registry.transfer import preview_import, same_model_file

    preview = preview_import(path)
    return preview, (same_model_file(registry, preview) if registry is not None else None)


def load_outside_model(preview, trusted: bool):
    """Worker function: a bare file's model (after the safety review) and what it says about itself."""
    from core.registry.transfer import estimator_facts, load_previewed_model

    model = load_previewed_model(preview, trusted=trusted)
    return model, estimator_facts(model)


def import_items(registry, items: list[tuple], *, progress=None, cancelled=None) -> list:
    """Worker function: register each ``(path, trusted[, preview[, details]])``; returns ``(path, new id or
    exception)`` pairs.

    With the preview the person was shown, exactly the bytes they saw (and trusted) are
    registered; the file is not read again. ``details`` (for a bare model file) holds the
    keyword arguments of :func:`core.prediction.importing.import_outside_model`.
    """
    from core.errors import RegistryError

    done = []
    for i, (path, trusted, *rest) in enumerate(items):
        if cancelled is not None and cancelled():
            break
        preview = rest[0] if rest else None
        details = rest[1] if len(rest) > 1 else None
        try:
            if details is not None:
                from core.prediction.importing import import_outside_model

                done.append((path, import_outside_model(registry, preview, trusted=trusted, **details)))
            else:
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
    if meta is None:
        rows = [("Metadata", "none came with the file: say below what it does not"),
                ("Format", f"{preview.format} · {len(preview.model_bytes):,} bytes")]
        if item.facts is not None:
            rows.append(("Estimator", f"{item.facts.algorithm}; {item.facts.n_features or '?'} features; "
                                      f"classes {', '.join(map(str, item.facts.classes)) or 'not recorded'}"))
        return _page(item, name, rows)
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
    return _page(item, name, rows)


def _page(item: ImportItem, name: str, rows: list[tuple[str, str]]) -> str:
    preview = item.preview
    table = "".join(f"<tr><td style='color:#5d6877;padding-right:10px'>{k}</td><td>{v if k == 'Checksum' else _escape(v)}"
                    "</td></tr>" for k, v in rows)
    duplicate = ""
    if item.duplicate_of is not None:
        from core.registry.transfer import duplicate_message

        duplicate = (f"<p style='color:#8a5a00'><b>Already registered:</b> "
                     f"{_escape(duplicate_message(preview, item.duplicate_of))}; you will be asked whether to "
                     "import it anyway.</p>")
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
        "skipped": "<p><b>Skipped:</b> the registry already holds this model file.</p>",
        "imported": f"<p style='color:#1e7b34'><b>Imported</b> as {_escape(item.new_id)}.</p>",
        "failed": "<p style='color:#b3261e'><b>Import failed.</b></p>",
    }.get(item.state, "")
    return f"<h3>{_escape(name)}</h3><table>{table}</table>{duplicate}{verdict}{state}"


class OutsideModelForm(QWidget):
    """What a bare model file does not say: name, algorithm, feature columns, a labelled file to score on."""

    #: A field changed (the dialog re-reads :meth:`details`).
    changed = Signal()
    #: "Review and trust…" pressed for a file that needs trust before it can be read.
    trust_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("outsideForm")
        self.note = QLabel(self)
        self.note.setWordWrap(True)
        self.trust_button = QPushButton("Review and trust…", self)
        self.trust_button.setObjectName("trustButton")
        self.trust_button.clicked.connect(self.trust_requested)
        self.name_edit = QLineEdit(self)
        self.name_edit.setObjectName("nameEdit")
        self.algorithm_edit = QLineEdit(self)
        self.features_edit = QLineEdit(self)
        self.features_edit.setObjectName("featuresEdit")
        self.features_edit.setPlaceholderText("koi_period, koi_duration, …")
        self.features_button = QPushButton("From CSV…", self)
        self.features_button.clicked.connect(self._features_from_csv)
        self.score_edit = QLineEdit(self)
        self.score_edit.setObjectName("scoreEdit")
        self.score_edit.setPlaceholderText("optional: a labelled CSV to score it on")
        self.score_button = QPushButton("Choose…", self)
        self.score_button.clicked.connect(self._choose_score_file)
        self.label_edit = QLineEdit("koi_disposition", self)
        form = QFormLayout(self)
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow(self.note)
        form.addRow(self.trust_button)
        form.addRow("Name", self.name_edit)
        form.addRow("Algorithm", self.algorithm_edit)
        form.addRow("Feature columns", _row(self, self.features_edit, self.features_button))
        form.addRow("Score on", _row(self, self.score_edit, self.score_button))
        form.addRow("Label column", self.label_edit)
        for edit in (self.name_edit, self.algorithm_edit, self.features_edit, self.score_edit, self.label_edit):
            edit.textEdited.connect(lambda _text: self.changed.emit())
        self._fields = [self.name_edit, self.algorithm_edit, self.features_edit, self.features_button,
                        self.score_edit, self.score_button, self.label_edit]

    def show_item(self, item: ImportItem) -> None:
        """Fill the form from what the person said, else from the estimator (once it could be read)."""
        ready = item.model is not None
        self.trust_button.setVisible(not ready and item.preview.needs_trust and not item.trusted)
        for widget in self._fields:
            widget.setEnabled(ready)
        if not ready:
            self.note.setText("Its name, feature columns and metrics did not come with the file. "
                              + ("Review what it would run and trust it to read the rest from the estimator."
                                 if item.preview.needs_trust and not item.trusted else "Reading the estimator…"))
        else:
            self.note.setText("Filled in from the estimator where it says; metrics scored on the file you name are "
                              "marked \u201coverlap unknown\u201d until you confirm them.")
        details = item.details or {}
        self.name_edit.setText(details.get("name", ""))
        self.algorithm_edit.setText(details.get("algorithm") or "")
        self.features_edit.setText(", ".join(details.get("feature_columns") or []))
        self.score_edit.setText(str(details.get("evaluate") or ""))
        self.label_edit.setText(details.get("label_column") or "koi_disposition")
        for edit in (self.features_edit, self.score_edit):  # show the start; the whole text in the tooltip
            edit.setCursorPosition(0)
            edit.setToolTip(edit.text())

    def details(self) -> dict:
        from core.prediction.importing import parse_feature_list

        score = self.score_edit.text().strip()
        return {"name": self.name_edit.text().strip(), "algorithm": self.algorithm_edit.text().strip() or None,
                "feature_columns": parse_feature_list(self.features_edit.text()),
                "evaluate": score or None, "label_column": self.label_edit.text().strip() or "koi_disposition"}

    def _features_from_csv(self) -> None:
        from core.prediction.importing import csv_columns

        paths = Prompts.open_files(self, "Feature columns from a CSV header", str(Path.home()), "CSV files (*.csv *.csv.gz *.tsv *.txt)")
        if not paths:
            return
        try:
            columns = csv_columns(paths[0], exclude=(self.label_edit.text().strip(),))
        except (OSError, ValueError) as exc:
            Messages.error(self, "Could not read the CSV header", exc)
            return
        self.features_edit.setText(", ".join(columns))
        self.changed.emit()

    def _choose_score_file(self) -> None:
        paths = Prompts.open_files(self, "A labelled file to score it on", str(Path.home()), "CSV files (*.csv *.csv.gz *.tsv *.txt)")
        if paths:
            self.score_edit.setText(paths[0])
            self.changed.emit()


def _row(parent: QWidget, *widgets) -> QWidget:
    holder = QWidget(parent)
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, 1 if isinstance(widget, QLineEdit) else 0)
    return holder


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
        left_layout.addWidget(QLabel("Drop .exoreg archives, model + metadata pairs or model files here:", self))
        left_layout.addWidget(self.file_list, 1)
        left_layout.addWidget(self.add_button)
        self.form = OutsideModelForm(self)
        self.form.changed.connect(self._on_form_changed)
        self.form.trust_requested.connect(self._on_trust_requested)
        self.form.hide()
        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.details, 1)
        right_layout.addWidget(self.form)
        self._load_workers: dict[str, workers.Worker] = {}
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([240, 520])

        self.progress = ProgressRow("models", self)
        self.progress.cancel_requested.connect(self._on_cancel_requested)
        self.reason_label, self.import_button, self.close_button, buttons = reason_and_action_row(
            self, "Import", self.start_import, "importButton")
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(820, 600)
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
                read_import_check, self.registry, path,
                on_success=lambda check, p=path: self._on_preview_read(p, check, None),
                on_error=lambda exc, p=path: self._on_preview_read(p, None, exc),
            )
        if self.file_list.currentRow() < 0 and self.file_list.count():
            self.file_list.setCurrentRow(0)
        if refused:
            names = ", ".join(Path(p).name for p in refused[:5])
            Messages.information(self, "Not a model file",
                                 f"{names}: import takes .exoreg archives and model files (.skops, .pkl, "
                                 ".joblib), with or without their metadata JSON beside them.")
        self._update_state()
        return refused

    def start_import(self) -> None:
        """Ask for trust where needed (default No), then register the accepted files in the background."""
        if self._import_worker is not None:
            return
        chosen: list[tuple] = []
        for path, item in self.items.items():
            if item.state not in ("ready", "declined", "skipped") or item.missing_details():
                continue
            if item.duplicate_of is not None:
                from core.registry.transfer import duplicate_message

                if not Messages.question(self, "Already registered",
                                         f"{duplicate_message(item.preview, item.duplicate_of)}. "
                                         "Import it anyway as a new version? (No skips it.)"):
                    item.state = "skipped"
                    self._refresh_item(path)
                    continue
            trusted = item.trusted
            if item.preview.needs_trust and not trusted:
                if not Prompts.confirm_trust(self, item.preview):
                    item.state = "declined"
                    self._refresh_item(path)
                    continue
                trusted = True
            item.trusted = trusted
            if item.needs_details:
                chosen.append((path, trusted, item.preview, {**item.details, "model": item.model}))
            else:
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
        return self._import_worker is not None or bool(self._preview_workers) or bool(self._load_workers)

    def files_dropped(self, paths: list[str]) -> None:
        self.add_files(paths)

    # ============================================================ slots
    def _on_add_clicked(self) -> None:
        paths = choose_files(self, "Choose exported models", "models", MODEL_FILTER)
        if paths:
            self.add_files(paths)

    def _on_preview_read(self, path: str, check, exc) -> None:
        self._preview_workers.pop(path, None)
        item = self.items.get(path)
        if item is None:
            return
        preview, item.duplicate_of = check if check is not None else (None, None)
        item.preview, item.error = preview, exc
        item.state = "ready" if preview is not None else "invalid"
        if item.needs_details and not preview.needs_trust:
            self._load_model(path, trusted=False)  # allowlisted: read the estimator at once
        self._refresh_item(path)
        self._show_current()
        self._update_state()
        if not self._preview_workers:
            self.previews_ready.emit()

    def _load_model(self, path: str, *, trusted: bool) -> None:
        item = self.items[path]
        self._load_workers[path] = start_worker_for(self,
            load_outside_model, item.preview, trusted,
            on_success=lambda loaded, p=path: self._on_model_loaded(p, loaded, None),
            on_error=lambda exc, p=path: self._on_model_loaded(p, None, exc),
        )

    def _on_model_loaded(self, path: str, loaded, exc) -> None:
        self._load_workers.pop(path, None)
        item = self.items.get(path)
        if item is None:
            return
        if exc is not None:
            item.state, item.error = "invalid", exc
        else:
            item.model, item.facts = loaded
            item.details = {"name": Path(path).stem.split(".")[0], "algorithm": item.facts.algorithm,
                            "feature_columns": list(item.facts.feature_columns), "evaluate": None,
                            "label_column": "koi_disposition"}
        self._refresh_item(path)
        self._show_current()
        self._update_state()

    def _on_trust_requested(self) -> None:
        item = self._current_item()
        if item is None or item.preview is None or item.model is not None:
            return
        if Prompts.confirm_trust(self, item.preview):
            item.trusted = True
            self._load_model(item.path, trusted=True)
        else:
            item.state = "declined"
            self._refresh_item(item.path)
        self._show_current()
        self._update_state()

    def _on_form_changed(self) -> None:
        item = self._current_item()
        if item is not None and item.model is not None:
            item.details = self.form.details()
            self._update_state()

    def _current_item(self) -> ImportItem | None:
        current = self.file_list.currentItem()
        return self.items.get(current.data(Qt.ItemDataRole.UserRole)) if current is not None else None

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
        ready = "⚠ needs trust" if item.preview and item.preview.needs_trust and not item.trusted else "✓"
        if item.duplicate_of is not None:
            ready = f"already v{item.duplicate_of.version}"
        elif item.needs_details and item.missing_details():
            ready = "needs details"
        marks = {"reading": "…", "ready": ready, "invalid": "✗", "declined": "not trusted", "skipped": "skipped",
                 "imported": "imported", "failed": "failed"}
        for row in range(self.file_list.count()):
            widget_item = self.file_list.item(row)
            if widget_item.data(Qt.ItemDataRole.UserRole) == path:
                widget_item.setText(f"{Path(path).name}   {marks[item.state]}")

    def _show_current(self) -> None:
        item = self._current_item()
        self.details.setHtml(preview_html(item) if item is not None else
                             "<p>Drop .exoreg archives or model files (with or without metadata JSON) here.</p>")
        outside = item is not None and item.needs_details and item.state not in ("imported", "invalid")
        if outside:
            self.form.show_item(item)
        self.form.setVisible(outside)

    def _update_state(self) -> None:
        candidates = [i for i in self.items.values() if i.state in ("ready", "declined", "skipped")]
        ready = [i for i in candidates if not i.missing_details()]
        busy = self.is_busy()
        self.import_button.setEnabled(bool(ready) and not busy)
        if not self.items:
            reason = "Add files to import."
        elif self._preview_workers:
            reason = "Reading the files…"
        elif not ready and candidates:
            first = candidates[0]
            reason = f"{Path(first.path).name}: {first.missing_details()}."
        elif not ready:
            reason = "Nothing left to import."
        else:
            trust = sum(1 for i in ready if i.preview.needs_trust and not i.trusted)
            reason = f"{len(ready)} to import" + (f"; {trust} will ask for your trust." if trust else ".")
        self.reason_label.setText(reason)
        self.add_button.setEnabled(self._import_worker is None)
