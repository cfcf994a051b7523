"""Shown when no registry is open: build the demo registry or open a folder (no modal dialog)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui.resources import icon


class WelcomePage(QWidget):
    #: "Build the demo registry" pressed.
    demo_requested = Signal()
    #: "Open a registry folder…" pressed.
    open_requested = Signal()
    #: A recent registry was chosen; carries its path.
    recent_chosen = Signal(str)
    #: Cancel pressed while the demo is being built.
    cancel_requested = Signal()
    #: "Choose KOI table…" pressed: build the demo from a KOI table file the person picks.
    koi_table_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        logo = QLabel(self)
        logo.setPixmap(icon("app").pixmap(QSize(72, 72)))
        title = QLabel("Welcome to ExoReg", self)
        title.setObjectName("welcomeTitle")
        text = QLabel(
            "ExoReg keeps your exoplanet classifiers, their versions and their metrics in a folder on "
            "this computer, and lets you compare them side by side.<br><br>"
            "To look around first, build the <b>demo registry</b>: real classifiers (random forest, "
            "neural network, SVM) trained on NASA's Kepler Objects of Interest table, in several "
            "versions. It takes a minute or two and runs in the background.",
            self,
        )
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setMaximumWidth(560)

        self.demo_button = QPushButton(icon("demo"), "Build the demo registry", self)
        self.demo_button.setIconSize(QSize(20, 20))
        self.demo_button.setMinimumHeight(36)
        self.demo_button.setDefault(True)
        self.demo_button.setObjectName("primaryButton")
        self.demo_button.clicked.connect(self.demo_requested)
        self.open_button = QPushButton(icon("open"), "Open a registry folder…", self)
        self.open_button.setIconSize(QSize(20, 20))
        self.open_button.setMinimumHeight(36)
        self.open_button.clicked.connect(self.open_requested)
        self.koi_button = QPushButton("Choose KOI table…", self)
        self.koi_button.setMinimumHeight(36)
        self.koi_button.setToolTip("Build the demo from a KOI table on this computer (the NASA Exoplanet "
                                   "Archive's cumulative KOI CSV), without downloading it")
        self.koi_button.clicked.connect(self.koi_table_requested)

        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.cancel_button.hide()
        self.status_label = QLabel("", self)
        self.status_label.setWordWrap(True)
        self.status_label.setMaximumWidth(560)
        self.status_label.hide()
        # A note that stays until it is replaced (the synthetic-data one), unlike the status line.
        self.note_label = QLabel("", self)
        self.note_label.setObjectName("warning")
        self.note_label.setWordWrap(True)
        self.note_label.setMaximumWidth(560)
        self.note_label.setStyleSheet("color: #9a3b00; background: #fff4e8; border: 1px solid #f0c9a0;"
                                      "border-radius: 4px; padding: 6px;")
        self.note_label.hide()

        self.recent_label = QLabel("Recent registries", self)
        self.recent_label.setObjectName("metricName")
        self.recent_list = QListWidget(self)
        self.recent_list.setMaximumWidth(560)
        self.recent_list.setMaximumHeight(120)
        self.recent_list.itemActivated.connect(lambda item: self.recent_chosen.emit(item.text()))

        buttons = QHBoxLayout()
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.koi_button)
        buttons.addStretch(1)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)

        column = QVBoxLayout()
        column.addWidget(logo)
        column.addWidget(title)
        column.addSpacing(8)
        column.addWidget(text)
        column.addSpacing(12)
        column.addLayout(buttons)
        column.addLayout(progress_row)
        column.addWidget(self.status_label)
        column.addWidget(self.note_label)
        column.addSpacing(16)
        column.addWidget(self.recent_label)
        column.addWidget(self.recent_list)

        panel = QWidget(self)
        panel.setObjectName("welcomePanel")
        panel.setFixedWidth(600)  # a fixed width lets the wrapped texts take the height they need
        column.setSizeConstraint(QVBoxLayout.SizeConstraint.SetMinimumSize)
        panel.setLayout(column)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(panel, 0, Qt.AlignmentFlag.AlignTop)
        outer.addStretch(1)
        outer.setContentsMargins(24, 72, 24, 24)
        self.set_recent([])

    def set_recent(self, paths: list[str]) -> None:
        self.recent_list.clear()
        for path in paths:
            QListWidgetItem(icon("open"), path, self.recent_list)
        self.recent_label.setVisible(bool(paths))
        self.recent_list.setVisible(bool(paths))

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #b3261e;" if error else "color: #333c48;")
        self.status_label.setVisible(bool(text))

    def set_note(self, text: str) -> None:
        """A note that stays shown (until replaced, or cleared with "") whatever the status line says."""
        self.note_label.setText(text)
        self.note_label.setVisible(bool(text))

    def set_building(self, building: bool) -> None:
        self.progress.setVisible(building)
        self.cancel_button.setVisible(building)
        self.cancel_button.setEnabled(True)
        self.demo_button.setEnabled(not building)
        self.open_button.setEnabled(not building)
        self.koi_button.setEnabled(not building)
        if building:
            self.progress.setRange(0, 0)

    def set_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(min(done, total))
        else:
            self.progress.setRange(0, 0)
