"""The workflow dialogs wired into the main window: prediction, scoring, import / export, deployment.

:func:`install_workflows` connects each dialog to its place in the window
(:attr:`MainWindow.workflow_actions`), adds "Score on a labelled file…" to the comparison tab,
and lets files be dropped anywhere on the window: CSV files open the prediction dialog,
exported models (``.exoreg``, a model file with its metadata JSON) the import dialog, a
registry folder is opened, anything else is explained in a message.

The dialogs are modeless (the window stays usable while they work) and deleted when closed.
Fresh scores from the scoring dialog are shown in the comparison table and the charts as extra
metrics named ``scored <metric>`` (with their 95 % intervals) beside the registered ones, for as
long as those versions stay selected or until "Clear scores"; the same comparison fills the
Curves tab, whose "Export report…" writes it as an HTML report and its Markdown twin.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from exoreg_gui.dialogs.common import (
    MODEL_FILTER,
    choose_files,
    dropped_paths,
    is_csv,
    is_model_file,
)
from exoreg_gui.dialogs.messages import Messages
from exoreg_gui.main_window import MAX_COMPARED
from exoreg_gui.models.compare_table_model import INTERVALS_KEY

log = logging.getLogger("exoreg_gui")


class Workflows(QObject):
    """Owns the workflow dialogs of one main window; see the module docstring."""

    #: A workflow dialog was opened (shown, modeless); carries it.
    dialog_opened = Signal(object)
    #: Fresh scores are now shown beside the registered metrics; carries ``{model_id: metrics}``.
    scores_shown = Signal(object)

    def __init__(self, window):
        super().__init__(window)
        self.setObjectName("workflows")
        self.window = window
        self.dialogs: list[QDialog] = []
        self.fresh: dict[str, dict[str, float]] = {}
        self.fresh_intervals: dict[str, dict[str, list[float]]] = {}
        self.fresh_source = ""
        #: The last comparison scored on a file (``score_dialog.ScoredComparison``), for the Curves tab and reports.
        self.last_comparison = None
        self._report_worker = None
        self._curves_connected = False

        window.connect_workflow("predict", lambda _checked=False: self.open_predict())
        window.connect_workflow("import", lambda _checked=False: self.open_import())
        window.connect_workflow("export", lambda _checked=False: self.open_export())
        window.connect_workflow("deploy", lambda _checked=False: self.open_deploy())

        compare = window.compare
        self.score_button = QPushButton("Score on a labelled file…", compare)
        self.score_button.setObjectName("scoreButton")
        self.score_button.setToolTip("Evaluate the compared versions on the same labelled CSV, "
                                     "for a like-for-like comparison")
        self.score_button.clicked.connect(lambda _checked=False: self.open_score())
        self.scores_label = QLabel("", compare)
        self.scores_label.setObjectName("scoresLabel")
        self.clear_scores_button = QToolButton(compare)
        self.clear_scores_button.setText("Clear scores")
        self.clear_scores_button.clicked.connect(self.clear_scores)
        # A row under the comparison's own toolbar: scoring and what the "scored" rows are.
        self.scores_row = QWidget(compare)
        row = QHBoxLayout(self.scores_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.score_button)
        row.addWidget(self.scores_label, 1)
        row.addWidget(self.clear_scores_button)
        compare.layout().insertWidget(1, self.scores_row)
        self.scores_label.hide()
        self.clear_scores_button.hide()

        window.panels_updated.connect(self._on_window_panels_updated)
        window.registry_opened.connect(self._on_window_registry_opened)
        window.tabs.currentChanged.connect(lambda _tab: self._apply_scores())
        window.tree_panel.current_changed.connect(lambda _id: self._apply_scores())
        window.setAcceptDrops(True)
        window.installEventFilter(self)
        self._update_actions()

    # ============================================================ opening dialogs
    def open_predict(self, files: list[str] | None = None):
        from exoreg_gui.dialogs.predict_dialog import PredictDialog, default_model_id

        registry = self._registry()
        if registry is None:
            return None
        for dialog in self.dialogs:
            if isinstance(dialog, PredictDialog) and files and not dialog.is_running():
                dialog.add_files(files)
                dialog.raise_()
                dialog.activateWindow()
                return dialog
        tree = self.window.tree_panel.tree_model  # the versions the window already lists
        entries = [entry for name in tree.names() for entry in tree.versions_of(name)]
        if not entries:
            Messages.information(self.window, "No models", "This registry has no model to predict with yet.")
            return None
        model_id = default_model_id(entries, self.window.selected_ids())
        # A remote registry's metadata is looked up in what the window has read: never a wait on the network.
        lookup = self.window.source.cached_metadata if self.window.remote else None
        return self._show(PredictDialog(registry, entries, model_id, files, parent=self.window, metadata_lookup=lookup))

    def open_score(self, path: str | None = None):
        from exoreg_gui.dialogs.score_dialog import ScoreDialog

        registry = self._registry()
        if registry is None:
            return None
        ids = self.window.compare.model.version_ids() or self.window.selected_ids()
        versions = self._labelled(ids)
        if not versions:
            Messages.information(self.window, "Nothing to score", "Select the versions to score in the tree first.")
            return None
        dialog = ScoreDialog(registry, versions, path, parent=self.window)
        dialog.scored.connect(self.show_scores)
        return self._show(dialog)

    def open_import(self, paths: list[str] | None = None):
        from exoreg_gui.dialogs.import_dialog import ImportDialog

        registry = self._registry()
        if registry is None:
            return None
        if not paths:
            paths = choose_files(self.window, "Import models", "models", MODEL_FILTER)
            if not paths:
                return None
        dialog = ImportDialog(registry, paths, parent=self.window)
        dialog.imported.connect(self._on_dialog_imported)
        return self._show(dialog)

    def open_export(self):
        from exoreg_gui.dialogs.export_dialog import ExportDialog

        registry = self._registry()
        if registry is None:
            return None
        versions = self._labelled(self.window.selected_ids())
        if not versions:
            Messages.information(self.window, "Nothing to export", "Select the versions to export in the tree.")
            return None
        return self._show(ExportDialog(registry, versions, parent=self.window))

    def open_deploy(self, model_id: str | None = None):
        from exoreg_gui.dialogs.deploy_dialog import DeployDialog

        registry = self._registry()
        if registry is None:
            return None
        model_id = model_id or self.window.tree_panel.current_id() or next(iter(self.window.selected_ids()), None)
        if model_id is None:
            Messages.information(self.window, "Nothing to package", "Select the version to package in the tree.")
            return None
        source = self.window.source
        if source.missing_metadata([model_id]):  # read over the network first, then open the dialog
            source.request_metadata([model_id], then=lambda: self.open_deploy(model_id))
            return None
        try:
            meta = source.metadata(model_id)
        except Exception as exc:  # noqa: BLE001 - shown, never fatal
            Messages.error(self.window, "Could not read the version", exc)
            return None
        return self._show(DeployDialog(registry, meta, parent=self.window))

    def handle_dropped_paths(self, paths: list[str]) -> None:
        """Route dropped files: CSVs to prediction, exported models to import, a registry folder opens."""
        folders = [p for p in paths if Path(p).is_dir()]
        csvs = [p for p in paths if is_csv(p) and not Path(p).is_dir()]
        models = [p for p in paths if is_model_file(p) and not Path(p).is_dir()]
        # A model file dropped with its metadata JSON: the JSON belongs to the pair, it is not refused.
        stems = {Path(p).with_suffix("") for p in models}
        others = [p for p in paths if p not in folders and p not in csvs and p not in models
                  and not (p.lower().endswith(".json") and Path(p).with_suffix("") in stems)]
        if others:
            names = ", ".join(Path(p).name for p in others[:5])
            Messages.information(
                self.window, "Cannot open this file" if len(others) == 1 else "Cannot open these files",
                f"{names}: drop CSV files to predict on them, .exoreg archives (or a model file with its "
                "metadata JSON) to import them, or a registry folder to open it.",
            )
        if folders:
            self.window.open_registry(folders[0])
            return
        if csvs:
            self.open_predict(csvs)
        if models:
            self.open_import(models)

    def show_scores(self, source: str, fresh: dict, comparison=None) -> None:
        """Show fresh metrics (``{model_id: {"scored <metric>": value}}``) beside the registered ones.

        ``comparison`` (a ``ScoredComparison``) adds the fresh metrics' intervals and fills the Curves tab.
        """
        from exoreg_gui.dialogs.score_dialog import ScoredComparison, fresh_intervals

        self.fresh = dict(fresh)
        self.fresh_source = source
        scored = comparison if isinstance(comparison, ScoredComparison) else None
        self.fresh_intervals = fresh_intervals(scored.outcomes) if scored is not None else {}
        if scored is not None:
            self.last_comparison = scored
            self._show_curves(scored)
        if fresh:
            if scored is not None and not scored.paired:
                self.scores_label.setText(f"Rows “scored …” are fresh metrics on {source}, UNPAIRED: each version "
                                          "on its own held-out rows.")
            else:
                self.scores_label.setText(f"Rows “scored …” are fresh metrics of every version on the same rows of "
                                          f"{source}.")
            self.scores_label.setToolTip("Every version was scored on the same rows of this file; the other "
                                         "metrics were registered with each version's own test split.")
            self._apply_scores()
            # Registered and fresh bars of the same metrics, side by side.
            base = ["f1_score"]
            self.window.charts.set_chosen_metrics(base + ["scored " + m for m in base])
        self.scores_label.setVisible(bool(fresh))
        self.clear_scores_button.setVisible(bool(fresh))
        self.scores_shown.emit(dict(fresh))

    def clear_scores(self) -> None:
        had = bool(self.fresh)
        self.fresh = {}
        self.fresh_intervals = {}
        if self.last_comparison is not None:
            self.last_comparison = None
            self._clear_curves()
        self.scores_label.hide()
        self.clear_scores_button.hide()
        if had:
            self._set_panels(self.window.selected_ids(), {})
            charts = self.window.charts
            charts.set_chosen_metrics([m for m in charts.chosen_metrics if not m.startswith("scored ")])

    def export_report(self):
        """Write the last comparison as an HTML report and its Markdown twin (asks where, runs in a worker)."""
        from exoreg_gui.dialogs.score_dialog import export_report

        if self.last_comparison is None:
            Messages.information(self.window, "No comparison yet",
                                 "Score the compared versions on a labelled file first (Compare ▸ Score on a "
                                 "labelled file…).")
            return None
        self._report_worker = export_report(self.window, self.last_comparison.file_comparison,
                                            self._on_report_written)
        return self._report_worker

    def close_all(self) -> None:
        for dialog in list(self.dialogs):
            dialog.close()

    # ============================================================ events
    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if obj is self.window:
            kind = event.type()
            if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
                if event.mimeData().hasUrls():
                    event.acceptProposedAction()
                    return True
            elif kind == QEvent.Type.Drop:
                paths = dropped_paths(event)
                if paths:
                    event.acceptProposedAction()
                    self.handle_dropped_paths(paths)
                    return True
            elif kind == QEvent.Type.Close:
                self.close_all()
        return False

    def _on_window_panels_updated(self, _ids) -> None:
        self._update_actions()
        self._apply_scores()

    def _on_window_registry_opened(self, _root: str) -> None:
        self.fresh = {}
        self.fresh_intervals = {}
        if self.last_comparison is not None:
            self.last_comparison = None
            self._clear_curves()
        self.scores_label.hide()
        self.clear_scores_button.hide()
        self._update_actions()

    def _on_report_written(self, paths) -> None:
        self.window.statusBar().showMessage("Report written: " + ", ".join(str(p) for p in paths), 10000)

    def _on_dialog_imported(self, new_ids: list[str]) -> None:
        if new_ids:
            self.window.show_new_version(new_ids[-1])

    def _on_dialog_destroyed(self, dialog) -> None:
        if dialog in self.dialogs:
            self.dialogs.remove(dialog)

    # ============================================================ helpers
    def _show(self, dialog: QDialog) -> QDialog:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setModal(False)
        self.dialogs.append(dialog)
        dialog.finished.connect(lambda _result, d=dialog: self._on_dialog_destroyed(d))
        dialog.show()
        self.dialog_opened.emit(dialog)
        return dialog

    def _registry(self):
        registry = self.window.registry
        if registry is None:
            Messages.information(self.window, "No registry open", "Open a registry folder first.")
        return registry

    def _labelled(self, ids: list[str]) -> list[tuple[str, str]]:
        model = self.window.tree_panel.tree_model
        out = []
        for model_id in ids:
            entry = model.entry(model_id)
            if entry is not None and entry.get("status", "active") == "active":
                out.append((model_id, f"{entry['model_name']} v{entry['version']}"))
        return out

    def _apply_scores(self) -> None:
        ids = self.window.selected_ids()
        if self.fresh and any(i in self.fresh for i in ids):
            self._set_panels(ids, self.fresh)

    def _set_panels(self, ids: list[str], fresh: dict) -> None:
        metas = []
        for model_id in ids[:MAX_COMPARED]:
            try:
                meta = self.window.source.metadata(model_id)
            except Exception:  # noqa: BLE001 - the window reports unreadable versions itself
                continue
            if model_id in fresh:
                meta = copy.copy(meta)  # never change the source's cached metadata
                meta.metrics = {**(meta.metrics or {}), **fresh[model_id]}
                if model_id in self.fresh_intervals:
                    evaluation = dict(meta.evaluation or {})
                    evaluation[INTERVALS_KEY] = {**(evaluation.get(INTERVALS_KEY) or {}),
                                                 **self.fresh_intervals[model_id]}
                    meta.evaluation = evaluation
            metas.append(meta)
        current_id = self.window.tree_panel.current_id(ids)
        current = next((m for m in metas if m.model_id == current_id), metas[-1] if metas else None)
        self.window.compare.set_versions(metas, selected=len(ids))
        self.window.charts.set_versions(metas, current)

    def _show_curves(self, scored) -> None:
        """Fill the Curves tab (its curves, threshold and disagreements) from a scored comparison."""
        panel = self.window.curves_panel()
        if not self._curves_connected:
            panel.report_requested.connect(self.export_report)
            self._curves_connected = True
        panel.set_curves(scored.curves, scored.describe())
        panel.threshold.set_versions(scored.file_comparison.versions)
        if scored.disagreement_columns:
            shown = len(scored.disagreement_rows)
            summary = (f"{scored.disagreement_total:,} of {scored.file_comparison.rows_compared:,} rows where the "
                       "versions predict different labels" + (f" (the first {shown:,} shown)"
                                                              if shown < scored.disagreement_total else "") + ".")
        elif not scored.paired:
            summary = "The versions were scored on different rows (unpaired), so their predictions are not compared."
        else:
            summary = "Score two or more versions to see the rows where they disagree."
        panel.disagreements.set_rows(scored.disagreement_columns, scored.disagreement_rows, summary)

    def _clear_curves(self) -> None:
        panel = self.window.curves_panel()
        panel.set_curves([])
        panel.threshold.set_versions([])
        panel.disagreements.set_rows([], [])

    def _update_actions(self) -> None:
        has_registry = self.window.registry is not None
        has_selection = bool(self.window.selected_ids())
        actions = self.window.workflow_actions
        actions["import"].setEnabled(has_registry and not self.window.remote)  # remote: from the CLI (tooltip)
        actions["predict"].setEnabled(has_registry)
        actions["export"].setEnabled(has_selection)
        actions["deploy"].setEnabled(has_selection)
        self.score_button.setEnabled(has_selection)


def install_workflows(window) -> Workflows:
    """Connect the workflow dialogs to ``window`` (a :class:`exoreg_gui.main_window.MainWindow`)."""
    workflows = Workflows(window)
    window.workflows = workflows
    return workflows
