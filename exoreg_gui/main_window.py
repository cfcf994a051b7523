"""The registry browser's main window: tree on the left, Inspector / Compare / Charts / Curves on the right.

The window wires thin widgets to :class:`RegistrySource` (the open registry, polled for changes)
and writes the person's edits (description, tags, aliases, delete / restore) through ``core``.
Slow work runs in :mod:`exoreg_gui.workers`; errors are shown by :class:`Messages` and logged.

The workflow dialogs (import / export, batch prediction, deployment) are reached through the
actions in :attr:`MainWindow.workflow_actions`, in the File and Model menus and on the toolbar;
:mod:`exoreg_gui.workflows` connects them and enables each when it can run.
"""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.common.text import plural
from exoreg_gui import prediction_worker, workers
from exoreg_gui.dialogs.messages import Messages, describe_error
from exoreg_gui.registry_source import RegistrySource, is_remote_uri
from exoreg_gui.resources import icon, stylesheet
from exoreg_gui.settings import Settings
from exoreg_gui.widgets.charts_panel import ChartsPanel
from exoreg_gui.widgets.compare_panel import ComparePanel
from exoreg_gui.widgets.inspector import InspectorPanel
from exoreg_gui.widgets.registry_tree import RegistryTreePanel
from exoreg_gui.widgets.welcome_page import WelcomePage

log = logging.getLogger("exoreg_gui")

TAB_INSPECTOR, TAB_COMPARE, TAB_CHARTS, TAB_CURVES = range(4)
PAGE_WELCOME, PAGE_BROWSER = range(2)
#: Pause before bringing a hidden tab up to date after a selection change.
IDLE_FILL_MS = 60
#: Versions shown side by side in Compare and Charts; a larger selection shows its first ones
#: (reading thousands of metadata files would stall the window, and nobody reads 1,000 columns).
MAX_COMPARED = 100


#: How the demo builder's note starts when no real KOI table could be had, and what the window says instead.
SYNTHETIC_NOTE_START = "No real KOI table could be had"
SYNTHETIC_NOTE = (
    "No real KOI table could be found or downloaded, so the demo is trained on a SYNTHETIC KOI-like sample: "
    "its versions are badged “synthetic data” and their metrics say nothing about real Kepler objects. "
    "To train on the real table, download the KOI cumulative table (CSV) from the NASA Exoplanet Archive "
    "and choose it with “Choose KOI table…”."
)


#: For a registry in object storage, the window's edits are not offered yet; each one names its command.
REMOTE_EDIT_COMMANDS = {
    "alias": "alias NAME ALIAS VERSION",
    "description": "describe REF --text TEXT",
    "tags": "tag REF KEY=VALUE",
    "delete": "delete REF",
    "restore": "restore REF",
    "import": "import PATH",
    "confirm": "confirm-metrics REF",
}


def remote_edit_tip(uri: str, edit: str) -> str:
    """The tooltip of an edit the window does not make in a registry in object storage: where to make it."""
    return (f"A registry in object storage is changed from the command line, not from this window: "
            f"exoreg --registry {uri} {REMOTE_EDIT_COMMANDS[edit]}")


def default_demo_root() -> Path:
    """Where the demo registry is built when the person asks for it from the window (as ``exoreg demo``)."""
    from core.training.demo import default_demo_root as core_default

    return core_default()


def _holds_models(root: Path) -> bool:
    """True when ``root`` is a registry with at least one version (cheap: reads its index)."""
    if not (root / "index.json").exists():
        return False
    from core.registry.registry import ModelRegistry

    try:
        return bool(ModelRegistry(root).list_models(include_deleted=True))
    except Exception:  # noqa: BLE001 - unreadable: let the builder report it
        return False


def _load_demo_builder():
    """``core.training.demo.build_demo_registry``, imported when first asked for (it pulls in scikit-learn)."""
    from core.training.demo import build_demo_registry

    return build_demo_registry


