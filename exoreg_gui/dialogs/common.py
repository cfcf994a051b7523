"""Pieces the workflow dialogs share: modal prompts (patched in tests), a progress row, file kinds.

Every modal prompt of the workflow dialogs (file pickers, the trust question, opening a folder
in the file manager) goes through :class:`Prompts`, so a test replaces one classmethod and a
headless run never blocks on a modal dialog. Error and information boxes use
:class:`exoreg_gui.dialogs.messages.Messages`.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

#: File names a batch prediction accepts.
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz")
#: File names an import accepts (an archive, or a model file with its metadata JSON beside it).
MODEL_SUFFIXES = (".exoreg", ".skops", ".pkl", ".pickle", ".joblib")
CSV_FILTER = "CSV files (*.csv *.csv.gz *.tsv *.tsv.gz);;All files (*)"
MODEL_FILTER = "Exported models (*.exoreg *.skops *.pkl *.pickle *.joblib *.json);;All files (*)"


def dropped_paths(event) -> list[str]:
    """The local files a drag-and-drop event carries (empty for anything else)."""
    mime = event.mimeData()
    return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


class FileDropDialog(QDialog):
    """A dialog that takes files dropped on it and hands them to :meth:`files_dropped`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)

    def files_dropped(self, paths: list[str]) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.files_dropped(paths)


def is_csv(path: str | Path) -> bool:
    return str(path).lower().endswith(CSV_SUFFIXES)


def is_model_file(path: str | Path) -> bool:
    """An archive, a model file, or the metadata JSON of a model + metadata pair."""
    name = str(path).lower()
    return name.endswith(MODEL_SUFFIXES) or (name.endswith(".json") and model_file_for(path) is not None)


