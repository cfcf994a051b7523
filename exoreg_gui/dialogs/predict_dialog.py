"""Batch prediction on CSV files: choose files and a model, check, run with progress, look at the results.

The dialog gathers choices and shows results. The work is :mod:`core.prediction.engine`:
:func:`~core.prediction.preflight` on a worker thread for each file, and
:func:`~core.prediction.predict_csv` in the application's prediction worker process
(:mod:`exoreg_gui.prediction_worker`: scikit-learn imported, the model loaded and verified as
soon as the dialog proposes it), so a run starts at once and the window stays responsive
whatever the model does. Files run one after another; the results of the file selected in the
list are shown.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.common.files import same_file
from core.common.text import plural
from exoreg_gui import prediction_worker, workers
from exoreg_gui.dialogs.common import (
    CSV_FILTER,
    ChoicesOverResults,
    FileDropDialog,
    ProgressRow,
    Prompts,
    format_count,
    format_duration,
    is_csv,
    on_a_later_turn,
    reason_and_action_row,
    stack_dialog,
    start_worker_for,
)
from exoreg_gui.dialogs.messages import Messages, describe_error
from exoreg_gui.dialogs.tables import HeadTable, read_head

log = logging.getLogger("exoreg_gui")

PREVIEW_ROWS = 200
REJECT_ROWS = 500


def model_label(entry: dict) -> str:
    """``Name v3  [production]`` for a ``list_models`` row."""
    aliases = entry.get("aliases") or []
    text = f"{entry['model_name']} v{entry['version']}"
    if aliases:
        text += "  [" + ", ".join(aliases) + "]"
    f1 = entry.get("f1_score")
    if isinstance(f1, int | float):
        text += f"  · F1 {f1:.3f}"
    return text


def default_model_id(entries: list[dict], selected: list[str] | None = None) -> str | None:
    """The selected version, else the best-F1 version holding a ``production`` alias, else the best F1.

    "Best" is :func:`core.registry.references.best_row`'s rule (ties go to the higher version).
    """
    from core.registry.references import best_row, latest_row

    active = [e for e in entries if e.get("status", "active") == "active"]
    ids = {e["model_id"] for e in active}
    for model_id in selected or []:
        if model_id in ids:
            return model_id
    production = [e for e in active if "production" in (e.get("aliases") or [])]
    pool = production or active
    if not pool:
        return None
    return (best_row(pool, "f1_score") or latest_row(pool))["model_id"]


def run_preflight(registry, model_id: str, path: str):
    """Worker function: the engine's preflight of ``path`` for one registered version."""
    from core.prediction.engine import preflight

    return preflight(registry.get_metadata(model_id), path, registry=registry)


def run_prediction(registry_uri: str, model_id: str, input_path: str, output_path: str, *,
                   progress=None, cancelled=None):
    """Worker function: predict one file in the prediction worker process (never in this one)."""
    return prediction_worker.predict_file(registry_uri, model_id, input_path, output_path,
                                          progress=progress, cancelled=cancelled)


def load_results(summary) -> dict[str, Any]:
    """Worker function: the first rows of the output and of the rejects file."""
    result = {"preview": read_head(summary.output_path, PREVIEW_ROWS), "rejects": ([], [])}
    if summary.rejects_path:
        result["rejects"] = read_head(summary.rejects_path, REJECT_ROWS)
    return result


def save_copy(source: str, target: str) -> str:
    """Worker function: copy a CSV result to ``target`` (as Parquet when the name ends in .parquet)."""
    import shutil

    from core.common.files import atomic_file

    src, dst = Path(source), Path(target)
    if dst.resolve() == src.resolve():
        return str(dst)
    with atomic_file(dst) as tmp:
        if dst.name.lower().endswith((".parquet", ".pq")):
            import pyarrow.csv as pacsv
            import pyarrow.parquet as pq

            pq.write_table(pacsv.read_csv(src), str(tmp))
        else:
            shutil.copyfile(src, tmp)
    return str(dst)


def cell_notes(report, imputes: bool | None) -> tuple[list[str], list[str]]:
    """What will happen to the unusable cells of a preflight: ``(imputed notes, skipped-row notes)``.

    Empty cells are imputed when the model's pipeline has an imputer (``imputes``); text and
    infinities always make their rows skipped into the rejects file. Only the skipped rows are
    worth a warning: imputing is what the pipeline was built to do.
    """
    imputed: list[str] = []
    skipped: list[str] = []
    for issue in report.issues.values():
        column = f"<b>{html.escape(issue.column)}</b>"
        if issue.missing:
            cells = plural(issue.missing, "empty cell")
            if imputes:
                imputed.append(f"{issue.missing:,} empty {column} {'cell' if issue.missing == 1 else 'cells'} "
                               "will be imputed by the model's pipeline")
            elif imputes is None:
                imputed.append(f"{cells} in {column}: imputed if the model's pipeline imputes, "
                               "else those rows are skipped (listed in the rejects file)")
            else:
                skipped.append(f"{cells} in {column}: the model cannot impute them, so those rows will be "
                               "skipped (listed in the rejects file)")
        if issue.non_numeric:
            examples = html.escape(", ".join(repr(e) for e in issue.examples[:3]), quote=False)
            skipped.append(f"{plural(issue.non_numeric, 'cell')} in {column} "
                           f"{'is not a number' if issue.non_numeric == 1 else 'are not numbers'}"
                           + (f" (e.g. {examples})" if examples else "")
                           + ": those rows will be skipped (listed in the rejects file)")
        if issue.infinite:
            skipped.append(f"{plural(issue.infinite, 'infinite cell')} in {column}: those rows will be skipped "
                           "(listed in the rejects file)")
    return imputed, skipped