class MainWindow(QMainWindow):
    #: The panels were filled for a new selection; carries the model ids.
    panels_updated = Signal(object)
    #: A registry finished opening; carries its root.
    registry_opened = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("MainWindow")
        app = QApplication.instance()
        if app is not None and not app.styleSheet():  # e.g. embedded, or under a test runner
            self.setStyleSheet(stylesheet())
        self.setWindowTitle("ExoReg")
        self.setWindowIcon(icon("app"))
        self.settings = settings if settings is not None else Settings()
        self.source = RegistrySource(self, poll_ms=self.settings.get_int("live/poll_ms"))
        self._demo_worker: workers.Worker | None = None
        self._verify_worker: workers.Worker | None = None
        self._selected: list[str] = []
        self._dirty_tabs: set[int] = set()
        self._pending_select: str | None = None
        self._entries_before: dict[str, dict | None] = {}  # selected rows before a refresh
        self._panels_pending = False
        self._panel_timer = QTimer(self)
        self._panel_timer.setObjectName("panel-fill")
        self._panel_timer.setSingleShot(True)
        self._panel_timer.timeout.connect(self._on_panel_timer)
        # After a failed open the status bar names the registry still shown, with a note for a while.
        self._path_note_timer = QTimer(self)
        self._path_note_timer.setObjectName("path-note")
        self._path_note_timer.setSingleShot(True)
        self._path_note_timer.setInterval(15000)
        self._path_note_timer.timeout.connect(self._show_open_path)
        # The prediction worker process starts once the window is on screen and idle.
        self._warm_timer = QTimer(self)
        self._warm_timer.setObjectName("prediction-worker-start")
        self._warm_timer.setSingleShot(True)
        self._warm_timer.timeout.connect(self._warm_up)
        self._warm_scheduled = False

        # -- central area
        self.tree_panel = RegistryTreePanel(self, primary_metric=self.settings.get_str("view/primary_metric"))
        self.inspector = InspectorPanel(self)
        self.compare = ComparePanel(self)
        self.charts = ChartsPanel(self)
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("panelTabs")
        self.tabs.addTab(self.inspector, "Inspector")
        self.tabs.addTab(self.compare, "Compare")
        self.tabs.addTab(self.charts, "Charts")
        # The Curves tab shows the last comparison scored on a file; its plots are made when first needed.
        self.curves_holder = QWidget(self)
        self.curves_holder.setObjectName("curvesHolder")
        QVBoxLayout(self.curves_holder).setContentsMargins(0, 0, 0, 0)
        self._curves = None
        self.tabs.addTab(self.curves_holder, "Curves")
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.tree_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([590, 810])
        self.welcome = WelcomePage(self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.splitter)
        self.setCentralWidget(self.stack)

        # -- status bar
        self.path_label = QLabel("No registry open", self)
        self.counts_label = QLabel("", self)
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setMaximumWidth(160)
        self.busy_bar.setMaximumHeight(14)
        self.busy_bar.setRange(0, 0)
        self.busy_bar.hide()
        self.busy_cancel = QToolButton(self)
        self.busy_cancel.setText("Cancel")
        self.busy_cancel.hide()
        self.busy_cancel.clicked.connect(self._on_busy_cancel_clicked)
        status = self.statusBar()
        status.addWidget(self.path_label, 1)
        status.addPermanentWidget(self.counts_label)
        status.addPermanentWidget(self.busy_bar)
        status.addPermanentWidget(self.busy_cancel)

        self._create_actions()
        self._create_menus()
        self._create_toolbar()
        self._connect()
        self._read_settings()
        self._update_actions()
        self.stack.setCurrentIndex(PAGE_WELCOME)
        self.welcome.set_recent(self.settings.recent_registries())

    # ======================================================================= setup
    def _action(self, text: str, slot=None, *, shortcut=None, icon_name: str | None = None,
                tip: str | None = None, checkable: bool = False) -> QAction:
        action = QAction(icon(icon_name) if icon_name else QIcon(), text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        if slot is not None:
            (action.toggled if checkable else action.triggered).connect(slot)
        return action

    def _create_actions(self) -> None:
        self.action_open = self._action("&Open Registry…", self._on_open_triggered, shortcut=QKeySequence.StandardKey.Open,
                                        icon_name="open", tip="Open a registry folder")
        self.action_open_remote = self._action("Open Re&mote Registry…", self.open_remote_dialog, shortcut="Ctrl+Shift+O",
                                               tip="Open a team registry in an S3-compatible bucket (s3://bucket/prefix)")
        self.action_demo = self._action("Build &Demo Registry…", self.build_demo, icon_name="demo",
                                        tip="Train real classifiers on the Kepler table and open them")
        self.action_refresh = self._action("&Refresh", self._on_refresh_triggered, shortcut=QKeySequence.StandardKey.Refresh,
                                           icon_name="refresh", tip="Read the registry again")
        self.action_quit = self._action("&Quit", self.close, shortcut=QKeySequence.StandardKey.Quit)
        self.action_copy_id = self._action("&Copy Model Id", self._on_copy_id_triggered,
                                           shortcut=QKeySequence.StandardKey.Copy, icon_name="copy")
        self.action_set_alias = self._action("Set &Alias…", self._on_set_alias_triggered, shortcut="Ctrl+L",
                                             icon_name="alias", tip="Point an alias such as 'production' at the version")
        self.action_edit_description = self._action("Edit &Description", self._on_edit_description_triggered,
                                                    shortcut="F2")
        self.action_delete = self._action("&Delete Version", self._on_delete_triggered,
                                          shortcut=QKeySequence.StandardKey.Delete, icon_name="deleted",
                                          tip="Hide the version (it can be restored)")
        self.action_restore = self._action("R&estore Version", self._on_restore_triggered)
        self.action_show_deleted = self._action("Show &Deleted Versions", self.tree_panel.show_deleted_check.setChecked,
                                                shortcut="Ctrl+H", checkable=True)
        self.action_differences = self._action("&Differences Only", self.compare.set_differences_only,
                                               shortcut="Ctrl+D", checkable=True)
        self.action_focus_filter = self._action("&Filter…", self._on_focus_filter_triggered,
                                                shortcut=QKeySequence.StandardKey.Find)
        self.tab_actions = []
        for i, name in enumerate(("&Inspector", "&Compare", "C&harts", "C&urves")):
            action = self._action(name, lambda _=False, i=i: self.tabs.setCurrentIndex(i), shortcut=f"Ctrl+{i + 1}")
            self.tab_actions.append(action)
        self.action_verify = self._action("&Verify Registry", self.verify_registry, icon_name="verify",
                                          tip="Check every model file against its recorded SHA-256")
        self.action_about = self._action("&About ExoReg", self._on_about_triggered)
        # Places for the workflow dialogs (import / export, prediction, deployment).
        self.action_import = self._action("&Import Models…", icon_name="import", shortcut="Ctrl+I",
                                          tip="Import .exoreg archives or model + metadata files")
        self.action_export = self._action("&Export Selected…", icon_name="export", shortcut="Ctrl+E",
                                          tip="Export the selected versions")
        self.action_predict = self._action("&Predict from CSV…", icon_name="predict", shortcut="Ctrl+P",
                                           tip="Run the selected version on a CSV file")
        self.action_deploy = self._action("Package for &Deployment…", icon_name="deploy",
                                          tip="Write a deployment bundle for the selected version")
        # The edits, and what they say when they are not offered (a registry in object storage).
        self._edit_actions = {self.action_set_alias: "alias", self.action_edit_description: "description",
                              self.action_delete: "delete", self.action_restore: "restore",
                              self.action_import: "import"}
        self._edit_tips = {action: (action.toolTip(), action.statusTip()) for action in self._edit_actions}
        self.workflow_actions = {
            "import": self.action_import,
            "export": self.action_export,
            "predict": self.action_predict,
            "deploy": self.action_deploy,
        }
        for action in self.workflow_actions.values():
            action.setEnabled(False)  # until a dialog is connected and a registry is open

    def _create_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.action_open)
        file_menu.addAction(self.action_open_remote)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addAction(self.action_demo)
        file_menu.addSeparator()
        file_menu.addAction(self.action_import)
        file_menu.addAction(self.action_export)
        file_menu.addSeparator()
        file_menu.addAction(self.action_quit)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.action_copy_id)
        edit_menu.addAction(self.action_edit_description)
        edit_menu.addAction(self.action_set_alias)
        edit_menu.addSeparator()
        edit_menu.addAction(self.action_delete)
        edit_menu.addAction(self.action_restore)
        edit_menu.addSeparator()
        edit_menu.addAction(self.action_focus_filter)

        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.action_refresh)
        view_menu.addAction(self.action_show_deleted)
        view_menu.addAction(self.action_differences)
        view_menu.addSeparator()
        for action in self.tab_actions:
            view_menu.addAction(action)

        model_menu = bar.addMenu("&Model")
        self.model_menu = model_menu
        model_menu.addAction(self.action_predict)
        model_menu.addAction(self.action_deploy)
        model_menu.addSeparator()
        model_menu.addAction(self.action_verify)

        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.action_about)

    def _create_toolbar(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addAction(self.action_open)
        toolbar.addAction(self.action_refresh)
        toolbar.addSeparator()
        toolbar.addAction(self.action_import)
        toolbar.addAction(self.action_export)
        toolbar.addAction(self.action_predict)
        toolbar.addAction(self.action_deploy)
        toolbar.addSeparator()
        toolbar.addAction(self.action_verify)
        self.toolbar = toolbar

    def _connect(self) -> None:
        self.source.opened.connect(self._on_source_opened)
        self.source.open_failed.connect(self._on_source_open_failed)
        self.source.entries_loaded.connect(self._on_source_entries_loaded)
        self.tree_panel.entries_shown.connect(self._on_tree_entries_shown)
        self.source.refresh_failed.connect(self._on_source_refresh_failed)
        self.source.busy_changed.connect(self._on_source_busy_changed)
        self.source.metadata_ready.connect(self._on_metadata_ready)
        self.source.metadata_progress.connect(self._on_metadata_progress)
        self.tree_panel.selection_changed.connect(self._on_tree_selection_changed)
        self.tree_panel.current_changed.connect(self._on_tree_current_changed)
        self.tree_panel.context_menu_requested.connect(self._on_tree_context_menu)
        self.tree_panel.show_deleted_check.toggled.connect(self.action_show_deleted.setChecked)
        self.tree_panel.proxy.layoutChanged.connect(self._update_counts)
        self.tree_panel.metric_combo.currentIndexChanged.connect(self._on_metric_changed)
        self.compare.differences_check.toggled.connect(self.action_differences.setChecked)
        self.inspector.edit_requested.connect(self._on_inspector_edit_requested)
        self.inspector.alias_requested.connect(self._on_inspector_alias_requested)
        self.inspector.confirm_metrics_requested.connect(self._on_confirm_metrics_requested)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.welcome.demo_requested.connect(self.build_demo)
        self.welcome.open_requested.connect(self._on_open_triggered)
        self.welcome.koi_table_requested.connect(self._on_koi_table_requested)
        self.welcome.recent_chosen.connect(self.open_registry)
        self.welcome.cancel_requested.connect(self._on_busy_cancel_clicked)

    # ======================================================================= public API
    @property
    def registry(self):
        return self.source.registry

    @property
    def remote(self) -> bool:
        """True when the open registry is in object storage (read over the network, edited from the CLI)."""
        return self.source.remote

    def curves_panel(self):
        """The Curves tab's panel (:class:`exoreg_gui.widgets.curves_panel.CurvesPanel`), made on first use."""
        if self._curves is None:
            from exoreg_gui.widgets.curves_panel import CurvesPanel

            self._curves = CurvesPanel(self.curves_holder)
            self.curves_holder.layout().addWidget(self._curves)
        return self._curves

    def open_registry(self, path: str | os.PathLike[str]) -> None:
        """Open the registry folder at ``path``, or the ``s3://bucket/prefix`` registry it names (in the background)."""
        path = str(path).strip().rstrip("/") if is_remote_uri(str(path).strip()) else Path(path).expanduser()
        self._path_note_timer.stop()
        self.path_label.setText(f"Opening {path}…" if self.registry is None
                                else f"{self.source.location}  (opening {path}…)")
        if isinstance(path, str):
            self._set_busy(True, cancellable=False)
            self.statusBar().showMessage(f"Reading the registry's log from the object store ({path})…")
        self.source.open(path)

    def open_remote_dialog(self):
        """File ▸ Open Remote Registry…: ask for an ``s3://`` URI (window-modal, not blocking); returns the dialog."""
        from exoreg_gui.dialogs.remote_dialog import OpenRemoteDialog

        dialog = OpenRemoteDialog(self.settings.recent_remotes(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.open_registry(dialog.uri()))
        self.remote_dialog = dialog
        dialog.destroyed.connect(lambda: setattr(self, "remote_dialog", None))
        dialog.open()
        return dialog

    def open_initial(self, path: str | None) -> None:
        """At start-up: the given registry, else the last one, else the welcome page."""
        if path:
            self.open_registry(path)
            return
        last = self.settings.last_registry
        if last and Path(last).is_dir():
            self.open_registry(last)
        else:
            if last:
                self.welcome.set_status(f"The last registry, {last}, is no longer there.", error=True)
            self.show_welcome()

    def show_welcome(self) -> None:
        self.welcome.set_recent([p for p in self.settings.recent_registries() if Path(p).is_dir()])
        self.stack.setCurrentIndex(PAGE_WELCOME)

    def selected_ids(self) -> list[str]:
        return list(self._selected)

    def select_versions(self, model_ids: list[str], current: str | None = None) -> None:
        """Select these versions in the tree and show them in the panels before returning."""
        self.tree_panel.select_ids(model_ids, current=current)
        self.flush_panels()

    def select_names(self, names: list[str]) -> None:
        """Select every visible version of these names (panels filled before returning)."""
        self.tree_panel.select_names(names)
        self.flush_panels()

    def connect_workflow(self, key: str, slot) -> QAction:
        """Connect a workflow dialog ("import", "export", "predict", "deploy") to its menu and toolbar place."""
        action = self.workflow_actions[key]
        action.triggered.connect(slot)
        action.setEnabled(True)
        return action

    def show_new_version(self, model_id: str) -> None:
        """Refresh now and select ``model_id`` once it is listed (after an import, for instance)."""
        self._pending_select = model_id
        self.source.changed_here()

    def build_demo(self, root: str | os.PathLike[str] | None = None, data: str | os.PathLike[str] | None = None
                   ) -> None:
        """Build the demo registry in the background (from the KOI table ``data`` if given), then open it."""
        if self._demo_worker is not None:
            return
        target = Path(root) if root else default_demo_root()
        if _holds_models(target):  # built before: open it rather than train again
            if data:
                self.welcome.set_status(f"The demo registry in {target} was built before; remove that folder "
                                        f"to build it again from {Path(data).name}. Opening it.", error=True)
            else:
                self.welcome.set_status(f"Opening the demo registry built earlier in {target}.")
            self.open_registry(target)
            return
        builder = _load_demo_builder()
        root = target
        self.welcome.set_building(True)
        self.welcome.set_note("")
        self.welcome.set_status(f"Building the demo registry in {root}"
                                + (f" from {Path(data).name}…" if data else "…"))
        self._set_busy(True, cancellable=True)
        self._demo_worker = workers.start_worker(
            builder,
            root,
            **({"data": str(data)} if data else {}),
            on_success=lambda _result: self._on_demo_built(root),
            on_error=self._on_demo_failed,
            on_progress=self._on_demo_progress,
            on_status=self._on_demo_status,
            on_cancelled=self._on_demo_cancelled,
            on_finished=self._on_demo_finished,
        )

    def verify_registry(self) -> None:
        if self.registry is None or self._verify_worker is not None:
            return
        self._set_busy(True, cancellable=False)
        self.statusBar().showMessage("Verifying every model file…")
        self._verify_worker = workers.start_worker(
            self.registry.verify,
            on_success=self._on_verified,
            on_error=lambda exc: Messages.error(self, "Verification failed", exc),
            on_finished=self._on_verify_finished,
        )

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        delay = self.settings.get_int("prediction/warm_start_ms")
        if not self._warm_scheduled and delay >= 0:
            self._warm_scheduled = True
            self._warm_timer.start(delay)  # fires after the first paint, when the loop is idle

    def _warm_up(self) -> None:
        """Once on screen and idle: start the prediction worker process, and load the prediction
        dialog's code, so the first CSV dropped on the window does not wait for its imports."""
        prediction_worker.start_soon()
        import exoreg_gui.dialogs.predict_dialog  # noqa: F401

    def shutdown(self) -> None:
        """Stop timers and background work, the prediction worker process included (called on close)."""
        self._panel_timer.stop()
        self._path_note_timer.stop()
        self._warm_timer.stop()
        self.source.close()
        self.inspector.shutdown()
        for worker in (self._demo_worker, self._verify_worker):
            if worker is not None:
                worker.cancel()
        workers.await_workers(timeout=10, cancel=True)
        prediction_worker.shutdown()

    # ======================================================================= settings
    def _read_settings(self) -> None:
        s = self.settings
        geometry = s.get_bytes("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1320, 820)
        state = s.get_bytes("window/state")
        if state is not None:
            self.restoreState(state)
        for key, splitter in (("window/main_splitter", self.splitter),
                              ("window/inspector_splitter", self.inspector.splitter)):
            value = s.get_bytes(key)
            if value is not None:
                splitter.restoreState(value)
        header = s.get_bytes("window/tree_header")
        if header is not None:
            self.tree_panel.view.header().restoreState(header)
        self.action_show_deleted.setChecked(s.get_bool("view/show_deleted"))
        self.action_differences.setChecked(s.get_bool("view/differences_only"))
        self.tabs.setCurrentIndex(min(max(0, s.get_int("view/current_tab")), self.tabs.count() - 1))

    def _write_settings(self) -> None:
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState())
        s.set("window/main_splitter", self.splitter.saveState())
        s.set("window/inspector_splitter", self.inspector.splitter.saveState())
        s.set("window/tree_header", self.tree_panel.view.header().saveState())
        s.set("view/show_deleted", self.action_show_deleted.isChecked())
        s.set("view/differences_only", self.action_differences.isChecked())
        s.set("view/current_tab", self.tabs.currentIndex())
        s.set("view/primary_metric", self.tree_panel.tree_model.primary_metric)
        s.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._write_settings()
        self.shutdown()
        super().closeEvent(event)

    # ======================================================================= source events
    def _show_open_path(self) -> None:
        """The status bar's path: the open registry's, or "No registry open"."""
        root = self.source.location
        self.path_label.setText(root or "No registry open")
        self.path_label.setToolTip(root)

    def _on_source_opened(self, root: str) -> None:
        if self.remote:
            self.settings.add_recent_remote(root)
            self.statusBar().clearMessage()
            title = root.rstrip("/").rsplit("/", 1)[-1]
            self.path_label.setText(f"{root}  (object storage: browse here, change from the command line)")
        else:
            self.settings.add_recent_registry(root)
            title = Path(root).name
            self.path_label.setText(root)
        self._path_note_timer.stop()
        self.path_label.setToolTip(root)
        self.setWindowTitle(f"{title} — ExoReg")
        self.tree_panel.clear()
        self._selected = []
        self.stack.setCurrentIndex(PAGE_BROWSER)
        self._update_actions()
        self.registry_opened.emit(root)

    def _on_source_open_failed(self, exc: BaseException) -> None:
        message, _ = describe_error(exc)
        self.statusBar().clearMessage()
        self._set_busy(self.source.busy, cancellable=False)
        if self.registry is None:
            self.path_label.setText("No registry open")
            self.path_label.setToolTip("")
            self.welcome.set_status(f"Could not open the registry: {message}", error=True)
            self.show_welcome()
        else:
            # The registry shown before stays open and usable: the status bar says so.
            root = self.source.location
            self.path_label.setText(f"{root}  (the other registry could not be opened; this registry stays open)")
            self.path_label.setToolTip(f"{root}\nCould not open the other registry: {message}")
            self._path_note_timer.start()
        Messages.error(self, "Could not open the registry", exc)

    def _on_source_entries_loaded(self, entries: list) -> None:
        model = self.tree_panel.tree_model
        self._entries_before = {i: model.entry(i) for i in self._selected}
        self.tree_panel.set_entries(entries)  # -> _on_tree_entries_shown, now or once built

    def _on_tree_entries_shown(self, first_fill: bool) -> None:
        model = self.tree_panel.tree_model
        before, self._entries_before = self._entries_before, {}
        if first_fill:
            # The tree's items live as long as the registry is open: keep them out of the cyclic
            # garbage collector's passes, as the index is (see registry_source).
            gc.freeze()
            self.charts.build_in_background()  # once the tree is there: it comes first
        self._update_counts()
        if self._pending_select:
            model_id, self._pending_select = self._pending_select, None
            self.select_versions([model_id])
        # Refresh the panels when the shown versions changed (edited, deleted, aliased...).
        ids = self.tree_panel.selected_ids()
        changed = ids != self._selected or any(model.entry(i) != before.get(i) for i in ids)
        self._update_panels(ids, force=changed)

    def _on_source_refresh_failed(self, exc: BaseException) -> None:
        message, _ = describe_error(exc)  # logged by the source
        self.statusBar().showMessage(f"Could not read the registry: {message}", 15000)

    def _on_source_busy_changed(self, busy: bool) -> None:
        if self._demo_worker is None and self._verify_worker is None:
            self._set_busy(busy or self.source.fetching_metadata, cancellable=False)

    def _on_metadata_progress(self, done: int, total: int) -> None:
        if self._demo_worker is None and self._verify_worker is None:
            self.busy_bar.show()
            self.busy_bar.setRange(0, max(total, 1))
            self.busy_bar.setValue(min(done, total))
            self.statusBar().showMessage(f"Reading the metadata of {plural(total, 'version')} from the object store…")

    def _on_metadata_ready(self) -> None:
        """Metadata read over the network arrived: fill the shown tab now, the others when idle."""
        if self._demo_worker is None and self._verify_worker is None:
            self._set_busy(self.source.busy, cancellable=False)
        self.statusBar().clearMessage()
        if self.registry is None:
            return
        shown = self.tabs.currentIndex()
        if shown in self._dirty_tabs and self._fill_tab(shown):
            self.panels_updated.emit(list(self._selected))
        if self._dirty_tabs:
            self._panel_timer.start(IDLE_FILL_MS)

    # ======================================================================= selection -> panels
    def _on_tree_selection_changed(self, ids: list) -> None:
        self._update_panels(ids)

    def _on_tree_current_changed(self, _model_id: str) -> None:
        # Same selection, another current version: only the per-version panels change.
        self._dirty_tabs |= {TAB_INSPECTOR, TAB_CHARTS}
        self._schedule_panels()

    def _update_panels(self, ids: list[str], *, force: bool = False) -> None:
        if ids == self._selected and not force:
            return
        self._selected = list(ids)
        self._dirty_tabs = {TAB_INSPECTOR, TAB_COMPARE, TAB_CHARTS}
        self._update_actions()
        self._update_counts()
        self._schedule_panels()

    def _schedule_panels(self) -> None:
        """Fill the shown tab on the next turn of the event loop, after the tree has repainted.

        Clicking through versions thus highlights the row at once, and a burst of selection
        changes (a held arrow key) fills the panel once. The hidden tabs follow when idle.
        """
        self._panels_pending = True
        self._panel_timer.start(0)

    def flush_panels(self) -> None:
        """Fill the shown tab now if a selection change is waiting for it."""
        if self._panels_pending:
            self._panels_pending = False
            filled = self._fill_tab(self.tabs.currentIndex())
            if filled:
                self.panels_updated.emit(list(self._selected))  # else once the metadata has arrived
            if self._dirty_tabs and filled:
                self._panel_timer.start(IDLE_FILL_MS)
            else:
                self._panel_timer.stop()

    def _on_panel_timer(self) -> None:
        if self._panels_pending:
            self.flush_panels()
        # One hidden tab per idle turn, so switching to it shows it without waiting;
        # a tab that waits for metadata from the network is restarted by metadata_ready.
        elif self._dirty_tabs and self._fill_tab(min(self._dirty_tabs)) and self._dirty_tabs:
            self._panel_timer.start(IDLE_FILL_MS)

    def _metas(self, ids: list[str]) -> list:
        metas = []
        for model_id in ids:
            try:
                metas.append(self.source.metadata(model_id))
            except Exception as exc:  # noqa: BLE001 - a vanished file must not break the window
                log.warning("could not read the metadata of %s: %s", model_id, exc)
                self.statusBar().showMessage(f"Could not read {model_id}: {describe_error(exc)[0]}", 8000)
        return metas

    def _current_meta(self, metas: list):
        current = self.tree_panel.current_id(self._selected)
        for meta in metas:
            if meta.model_id == current:
                return meta
        return metas[-1] if metas else None

    def _tab_ids(self, tab: int) -> list[str]:
        """The versions whose metadata ``tab`` shows for the current selection."""
        if tab == TAB_INSPECTOR:
            current = self.tree_panel.current_id(self._selected) if self._selected else None
            return [current] if current else []
        return self._selected[:MAX_COMPARED]

    def _fill_tab(self, tab: int) -> bool:
        """Fill ``tab`` if it is out of date; False when it waits for metadata read over the network."""
        if tab not in self._dirty_tabs or self.registry is None:
            return True
        missing = self.source.missing_metadata(self._tab_ids(tab))
        if missing:
            self.source.request_metadata(missing)  # -> _on_metadata_ready fills it
            return False
        self._dirty_tabs.discard(tab)
        ids = self._selected
        if tab == TAB_INSPECTOR:
            current = self.tree_panel.current_id(ids) if ids else None
            found = self._metas([current]) if current else []
            meta = found[0] if found else None
            self.inspector.set_version(meta, self.registry)
        elif tab == TAB_COMPARE:
            self.compare.set_versions(self._metas(ids[:MAX_COMPARED]), selected=len(ids))
        elif tab == TAB_CHARTS:
            metas = self._metas(ids[:MAX_COMPARED])
            current = self._current_meta(metas)
            self.charts.set_versions(metas, current)
            name = current.model_name if current is not None else None
            self.charts.set_history(name, self.tree_panel.tree_model.versions_of(name) if name else [])
        return True

    def _on_tab_changed(self, tab: int) -> None:
        if tab == TAB_CURVES:
            self.curves_panel()
        self._fill_tab(tab)

    # ======================================================================= edits
    def _remote_refuses(self) -> bool:
        """True (and says so in the status bar) when the open registry is remote: its edits are the CLI's."""
        if self.remote:  # the edits are disabled; nothing reaches the bucket from here
            self.statusBar().showMessage("A registry in object storage is changed from the command line, "
                                         f"exoreg --registry {self.source.location} ….", 8000)
        return self.remote

    def _run_edit(self, title: str, func, *args, **kwargs) -> bool:
        if self._remote_refuses():
            return False
        try:
            func(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown to the person, never fatal
            Messages.error(self, title, exc)
            return False
        self.source.changed_here()
        return True

    def _on_inspector_edit_requested(self, model_id: str, description: str, tags: dict) -> None:
        if self.registry is None:
            return
        if self._run_edit("Could not save the description", self.registry.update_metadata, model_id,
                          description=description, tags=tags):
            self.statusBar().showMessage("Saved.", 3000)

    def _on_confirm_metrics_requested(self, model_id: str) -> None:
        if self.registry is not None and self._run_edit("Could not confirm the metrics",
                                                        self.registry.confirm_metrics, model_id):
            self.statusBar().showMessage("Metrics confirmed: the version may now be the best.", 3000)

    def _on_inspector_alias_requested(self, model_id: str) -> None:
        self._ask_alias(model_id)

    def _ask_alias(self, model_id: str) -> None:
        if self._remote_refuses():
            return
        entry = self.tree_panel.tree_model.entry(model_id)
        if entry is None or self.registry is None:
            return
        alias = Messages.get_text(
            self, "Set alias",
            f"Alias for {entry['model_name']} v{entry['version']} (for example production or staging):",
            "production" if "production" not in (entry.get("aliases") or []) else "",
        )
        if alias is None:
            return
        alias = alias.strip()
        if not alias:
            return
        if self._run_edit("Could not set the alias", self.registry.set_alias, entry["model_name"], alias,
                          int(entry["version"])):
            self.statusBar().showMessage(f"{entry['model_name']}@{alias} now points at v{entry['version']}.", 5000)

    def _remove_alias(self, name: str, alias: str) -> None:
        if self.registry is not None:
            self._run_edit("Could not remove the alias", self.registry.remove_alias, name, alias)

    def _on_set_alias_triggered(self) -> None:
        current = self.tree_panel.current_id()
        if current:
            self._ask_alias(current)

    def _on_edit_description_triggered(self) -> None:
        if self._remote_refuses():
            return
        if self.tree_panel.current_id():
            self.tabs.setCurrentIndex(TAB_INSPECTOR)
            self.inspector.description_edit.setFocus()

    def _on_delete_triggered(self) -> None:
        if self._remote_refuses():
            return
        ids = [i for i in self._selected if not self._is_deleted(i)]
        if not ids or self.registry is None:
            return
        what = plural(len(ids), "version") if len(ids) > 1 else ids[0]
        if not Messages.question(self, "Delete versions",
                                 f"Delete {what}? Deleted versions are hidden and can be restored."):
            return
        for model_id in ids:
            if not self._run_edit("Could not delete the version", self.registry.delete_model, model_id):
                break

    def _on_restore_triggered(self) -> None:
        if self._remote_refuses():
            return
        if self.registry is None:
            return
        for model_id in [i for i in self._selected if self._is_deleted(i)]:
            if not self._run_edit("Could not restore the version", self.registry.restore_model, model_id):
                break

    def _is_deleted(self, model_id: str) -> bool:
        entry = self.tree_panel.tree_model.entry(model_id)
        return bool(entry and entry.get("status") == "deleted")

    def _on_copy_id_triggered(self) -> None:
        if self._selected:
            QGuiApplication.clipboard().setText("\n".join(self._selected))
            self.statusBar().showMessage("Copied.", 2000)

    def _on_focus_filter_triggered(self) -> None:
        self.tree_panel.filter_edit.setFocus()
        self.tree_panel.filter_edit.selectAll()

    # ======================================================================= context menu
    def _on_tree_context_menu(self, index, global_pos) -> None:
        menu = self.build_tree_context_menu(index)
        if menu is not None:
            menu.exec(global_pos)

    def build_tree_context_menu(self, index) -> QMenu | None:
        """The context menu for a tree row (proxy index); None on empty space."""
        if not index.isValid():
            return None
        menu = QMenu(self)
        model_id = self.tree_panel.model_id_at(index)
        name = self.tree_panel.name_at(index)
        if model_id:
            entry = self.tree_panel.tree_model.entry(model_id) or {}
            menu.addAction(self.action_copy_id)
            menu.addAction(self.action_edit_description)
            menu.addAction(self.action_set_alias)
            aliases = entry.get("aliases") or []
            if aliases:
                remove = menu.addMenu("Remove Alias")
                for alias in aliases:
                    action = remove.addAction(alias, lambda a=alias: self._remove_alias(name, a))
                    if self.remote:
                        action.setEnabled(False)
                        action.setToolTip(remote_edit_tip(self.source.location, "alias"))
                remove.setToolTipsVisible(True)
            menu.addSeparator()
            menu.addAction(self.action_predict)
            menu.addAction(self.action_deploy)
            menu.addAction(self.action_export)
            menu.addSeparator()
            if entry.get("status") == "deleted":
                menu.addAction(self.action_restore)
            else:
                menu.addAction(self.action_delete)
        else:
            menu.addAction("Compare All Versions", lambda: self._compare_name(name))
            menu.addAction("Expand All", self.tree_panel.view.expandAll)
            menu.addAction("Collapse All", self.tree_panel.view.collapseAll)
        return menu

    def _compare_name(self, name: str) -> None:
        self.tree_panel.select_names([name])
        self.tabs.setCurrentIndex(TAB_COMPARE)

    # ======================================================================= other actions
    def _on_open_triggered(self) -> None:
        start = self.settings.last_registry or str(Path.home())
        path = Messages.get_directory(self, "Open a registry folder", start)
        if path:
            self.open_registry(path)

    def _on_refresh_triggered(self) -> None:
        if self.registry is not None:
            self.source.changed_here()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_registries()
        for path in recent:
            self.recent_menu.addAction(path, lambda p=path: self.open_registry(p))
        remotes = self.settings.recent_remotes()
        if remotes:
            if recent:
                self.recent_menu.addSeparator()
            for uri in remotes:
                self.recent_menu.addAction(uri, lambda u=uri: self.open_registry(u))
        if not recent and not remotes:
            action = self.recent_menu.addAction("No recent registries")
            action.setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear List", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent_registries()
        self.settings.clear_recent_remotes()

    def _on_metric_changed(self, _row: int) -> None:
        self._dirty_tabs.add(TAB_CHARTS)
        if self.tabs.currentIndex() == TAB_CHARTS:
            self._fill_tab(TAB_CHARTS)

    def _on_about_triggered(self) -> None:
        import core

        Messages.information(
            self, "About ExoReg",
            f"ExoReg {core.__version__}\n\nA model registry and desktop browser for Kepler exoplanet "
            "classifiers. Models live in a folder on this computer; nothing is sent anywhere.",
        )

    def _on_verified(self, report) -> None:
        problems = list(getattr(report, "problems", []) or [])
        warnings = "".join(f"\n\nWarning: {w.message}" for w in list(getattr(report, "warnings", []) or [])[:20])
        if getattr(report, "ok", False):
            text = "Every model file matches its recorded SHA-256."
            if problems:
                text += (f"\n\n{plural(len(problems), 'leftover')} of interrupted writes "
                         f"{'was' if len(problems) == 1 else 'were'} found; harmless.")
            Messages.information(self, "Registry verified", text + warnings)
        else:
            lines = [f"• {getattr(p, 'message', p)}" for p in problems[:20]]
            more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
            Messages.information(self, "Registry has problems", "\n".join(lines) + more + warnings)

    def _on_verify_finished(self) -> None:
        self._verify_worker = None
        self._set_busy(self.source.busy, cancellable=False)
        self.statusBar().clearMessage()

    # ======================================================================= demo building
    def _on_demo_progress(self, done: int, total: int) -> None:
        self.welcome.set_progress(done, total)
        if total > 0:
            self.busy_bar.setRange(0, total)
            self.busy_bar.setValue(min(done, total))

    def _on_demo_status(self, text: str) -> None:
        if text.startswith(SYNTHETIC_NOTE_START):
            # The builder's note names a command-line flag; here the remedy is a button. It stays shown.
            text = SYNTHETIC_NOTE
            self.welcome.set_note(text)
        else:
            self.welcome.set_status(text)
        self.statusBar().showMessage(text)

    def _on_koi_table_requested(self) -> None:
        from exoreg_gui.dialogs.common import CSV_FILTER, choose_files

        paths = choose_files(self, "Choose the Kepler KOI table", "koi", CSV_FILTER)
        if paths:
            self.build_demo(data=paths[0])

    def _on_demo_built(self, root: Path) -> None:
        self.welcome.set_status("")
        self.open_registry(root)

    def _on_demo_failed(self, exc: BaseException) -> None:
        message, _ = describe_error(exc)
        self.welcome.set_status(f"The demo registry could not be built: {message}", error=True)
        Messages.error(self, "Could not build the demo registry", exc)

    def _on_demo_cancelled(self) -> None:
        self.welcome.set_status("Cancelled; nothing was opened.")

    def _on_demo_finished(self) -> None:
        self._demo_worker = None
        self.statusBar().clearMessage()
        if self.welcome.note_label.text():  # stays in the status bar until the next message
            self.statusBar().showMessage("This demo is trained on synthetic data (no real KOI table could be had); "
                                         "its versions are badged “synthetic data”.")
        self.welcome.set_building(False)
        self._set_busy(self.source.busy, cancellable=False)

    def _on_busy_cancel_clicked(self) -> None:
        if self._demo_worker is not None:
            self._demo_worker.cancel()
            self.welcome.cancel_button.setEnabled(False)
            self.welcome.set_status("Cancelling…")

    # ======================================================================= status
    def _set_busy(self, busy: bool, *, cancellable: bool) -> None:
        self.busy_bar.setVisible(busy)
        if busy:
            self.busy_bar.setRange(0, 0)
        self.busy_cancel.setVisible(busy and cancellable)

    def _update_counts(self) -> None:
        model = self.tree_panel.tree_model
        if self.registry is None:
            self.counts_label.setText("")
            return
        active, deleted = model.version_counts()
        names = model.name_count()
        text = f"{plural(names, 'model')} · {plural(active, 'version')}"
        if deleted:
            text += f" ({deleted:,} deleted)"
        if self._selected:
            text += f" · {len(self._selected):,} selected"
        self.counts_label.setText(text)

    def _update_actions(self) -> None:
        has_registry = self.registry is not None
        has_selection = bool(self._selected)
        self.action_refresh.setEnabled(has_registry)
        self.action_verify.setEnabled(has_registry)
        for action in (self.action_copy_id, self.action_set_alias, self.action_edit_description):
            action.setEnabled(has_selection)
        self.action_delete.setEnabled(any(not self._is_deleted(i) for i in self._selected))
        self.action_restore.setEnabled(any(self._is_deleted(i) for i in self._selected))
        remote = self.remote
        for action, edit in self._edit_actions.items():
            if remote:
                action.setEnabled(False)
                tip = status_tip = remote_edit_tip(self.source.location, edit)
            else:
                tip, status_tip = self._edit_tips[action]
            action.setToolTip(tip)
            action.setStatusTip(status_tip)
        self.inspector.set_read_only({edit: remote_edit_tip(self.source.location, edit)
                                      for edit in ("description", "tags", "alias", "confirm")} if remote else None)

