"""Export the selected versions to a folder, as ``.exoreg`` archives and/or model + metadata pairs.

The dialog gathers the folder and the format; :func:`export_versions` runs on a worker thread
and calls :meth:`core.model_registry.ModelRegistry.export_model` once per version (every export
checks the model file against its recorded SHA-256 first).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.common.text import plural
from exoreg_gui import workers
from exoreg_gui.dialogs.common import (
    ProgressRow,
    Prompts,
    action_buttons,
    choose_directory,
    last_folder,
    remember_folder,
    start_worker_for,
)
from exoreg_gui.dialogs.messages import Messages

ARCHIVE, PAIR, BOTH = "archive", "pair", "both"


def export_versions(registry, model_ids: list[str], folder: str, kind: str = ARCHIVE, *,
                    progress=None, cancelled=None) -> list[str]:
    """Export each version into ``folder``; returns the paths written.

    ``kind``: ``"archive"`` (one ``.exoreg`` file each), ``"pair"`` (the guide's model file +
    metadata JSON) or ``"both"``. Versions already written stay when the person cancels.
    """
    from core.common.files import fsync_dir, temp_folder_beside

    target = Path(folder).expanduser()
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for i, model_id in enumerate(model_ids):
        if cancelled is not None and cancelled():
            break
        staging = temp_folder_beside(target / "export")  # inside target: the moves below are renames
        try:
            files = registry.export_model(model_id, staging)
            keep = []
            if kind in (ARCHIVE, BOTH):
                keep.append(files["archive"])
            if kind in (PAIR, BOTH):
                keep += [files["model"], files["metadata"]]
            for path in keep:
                final = target / Path(path).name
                Path(path).replace(final)
                written.append(str(final))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        fsync_dir(target)
        if progress is not None:
            progress(i + 1, len(model_ids))
    return written


class ExportDialog(QDialog):
    """Choose a folder and a format; export; list what was written."""

    #: The export finished; carries the paths written.
    exported = Signal(object)

    def __init__(self, registry, versions: list[tuple[str, str]], folder: str | None = None,
                 parent: QWidget | None = None):
        """``versions``: ``(model_id, "Name v3")`` pairs."""
        super().__init__(parent)
        self.setObjectName("ExportDialog")
        self.setWindowTitle("Export versions")
        self.registry = registry
        self.versions = list(versions)
        self.written: list[str] = []
        self._worker: workers.Worker | None = None

        names = QListWidget(self)
        names.addItems([label for _, label in self.versions])
        names.setMaximumHeight(min(140, 22 * len(self.versions) + 8))
        self.folder_edit = QLineEdit(folder or last_folder("export", Path.home() / "exoreg-exports"), self)
        self.folder_edit.setObjectName("folderEdit")
        browse = QToolButton(self)
        browse.setText("…")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.archive_radio = QRadioButton(".exoreg archive (one file per version: model, metadata, checksums)", self)
        self.pair_radio = QRadioButton("Model file + metadata JSON (the guide's pair)", self)
        self.both_radio = QRadioButton("Both", self)
        self.archive_radio.setChecked(True)
        self.kind_group = QButtonGroup(self)
        for button in (self.archive_radio, self.pair_radio, self.both_radio):
            self.kind_group.addButton(button)
        kinds = QVBoxLayout()
        for button in (self.archive_radio, self.pair_radio, self.both_radio):
            kinds.addWidget(button)
        form = QFormLayout()
        form.addRow(f"Versions ({len(self.versions)}):", names)
        form.addRow("Folder:", folder_row)
        form.addRow("Format:", kinds)

        self.result_list = QListWidget(self)
        self.result_list.setObjectName("resultList")
        self.progress = ProgressRow("versions", self)
        self.progress.cancel_requested.connect(self._on_cancel_requested)
        self.open_button = QPushButton("Open Folder", self)
        self.open_button.clicked.connect(lambda: Prompts.open_folder(self.folder()))
        self.open_button.hide()
        self.export_button, self.close_button = action_buttons(self, "Export", self.start_export, "exportButton")
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        self.written_label = QLabel("Written: nothing yet", self)
        layout.addWidget(self.written_label)
        layout.addWidget(self.result_list, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(640, 420)

    # ============================================================ public API
    def folder(self) -> str:
        return str(Path(self.folder_edit.text().strip()).expanduser())

    def kind(self) -> str:
        if self.pair_radio.isChecked():
            return PAIR
        return BOTH if self.both_radio.isChecked() else ARCHIVE

    def start_export(self) -> None:
        if self._worker is not None or not self.versions or not self.folder_edit.text().strip():
            return
        self.progress.start(f"Exporting {plural(len(self.versions), 'version')}…")
        self.export_button.setEnabled(False)
        self._worker = start_worker_for(self,
            export_versions, self.registry, [i for i, _ in self.versions], self.folder(), self.kind(),
            on_success=self._on_exported,
            on_error=lambda exc: (self.progress.finish(""), Messages.error(self, "Could not export", exc)),
            on_cancelled=lambda: self.progress.finish("Cancelled."),
            on_progress=self.progress.set_progress,
            on_finished=self._on_finished,
        )

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        if self._worker is not None:
            self._worker.cancel()
        super().done(result)

    # ============================================================ slots
    def _on_browse_clicked(self) -> None:
        path = choose_directory(self, "Export to folder", "export", self.folder())
        if path:
            self.folder_edit.setText(path)

    def _on_exported(self, paths: list[str]) -> None:
        self.written = list(paths)
        remember_folder("export", self.folder(), is_folder=True)
        self.result_list.clear()
        self.result_list.addItems([Path(p).name for p in paths])
        self.written_label.setText(f"Written into {self.folder()}:")
        self.open_button.show()
        self.progress.finish(f"Exported {plural(len(self.versions), 'version')} ({plural(len(paths), 'file')}).")
        self.exported.emit(list(paths))

    def _on_finished(self) -> None:
        self._worker = None
        self.export_button.setEnabled(True)

    def _on_cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