DRIFT_COLORS = {
    "like the training data": "#1e7b34",
    "some drift": "#8a5a00",
    "unlike the training data": "#b3261e",
}
TRAINING_PEN, FILE_PEN = "#7d8590", "#3b7dd8"


def drift_html(drift: dict | None, note: str | None) -> str:
    """The drift verdict as one line of rich text (coloured by how far the file is from training)."""
    if drift is None:
        return f'<span style="color:#5f6368">No drift check: {html.escape(note or "no training profile")}</span>'
    color = DRIFT_COLORS.get(drift["verdict"], "#5f6368")
    where = f" (first {format_count(drift['rows'])} rows)" if drift.get("sample") else ""
    return (f'Compared with the training data{where}: '
            f'<b style="color:{color}">{html.escape(drift["sentence"])}</b>')


def _percent(value) -> str:
    return "" if value is None else f"{value:.1%}"


class DriftPanel(QWidget):
    """A preflight's drift check: the verdict, a per-feature table (worst first) and the training
    and file histograms of the three worst columns overlaid. The plots are made when first needed."""

    COLUMNS = ("Feature", "Verdict", "Outside", "Empty", "Train empty", "PSI", "Limit")
    TIPS = ("", "", "share of values outside the training range", "share of empty cells",
            "share of empty cells in the training rows", "population stability index over the training bins",
            "the PSI chance reaches at this file's size (at least 0.1)")
    FLAGS = {"ok": "like", "some drift": "drift", "unlike the training data": "unlike"}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("driftPanel")
        self.verdict_label = QLabel("", self)
        self.verdict_label.setObjectName("driftVerdict")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(self.COLUMNS), self)
        self.table.setObjectName("driftTable")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        for col, tip in enumerate(self.TIPS):
            if tip:
                self.table.horizontalHeaderItem(col).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Sized to the contents once they are set (set_drift), not on every layout pass.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMinimumWidth(440)
        self.plot_row = QHBoxLayout()
        self.plot_row.setSpacing(4)
        self.plots: list = []
        self.plotted: list[str] = []
        self._to_plot: list[dict] = []
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.table, 1)
        body.addLayout(self.plot_row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.verdict_label)
        layout.addLayout(body, 1)
        self.shown_report = None  # the preflight report on show
        self.set_drift(None, None)

    def set_drift(self, drift: dict | None, note: str | None) -> None:
        self.verdict_label.setText(drift_html(drift, note))
        features = sorted((drift or {}).get("features") or [], key=lambda f: -f.get("score", 0))
        self.table.setRowCount(len(features))
        for row, feat in enumerate(features):
            cells = (
                feat["name"],
                self.FLAGS.get(feat["flag"], feat["flag"]),
                _percent(feat["outside_range"]),
                _percent(feat["missing_rate"]),
                _percent(feat["training_missing_rate"]),
                "" if feat["psi"] is None else f"{feat['psi']:.3f}",
                "" if feat["psi_limit"] is None else f"{feat['psi_limit']:.3f}",
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if feat["flag"] in DRIFT_COLORS:
                    item.setForeground(Qt.GlobalColor.darkRed if feat["flag"] == "unlike the training data"
                                       else Qt.GlobalColor.darkYellow)
                if feat.get("reason"):
                    item.setToolTip(feat["reason"])
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()  # a few rows, one per feature
        self.table.setVisible(bool(features))
        self.setMinimumHeight(260 if features else 0)
        self._draw(features[:3])  # worst first

    def _add_plot(self) -> None:
        import pyqtgraph as pg

        plot = pg.PlotWidget(parent=self, background="w", enableMenu=False)
        plot.setObjectName(f"driftPlot{len(self.plots)}")
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setMinimumSize(140, 150)
        plot.hide()
        item = plot.getPlotItem()
        item.getAxis("left").setStyle(showValues=False)
        if not self.plots:  # one legend says it for the three
            item.addLegend(offset=(-4, 4), labelTextSize="7pt")
        self.plots.append(plot)
        self.plot_row.addWidget(plot, 1)

    def _draw(self, features: list[dict]) -> None:
        """Plot the histograms of ``features`` (:attr:`plotted` names them once drawn).

        Making a pyqtgraph plot takes the window 10 to 20 ms: the plots still missing are made
        hidden, one per turn of the event loop, then all are drawn and shown together.
        """
        self.plotted = []
        self._to_plot = list(features)
        for plot in self.plots[len(features):]:
            plot.hide()
        if features:
            on_a_later_turn(self, self._draw_next)

    def _draw_next(self) -> None:
        import numpy as np

        features = self._to_plot
        if self.plotted or not features:
            return  # drawn already (a second call queued by an earlier set_drift)
        if len(self.plots) < len(features):
            self._add_plot()
            on_a_later_turn(self, self._draw_next)
            return
        for plot, feat in zip(self.plots, features, strict=False):
            item = plot.getPlotItem()
            item.clear()
            if item.legend is not None:
                item.legend.clear()  # plot(name=...) adds the entries again
            hist = feat["histogram"]
            edges = np.asarray(hist["edges"], dtype=float)
            shares = []
            for key in ("training", "file"):
                counts = np.asarray(hist[key], dtype=float)
                shares.append(counts / counts.sum() if counts.sum() else counts)
            item.plot(edges, shares[0], stepMode="center", fillLevel=0, brush=(125, 133, 144, 90),
                      pen=TRAINING_PEN, name="training")
            item.plot(edges, shares[1], stepMode="center", fillLevel=0, brush=(59, 125, 216, 70),
                      pen={"color": FILE_PEN, "width": 2}, name="this file")
            item.setTitle(f'<span style="font-size:8pt">{html.escape(feat["name"])}</span>')
            plot.show()
            self.plotted.append(feat["name"])


def _made_on_first_use(name: str, builder: str) -> property:
    """A widget of the dialog made by its method ``builder``: at once if it is read before that ran."""

    def get(self):
        if name not in self._lazy:
            getattr(self, builder)()
        return self._lazy[name]

    return property(get, doc=f"The dialog's {name.replace('_', ' ')} (see ``{builder}``).")


@dataclass
class FileJob:
    """One input file of the dialog and what happened to it."""

    path: str
    output: str
    preflight: Any = None
    preflight_error: BaseException | None = None
    summary: Any = None
    results: dict | None = None
    state: str = "checking"  # checking, ready, blocked, running, done, cancelled, failed
    message: str = ""


class PredictDialog(FileDropDialog):
    """Choose CSV files and a model; see the preflight; run; look at the predictions."""

    #: All queued files were predicted (or the run stopped); carries the summaries written.
    run_finished = Signal(object)
    #: A preflight finished for a file; carries its path.
    preflight_finished = Signal(str)
    #: The preview of a finished file was loaded; carries its path.
    results_shown = Signal(str)

    def __init__(self, registry, entries: list[dict], model_id: str | None = None,
                 files: list[str] | None = None, parent: QWidget | None = None, *, metadata_lookup=None):
        super().__init__(parent)
        self.setObjectName("PredictDialog")
        #: ``model_id -> ModelMetadata or None`` that never waits (a remote registry's cache), else None.
        self.metadata_lookup = metadata_lookup
        self.setWindowTitle("Predict from CSV")
        self.registry = registry
        self.entries = [e for e in entries if e.get("status", "active") == "active"]
        self.jobs: dict[str, FileJob] = {}
        self._preflight_workers: dict[str, workers.Worker] = {}
        self._imputes_cache: dict[str, bool | None] = {}
        self._run_worker: workers.Worker | None = None
        self._results_worker: workers.Worker | None = None
        self._preload_cancel = None  # a threading.Event
        #: ``(model_id, state, message)`` of the proposed model in the worker process: state is
        #: "loading", "ready" or "failed" (a model that cannot be loaded blocks Run).
        self.model_state: tuple[str | None, str, str] = (None, "", "")
        self._queue: list[str] = []
        self._finished: list[Any] = []

        # -- choices
        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("modelCombo")
        for entry in sorted(self.entries, key=lambda e: (e["model_name"], e["version"])):
            self.model_combo.addItem(model_label(entry), entry["model_id"])
        chosen = model_id or default_model_id(self.entries)
        if chosen is not None:
            self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(chosen)))
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)

        self.file_list = QListWidget(self)
        self.file_list.setObjectName("fileList")
        self.file_list.setMaximumHeight(90)
        self.file_list.currentRowChanged.connect(self._on_file_row_changed)
        self.add_button = QPushButton("Add Files…", self)
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        file_buttons = QVBoxLayout()
        file_buttons.addWidget(self.add_button)
        file_buttons.addWidget(self.remove_button)
        file_buttons.addStretch(1)
        files_row = QHBoxLayout()
        files_row.addWidget(self.file_list, 1)
        files_row.addLayout(file_buttons)

        self.output_edit = QLineEdit(self)
        self.output_edit.setObjectName("outputEdit")
        self.output_edit.setToolTip("Where the predictions of the selected file are written "
                                    "(.csv, .csv.gz or .parquet); never over the input")
        self.output_edit.editingFinished.connect(self._on_output_edited)
        self.output_button = QToolButton(self)
        self.output_button.setText("…")
        self.output_button.clicked.connect(self._on_output_browse_clicked)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output_edit, 1)
        output_row.addWidget(self.output_button)

        self.model_status = QLabel("", self)
        self.model_status.setObjectName("modelStatus")
        self.model_status.setWordWrap(True)
        self.model_status.setStyleSheet("color: #5f6368")
        model_box = QVBoxLayout()
        model_box.setSpacing(2)
        model_box.addWidget(self.model_combo)
        model_box.addWidget(self.model_status)

        form = QFormLayout()
        form.addRow("Model:", model_box)
        form.addRow("Files:", files_row)
        form.addRow("Output:", output_row)

        self.preflight_label = QLabel("Drop CSV files here, or choose them with Add Files…", self)
        self.preflight_label.setObjectName("preflightLabel")
        self.preflight_label.setWordWrap(True)
        self.preflight_label.setTextFormat(Qt.TextFormat.RichText)
        self.preflight_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.preflight_label.setMinimumHeight(60)
        self.preflight_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        # The drift panel and the results (tables, tabs, a chart) are made once the dialog is on
        # screen, one part per turn of the event loop (_build_next_part), so opening it costs the
        # window only the choices; reading one of them before that makes it at once.
        self._lazy: dict[str, Any] = {}
        self.check_area = QWidget(self)
        check_layout = QVBoxLayout(self.check_area)
        check_layout.setContentsMargins(0, 0, 0, 0)
        check_layout.addWidget(self.preflight_label)

        self.progress = ProgressRow("rows", self)
        self.progress.cancel_requested.connect(self.cancel)

        self.results_box = QWidget(self)
        QVBoxLayout(self.results_box).setContentsMargins(0, 0, 0, 0)
        self.results_box.hide()
        # The chart (a pyqtgraph plot, tens of milliseconds to build) is made when its tab is first shown.
        self.class_chart = None
        self.class_counts: dict[str, int] = {}

        # -- buttons
        self.reason_label, self.run_button, self.close_button, buttons = reason_and_action_row(
            self, "Run", self.run, "runButton")

        self.splitter = ChoicesOverResults(form, self.check_area, self.results_box, self)
        stack_dialog(self, self.splitter, self.progress, buttons)
        self.resize(820, 470)

        for path in files or []:
            self.add_file(path)
        self._preload()
        self._update_state()
        self._parts_to_build = [self._build_drift_panel, self._build_results]
        # The turn of the first paint goes by, then one part per turn.
        on_a_later_turn(self, lambda: on_a_later_turn(self, self._build_next_part))

    # ============================================================ parts made after opening
    drift_panel = _made_on_first_use("drift_panel", "_build_drift_panel")
    summary_label = _made_on_first_use("summary_label", "_build_results")
    preview_table = _made_on_first_use("preview_table", "_build_results")
    rejects_table = _made_on_first_use("rejects_table", "_build_results")
    chart_page = _made_on_first_use("chart_page", "_build_results")
    result_tabs = _made_on_first_use("result_tabs", "_build_results")
    open_folder_button = _made_on_first_use("open_folder_button", "_build_results")
    save_as_button = _made_on_first_use("save_as_button", "_build_results")

    def _build_next_part(self) -> None:
        """Make the next part not made yet, then give the event loop a turn before the one after."""
        while self._parts_to_build:
            build = self._parts_to_build.pop(0)
            if build():
                if self._parts_to_build:
                    on_a_later_turn(self, self._build_next_part)
                return

    def _build_drift_panel(self) -> bool:
        """Make the drift panel (hidden) under the preflight; False when it was made already."""
        if "drift_panel" in self._lazy:
            return False
        panel = DriftPanel(self.check_area)
        panel.hide()
        self.check_area.layout().addWidget(panel, 1)
        panel.ensurePolished()  # styled now, not when it is first shown
        self._lazy["drift_panel"] = panel
        return True

    def _build_results(self) -> bool:
        """Make the results pane's contents (it stays hidden until a file's results are shown)."""
        if "preview_table" in self._lazy:
            return False
        box = self.results_box
        summary_label = QLabel("", box)
        summary_label.setObjectName("summaryLabel")
        summary_label.setWordWrap(True)
        preview_table = HeadTable(box)
        preview_table.setObjectName("previewTable")
        rejects_table = HeadTable(box)
        rejects_table.setObjectName("rejectsTable")
        chart_page = QWidget(box)
        QVBoxLayout(chart_page).setContentsMargins(0, 0, 0, 0)
        result_tabs = QTabWidget(box)
        result_tabs.addTab(preview_table, "Preview")
        result_tabs.addTab(chart_page, "Predicted classes")
        result_tabs.addTab(rejects_table, "Rejected rows")
        open_folder_button = QPushButton("Open Folder", box)
        open_folder_button.clicked.connect(self._on_open_folder_clicked)
        save_as_button = QPushButton("Save As…", box)
        save_as_button.clicked.connect(self._on_save_as_clicked)
        result_buttons = QHBoxLayout()
        result_buttons.addWidget(summary_label, 1)
        result_buttons.addWidget(open_folder_button)
        result_buttons.addWidget(save_as_button)
        box.layout().addLayout(result_buttons)
        box.layout().addWidget(result_tabs, 1)
        self._lazy.update(summary_label=summary_label, preview_table=preview_table, rejects_table=rejects_table,
                          chart_page=chart_page, result_tabs=result_tabs, open_folder_button=open_folder_button,
                          save_as_button=save_as_button)
        result_tabs.currentChanged.connect(self._on_result_tab_changed)
        box.ensurePolished()
        return True

    # ============================================================ public API
    def model_id(self) -> str | None:
        return self.model_combo.currentData()

    def current_job(self) -> FileJob | None:
        item = self.file_list.currentItem()
        return self.jobs.get(item.data(Qt.ItemDataRole.UserRole)) if item is not None else None

    def add_files(self, paths: list[str]) -> list[str]:
        """Add CSV files; returns the ones refused (not CSV files), after telling the person."""
        refused = [p for p in paths if not is_csv(p)]
        for path in paths:
            if is_csv(path):
                self.add_file(path)
        if refused:
            names = ", ".join(Path(p).name for p in refused[:5])
            Messages.information(self, "Not a CSV file",
                                 f"{names}: only CSV files (.csv, .csv.gz, .tsv) can be predicted on.")
        return refused

    def add_file(self, path: str | Path) -> None:
        from core.prediction.engine import default_output_path

        path = str(Path(path).expanduser().resolve())
        if path not in self.jobs:
            self.jobs[path] = FileJob(path, str(default_output_path(path)))
            item = QListWidgetItem(Path(path).name)
            item.setData(Qt.ItemDataRole.UserRole, path)
            item.setToolTip(path)
            self.file_list.addItem(item)
        self._check(path)
        for row in range(self.file_list.count()):
            if self.file_list.item(row).data(Qt.ItemDataRole.UserRole) == path:
                self.file_list.setCurrentRow(row)

    def is_running(self) -> bool:
        return self._run_worker is not None

    def run(self) -> None:
        """Predict every ready file, one after another."""
        if self.is_running() or not self._can_run()[0]:
            return
        self._finished = []
        self._queue = [p for p, job in self.jobs.items() if job.state in ("ready", "done", "cancelled", "failed")]
        self._start_next()

    def cancel(self) -> None:
        self._queue = []
        if self._run_worker is not None:
            self._run_worker.cancel()

    def shutdown(self) -> None:
        self.cancel()
        if self._preload_cancel is not None:
            self._preload_cancel.set()
        for worker in [*self._preflight_workers.values(), self._run_worker, self._results_worker]:
            if worker is not None:
                worker.cancel()

    def files_dropped(self, paths: list[str]) -> None:
        self.add_files(paths)

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        if self.is_running():
            self.cancel()
        super().done(result)

    # ============================================================ the model, in the worker process
    def _preload(self) -> None:
        """Have the prediction worker load and verify the proposed model now, not at Run."""
        model_id = self.model_id()
        if model_id is None or self.registry is None or self.model_state[0] == model_id:
            return
        if self._preload_cancel is not None:
            self._preload_cancel.set()
        self.model_state = (model_id, "loading", "")
        self._preload_cancel = prediction_worker.preload_in_background(self.registry.uri, model_id, self,
                                                                       self._on_preloaded)
        self._show_model_state()

    def _on_preloaded(self, model_id: str, exc: BaseException | None) -> None:
        from core.errors import RegistryError
        from core.prediction.warm import PredictionWorkerLost

        if model_id != self.model_id():
            return
        self._preload_cancel = None
        if exc is None:
            self.model_state = (model_id, "ready", "")
        elif isinstance(exc, PredictionWorkerLost) or not isinstance(exc, RegistryError):
            # Not the model's fault: Run tries again with a new worker and reports what happens.
            log.warning("the prediction worker could not load %s: %s", model_id, describe_error(exc)[0])
            self.model_state = (model_id, "", "")
        else:
            self.model_state = (model_id, "failed", describe_error(exc)[0])
        self._show_model_state()
        self._update_state()

    def _show_model_state(self) -> None:
        _model_id, state, message = self.model_state
        text = {"loading": "Loading and verifying the model in the background…",
                "ready": "Loaded and verified: a run starts at once.",
                "failed": message}.get(state, "")
        self.model_status.setText(text)
        self.model_status.setStyleSheet("color: #b3261e" if state == "failed" else "color: #5f6368")

    # ============================================================ preflight
    def _check(self, path: str) -> None:
        job = self.jobs[path]
        model_id = self.model_id()
        if model_id is None or self.registry is None:
            return
        old = self._preflight_workers.pop(path, None)
        if old is not None:
            old.cancel()
        job.state, job.preflight, job.preflight_error = "checking", None, None
        self._refresh_item(path)
        worker = start_worker_for(self,
            run_preflight, self.registry, model_id, path,
            on_success=lambda report, p=path, m=model_id: self._on_preflight_done(p, m, report, None),
            on_error=lambda exc, p=path, m=model_id: self._on_preflight_done(p, m, None, exc),
        )
        self._preflight_workers[path] = worker
        self._update_state()

    def _on_preflight_done(self, path: str, model_id: str, report, exc) -> None:
        job = self.jobs.get(path)
        self._preflight_workers.pop(path, None)
        if job is None or model_id != self.model_id():
            return
        job.preflight, job.preflight_error = report, exc
        job.state = "ready" if report is not None and report.ok else "blocked"
        self._refresh_item(path)
        self._update_state()
        self.preflight_finished.emit(path)

    def _preflight_html(self, job: FileJob) -> str:
        if job.preflight_error is not None:
            return f'<span style="color:#b3261e">{describe_error(job.preflight_error)[0]}</span>'
        report = job.preflight
        if report is None:
            return "Checking the file against the model…"
        rows = f"{format_count(report.estimated_rows)} rows" + ("" if report.rows_exact else " (estimated)")
        n = len(report.feature_columns)
        lines = [f"<b>{Path(report.path).name}</b>: {rows} · {len(report.matched)} of {n} feature columns "
                 f"found · identifiers: {', '.join(report.id_columns) or 'row numbers'}"]
        if report.missing:
            missing = []
            for column in report.missing:
                hint = report.suggestions.get(column) or []
                missing.append(f"<b>{column}</b>" + (f" (did you mean {', '.join(hint)}?)" if hint else ""))
            lines.append(f'<span style="color:#b3261e">Missing: {"; ".join(missing)}</span>')
        imputed, skipped = cell_notes(report, self._imputes(model_id=report.model_id))
        if imputed or skipped:
            lines.append(f"In the first {plural(report.sample_rows, 'row')}:")
        for notes, color in ((skipped, "#8a5a00"), (imputed, "#333c48")):
            shown = "<br>".join(f"&nbsp;&nbsp;{n}" for n in notes[:6])
            more = f"<br>&nbsp;&nbsp;… and {len(notes) - 6} more columns" if len(notes) > 6 else ""
            if notes:
                lines.append(f'<span style="color:{color}">{shown}{more}</span>')
        if not (imputed or skipped) and report.ok:
            lines.append('<span style="color:#1e7b34">Every feature cell in the first '
                         f'{format_count(report.sample_rows)} rows is a number.</span>')
        return "<br>".join(lines)

    def _show_drift(self, job: FileJob | None) -> None:
        """The drift panel for ``job``'s preflight (hidden while checking or when it failed)."""
        report = job.preflight if job is not None else None
        if report is None:
            if "drift_panel" in self._lazy:
                self.drift_panel.hide()
                self.drift_panel.shown_report = None
            return
        shown = self.drift_panel.shown_report
        if shown is not report:
            self.drift_panel.set_drift(report.drift, report.drift_note)
            self.drift_panel.shown_report = report
        if not self.drift_panel.isVisible():
            self.drift_panel.show()
            if report.drift is not None and self.height() < 680:
                self.resize(max(self.width(), 1000), 680)

    def _imputes(self, model_id: str | None) -> bool | None:
        """Whether the version's pipeline imputes empty cells (None: not recorded, e.g. an outside model)."""
        if model_id is None or self.registry is None:
            return None
        if model_id not in self._imputes_cache:
            try:
                if self.metadata_lookup is not None:
                    meta = self.metadata_lookup(model_id)
                    hyper = None if meta is None else meta.hyperparameters or {}
                else:
                    hyper = self.registry.get_metadata(model_id).hyperparameters or {}
            except Exception:  # noqa: BLE001 - only the wording depends on it
                hyper = None
            self._imputes_cache[model_id] = None if hyper is None or "imputer_strategy" not in hyper else True
        return self._imputes_cache[model_id]

    # ============================================================ running
    def _can_run(self) -> tuple[bool, str]:
        if self.model_id() is None:
            return False, "Choose a model."
        if self.model_state[0] == self.model_id() and self.model_state[1] == "failed":
            return False, f"Cannot run: {self.model_state[2]}"
        if not self.jobs:
            return False, "Add a CSV file to predict on."
        for job in self.jobs.values():
            name = Path(job.path).name
            if job.state == "checking":
                return False, f"Checking {name}…"
            if job.state == "blocked":
                reason = (describe_error(job.preflight_error)[0] if job.preflight_error is not None
                          else job.preflight.error)
                return False, f"Cannot run: {reason}"
        return True, ""

    def _start_next(self) -> None:
        if not self._queue:
            self.progress.finish(self._finish_text())
            self._update_state()
            self.run_finished.emit(list(self._finished))
            return
        path = self._queue.pop(0)
        job = self.jobs[path]
        job.state, job.summary, job.results, job.message = "running", None, None, ""
        self._refresh_item(path)
        self.progress.start(f"Starting the prediction of {Path(path).name}…")
        self._run_worker = start_worker_for(self,
            run_prediction, self.registry.uri, self.model_id(), path, job.output,
            on_success=lambda summary, p=path: self._on_run_succeeded(p, summary),
            on_error=lambda exc, p=path: self._on_run_failed(p, exc),
            on_cancelled=lambda p=path: self._on_run_cancelled(p),
            on_progress=self.progress.set_progress,
            on_finished=self._on_run_finished,
        )
        self._update_state()

    def _on_run_succeeded(self, path: str, summary) -> None:
        job = self.jobs[path]
        job.state, job.summary = "done", summary
        self._finished.append(summary)
        self._refresh_item(path)
        self._load_results(path)

    def _on_run_failed(self, path: str, exc: BaseException) -> None:
        from core.prediction.engine import PredictionCancelled

        job = self.jobs[path]
        if isinstance(exc, PredictionCancelled):
            self._on_run_cancelled(path)
            return
        job.state, job.message = "failed", describe_error(exc)[0]
        self._refresh_item(path)
        Messages.error(self, f"Could not predict {Path(path).name}", exc)

    def _on_run_cancelled(self, path: str) -> None:
        job = self.jobs[path]
        job.state, job.message = "cancelled", "Cancelled; nothing was written."
        self._queue = []
        self._refresh_item(path)

    def _on_run_finished(self) -> None:
        self._run_worker = None
        self._start_next()

    def _finish_text(self) -> str:
        done = [j for j in self.jobs.values() if j.state == "done"]
        if any(j.state == "cancelled" for j in self.jobs.values()):
            return "Cancelled; the cancelled file was not written."
        if not done:
            return "Nothing was written."
        rows = sum(j.summary.rows_read for j in done)
        seconds = sum(j.summary.elapsed_seconds for j in done)
        return f"Done: {format_count(rows)} rows in {format_duration(seconds)}."

    # ============================================================ results
    def _reveal_results(self) -> None:
        self.splitter.reveal_results()

    def _load_results(self, path: str) -> None:
        job = self.jobs[path]
        self._results_worker = start_worker_for(self,
            load_results, job.summary,
            on_success=lambda results, p=path: self._on_results_loaded(p, results),
            on_error=lambda exc: Messages.error(self, "Could not read the predictions", exc),
        )

    def _on_results_loaded(self, path: str, results: dict) -> None:
        self._results_worker = None
        self.jobs[path].results = results
        current = self.current_job()
        if current is not None and current.path == path:
            self._show_results(current)
            # On the next turn of the event loop: once this one has laid out and painted them.
            on_a_later_turn(self, lambda: self.results_shown.emit(path))
        else:
            self.results_shown.emit(path)

    def _show_results(self, job: FileJob) -> None:
        if job.summary is None or job.results is None:
            self.results_box.setVisible(False)
            return
        self._reveal_results()  # first: the tables are filled at their final size
        self._fill_results(job)

    def _fill_results(self, job: FileJob) -> None:
        summary = job.summary
        text = (f"<b>{format_count(summary.rows_predicted)}</b> rows predicted, "
                f"<b>{format_count(summary.rows_rejected)}</b> rejected"
                + (f", {format_count(summary.rows_imputed)} with imputed cells" if summary.rows_imputed else "")
                + f" in {format_duration(summary.elapsed_seconds)} → {Path(summary.output_path).name}")
        drift = getattr(summary, "drift", None)
        if drift is not None:
            color = DRIFT_COLORS.get(drift["verdict"], "#5f6368")
            text += f'<br>Every row: <span style="color:{color}">{html.escape(drift["sentence"])}</span>'
        self.summary_label.setText(text)
        self.summary_label.setToolTip(summary.output_path)
        self.preview_table.set_rows(*job.results["preview"])
        self.rejects_table.set_rows(*job.results["rejects"])
        rejected = summary.rows_rejected
        self.result_tabs.setTabText(2, f"Rejected rows ({format_count(rejected)})")
        self._draw_classes(summary.class_counts)

    def _on_result_tab_changed(self, index: int) -> None:
        if self.result_tabs.widget(index) is self.chart_page:
            self._ensure_chart()

    def _ensure_chart(self) -> None:
        if self.class_chart is None:
            self.class_chart = self._make_chart()
            self.chart_page.layout().addWidget(self.class_chart)
            self.class_chart.show()  # a child added to a page already on screen is hidden until shown
            self.chart_page.layout().activate()  # its size now, so the first paint has the bars
            self._draw_classes(self.class_counts)

    def _make_chart(self):
        import pyqtgraph as pg

        plot = pg.PlotWidget(parent=self.chart_page, background="w")
        plot.setObjectName("classChart")
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        item = plot.getPlotItem()
        item.setLabel("left", "rows")
        item.showGrid(y=True, alpha=0.25)
        self.class_bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush="#3b7dd8", pen="#2d64b0")
        item.addItem(self.class_bars)
        self.class_value_labels: list = []
        return plot

    def _draw_classes(self, counts: dict[str, int]) -> None:
        self.class_counts = dict(counts)
        if self.class_chart is None:
            return  # drawn when its tab is first shown
        import pyqtgraph as pg

        plot = self.class_chart.getPlotItem()
        labels = list(counts)
        heights = [int(counts[k]) for k in labels]
        self.class_bars.setOpts(x=list(range(len(labels))), height=heights, width=0.6)
        for text in self.class_value_labels:
            plot.removeItem(text)
        self.class_value_labels = []
        for i, h in enumerate(heights):
            text = pg.TextItem(format_count(h), color="#333", anchor=(0.5, 1.0))
            text.setPos(i, h)
            plot.addItem(text)
            self.class_value_labels.append(text)
        plot.getAxis("bottom").setTicks([[(i, label) for i, label in enumerate(labels)]])
        top = max(heights) if heights else 1
        plot.setRange(xRange=(-0.6, len(labels) - 0.4), yRange=(0, top * 1.15 or 1), padding=0)

    def class_chart_data(self) -> dict[str, int]:
        """The bars drawn in the class chart, by label (for tests and accessibility)."""
        self._ensure_chart()
        ticks = self.class_chart.getPlotItem().getAxis("bottom")._tickLevels or [[]]
        heights = self.class_bars.opts.get("height")
        return {label: int(heights[i]) for i, label in ticks[0]} if heights is not None else {}

    def _on_open_folder_clicked(self) -> None:
        job = self.current_job()
        if job is not None and job.summary is not None:
            Prompts.open_folder(Path(job.summary.output_path).parent)

    def _on_save_as_clicked(self) -> None:
        job = self.current_job()
        if job is None or job.summary is None:
            return
        filters = "CSV files (*.csv);;Parquet files (*.parquet)"
        target = Messages.get_save_file(self, "Save predictions as", job.summary.output_path, filters)
        if not target:
            return
        if Path(target).resolve() == Path(job.path).resolve() or same_file(target, job.path):
            Messages.information(self, "Choose another name", "That is the input file; choose another name.")
            return
        start_worker_for(self,
            save_copy, job.summary.output_path, target,
            on_success=lambda p: self.progress.set_text(f"Saved {p}"),
            on_error=lambda exc: Messages.error(self, "Could not save the predictions", exc),
        )

    # ============================================================ slots
    def _on_model_changed(self, _row: int) -> None:
        for path in list(self.jobs):
            self._check(path)
        self._preload()
        self._update_state()

    def _on_add_clicked(self) -> None:
        start = str(Path(self.current_job().path).parent) if self.current_job() else str(Path.home())
        paths = Prompts.open_files(self, "Choose CSV files to predict on", start, CSV_FILTER)
        if paths:
            self.add_files(paths)

    def _on_remove_clicked(self) -> None:
        job = self.current_job()
        if job is None or job.state == "running":
            return
        worker = self._preflight_workers.pop(job.path, None)
        if worker is not None:
            worker.cancel()
        del self.jobs[job.path]
        self.file_list.takeItem(self.file_list.currentRow())
        self._update_state()

    def _on_file_row_changed(self, _row: int) -> None:
        job = self.current_job()
        self.output_edit.setText(job.output if job else "")
        if job is not None:
            self._show_results(job)
        else:
            self.results_box.hide()
        self._update_state()

    def _on_output_edited(self) -> None:
        job = self.current_job()
        text = self.output_edit.text().strip()
        if job is not None and text:
            job.output = str(Path(text).expanduser())

    def _on_output_browse_clicked(self) -> None:
        job = self.current_job()
        if job is None:
            return
        target = Messages.get_save_file(self, "Write the predictions to", job.output,
                                        "CSV files (*.csv);;Compressed CSV (*.csv.gz);;Parquet files (*.parquet)")
        if target:
            job.output = target
            self.output_edit.setText(target)

    # ============================================================ state
    def _refresh_item(self, path: str) -> None:
        job = self.jobs.get(path)
        if job is None:
            return
        marks = {"checking": "…", "ready": "✓", "blocked": "✗", "running": "▶", "done": "✓ done",
                 "cancelled": "cancelled", "failed": "failed"}
        for row in range(self.file_list.count()):
            item = self.file_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == path:
                item.setText(f"{Path(path).name}   {marks.get(job.state, '')}")
                item.setForeground(Qt.GlobalColor.darkRed if job.state in ("blocked", "failed")
                                   else Qt.GlobalColor.black)
        if self.current_job() is job:
            self._update_state()

    def _update_state(self) -> None:
        running = self.is_running()
        ok, reason = self._can_run()
        self.run_button.setEnabled(ok and not running)
        self.reason_label.setText(reason if not running else "")
        self.reason_label.setToolTip(reason)
        for widget in (self.model_combo, self.add_button, self.remove_button, self.output_edit,
                       self.output_button):
            widget.setEnabled(not running)
        job = self.current_job()
        if job is None:
            self.preflight_label.setText("Drop CSV files here, or choose them with Add Files…")
            self.progress.hide()
        else:
            html = self._preflight_html(job)
            if job.message:
                html += f"<br><i>{job.message}</i>"
            self.preflight_label.setText(html)
        self._show_drift(job)
        self.close_button.setText("Close")
