"""Score the compared versions on one labelled file: a like-for-like comparison a person can trust.

Registered metrics come from different splits and feature sets; scoring every version on the
same rows is how a person compares them fairly. The dialog gathers the file and its label
column and runs :func:`core.prediction.scoring.compare_on_file` for the versions (one pass over
the file, in the application's prediction worker process, :mod:`exoreg_gui.prediction_worker`)
on a worker thread, with progress and Cancel:

- each version's own training and validation rows are left out by default ("Include training
  rows (overlap not excluded)" turns that off, and says so), and the versions are compared on the
  rows none of them trained on, so the comparison is paired; the notes say what was left out;
- when they share too few such rows, the dialog says so and offers "Compare each on its own
  held-out rows" (unpaired, labelled as such, no verdict between them);
- it shows the verdict of every pair on the primary metric (difference with its interval, p, Holm
  p, McNemar p), every metric with its 95 % interval, and the registered metrics beside the fresh
  ones.

The curves, the threshold view and the disagreements are computed on the same worker thread
(:class:`ScoredComparison`); :attr:`ScoreDialog.scored` hands everything to the comparison tab,
the charts and the Curves tab. "Export report…" writes the HTML report and its Markdown twin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.common.text import plural
from exoreg_gui import workers
from exoreg_gui.dialogs.common import (
    CSV_FILTER,
    FileDropDialog,
    ProgressRow,
    choose_files,
    format_count,
    is_csv,
    reason_and_action_row,
    start_worker_for,
)
from exoreg_gui.dialogs.messages import Messages, describe_error

METRICS = ("accuracy", "precision", "recall", "f1_score")
METRIC_TITLES = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1_score": "F1"}
#: Prefix of the fresh metrics when they are shown beside the registered ones.
FRESH_PREFIX = "scored "


#: The comparison's metric behind each fresh headline metric (the engine's are macro averages).
COMPARISON_METRIC = {"accuracy": "accuracy", "precision": "precision_macro", "recall": "recall_macro",
                     "f1_score": "f1_macro"}
INCLUDE_TRAINING_TEXT = "Include training rows (overlap not excluded)"
UNPAIRED_TEXT = "Compare each on its own held-out rows"
#: Rows of the disagreements table kept for the window (the report lists its own first 100).
MAX_DISAGREEMENTS = 5000
_VERDICT_COLOURS = {"better": "#1e7a34", "worse": "#b3261e"}


@dataclass
class ScoreOutcome:
    """The fresh scores of one version, or why it could not be scored."""

    model_id: str
    label: str
    result: Any = None  # core.prediction.EvaluationResult
    error: BaseException | None = None
    #: The comparison's metrics of this version (``core.comparison.Estimate`` by metric key).
    estimates: dict[str, Any] | None = None


@dataclass
class ScoredComparison:
    """A comparison scored on one labelled file, and what the Curves tab draws from it."""

    source: str  # the file's name
    file_comparison: Any  # core.prediction.scoring.FileComparison
    outcomes: list[ScoreOutcome]
    curves: list[tuple[str, dict]]  # (version label, core.comparison.curves dict)
    disagreement_columns: list[str]
    disagreement_rows: list[list]
    disagreement_total: int

    @property
    def paired(self) -> bool:
        return bool(self.file_comparison.paired)

    def describe(self) -> str:
        """One line naming the file and how the versions were compared."""
        fc = self.file_comparison
        rows = format_count(fc.rows_compared)
        if self.paired:
            text = f"Scored on the same {rows} rows of {self.source}"
        else:
            text = f"Scored on {self.source}, UNPAIRED: each version on its own held-out rows (at least {rows})"
        if not fc.excluded_training_rows:
            text += "; training rows included (overlap not excluded)"
        return text + "."


def read_columns(path: str) -> list[str]:
    """Worker function: the column names of a CSV file."""
    from core.prediction.csv_input import sniff_csv

    return list(sniff_csv(path).columns)


def score_comparison(registry_uri: str, versions: list[tuple[str, str]], path: str, label_column: str, *,
                     include_training_rows: bool = False, allow_unpaired: bool = False,
                     progress=None, cancelled=None) -> ScoredComparison:
    """Worker function: compare ``(model_id, label)`` versions on a labelled file, with their curves.

    Raises :class:`core.errors.TooFewSharedRows` when the versions share too few held-out rows
    (and ``allow_unpaired`` is False).
    """
    from core.comparison.curves import curves, disagreements
    from exoreg_gui.prediction_worker import compare_file

    fc = compare_file(registry_uri, [m for m, _ in versions], path, label_column,
                      exclude_training_rows=not include_training_rows, allow_unpaired=allow_unpaired,
                      progress=progress, cancelled=cancelled)
    by_id = {v.model_id: v for v in fc.versions}
    results = {r.model_id: r for r in fc.results}
    outcomes = []
    for model_id, label in versions:
        scored = by_id.get(model_id)
        estimates = fc.comparison.metrics.get(scored.label) if scored is not None else None
        outcomes.append(ScoreOutcome(model_id, label, result=results.get(model_id), estimates=estimates))
    drawn = [(v.label, curves(v)) for v in fc.versions]
    columns, rows, total = [], [], 0
    if fc.paired and len(fc.versions) >= 2:
        found = disagreements(fc.versions)
        total = len(found)
        columns, rows = disagreement_table(fc, found[:MAX_DISAGREEMENTS])
    return ScoredComparison(Path(path).name, fc, outcomes, drawn, columns, rows, total)


def disagreement_table(file_comparison, found: list[dict]) -> tuple[list[str], list[list]]:
    """``core.comparison.curves.disagreements`` as table columns and rows.

    ``row`` is the row's 1-based number among the file's data rows (as in a prediction's output),
    then the true label, each version's predicted label, and each version's probabilities (of the
    positive class for two classes, of every class for more).
    """
    from core.comparison import positive_class
    from core.prediction.scoring import _shared_records

    versions = file_comparison.versions
    records = _shared_records(file_comparison.results, file_comparison.excluded_training_rows)
    shown_classes = {v.label: ([positive_class(v.classes)] if len(v.classes) == 2 else [str(c) for c in v.classes])
                     for v in versions if v.proba is not None}
    columns = ["row", "true label", *[v.label for v in versions]]
    columns += [f"P({c}) {label}" for label, classes in shown_classes.items() for c in classes]
    rows = []
    for found_row in found:
        position = found_row["row"]
        number = int(records[position]) + 1 if position < len(records) else position + 1
        cells = [number, found_row["true"], *[found_row["predicted"][v.label] for v in versions]]
        for label, classes in shown_classes.items():
            probabilities = found_row["probabilities"].get(label) or {}
            cells += [probabilities.get(c) for c in classes]
        rows.append(cells)
    return columns, rows


def fresh_metrics(outcomes: list[ScoreOutcome]) -> dict[str, dict[str, float]]:
    """``{model_id: {"scored accuracy": ..., ...}}`` for the versions that were scored.

    The values are the comparison's, on the rows the versions were compared on (the same rows when
    paired); a version without them falls back to its own scored rows.
    """
    fresh: dict[str, dict[str, float]] = {}
    for outcome in outcomes:
        if outcome.result is None:
            continue
        values = {}
        for name in METRICS:
            estimate = (outcome.estimates or {}).get(COMPARISON_METRIC[name])
            if estimate is not None and math.isfinite(estimate.value):
                values[FRESH_PREFIX + name] = float(estimate.value)
            elif name in outcome.result.metrics:
                values[FRESH_PREFIX + name] = float(outcome.result.metrics[name])
        fresh[outcome.model_id] = values
    return fresh


def fresh_intervals(outcomes: list[ScoreOutcome]) -> dict[str, dict[str, list[float]]]:
    """``{model_id: {"scored f1_score": [low, high], ...}}``: the 95 % intervals of the fresh metrics."""
    out: dict[str, dict[str, list[float]]] = {}
    for outcome in outcomes:
        for name in METRICS:
            estimate = (outcome.estimates or {}).get(COMPARISON_METRIC[name])
            if estimate is not None and math.isfinite(estimate.low) and math.isfinite(estimate.high):
                out.setdefault(outcome.model_id, {})[FRESH_PREFIX + name] = [float(estimate.low),
                                                                             float(estimate.high)]
    return out


def write_report(file_comparison, html_path: str) -> list[Path]:
    """Worker function: the HTML report at ``html_path`` and its Markdown twin beside it (``.md``)."""
    html = Path(html_path)
    if html.suffix.lower() not in (".html", ".htm"):
        html = html.with_name(html.name + ".html")
    return file_comparison.write_report(html=html, markdown=html.with_suffix(".md"))


def export_report(owner: QWidget, file_comparison, on_written=None):
    """Ask where to write the report of ``file_comparison``, then write it in a worker.

    Errors are shown in one sentence; ``on_written(paths)`` runs when both files are written.
    Returns the worker, or None when the person chose no file.
    """
    from exoreg_gui.dialogs.common import choose_save_file

    path = choose_save_file(owner, "Export report", "report", "comparison-report.html",
                            "HTML report (*.html)")
    if not path:
        return None

    def written(paths: list[Path]) -> None:
        if on_written is not None:
            on_written(paths)

    return start_worker_for(owner, write_report, file_comparison, path, on_success=written,
                            on_error=lambda exc: Messages.error(owner, "Could not write the report", exc))


class ScoreDialog(FileDropDialog):
    """Choose a labelled CSV and its label column; compare the versions on it; see how sure that is."""

    #: Scoring finished; carries ``(file name, {model_id: {"scored <metric>": value}}, ScoredComparison)``.
    scored = Signal(str, object, object)
    #: The file's columns were read (the label combo is filled).
    columns_loaded = Signal()
    #: The versions share too few held-out rows; carries the sentence shown.
    too_few_shared_rows = Signal(str)
    #: The report was written; carries the paths (HTML, Markdown).
    report_written = Signal(object)

    def __init__(self, registry, versions: list[tuple[str, str]], path: str | None = None,
                 parent: QWidget | None = None):
        """``versions``: ``(model_id, "Name v3")`` pairs, in the comparison's column order."""
        super().__init__(parent)
        self.setObjectName("ScoreDialog")
        self.setWindowTitle("Score on a labelled file")
        self.registry = registry
        self.versions = list(versions)
        self.outcomes: list[ScoreOutcome] = []
        self.comparison: ScoredComparison | None = None
        self._columns_worker: workers.Worker | None = None
        self._run_worker: workers.Worker | None = None
        self._report_worker: workers.Worker | None = None
        self._columns_path = ""
        self._unpaired = False

        self.path_edit = QLineEdit(self)
        self.path_edit.setObjectName("pathEdit")
        self.path_edit.setPlaceholderText("A CSV with the true labels, e.g. the KOI table")
        self.path_edit.editingFinished.connect(lambda: self.set_path(self.path_edit.text().strip()))
        self.browse_button = QToolButton(self)
        self.browse_button.setText("…")
        self.browse_button.clicked.connect(self._on_browse_clicked)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(self.browse_button)
        self.label_combo = QComboBox(self)
        self.label_combo.setObjectName("labelCombo")
        self.label_combo.setMinimumContentsLength(24)
        self.label_combo.currentIndexChanged.connect(lambda _row: self._update_state())
        self.include_check = QCheckBox(INCLUDE_TRAINING_TEXT, self)
        self.include_check.setObjectName("includeTrainingRows")
        self.include_check.setToolTip("Off (the default): each version's own training and validation rows are "
                                      "left out, so no version is scored on rows it has seen. On: every row is "
                                      "scored, and the results say so.")
        names = ", ".join(label for _, label in self.versions)
        versions_label = QLabel(names, self)
        versions_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Versions:", versions_label)
        form.addRow("Labelled file:", path_row)
        form.addRow("Label column:", self.label_combo)
        form.addRow("", self.include_check)
        note = QLabel("The versions are compared on the same rows: those none of them was trained or validated "
                      "on. Rows whose label a version does not know (e.g. CANDIDATE) are left out and counted.",
                      self)
        note.setWordWrap(True)
        note.setObjectName("metricName")

        # -- after a run: what was left out, the verdicts, the metrics with intervals
        self.notes_label = QLabel("", self)
        self.notes_label.setObjectName("notesLabel")
        self.notes_label.setWordWrap(True)
        self.notes_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notes_label.hide()
        self.shortfall_label = QLabel("", self)
        self.shortfall_label.setObjectName("shortfallLabel")
        self.shortfall_label.setWordWrap(True)
        self.unpaired_button = QPushButton(UNPAIRED_TEXT, self)
        self.unpaired_button.setObjectName("unpairedButton")
        self.unpaired_button.setToolTip("Score each version on the rows it was not trained or validated on: "
                                        "intervals for each, but no verdict between them (unpaired)")
        self.unpaired_button.clicked.connect(lambda _checked=False: self.run(allow_unpaired=True))
        self.shortfall_row = QWidget(self)
        shortfall = QHBoxLayout(self.shortfall_row)
        shortfall.setContentsMargins(0, 0, 0, 0)
        shortfall.addWidget(self.shortfall_label, 1)
        shortfall.addWidget(self.unpaired_button)
        self.shortfall_row.hide()

        self.verdict_sentences = QLabel("", self)
        self.verdict_sentences.setObjectName("verdictSentences")
        self.verdict_sentences.setWordWrap(True)
        self.verdict_sentences.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_table = _table(self, "verdictTable")
        self.metrics_table = _table(self, "metricsTable")
        self.table = _table(self, "scoreTable")
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        verdicts_page = QWidget(self)
        verdicts_layout = QVBoxLayout(verdicts_page)
        verdicts_layout.addWidget(self.verdict_sentences)
        verdicts_layout.addWidget(self.verdict_table, 1)
        self.results_tabs = QTabWidget(self)
        self.results_tabs.setObjectName("scoreResultsTabs")
        self.results_tabs.addTab(verdicts_page, "Verdicts")
        self.results_tabs.addTab(self.metrics_table, "Metrics with intervals")
        self.results_tabs.addTab(self.table, "Registered and on this file")
        self.results_tabs.setMinimumHeight(170)  # a row of each table is never cut, however small the dialog

        self.progress = ProgressRow("rows", self)
        self.progress.cancel_requested.connect(self.cancel)
        self.reason_label, self.run_button, self.close_button, buttons = reason_and_action_row(
            self, "Score", self.run, "runButton")
        self.report_button = QPushButton("Export report…", self)
        self.report_button.setObjectName("reportButton")
        self.report_button.setToolTip("Write this comparison as one self-contained HTML file and its Markdown twin")
        self.report_button.clicked.connect(lambda _checked=False: self.export_report())
        buttons.insertWidget(1, self.report_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.shortfall_row)
        layout.addWidget(self.notes_label)
        layout.addWidget(self.results_tabs, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(1040, 600)
        self._fill_tables()
        if path:
            self.set_path(path)
        self._update_state()

    # ============================================================ public API
    def set_path(self, path: str) -> None:
        if not path:
            return
        if not is_csv(path):
            Messages.information(self, "Not a CSV file",
                                 f"{Path(path).name} is not a CSV file; choose the labelled CSV to score on.")
            return
        if path == self._columns_path:
            return  # e.g. the line edit lost focus to the Score button: nothing changed
        self._columns_path = path
        self.path_edit.setText(path)
        self.label_combo.clear()
        self._columns_worker = start_worker_for(self,
            read_columns, path,
            on_success=self._on_columns_read,
            on_error=self._on_columns_failed,
        )
        self._update_state()

    def label_column(self) -> str | None:
        return self.label_combo.currentText() or None

    def run(self, *, allow_unpaired: bool = False) -> None:
        """Score the versions (paired); ``allow_unpaired``: each on its own held-out rows if they share too few."""
        if self._run_worker is not None or not self._can_run()[0]:
            return
        self.outcomes = []
        self._unpaired = allow_unpaired
        self.shortfall_row.hide()
        self.progress.start(f"Scoring {plural(len(self.versions), 'version')}…")
        self._run_worker = start_worker_for(self,
            score_comparison, self.registry.uri, self.versions, self.path_edit.text().strip(),
            self.label_column(), include_training_rows=self.include_check.isChecked(),
            allow_unpaired=allow_unpaired,
            on_success=self._on_scored,
            on_error=self._on_score_failed,
            on_cancelled=lambda: self.progress.finish("Cancelled; nothing was scored."),
            on_progress=self.progress.set_progress,
            on_finished=self._on_run_finished,
        )
        self._update_state()

    def cancel(self) -> None:
        if self._run_worker is not None:
            self._run_worker.cancel()

    def export_report(self):
        """Ask for the report's file and write it (and its Markdown twin) in the background."""
        if self.comparison is None or self._report_worker is not None:
            return None

        def written(paths) -> None:
            self.progress.finish("Report written: " + ", ".join(Path(p).name for p in paths) + ".")
            self.report_written.emit(list(paths))

        self._report_worker = export_report(self, self.comparison.file_comparison, written)
        if self._report_worker is not None:
            self._report_worker.signals.finished.connect(self._on_report_finished)
        self._update_state()
        return self._report_worker

    def done(self, result: int) -> None:  # noqa: D401 - Qt override
        self.cancel()
        super().done(result)

    def files_dropped(self, paths: list[str]) -> None:
        self.set_path(paths[0])

    # ============================================================ slots
    def _on_browse_clicked(self) -> None:
        current = self.path_edit.text().strip()
        paths = choose_files(self, "Choose a labelled CSV file", "labelled", CSV_FILTER,
                             fallback=str(Path(current).parent) if current else None)
        if paths:
            self.set_path(paths[0])

    def _on_columns_read(self, columns: list[str]) -> None:
        from core.prediction.engine import DEFAULT_LABEL_COLUMN

        self._columns_worker = None
        self.label_combo.clear()
        self.label_combo.addItems(columns)
        preferred = [c for c in (DEFAULT_LABEL_COLUMN, "label", "class", "target") if c in columns]
        if preferred:
            self.label_combo.setCurrentText(preferred[0])
        self._update_state()
        self.columns_loaded.emit()

    def _on_columns_failed(self, exc: BaseException) -> None:
        self._columns_worker = None
        self._columns_path = ""
        self.reason_label.setText(describe_error(exc)[0])
        Messages.error(self, "Could not read the file", exc)

    def _on_scored(self, comparison: ScoredComparison) -> None:
        self.comparison = comparison
        self.outcomes = comparison.outcomes
        self.progress.finish(comparison.describe())
        notes = list(comparison.file_comparison.notes)
        self.notes_label.setText("\n".join(_sentence(n) for n in notes))
        self.notes_label.setVisible(bool(notes))
        # Overlap that could not be checked, or training rows let in: a warning, not a footnote.
        warn = any(word in n for n in notes for word in ("could not be checked", "training rows included",
                                                         "unpaired", "UNPAIRED"))
        self.notes_label.setStyleSheet("color: #8a4b00;" if warn else "")
        self._fill_tables()
        self.scored.emit(comparison.source, fresh_metrics(self.outcomes), comparison)

    def _on_score_failed(self, exc: BaseException) -> None:
        from core.errors import TooFewSharedRows
        from core.prediction.engine import PredictionCancelled

        if isinstance(exc, PredictionCancelled):
            self.progress.finish("Cancelled; nothing was scored.")
            return
        if isinstance(exc, TooFewSharedRows) and not self._unpaired:
            sentence = describe_error(exc)[0]
            self.progress.finish("")
            self.shortfall_label.setText(sentence)
            self.shortfall_row.show()
            self.too_few_shared_rows.emit(sentence)
            return
        self.progress.finish("")
        Messages.error(self, "Could not score the versions", exc)

    def _on_run_finished(self) -> None:
        self._run_worker = None
        self._update_state()

    def _on_report_finished(self) -> None:
        self._report_worker = None
        self._update_state()

    # ============================================================ display
    def _fill_tables(self) -> None:
        self._fill_registered_table()
        comparison = self.comparison
        if comparison is None:
            self.verdict_sentences.setText("Score the versions to see which is better, and how sure that is.")
            _fill(self.verdict_table, VERDICT_HEADERS, [])
            _fill(self.metrics_table, ["Version", "Rows"], [])
            return
        fc = comparison.file_comparison
        self.verdict_sentences.setText("\n".join(fc.sentences()))
        _fill(self.verdict_table, VERDICT_HEADERS, verdict_rows(fc.comparison))
        headers, rows = metric_rows(fc.comparison)
        _fill(self.metrics_table, headers, rows)

    def _fill_registered_table(self) -> None:
        headers = ["Version", "Rows scored"]
        for name in METRICS:
            headers += [f"{METRIC_TITLES[name]}\nregistered", f"{METRIC_TITLES[name]}\non this file"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        outcomes = self.outcomes or [ScoreOutcome(model_id, label) for model_id, label in self.versions]
        self.table.setRowCount(len(outcomes))
        for column in (0, 1):
            self.table.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        fresh_brush = QBrush(QColor("#e3eefc"))
        fresh = fresh_metrics(outcomes)
        intervals = fresh_intervals(outcomes)
        for row, outcome in enumerate(outcomes):
            self.table.setItem(row, 0, QTableWidgetItem(outcome.label))
            if outcome.result is None and outcome.error is None:
                continue  # not scored yet
            if outcome.result is None:
                item = QTableWidgetItem(f"not scored: {describe_error(outcome.error)[0]}")
                item.setForeground(QBrush(QColor("#b3261e")))
                self.table.setItem(row, 1, item)
                self.table.setSpan(row, 1, 1, len(headers) - 1)
                continue
            result = outcome.result
            scored = QTableWidgetItem(format_count(result.rows_scored))
            skipped = sum(result.unscored.values()) + result.rows_rejected
            scored.setToolTip(f"{format_count(result.rows_read)} rows read; {format_count(skipped)} not scored "
                              + (f"({', '.join(f'{k}: {v}' for k, v in result.unscored.items())})"
                                 if result.unscored else ""))
            self.table.setItem(row, 1, scored)
            for k, name in enumerate(METRICS):
                registered = result.registered_metrics.get(name)
                value = fresh.get(outcome.model_id, {}).get(FRESH_PREFIX + name)
                for j, shown in enumerate((registered, value)):
                    item = QTableWidgetItem("—" if shown is None else f"{shown:.4f}")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    if j == 1:
                        item.setBackground(fresh_brush)
                        interval = intervals.get(outcome.model_id, {}).get(FRESH_PREFIX + name)
                        if interval:
                            item.setToolTip(f"95 % interval [{interval[0]:.4f}, {interval[1]:.4f}]")
                    self.table.setItem(row, 2 + 2 * k + j, item)

    def _can_run(self) -> tuple[bool, str]:
        if not self.versions:
            return False, "Select versions to score in the tree."
        if not self.path_edit.text().strip():
            return False, "Choose a labelled CSV file."
        if self._columns_worker is not None:
            return False, "Reading the file's columns…"
        if not self.label_column():
            return False, "Choose the column that holds the true labels."
        return True, ""

    def _update_state(self) -> None:
        running = self._run_worker is not None
        ok, reason = self._can_run()
        self.run_button.setEnabled(ok and not running)
        self.unpaired_button.setEnabled(ok and not running)
        self.reason_label.setText("" if running else reason)
        self.label_combo.setEnabled(not running)
        self.path_edit.setEnabled(not running)
        self.include_check.setEnabled(not running)
        self.report_button.setEnabled(self.comparison is not None and not running and self._report_worker is None)


VERDICT_HEADERS = ["Pair", "Difference [95 % interval]", "p", "Holm p", "McNemar p", "Verdict"]


def verdict_rows(comparison) -> list[list[tuple[str, str | None]]]:
    """The verdict table: ``(text, colour or None)`` cells, one row per pair compared."""
    from core.comparison.results import interval_text, metric_name

    rows = []
    for pair in comparison.pairs:
        rows.append([
            (f"{pair.a} vs {pair.b}", None),
            (f"{metric_name(pair.metric)} {interval_text(pair.difference, sign=True)}", None),
            (_p(pair.p_value), None),
            (_p(pair.p_holm), None),
            (_p(pair.mcnemar_p), None),
            (pair.verdict, _VERDICT_COLOURS.get(pair.verdict)),
        ])
    return rows


def metric_rows(comparison) -> tuple[list[str], list[list[tuple[str, str | None]]]]:
    """Every version's metrics with their 95 % intervals: headers and ``(text, colour)`` rows."""
    from core.comparison.results import METRIC_NAMES, interval_text

    labels = list(comparison.metrics)
    keys = [k for k in METRIC_NAMES if any(k in comparison.metrics[label] for label in labels)]
    headers = ["Version", "Rows"] + [METRIC_NAMES[k] for k in keys]
    rows = []
    for label in labels:
        values = comparison.metrics[label]
        rows.append([(label, None), (format_count(comparison.rows_by_version.get(label, comparison.rows)), None)]
                    + [(interval_text(values[k]) if k in values else "—", None) for k in keys])
    return headers, rows


_NUMERIC_START = set("0123456789+-<\u2212\u2014")  # numbers, intervals, "< 0.001", "—"


def _p(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3g}"


def _sentence(text: str) -> str:
    text = str(text).strip()
    return text if not text or text.endswith((".", "!", "?")) else text[0].upper() + text[1:] + "."


def _table(parent: QWidget, name: str) -> QTableWidget:
    table = QTableWidget(parent)
    table.setObjectName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.horizontalHeader().setMinimumHeight(40)
    table.setWordWrap(False)
    return table


def _fill(table: QTableWidget, headers: list[str], rows: list[list[tuple[str, str | None]]]) -> None:
    table.clear()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, (text, colour) in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            if c > 0 and (text[:1] in _NUMERIC_START or text == "n/a"):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if colour:
                item.setForeground(QBrush(QColor(colour)))
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            table.setItem(r, c, item)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    if headers:
        header.setStretchLastSection(True)