def model_file_for(metadata_json: str | Path) -> Path | None:
    """The model file exported beside a metadata JSON (same stem), if there is one."""
    p = Path(metadata_json)
    for suffix in (".skops", ".pkl", ".pickle", ".joblib"):
        candidate = p.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def format_count(n: int | float) -> str:
    return f"{int(n):,}"


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 05 s``, ``2 h 07 min``: a warm prediction takes well under a second."""
    if seconds < 9.95:
        return f"{max(0.0, seconds):.1f} s"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def start_worker_for(owner: QWidget, func, *args, **kwargs):
    """:func:`exoreg_gui.workers.start_worker` whose ``on_*`` callbacks are dropped once ``owner`` is deleted.

    A dialog closed while its work runs is deleted at once; the work still finishes (or notices
    the cancel) on its pool thread, and its results must not reach a widget that is gone.
    """
    import shiboken6

    from exoreg_gui import workers

    def guard(callback):
        def call(*values):
            if shiboken6.isValid(owner):
                callback(*values)

        return call

    for key, value in list(kwargs.items()):
        if key.startswith("on_") and value is not None:
            kwargs[key] = guard(value)
    return workers.start_worker(func, *args, **kwargs)


def on_a_later_turn(owner: QWidget, slot) -> None:
    """Call ``slot`` on a later turn of the event loop (dropped if ``owner`` is deleted first).

    Work split this way lets the window paint and answer between the pieces. A 1 ms timer, not
    a zero one: Qt may deliver a zero-delay call in the same turn as the events already queued.
    """
    QTimer.singleShot(1, owner, slot)


#: What trust means for a shared registry (a bucket): a signature vouches only for its own user.
TRUST_NOTE = (
    "Trust is yours alone: a pickle's signature is an HMAC made with each user's own key, so a pickle a "
    "colleague signed (in a shared bucket, say) is <b>untrusted for you</b> until you review it yourself. "
    "Models saved as <b>.skops</b> are read by an allowlist and need no trust."
)


def trust_box(parent: QWidget | None, preview) -> QMessageBox:
    """The question asked before an untrusted model file is imported; the default answer is No."""
    inspection = preview.inspection
    name = Path(preview.source).name
    if preview.format == "pickle":
        headline = f"{name} is a pickle: loading it runs whatever code it names."
    else:
        headline = f"{name} would construct types this application does not trust."
    untrusted = list(inspection.untrusted) or ["(the file's contents could not be listed)"]
    shown = untrusted[:15]
    more = f"<br>… and {len(untrusted) - len(shown)} more" if len(untrusted) > len(shown) else ""
    items = "<br>".join(f"&nbsp;&nbsp;• <code>{t}</code>" for t in shown)
    box = QMessageBox(parent)
    box.setObjectName("trustBox")
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Trust this model file?")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(f"<b>{headline}</b>")
    box.setInformativeText(
        f"It would import or construct:<br>{items}{more}<br><br>"
        "Import it only if you know where it came from and trust that source. "
        "Choosing <b>No</b> imports nothing.<br><br>" + TRUST_NOTE
    )
    box.setDetailedText(
        "Everything the file would import or construct:\n"
        + "\n".join(f"  {t}{'  (not trusted)' if t in inspection.untrusted else ''}" for t in inspection.imports)
        + ("\n\nNotes:\n" + "\n".join(inspection.notes) if inspection.notes else "")
    )
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)
    box.button(QMessageBox.StandardButton.Yes).setText("Yes, trust and import")
    box.button(QMessageBox.StandardButton.No).setText("No")
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setEscapeButton(QMessageBox.StandardButton.No)
    return box


class Prompts:
    """Modal prompts of the workflow dialogs; patch these classmethods in tests."""

    @classmethod
    def open_files(cls, parent: QWidget | None, title: str, start: str, filters: str) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(parent, title, start, filters)
        return list(paths)

    @classmethod
    def confirm_trust(cls, parent: QWidget | None, preview) -> bool:
        """Ask whether to trust an untrusted model file; True only when the person says Yes."""
        return trust_box(parent, preview).exec() == QMessageBox.StandardButton.Yes

    @classmethod
    def open_folder(cls, path: str | Path) -> None:
        """Show a folder in the system's file manager; without one, say where the folder is.

        ``QDesktopServices`` needs a desktop file launcher (``xdg-open`` and a file manager on
        Linux); a bare X server or a minimal install has none, and then nothing would happen.
        """
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            return
        from PySide6.QtGui import QGuiApplication

        from exoreg_gui.dialogs.messages import Messages

        QGuiApplication.clipboard().setText(str(path))
        Messages.information(None, "Open Folder", no_file_manager_text(path))


def no_file_manager_text(path: str | Path) -> str:
    return (f"No file manager could be started on this computer. The folder is:\n\n{path}\n\n"
            "Its path has been copied to the clipboard.")


# -- where file dialogs start -------------------------------------------------------------------------
#: Kinds of file a dialog asks for; each remembers the folder of the last one chosen.
FOLDER_KINDS = ("registry", "models", "csv", "labelled", "sample", "export", "bundle", "table", "image")


def last_folder(kind: str, fallback: str | Path | None = None) -> str:
    """The folder of the last file of this kind chosen (if it still exists), else ``fallback``, else home."""
    from exoreg_gui.settings import Settings

    folder = Settings().get_str(f"folders/{kind}")
    if folder and Path(folder).is_dir():
        return folder
    return str(fallback) if fallback else str(Path.home())


def remember_folder(kind: str, path: str | Path, *, is_folder: bool = False) -> None:
    """Remember the folder of ``path`` (or ``path`` itself, a chosen folder) for the next dialog of ``kind``."""
    from exoreg_gui.settings import Settings

    folder = Path(path) if is_folder else Path(path).parent
    settings = Settings()
    settings.set(f"folders/{kind}", str(folder))
    settings.sync()


def choose_files(parent: QWidget | None, title: str, kind: str, filters: str,
                 fallback: str | Path | None = None) -> list[str]:
    """Ask for files, starting in the folder of the last file of ``kind``; remembers the choice."""
    paths = Prompts.open_files(parent, title, last_folder(kind, fallback), filters)
    if paths:
        remember_folder(kind, paths[0])
    return paths


def choose_directory(parent: QWidget | None, title: str, kind: str, start: str | Path | None = None) -> str | None:
    """Ask for a folder, starting at ``start`` or the last folder of ``kind``; remembers the choice."""
    from exoreg_gui.dialogs.messages import Messages

    path = Messages.get_directory(parent, title, str(start) if start else last_folder(kind))
    if path:
        remember_folder(kind, path, is_folder=True)
    return path


def choose_save_file(parent: QWidget | None, title: str, kind: str, name: str, filters: str) -> str | None:
    """Ask where to save ``name``, starting in the last folder of ``kind``; remembers the choice."""
    from exoreg_gui.dialogs.messages import Messages

    path = Messages.get_save_file(parent, title, str(Path(last_folder(kind)) / name), filters)
    if path:
        remember_folder(kind, path)
    return path


class ProgressRow(QWidget):
    """A progress bar, a line of text (done, rate, time left) and a Cancel button."""

    #: The person pressed Cancel.
    cancel_requested = Signal()

    def __init__(self, unit: str = "rows", parent: QWidget | None = None):
        super().__init__(parent)
        self.unit = unit
        self.bar = QProgressBar(self)
        self.bar.setTextVisible(True)
        self.label = QLabel("", self)
        self.label.setObjectName("progressText")
        self.label.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.label)
        layout.addLayout(row)
        self._started = 0.0
        self.hide()

    def start(self, text: str) -> None:
        self._started = time.monotonic()
        self.bar.setRange(0, 0)  # busy until the first progress report
        self.label.setText(text)
        self.cancel_button.setEnabled(True)
        self.show()

    def set_progress(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` (an estimate until the end) with the rate and time left."""
        if total <= 0:
            return
        self.bar.setRange(0, 1000)
        self.bar.setValue(int(1000 * min(done, total) / total))
        elapsed = time.monotonic() - self._started
        text = f"{format_count(done)} of ~{format_count(total)} {self.unit}"
        if elapsed > 0.5 and done > 0:
            rate = done / elapsed
            text += f" · {format_count(rate)} {self.unit}/s"
            if done < total:
                text += f" · {format_duration((total - done) / rate)} left"
        self.label.setText(text)

    def set_text(self, text: str) -> None:
        self.label.setText(text)

    def finish(self, text: str = "") -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.label.setText(text)
        self.cancel_button.setEnabled(False)

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def _on_cancel_clicked(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling…")
        self.cancel_requested.emit()


class ChoicesOverResults(QSplitter):
    """A dialog's choices (a form and a note) above, its results below once there are any."""

    def __init__(self, form, note: QWidget, results: QWidget, parent: QWidget):
        super().__init__(Qt.Orientation.Vertical, parent)
        self._top = QWidget(self)
        top_layout = QVBoxLayout(self._top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addLayout(form)
        top_layout.addWidget(note)
        top_layout.addStretch(1)
        self._results = results
        self.addWidget(self._top)
        self.addWidget(results)
        self.setChildrenCollapsible(False)
        self.setStretchFactor(1, 1)

    def reveal_results(self) -> None:
        """Show the results pane, giving it the room the choices do not need."""
        if self._results.isVisible():
            return
        self._results.show()
        dialog = self.window()
        if dialog.height() < 680:  # room for the results below the choices
            dialog.resize(max(dialog.width(), 860), 680)
            dialog.layout().activate()
        total = sum(self.sizes())
        top = min(self._top.sizeHint().height(), total // 2)
        self.setSizes([top, max(200, total - top)])


def stack_dialog(dialog: QWidget, splitter: ChoicesOverResults, progress: QWidget, buttons) -> None:
    """The common frame: choices and results, then the progress row, then the buttons."""
    layout = QVBoxLayout(dialog)
    layout.addWidget(splitter, 1)
    layout.addWidget(progress)
    layout.addLayout(buttons)


def action_buttons(dialog, text: str, slot, object_name: str) -> tuple[QPushButton, QPushButton]:
    """A dialog's default action button (Enter runs it) and its Close button."""
    action = QPushButton(text, dialog)
    action.setObjectName(object_name)
    action.setDefault(True)
    action.clicked.connect(slot)
    close = QPushButton("Close", dialog)
    close.clicked.connect(dialog.reject)
    return action, close


def reason_and_action_row(dialog, text: str, slot, object_name: str):
    """Why the action cannot run yet (left, wrapping), then the default action and Close.

    Returns ``(reason_label, action_button, close_button, row_layout)``.
    """
    reason = QLabel("", dialog)
    reason.setObjectName("reasonLabel")
    reason.setWordWrap(True)
    action, close = action_buttons(dialog, text, slot, object_name)
    row = QHBoxLayout()
    row.addWidget(reason, 1)
    row.addWidget(action)
    row.addWidget(close)
    return reason, action, close, row
