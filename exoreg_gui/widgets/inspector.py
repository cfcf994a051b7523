"""Everything about one version: headline metrics, the metadata tree, confusion matrix, edits.

The inspector only displays; edits are emitted as signals and written by the main window.
The model file's SHA-256 is checked in the background (by the registry) each time a version is shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from core.common.koi_columns import leaky_features, leaky_features_note
from exoreg_gui import workers
from exoreg_gui.models.metadata_tree_model import MetadataTreeModel, Node, metadata_sections, running_versions
from exoreg_gui.models.registry_tree_model import SYNTHETIC_BADGE, SYNTHETIC_TOOLTIP, is_synthetic
from exoreg_gui.widgets.confusion_heatmap import ConfusionHeatmap

#: Milliseconds after a remote version is shown before its model file is downloaded and checked.
REMOTE_VERIFY_DELAY_MS = 300

CARD_METRICS = (("accuracy", "Accuracy"), ("precision", "Precision"), ("recall", "Recall"),
                ("f1_score", "F1"), ("roc_auc", "ROC AUC"))


def parse_tags(text: str) -> dict[str, str]:
    """``"team=vision, stage=dev"`` -> ``{"team": "vision", "stage": "dev"}``; raises ValueError."""
    tags: dict[str, str] = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ValueError(f"The tag “{part}” has no value: write tags as key=value, separated by commas.")
        key, value = (s.strip() for s in part.split("=", 1))
        if not key:
            raise ValueError(f"The tag “{part}” has no key: write tags as key=value, separated by commas.")
        tags[key] = value
    return tags


def format_tags(tags: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in (tags or {}).items())


def _verify_version(registry, meta) -> str:
    """Worker function: "verified", "mismatch", "missing" or "unknown" for one version's model file."""
    return registry.verify_version(meta.model_id, meta).status


class MetricCard(QFrame):
    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setObjectName("metricCard")
        self.value_label = QLabel("—", self)
        self.value_label.setObjectName("metricValue")
        self.name_label = QLabel(title, self)
        self.name_label.setObjectName("metricName")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 10, 6)
        layout.setSpacing(0)
        layout.addWidget(self.value_label)
        layout.addWidget(self.name_label)

    def set_value(self, value) -> None:
        if isinstance(value, int | float):
            self.value_label.setText(f"{value:.4f}")
            self.value_label.setToolTip(repr(value))
            self.show()
        else:
            self.value_label.setText("—")
            self.value_label.setToolTip("")


