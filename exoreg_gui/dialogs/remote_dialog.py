"""File ▸ Open Remote Registry…: the URI of a registry in an S3-compatible bucket, and the recent ones.

The dialog only asks; the window opens the registry in the background (every request to the
object store runs on a worker), and an error there is shown in one sentence. The URI is checked
here just enough to say what a registry URI looks like; the store checks the rest.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

PLACEHOLDER = "s3://bucket/prefix"


def uri_problem(text: str) -> str | None:
    """One sentence saying why ``text`` is not an ``s3://BUCKET/PREFIX`` URI yet; None when it looks like one."""
    text = text.strip()
    if not text:
        return "Type the registry's URI, for example s3://team-models/exoreg."
    parsed = urlparse(text)
    if parsed.scheme.lower() != "s3":
        return "A registry in object storage is named s3://BUCKET/PREFIX; start the URI with s3://."
    if not parsed.netloc:
        return "Name the bucket after s3://, for example s3://team-models/exoreg."
    return None


def endpoint_note() -> str:
    """Which object store boto3 will talk to, from its standard configuration."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    profile = os.environ.get("AWS_PROFILE")
    where = f"the endpoint <code>{endpoint}</code>" if endpoint else "AWS S3 (or the endpoint in ~/.aws/config)"
    if profile:
        where += f", profile <code>{profile}</code>"
    return (
        f"Requests go to {where}. Endpoint, credentials and region come from boto3's standard "
        "configuration: <code>AWS_ENDPOINT_URL</code>, <code>AWS_PROFILE</code>, <code>~/.aws/config</code> "
        "or the <code>AWS_ACCESS_KEY_ID</code> / <code>AWS_SECRET_ACCESS_KEY</code> variables."
    )


class OpenRemoteDialog(QDialog):
    """See the module docstring; :meth:`uri` is the chosen URI once accepted."""

    def __init__(self, recent: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("openRemoteDialog")
        self.setWindowTitle("Open Remote Registry")
        intro = QLabel(
            "Open a team registry kept in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, SeaweedFS, "
            "Ceph). The window browses it, predicts and packages from it; changes to it (aliases, "
            "descriptions, deletions, imports) are made from the command line, "
            "<code>exoreg --registry s3://…</code>.",
            self,
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        self.url_edit = QLineEdit(self)
        self.url_edit.setObjectName("remoteUrlEdit")
        self.url_edit.setPlaceholderText(PLACEHOLDER)
        self.url_edit.setClearButtonEnabled(True)
        self.problem_label = QLabel("", self)
        self.problem_label.setObjectName("remoteUriProblem")
        self.problem_label.setWordWrap(True)
        self.endpoint_label = QLabel(endpoint_note(), self)
        self.endpoint_label.setObjectName("remoteEndpoint")
        self.endpoint_label.setWordWrap(True)
        self.endpoint_label.setTextFormat(Qt.TextFormat.RichText)
        self.recent_list = QListWidget(self)
        self.recent_list.setObjectName("recentRemotes")
        for uri in recent:
            QListWidgetItem(uri, self.recent_list)
        self.recent_list.setVisible(bool(recent))
        self.recent_list.setMaximumHeight(130)
        self.recent_list.currentTextChanged.connect(self._on_recent_current)
        self.recent_list.itemActivated.connect(lambda item: self._open(item.text()))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.open_button = self.buttons.button(QDialogButtonBox.StandardButton.Open)
        self.buttons.accepted.connect(lambda: self._open(self.url_edit.text()))
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addSpacing(6)
        layout.addWidget(QLabel("Registry URI", self))
        layout.addWidget(self.url_edit)
        layout.addWidget(self.problem_label)
        if recent:
            layout.addWidget(QLabel("Recent remote registries", self))
        layout.addWidget(self.recent_list)
        layout.addWidget(self.endpoint_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.resize(620, 360 if recent else 260)

        self.url_edit.textChanged.connect(self._on_text_changed)
        self.url_edit.setText(recent[0] if recent else "")
        self._on_text_changed(self.url_edit.text())
        self.url_edit.setFocus()

    def uri(self) -> str:
        return self.url_edit.text().strip().rstrip("/")

    def _on_text_changed(self, text: str) -> None:
        problem = uri_problem(text)
        self.open_button.setEnabled(problem is None)
        # Nothing typed yet is not a mistake: the placeholder says what to type.
        self.problem_label.setText(problem if problem and text.strip() else "")
        self.problem_label.setVisible(bool(problem and text.strip()))

    def _on_recent_current(self, text: str) -> None:
        if text:
            self.url_edit.setText(text)

    def _open(self, text: str) -> None:
        if uri_problem(text) is None:
            self.url_edit.setText(text.strip())
            self.accept()
