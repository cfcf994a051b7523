"""Package a registered version as a deployment bundle (:mod:`core.deployment.bundle`).

Before: the reference (the version, or one of its aliases), the destination folder, the
options (ONNX on/off, model.pkl on/off, a CSV of sample rows for the parity check) and a summary of what will be
written. After: the bundle's file tree, the ONNX parity figures, Verify (the checksum check of
:func:`core.deployment.verify_bundle`), Open Folder, and the model card rendered.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.common.text import plural
from core.deployment.bundle import MANIFEST_NAME
from exoreg_gui import workers
from exoreg_gui.dialogs.common import (
    CSV_FILTER,
    ChoicesOverResults,
    ProgressRow,
    Prompts,
    action_buttons,
    choose_directory,
    choose_files,
    format_count,
    last_folder,
    remember_folder,
    stack_dialog,
    start_worker_for,
)
from exoreg_gui.dialogs.messages import Messages, describe_error

#: Where bundles go until the person has chosen a folder for one.
BUNDLES = Path.home() / "exoreg-bundles"


def default_bundle_folder(meta, base: Path | None = None) -> Path:
    base = base if base is not None else BUNDLES
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in meta.model_name)
    return base / f"{safe}-v{meta.version}"


def export_bundle_for(registry_uri: str, ref: str, folder: str, *, include_onnx: bool,
                      sample_rows: str | None, overwrite: bool, with_pickle: bool = False,
                      progress=None, cancelled=None):
    """Worker function: write the bundle in a child process, then read back its model card.

    The ONNX conversion and the imports it needs hold the interpreter lock for long stretches,
    so the export runs in its own process (see :mod:`core.prediction.runner`).
    """
    from core.deployment.bundle import CARD_NAME
    from core.prediction.runner import run_in_child

    report = run_in_child("core.deployment.bundle:export_registered_model", registry_uri, ref, folder,
                          include_onnx=include_onnx, sample_rows=sample_rows or None, overwrite=overwrite,
                          with_pickle=with_pickle, progress=progress, cancelled=cancelled)
    card = (Path(report.path) / CARD_NAME).read_text(encoding="utf-8")
    return report, card


def verify(path: str):
    """Worker function: check every file of the bundle against its manifest."""
    from core.deployment.bundle import verify_bundle

    return verify_bundle(path)


def _all(count: int) -> str:
    """"the 1 file", "both files", "all 10 files"."""
    return "the 1 file" if count == 1 else "both files" if count == 2 else f"all {plural(count, 'file')}"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


class DeployDialog(QDialog):
    """Choose what and where; write the bundle; look at it and verify it."""

    #: The bundle was written; carries the ``BundleReport``.
    bundle_written = Signal(object)
    #: Verify finished; carries the ``BundleVerifyReport``.
    verified = Signal(object)

    def __init__(self, registry, meta, folder: str | None = None, sample_csv: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("DeployDialog")
        self.setWindowTitle(f"Package {meta.model_name} v{meta.version} for deployment")
        self.registry = registry
        self.meta = meta
        self.report = None
        self._worker: workers.Worker | None = None

        self.ref_combo = QComboBox(self)
        self.ref_combo.setObjectName("refCombo")
        self.ref_combo.addItem(f"{meta.model_name}:{meta.version}  ({meta.model_id})", meta.model_id)
        for alias in meta.aliases or []:
            self.ref_combo.addItem(f"{meta.model_name}@{alias}", f"{meta.model_name}@{alias}")
        self.ref_combo.setToolTip("An alias is resolved now; the bundle records the version it pointed at")
        self.folder_edit = QLineEdit(folder or str(default_bundle_folder(meta, Path(last_folder("bundle", BUNDLES)))),
                                     self)
        self.folder_edit.setObjectName("folderEdit")
        self.folder_edit.textChanged.connect(lambda _t: self._update_summary())
        browse = QToolButton(self)
        browse.setText("…")
        browse.clicked.connect(self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        self.onnx_check = QCheckBox("Include model.onnx (checked against the model on sample rows)", self)
        self.onnx_check.setObjectName("onnxCheck")
        from core.deployment.bundle import onnx_unavailable_reason

        #: Why no model.onnx can be written with this Python (None when it can): said before the export.
        self.onnx_unavailable = onnx_unavailable_reason()
        self.onnx_check.setChecked(self.onnx_unavailable is None)
        self.onnx_check.toggled.connect(lambda _on: self._update_summary())
        self.onnx_note = QLabel(self.onnx_unavailable or "", self)
        self.onnx_note.setObjectName("onnxNote")
        self.onnx_note.setWordWrap(True)
        self.onnx_note.setStyleSheet("color: #8a5a00")
        self.onnx_note.setVisible(self.onnx_unavailable is not None)
        if self.onnx_unavailable is not None:
            self.onnx_check.setToolTip(self.onnx_unavailable)
        self.pickle_check = QCheckBox("Also write model.pkl, for serving systems that read only pickles", self)
        self.pickle_check.setObjectName("pickleCheck")
        from core.deployment.bundle import MLFLOW_FIRST_SKOPS_RELEASE

        self.pickle_check.setToolTip(
            f"Off: MLflow loads model.skops (MLflow {MLFLOW_FIRST_SKOPS_RELEASE} or later) and the bundle holds no "
            "pickle. On: MLflow's sklearn flavor loads model.pkl instead, which runs code when loaded; tick it "
            "only for older serving systems.")
        self.pickle_check.toggled.connect(lambda _on: self._update_summary())
        self.overwrite_check = QCheckBox("Replace an existing bundle in that folder", self)
        self.overwrite_check.toggled.connect(lambda _on: self._update_summary())
        self.sample_edit = QLineEdit(sample_csv or "", self)
        self.sample_edit.setObjectName("sampleEdit")
        self.sample_edit.setPlaceholderText("optional: a CSV with real rows (e.g. the KOI table)")
        self.sample_edit.textChanged.connect(lambda _t: self._update_summary())
        sample_browse = QToolButton(self)
        sample_browse.setText("…")
        sample_browse.clicked.connect(self._on_sample_browse_clicked)
        sample_row = QHBoxLayout()
        sample_row.addWidget(self.sample_edit, 1)
        sample_row.addWidget(sample_browse)
        form = QFormLayout()
        form.addRow("Model:", self.ref_combo)
        form.addRow("Folder:", folder_row)
        form.addRow("Sample rows:", sample_row)
        form.addRow("", self.onnx_check)
        form.addRow("", self.onnx_note)
        form.addRow("", self.pickle_check)
        form.addRow("", self.overwrite_check)
        self.summary_label = QLabel(self)
        self.summary_label.setObjectName("summaryLabel")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)

        # -- results
        self.file_tree = QTreeWidget(self)
        self.file_tree.setObjectName("fileTree")
        self.file_tree.setHeaderLabels(["File", "Size", "SHA-256"])
        self.file_tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.parity_label = QLabel(self)
        self.parity_label.setObjectName("parityLabel")
        self.parity_label.setWordWrap(True)
        self.parity_label.setTextFormat(Qt.TextFormat.RichText)
        self.verify_label = QLabel(self)
        self.verify_label.setObjectName("verifyLabel")
        self.verify_label.setWordWrap(True)
        files_page = QWidget(self)
        files_layout = QVBoxLayout(files_page)
        files_layout.setContentsMargins(4, 4, 4, 4)
        files_layout.addWidget(self.file_tree, 1)
        files_layout.addWidget(self.parity_label)
        files_layout.addWidget(self.verify_label)
        self.card_view = QTextBrowser(self)
        self.card_view.setObjectName("cardView")
        self.card_view.setOpenExternalLinks(False)
        self.result_tabs = QTabWidget(self)
        self.result_tabs.addTab(files_page, "Bundle")
        self.result_tabs.addTab(self.card_view, "Model card (README.md)")
        self.result_tabs.hide()

        self.progress = ProgressRow("steps", self)
        self.progress.cancel_requested.connect(self._on_cancel_requested)
        self.verify_button = QPushButton("Verify", self)
        self.verify_button.setObjectName("verifyButton")
        self.verify_button.setToolTip("Check every file of the bundle against its manifest's SHA-256")
        self.verify_button.clicked.connect(self.start_verify)
        self.open_button = QPushButton("Open Folder", self)
        self.open_button.clicked.connect(lambda: Prompts.open_folder(self.report.path) if self.report else None)
        self.export_button, self.close_button = action_buttons(self, "Export Bundle", self.start_export, "exportButton")
        buttons = QHBoxLayout()
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)

        self.splitter = ChoicesOverResults(form, self.summary_label, self.result_tabs, self)
        stack_dialog(self, self.splitter, self.progress, buttons)
        self.resize(800, 470)
        self._update_summary()
        self._update_state()

    # ============================================================ public API
    def folder(self) -> str:
        return str(Path(self.folder_edit.text().strip()).expanduser())

    def start_export(self) -> None:
        if self._worker is not None or not self.folder_edit.text().strip():
            return
        self.progress.start("Writing the bundle…")
        worker = None
        worker = self._worker = start_worker_for(self,
            export_bundle_for, self.registry.uri, self.ref_combo.currentData(), self.folder(),
            include_onnx=self.onnx_check.isChecked(), sample_rows=self.sample_edit.text().strip() or None,
            overwrite=self.overwrite_check.isChecked(), with_pickle=self.pickle_check.isChecked(),
            on_success=self._on_exported,
            on_error=self._on_export_failed,
            on_cancelled=lambda: self.progress.finish("Cancelled; nothing was written."),
            on_progress=self.progress.set_progress,
            on_finished=lambda: self._on_finished(worker),
        )
        self._update_state()

    def start_verify(self) -> None:
        if self._worker is not None or self.report is None:
            return
        self.verify_label.setText("Verifying…")
        worker = None
        worker = self._worker = start_worker_for(self,
            verify, str(self.report.path),
            on_success=self._on_verified,
            on_error=lambda exc: Messages.error(self, "Could not verify the bundle", exc),
            on_finished=lambda: self._on_finished(worker),
        )
        self._update_state()

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        if self._worker is not None:
            self._worker.cancel()
        super().done(result)

    # ============================================================ slots
    def _on_browse_clicked(self) -> None:
        path = choose_directory(self, "Write the bundle into", "bundle", Path(self.folder()).parent)
        if path:
            self.folder_edit.setText(str(Path(path) / Path(self.folder()).name))

    def _on_sample_browse_clicked(self) -> None:
        paths = choose_files(self, "Choose a CSV of sample rows", "sample", CSV_FILTER)
        if paths:
            self.sample_edit.setText(paths[0])

    def _on_cancel_requested(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def _on_exported(self, result) -> None:
        report, card = result
        self.report = report
        remember_folder("bundle", report.path)  # the next bundle goes beside this one
        self._worker = None  # the work is done; its finished signal follows
        self.progress.finish(f"Bundle written to {report.path}.")
        self._fill_files(report)
        self._fill_parity(report)
        self.card_view.setMarkdown(card)
        size = sum(int(f.get("size", 0)) for f in report.files.values())
        # manifest.json lists every other file with its SHA-256; it cannot list itself, so Verify
        # checks one file fewer than were written: say so in both places.
        listed = len(report.files)
        self.summary_label.setText(f"Wrote <b>{report.model_name} v{report.version}</b>: "
                                   f"{plural(listed + 1, 'file')} ({plural(listed, 'file')} listed in "
                                   f"{MANIFEST_NAME}, and the manifest itself), {_size(size)}, "
                                   f"into <code>{report.path}</code>.")
        self.verify_label.setText("")
        self._reveal_results()
        self._update_state()
        self.bundle_written.emit(report)

    def _on_export_failed(self, exc: BaseException) -> None:
        self.progress.finish(describe_error(exc)[0])
        Messages.error(self, "Could not write the bundle", exc)

    def _on_verified(self, report) -> None:
        self._worker = None
        self._update_state()
        if report.ok:
            self.verify_label.setText(f"<span style='color:#1e7b34'>✓ Verified: {_all(report.checked)} listed "
                                      f"in {MANIFEST_NAME} {'matches' if report.checked == 1 else 'match'} "
                                      "its SHA-256.</span>")
        else:
            problems = "<br>".join(report.messages()[:10])
            self.verify_label.setText(f"<span style='color:#b3261e'>✗ The bundle does not match its manifest:"
                                      f"<br>{problems}</span>")
        self.verified.emit(report)

    def _on_finished(self, worker) -> None:
        if self._worker is worker:
            self._worker = None
        self._update_state()

    # ============================================================ display
    def _reveal_results(self) -> None:
        self.splitter.reveal_results()

    def _fill_files(self, report) -> None:
        self.file_tree.clear()
        root = QTreeWidgetItem([Path(report.path).name + "/", "", ""])
        self.file_tree.addTopLevelItem(root)
        folders: dict[str, QTreeWidgetItem] = {"": root}
        for name in sorted(report.files):
            info = report.files[name]
            parent = root
            parts = name.split("/")
            for depth in range(1, len(parts)):
                key = "/".join(parts[:depth])
                if key not in folders:
                    folders[key] = QTreeWidgetItem(folders["/".join(parts[:depth - 1])], [parts[depth - 1] + "/"])
                parent = folders[key]
            item = QTreeWidgetItem(parent, [parts[-1], _size(int(info.get("size", 0))),
                                            str(info.get("sha256", ""))[:16] + "…"])
            item.setToolTip(2, str(info.get("sha256", "")))
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        QTreeWidgetItem(root, ["manifest.json", "", "(lists the others)"])
        self.file_tree.expandAll()

    def _fill_parity(self, report) -> None:
        onnx = report.onnx or {}
        parity = onnx.get("parity") or {}
        if onnx.get("included"):
            diff = parity.get("max_probability_difference")
            diff_text = f"{diff:.2e}" if isinstance(diff, int | float) else "not available"
            text = (f"<b>ONNX parity</b> on {format_count(parity.get('rows', 0))} sample rows "
                    f"({parity.get('sample_source') or 'sample'}): labels agree on "
                    f"{100 * float(parity.get('label_agreement', 0)):.2f}% · largest probability difference "
                    f"{diff_text}")
            color = "#1e7b34"
        else:
            text = f"<b>No ONNX file:</b> {onnx.get('message', 'not requested')}"
            color = "#8a5a00" if self.onnx_check.isChecked() else "#5d6877"
        warnings = "".join(f"<br>⚠ {w}" for w in report.warnings if w != onnx.get("message"))
        self.parity_label.setText(f"<span style='color:{color}'>{text}</span>{warnings}")

    def _update_summary(self) -> None:
        meta = self.meta
        if self.pickle_check.isChecked():
            files = ["model.skops (safe format, for predict.py)", "model.pkl (a pickle, for MLflow's sklearn flavor)"]
        else:
            files = ["model.skops (safe format, for predict.py and MLflow's sklearn flavor; no pickle)"]
        if self.onnx_check.isChecked():
            files.append("model.onnx (if skl2onnx converts it and it matches the model)")
        files += ["MLmodel, requirements.txt, conda.yaml, python_env.yaml", "predict.py (a command-line predictor)",
                  "input_example.json, serving_input_example.json", "README.md (the model card)",
                  "manifest.json (SHA-256 of every file)"]
        sample = self.sample_edit.text().strip()
        sample_text = (f"sample rows from {Path(sample).name}" if sample else
                       "sample rows from the demo's candidates.csv if present, else synthetic rows")
        exists = Path(self.folder()).exists()
        warning = ("<br><span style='color:#8a5a00'>The folder exists; tick “Replace” to overwrite it.</span>"
                   if exists and not self.overwrite_check.isChecked() else "")
        self.summary_label.setText(
            f"Will write <b>{meta.model_name} v{meta.version}</b> ({meta.algorithm}, "
            f"{len(meta.feature_columns)} features) into <code>{self.folder()}</code>, using {sample_text}:"
            "<br>&nbsp;&nbsp;" + "<br>&nbsp;&nbsp;".join(files) + warning
        )

    def _update_state(self) -> None:
        busy = self._worker is not None
        self.export_button.setEnabled(not busy)
        self.verify_button.setEnabled(not busy and self.report is not None)
        self.open_button.setEnabled(self.report is not None)
        for widget in (self.ref_combo, self.folder_edit, self.onnx_check, self.pickle_check, self.overwrite_check,
                       self.sample_edit):
            widget.setEnabled(not busy)
        self.onnx_check.setEnabled(not busy and self.onnx_unavailable is None)