class InspectorPanel(QWidget):
    #: Save pressed: (model_id, description, tags dict).
    edit_requested = Signal(str, str, object)
    #: "Set alias…" pressed for a version.
    alias_requested = Signal(str)
    #: "Confirm Metrics" pressed for a version whose metrics carry a caveat ("overlap unknown").
    confirm_metrics_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.meta = None
        self._verify_worker: workers.Worker | None = None
        self.integrity = ""
        self._read_only: dict[str, str] | None = None  # {edit: why not here} for a registry in object storage
        # A remote model file is downloaded to check it; boto3 does that in Python, which would share the
        # GIL with the panels painting the selection: the download starts once they are done.
        self._remote_verify = QTimer(self)
        self._remote_verify.setObjectName("inspector-remote-verify")
        self._remote_verify.setSingleShot(True)
        self._remote_verify.setInterval(REMOTE_VERIFY_DELAY_MS)
        self._remote_verify.timeout.connect(self._on_remote_verify_timeout)
        self._remote_verify_args = None

        self.title_label = QLabel("Select a version in the tree", self)
        self.title_label.setObjectName("headline")
        self.id_label = QLabel("", self)
        self.id_label.setObjectName("metricName")
        self.id_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.integrity_label = QLabel("", self)
        self.synthetic_label = QLabel(f"⚠ {SYNTHETIC_BADGE}", self)
        self.synthetic_label.setObjectName("syntheticBadge")
        self.synthetic_label.setStyleSheet("color: #9a3b00; background: #ffe4cc; border: 1px solid #9a3b00;"
                                           "border-radius: 8px; padding: 1px 8px; font-weight: 600;")
        self.synthetic_label.setToolTip(SYNTHETIC_TOOLTIP + ": its metrics say nothing about real KOIs.")
        self.synthetic_label.hide()
        self.env_warning = QLabel("", self)
        self.env_warning.setObjectName("warning")
        self.env_warning.setWordWrap(True)
        self.env_warning.hide()
        # A red note for a version whose features include NASA's vetting outputs (core.koi.LEAKY_COLUMNS).
        self.leak_label = QLabel("", self)
        self.leak_label.setObjectName("leakyFeatures")
        self.leak_label.setWordWrap(True)
        self.leak_label.setStyleSheet("color: #b00020; background: #fde7ea; border: 1px solid #b00020;"
                                      "border-radius: 4px; padding: 4px 8px; font-weight: 600;")
        self.leak_label.hide()
        self.caveat_label = QLabel("", self)
        self.caveat_label.setObjectName("warning")
        self.caveat_label.setWordWrap(True)
        self.confirm_button = QPushButton("Confirm Metrics", self)
        self.confirm_button.setObjectName("confirmMetricsButton")
        self.confirm_button.clicked.connect(
            lambda: self.meta is not None and self.confirm_metrics_requested.emit(self.meta.model_id))
        self.caveat_row = QWidget(self)
        caveat_layout = QHBoxLayout(self.caveat_row)
        caveat_layout.setContentsMargins(0, 0, 0, 0)
        caveat_layout.addWidget(self.caveat_label, 1)
        caveat_layout.addWidget(self.confirm_button)
        self.caveat_row.hide()

        cards = QHBoxLayout()
        cards.setSpacing(8)
        self.cards: dict[str, MetricCard] = {}
        for key, title in CARD_METRICS:
            card = MetricCard(title, self)
            self.cards[key] = card
            cards.addWidget(card)
        cards.addStretch(1)

        self.tree_model = MetadataTreeModel(self)
        self.tree = QTreeView(self)
        self.tree.setObjectName("metadataTree")
        self.tree.setModel(self.tree_model)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.header().resizeSection(0, 210)
        self.tree.header().setStretchLastSection(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)

        self.heatmap = ConfusionHeatmap(self)
        heat_box = QGroupBox("Confusion matrix (test split)", self)
        QVBoxLayout(heat_box).addWidget(self.heatmap)

        self.description_edit = QPlainTextEdit(self)
        self.description_edit.setPlaceholderText("What is this version? (saved into its metadata)")
        self.description_edit.setMaximumHeight(90)
        self.tags_edit = QLineEdit(self)
        self.tags_edit.setPlaceholderText("key=value, key=value")
        self.aliases_label = QLabel("", self)
        self.alias_button = QPushButton("Set alias…", self)
        self.alias_button.clicked.connect(self._on_alias_clicked)
        self.save_button = QPushButton("Save", self)
        self.save_button.setDefault(True)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        self.revert_button = QPushButton("Revert", self)
        self.revert_button.setEnabled(False)
        self.revert_button.clicked.connect(self._fill_edits)
        self.description_edit.textChanged.connect(self._on_edited)
        self.tags_edit.textChanged.connect(self._on_edited)
        self.tags_edit.returnPressed.connect(self._on_save_clicked)

        edit_box = QGroupBox("Description, tags and aliases", self)
        grid = QGridLayout(edit_box)
        grid.addWidget(QLabel("Description", self), 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.description_edit, 0, 1, 1, 3)
        grid.addWidget(QLabel("Tags", self), 1, 0)
        grid.addWidget(self.tags_edit, 1, 1, 1, 3)
        grid.addWidget(QLabel("Aliases", self), 2, 0)
        grid.addWidget(self.aliases_label, 2, 1)
        grid.addWidget(self.alias_button, 2, 2)
        self.read_only_label = QLabel("", self)
        self.read_only_label.setObjectName("readOnlyNote")
        self.read_only_label.setWordWrap(True)
        self.read_only_label.setStyleSheet("color: #5d6877;")
        self.read_only_label.hide()
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.revert_button)
        buttons.addWidget(self.save_button)
        grid.addWidget(self.read_only_label, 3, 0, 1, 4)
        grid.addLayout(buttons, 4, 0, 1, 4)
        grid.setColumnStretch(1, 1)

        right = QWidget(self)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(heat_box, 1)
        right_layout.addWidget(edit_box)

        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setObjectName("inspectorSplitter")
        self.splitter.addWidget(self.tree)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([480, 320])  # the metadata values want the room more than the heatmap

        head = QHBoxLayout()
        head.addWidget(self.title_label)
        head.addWidget(self.synthetic_label)
        head.addStretch(1)
        head.addWidget(self.integrity_label)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.id_label)
        layout.addWidget(self.env_warning)
        layout.addWidget(self.leak_label)
        layout.addWidget(self.caveat_row)
        layout.addLayout(cards)
        layout.addWidget(self.splitter, 1)
        self._set_enabled(False)

    # -- public API -------------------------------------------------------------------------------
    def set_version(self, meta, registry=None) -> None:
        """Show one ``ModelMetadata`` (None clears); ``registry`` checks its model file's SHA-256."""
        self._cancel_verify()
        self.meta = meta
        if meta is None:
            self.title_label.setText("Select a version in the tree")
            self.id_label.setText("")
            self.integrity_label.setText("")
            self.synthetic_label.hide()
            self.env_warning.hide()
            self.leak_label.hide()
            self.caveat_row.hide()
            for card in self.cards.values():
                card.set_value(None)
            self.tree_model.set_root(Node(""))
            self.heatmap.set_matrix(None, None)
            self._set_enabled(False)
            self._fill_edits()
            return
        status = "  (deleted)" if getattr(meta, "status", "active") == "deleted" else ""
        self.title_label.setText(f"{meta.model_name}  v{meta.version}  ·  {meta.algorithm}{status}")
        self.id_label.setText(meta.model_id)
        self.synthetic_label.setVisible(is_synthetic(getattr(meta, "tags", None), getattr(meta, "training_info", None)))
        metrics = getattr(meta, "metrics", None) or {}
        for key, card in self.cards.items():
            value = getattr(meta, key, None) if key != "roc_auc" else metrics.get("roc_auc")
            card.set_value(value)
            card.setVisible(key != "roc_auc" or value is not None)
        self._show_env_warning(meta)
        leaky = leaky_features(getattr(meta, "feature_columns", None) or [])
        self.leak_label.setText(leaky_features_note(leaky) if leaky else "")
        self.leak_label.setVisible(bool(leaky))
        caveat = getattr(meta, "metrics_caveat", "")
        if caveat:
            source = ((getattr(meta, "evaluation", None) or {}).get("scored_on") or {}).get("file_name", "a labelled file")
            self.caveat_label.setText(
                f"Metrics: {caveat}. They were scored on {source}, which may hold rows this model was trained on, "
                "so this version is not a candidate for best. Confirm them once you know it holds none.")
        self.caveat_row.setVisible(bool(caveat))
        self.tree_model.set_root(metadata_sections(meta))
        for row in range(self.tree_model.rowCount()):
            index = self.tree_model.index(row, 0)
            label = index.data()
            self.tree.setExpanded(index, label in {"Metrics", "Per-class scores", "Hyperparameters",
                                                   "Training", "File", "Environment"})
        self._fit_field_column()
        confusion = (getattr(meta, "evaluation", None) or {}).get("confusion_matrix") or {}
        self.heatmap.set_matrix(confusion.get("labels"), confusion.get("matrix"))
        self._set_enabled(True)
        self._fill_edits()
        self._start_verify(meta, registry)

    def set_read_only(self, reasons: dict[str, str] | None) -> None:
        """Offer no edits (description, tags, alias, confirm metrics), each saying why in its tooltip;
        ``reasons`` maps those names to the tooltip, None offers the edits again."""
        if reasons == self._read_only:
            return
        self._read_only = reasons
        self._set_enabled(self.meta is not None)
        self._fill_edits()

    def shutdown(self) -> None:
        self._cancel_verify()

    # -- private ------------------------------------------------------------------------------------
    def _fit_field_column(self) -> None:
        """The Field column as wide as its expanded labels need (170 to 300 px); Value takes the rest."""
        metrics = QFontMetrics(self.tree.font())
        bold = self.tree.font()
        bold.setBold(True)
        bold_metrics = QFontMetrics(bold)
        indent = self.tree.indentation()
        widest = 0
        for row in range(self.tree_model.rowCount()):
            section = self.tree_model.index(row, 0)
            widest = max(widest, bold_metrics.horizontalAdvance(str(section.data())) + indent)
            if self.tree.isExpanded(section):
                for child in range(self.tree_model.rowCount(section)):
                    label = str(self.tree_model.index(child, 0, section).data())
                    widest = max(widest, metrics.horizontalAdvance(label) + 2 * indent)
        self.tree.header().resizeSection(0, min(300, max(170, widest + 16)))

    def _set_enabled(self, on: bool) -> None:
        reasons = self._read_only or {}
        for widget in (self.description_edit, self.tags_edit, self.alias_button):
            widget.setEnabled(on)
        # Read-only text stays readable and selectable; the buttons are greyed out. Each says why.
        for widget, edit in ((self.description_edit, "description"), (self.tags_edit, "tags"),
                             (self.alias_button, "alias"), (self.confirm_button, "confirm")):
            widget.setToolTip(reasons.get(edit, ""))
        self.read_only_label.setText("Read-only here: this registry is in object storage and is changed from "
                                     "the command line (hover over a field for its command)." if reasons else "")
        self.read_only_label.setVisible(bool(reasons))
        self.revert_button.setVisible(not reasons)
        self.save_button.setVisible(not reasons)
        self.description_edit.setReadOnly(bool(reasons))
        self.tags_edit.setReadOnly(bool(reasons))
        self.alias_button.setEnabled(on and not reasons)
        self.confirm_button.setEnabled(not reasons)

    def _fill_edits(self) -> None:
        meta = self.meta
        self.description_edit.blockSignals(True)
        self.tags_edit.blockSignals(True)
        self.description_edit.setPlainText(getattr(meta, "description", "") if meta else "")
        self.tags_edit.setText(format_tags(getattr(meta, "tags", {}) if meta else {}))
        self.description_edit.blockSignals(False)
        self.tags_edit.blockSignals(False)
        aliases = list(getattr(meta, "aliases", []) or []) if meta else []
        self.aliases_label.setText(", ".join(aliases) if aliases else "none")
        self.save_button.setEnabled(False)
        self.revert_button.setEnabled(False)

    def _on_edited(self) -> None:
        dirty = self.meta is not None and (
            self.description_edit.toPlainText() != (self.meta.description or "")
            or self.tags_edit.text().strip() != format_tags(self.meta.tags or {})
        )
        self.save_button.setEnabled(dirty)
        self.revert_button.setEnabled(dirty)

    def _on_save_clicked(self) -> None:
        if self.meta is None or not self.save_button.isEnabled():
            return
        try:
            tags = parse_tags(self.tags_edit.text())
        except ValueError as exc:
            from exoreg_gui.dialogs.messages import Messages

            Messages.error(self, "Tags not saved", exc)
            return
        self.edit_requested.emit(self.meta.model_id, self.description_edit.toPlainText(), tags)

    def _on_alias_clicked(self) -> None:
        if self.meta is not None:
            self.alias_requested.emit(self.meta.model_id)

    def _show_env_warning(self, meta) -> None:
        running = running_versions()
        problems = []
        python = getattr(meta, "python_version", "") or ""
        sklearn = getattr(meta, "sklearn_version", "") or ""
        if python and python.split(".")[:2] != running["python"].split(".")[:2]:
            problems.append(f"Python {python} (this app runs {running['python']})")
        if sklearn and running["sklearn"] and sklearn != running["sklearn"]:
            problems.append(f"scikit-learn {sklearn} (this app has {running['sklearn']})")
        if problems:
            self.env_warning.setText("⚠ Trained with " + " and ".join(problems)
                                     + "; predictions may differ or the model may not load.")
            self.env_warning.show()
        else:
            self.env_warning.hide()

    def _start_verify(self, meta, registry) -> None:
        expected = getattr(meta, "model_sha256", "") or ""
        if registry is None or not expected:
            self._set_integrity("unknown")
            return
        self._set_integrity("checking")
        if getattr(registry, "local_folder", True) is None:
            self._remote_verify_args = (meta, registry)
            self._remote_verify.start()
            return
        self._run_verify(meta, registry)

    def _on_remote_verify_timeout(self) -> None:
        args, self._remote_verify_args = self._remote_verify_args, None
        if args is not None and self.meta is args[0]:
            self._run_verify(*args)

    def _run_verify(self, meta, registry) -> None:
        model_id = meta.model_id
        self._verify_worker = workers.start_worker(
            _verify_version,
            registry,
            meta,
            on_success=lambda result: self._on_verified(model_id, result),
            on_error=lambda exc: self._on_verified(model_id, f"error: {exc}"),
        )

    def _cancel_verify(self) -> None:
        self._remote_verify.stop()
        self._remote_verify_args = None
        if self._verify_worker is not None:
            self._verify_worker.cancel()
            self._verify_worker = None

    def _on_verified(self, model_id: str, result: str) -> None:
        if self.meta is None or self.meta.model_id != model_id:
            return
        self._verify_worker = None
        self._set_integrity(result)

    def _set_integrity(self, state: str) -> None:
        self.integrity = state
        text, color = {
            "checking": ("Checking SHA-256…", "#5d6877"),
            "verified": ("✓ SHA-256 verified", "#1f7a4d"),
            "mismatch": ("✗ SHA-256 does not match: the file changed", "#b3261e"),
            "missing": ("✗ model file missing", "#b3261e"),
            "unknown": ("SHA-256 not recorded", "#5d6877"),
        }.get(state, (state, "#b3261e"))
        self.integrity_label.setText(text)
        self.integrity_label.setStyleSheet(f"color: {color}; font-weight: 600;")
