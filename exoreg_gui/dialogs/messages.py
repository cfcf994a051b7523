"""Every modal message box of the application goes through :class:`Messages`.

Keeping them behind one class means tests replace them in one place (a modal dialog would
block a headless run forever) and every error is logged the same way.
"""

from __future__ import annotations

import logging
import traceback

from PySide6.QtWidgets import QInputDialog, QLineEdit, QMessageBox, QWidget

log = logging.getLogger("exoreg_gui")


def describe_error(exc: BaseException) -> tuple[str, str]:
    """``(one-line message, details)`` for an exception; ``core`` errors carry readable messages."""
    from core.common.files import os_error_sentence
    from core.errors import RegistryError

    message = (os_error_sentence(exc) if isinstance(exc, OSError) else str(exc)) or type(exc).__name__
    if not isinstance(exc, RegistryError | OSError | ValueError):
        message = f"{type(exc).__name__}: {message}"
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return message, details


def is_user_error(exc: BaseException) -> bool:
    """True for what a person can put right (a wrong folder, a bad file, a full disk), not a bug.

    ``core`` raises :class:`core.errors.RegistryError` subclasses on purpose; an ``OSError`` is
    the file system saying no. These are logged in one line, without a traceback.
    """
    from core.errors import RegistryError

    return isinstance(exc, RegistryError | OSError)


def log_error(title: str, exc: BaseException) -> None:
    """Log an error shown to the person: one line for a user error, with the traceback for a bug."""
    message, _ = describe_error(exc)
    if is_user_error(exc):
        log.warning("%s: %s", title, message)
    else:
        log.error("%s: %s", title, message, exc_info=(type(exc), exc, exc.__traceback__))


class Messages:
    """Modal message boxes; patch these classmethods in tests."""

    @classmethod
    def error(cls, parent: QWidget | None, title: str, exc: BaseException) -> None:
        """Show an error with its traceback under "Show Details..." and log it."""
        message, details = describe_error(exc)
        log_error(title, exc)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
        box.setDetailedText(details)
        box.exec()

    @classmethod
    def information(cls, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.information(parent, title, text)

    @classmethod
    def question(cls, parent: QWidget | None, title: str, text: str) -> bool:
        answer = QMessageBox.question(
            parent,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    @classmethod
    def get_text(cls, parent: QWidget | None, title: str, label: str, text: str = "") -> str | None:
        """Ask for one line of text; None when the person cancels."""
        value, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, text)
        return value if ok else None

    @classmethod
    def get_directory(cls, parent: QWidget | None, title: str, start: str = "") -> str | None:
        from PySide6.QtWidgets import QFileDialog

        path = QFileDialog.getExistingDirectory(parent, title, start)
        return path or None

    @classmethod
    def get_save_file(cls, parent: QWidget | None, title: str, start: str, filters: str) -> str | None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
        return path or None
