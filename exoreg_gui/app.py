"""Start the registry browser: ``exoreg-gui [REGISTRY]`` or ``python -m exoreg_gui [REGISTRY]``.

Start-up stays light: scikit-learn, pandas and skops are imported only when a model is
loaded, so the window appears within a couple of seconds. Nothing here imports Qt before
:func:`main` has checked that the system libraries Qt needs are installed
(:mod:`exoreg_gui.platform_check`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

log = logging.getLogger("exoreg_gui")


def _quit_after_first_paint(window, started: float) -> None:
    """Print the time of the window's first paint event, then close the window."""
    from PySide6.QtCore import QEvent, QObject, QTimer

    class FirstPaintWatcher(QObject):
        done = False

        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
            if event.type() == QEvent.Type.Paint and not self.done:
                self.done = True
                print(f"first window painted after {time.perf_counter() - started:.3f} s", flush=True)
                QTimer.singleShot(0, window.close)
            return False

    window.installEventFilter(FirstPaintWatcher(window))
    QTimer.singleShot(0, window.update)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="exoreg-gui",
        description="Browse and compare the models of an ExoReg registry.",
    )
    parser.add_argument(
        "registry", nargs="?", default=None,
        help="registry folder, or s3://BUCKET/PREFIX, to open (default: the last folder opened; on the first start, "
             "a welcome page)",
    )
    parser.add_argument("--quit-after-paint", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _qt_message_handler(mode, context, message) -> None:
    from PySide6.QtCore import QtMsgType

    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(mode, logging.WARNING)
    logging.getLogger("exoreg_gui.qt").log(level, "%s", message)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_path():
    """``exoreg-gui.log`` in the user's log folder (``$EXOREG_CACHE_DIR`` when set)."""
    from core.common.userdirs import log_dir

    return log_dir() / "exoreg-gui.log"


def configure_logging():
    """Log to stderr and to a small rotating file, so an error shown in a dialog can be found later."""
    from logging.handlers import RotatingFileHandler

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    stream = logging.StreamHandler()
    stream.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(stream)
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=2, encoding="utf-8")
    except OSError as exc:
        log.warning("not logging to a file (%s)", exc)
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    return path


def install_excepthook(window_getter) -> None:
    """Show uncaught exceptions (e.g. in a slot) in a dialog and the log, instead of dying."""
    from exoreg_gui.dialogs.messages import Messages

    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, KeyboardInterrupt):
            previous(exc_type, exc, tb)
            return
        if exc is not None and exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        try:
            Messages.error(window_getter(), "Something went wrong", exc)
        except Exception:  # noqa: BLE001 - the hook itself must never raise
            previous(exc_type, exc, tb)

    sys.excepthook = hook


def create_application(argv: Sequence[str] | None = None):
    """The QApplication (created once), with the app's names, icon and stylesheet."""
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from exoreg_gui.resources import icon, stylesheet
    from exoreg_gui.settings import APPLICATION, ORGANIZATION

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0], *(argv or [])])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("ExoReg")
    app.setWindowIcon(icon("app"))
    app.setStyleSheet(stylesheet())
    qInstallMessageHandler(_qt_message_handler)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from exoreg_gui.platform_check import startup_problem

    problem = startup_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    log_file = configure_logging()
    app = create_application()

    from exoreg_gui.main_window import MainWindow

    window = MainWindow()
    from exoreg_gui.workflows import install_workflows

    install_workflows(window)
    install_excepthook(lambda: window)
    from exoreg_gui import prediction_worker

    app.aboutToQuit.connect(prediction_worker.shutdown)  # the worker process ends with the app
    if log_file is not None:
        log.info("ExoReg browser started; this log: %s", log_file)
    window.show()
    window.open_initial(args.registry)
    if args.quit_after_paint:
        # Used by the start-up test and the benchmark: report the first paint, then quit.
        _quit_after_first_paint(window, started)
    return app.exec()
