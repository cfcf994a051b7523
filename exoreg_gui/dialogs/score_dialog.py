"""Score the compared versions on one labelled file: a like-for-like comparison.

Registered metrics come from different splits and feature sets; scoring every version on the
same rows is how a person compares them fairly. The dialog gathers the file and its label
column, runs :func:`core.prediction.evaluate_versions` for the versions (one pass over the file)
on a worker thread, in the application's prediction worker process
(:mod:`exoreg_gui.prediction_worker`), and shows the fresh metrics beside the registered ones.
:attr:`scored` hands them to the comparison tab and the charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTableWidgetItem,
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


@dataclass
class ScoreOutcome:
    """The fresh scores of one version, or why it could not be scored."""

    model_id: str
    label: str
    result: Any = None  # core.prediction.EvaluationResult
    error: BaseException | None = None


def read_columns(path: str) -> list[str]:
    """Worker function: the column names of a CSV file."""
    from core.prediction.csv_input import sniff_csv

    return list(sniff_csv(path).columns)


def score_versions(registry_uri: str, versions: list[tuple[str, str]], path: str, label_column: str, *,
                   progress=None, cancelled=None) -> list[ScoreOutcome]:
    """Worker function: evaluate each ``(model_id, label)`` on the same labelled file, in one pass.

    A version that cannot run on the file (a missing feature column, say) is reported with its
    error and the others are still scored: then each version gets its own pass.
    """
    from core.errors import RegistryError
    from core.prediction.engine import PredictionCancelled
    from exoreg_gui.prediction_worker import evaluate_file, evaluate_files

    try:
        results = evaluate_files(registry_uri, [m for m, _ in versions], path, label_column,
                                 progress=progress, cancelled=cancelled)
        return [ScoreOutcome(m, label, result=r) for (m, label), r in zip(versions, results, strict=True)]
    except PredictionCancelled:
        raise
    except (RegistryError, OSError, ValueError) as exc:
        if len(versions) == 1:
            return [ScoreOutcome(versions[0][0], versions[0][1], error=exc)]
    outcomes: list[ScoreOutcome] = []
    n = len(versions)
    for i, (model_id, label) in enumerate(versions):
        if cancelled is not None and cancelled():
            raise PredictionCancelled("The scoring was cancelled.")

        def step(done: int, total: int, i: int = i) -> None:
            if progress is not None and total > 0:
                progress(i * total + done, n * total)

        try:
            result = evaluate_file(registry_uri, model_id, path, label_column, progress=step, cancelled=cancelled)
        except PredictionCancelled:
            raise
        except (RegistryError, OSError, ValueError) as exc:
            outcomes.append(ScoreOutcome(model_id, label, error=exc))
        else:
            outcomes.append(ScoreOutcome(model_id, label, result=result))
    return outcomes


def fresh_metrics(outcomes: list[ScoreOutcome]) -> dict[str, dict[str, float]]:
    """``{model_id: {"scored accuracy": ..., ...}}`` for the versions that were scored."""
    fresh: dict[str, dict[str, float]] = {}
    for outcome in outcomes:
        if outcome.result is not None:
            fresh[outcome.model_id] = {
                FRESH_PREFIX + name: float(outcome.result.metrics[name])
                for name in METRICS if name in outcome.result.metrics
            }
    return fresh


class ScoreDialog(FileDropDialog):
    """Choose a labelled CSV and its label column; score the versions; see fresh beside registered."""

    #: Scoring finished; carries ``(file name, {model_id: {"scored <metric>": value}}, outcomes)``.
    scored = Signal(str, object, object)
    #: The file's columns were read (the label combo is filled).
    columns_loaded = Signal()

    def __init__(self, registry, versions: list[tuple[str, str]], path: str | None = None,
                 parent: QWidget | None = None):
        """``versions``: ``(model_id, "Name v3")`` pairs, in the comparison's column order."""
        super().__init__(parent)
        self.setObjectName("ScoreDialog")
        self.setWindowTitle("Score on a labelled file")
        self.registry = registry
        self.versions = list(versions)
        self.outcomes: list[ScoreOutcome] = []
        self._columns_worker: workers.Worker | None = None
        self._run_worker: workers.Worker | None = None
        self._columns_path = ""

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
        names = ", ".join(label for _, label in self.versions)
        versions_label = QLabel(names, self)
        versions_label.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Versions:", versions_label)
        form.addRow("Labelled file:", path_row)
        form.addRow("Label column:", self.label_combo)
        note = QLabel("Each version predicts the same rows; rows whose label a version does not know "
                      "(e.g. CANDIDATE) are left out for that version and counted.", self)
        note.setWordWrap(True)
        note.setObjectName("metricName")

        self.table = QTableWidget(self)
        self.table.setObjectName("scoreTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setMinimumHeight(40)

        self.progress = ProgressRow("rows", self)
        self.progress.cancel_requested.connect(self.cancel)
        self.reason_label, self.run_button, self.close_button, buttons = reason_and_action_row(
            self, "Score", self.run, "runButton")

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.resize(980, 420)
        self._fill_table()
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

    def run(self) -> None:
        if self._run_worker is not None or not self._can_run()[0]:
            return
        self.outcomes = []
        self.progress.start(f"Scoring {plural(len(self.versions), 'version')}…")
        self._run_worker = start_worker_for(self,
            score_versions, self.registry.uri, self.versions, self.path_edit.text().strip(),
            self.label_column(),
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

    def _on_scored(self, outcomes: list[ScoreOutcome]) -> None:
        self.outcomes = outcomes
        scored = [o for o in outcomes if o.result is not None]
        rows = max((o.result.rows_scored for o in scored), default=0)
        self.progress.finish(f"Scored {len(scored)} of {plural(len(outcomes), 'version')} on up to {plural(rows, 'row')}.")
        self._fill_table()
        self.scored.emit(Path(self.path_edit.text()).name, fresh_metrics(outcomes), outcomes)

    def _on_score_failed(self, exc: BaseException) -> None:
        from core.prediction.engine import PredictionCancelled

        if isinstance(exc, PredictionCancelled):
            self.progress.finish("Cancelled; nothing was scored.")
            return
        self.progress.finish("")
        Messages.error(self, "Could not score the versions", exc)

    def _on_run_finished(self) -> None:
        self._run_worker = None
        self._update_state()

    # ============================================================ display
    def _fill_table(self) -> None:
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
                for j, value in enumerate((registered, result.metrics.get(name))):
                    item = QTableWidgetItem("—" if value is None else f"{value:.4f}")
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                    if j == 1:
                        item.setBackground(fresh_brush)
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
        self.reason_label.setText("" if running else reason)
        self.label_combo.setEnabled(not running)
        self.path_edit.setEnabled(not running)
