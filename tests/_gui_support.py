"""Fixtures and helpers shared by the desktop-browser tests.

- ``gui_registry``: a small registry of tiny real scikit-learn models, built once per session
  (three names, seven versions, one deleted, one alias, tags, per-class scores, confusion
  matrices and feature importances); ``registry_copy`` gives each test that writes its own copy.
- ``messages``: every modal message box replaced by a recorder (a modal dialog would block a
  headless run forever); tests queue the answers.
- ``window``: a ``MainWindow`` with settings in a temporary folder, shut down after the test.
- ``no_dangling_work``: fails a test that leaves a worker, a pool thread or a timer running.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests._factories import FEATURES, training_data

LABELS = ["CONFIRMED", "FALSE POSITIVE"]

# name, algorithm, f1, accuracy, hyperparameters, tags, description
VERSIONS = [
    ("RandomForest", "RandomForest", 0.912, 0.921, {"n_estimators": 50, "max_depth": 6}, {"features": "physical"},
     "First forest"),
    ("RandomForest", "RandomForest", 0.948, 0.951, {"n_estimators": 200, "max_depth": 12}, {"features": "physical"},
     "Tuned forest"),
    ("RandomForest", "RandomForest", 0.931, 0.936, {"n_estimators": 200, "max_depth": 12},
     {"features": "vetting"}, "Forest with flags"),
    ("SVM", "SVM", 0.901, 0.905, {"C": 1.0, "kernel": "rbf"}, {}, "Default SVM"),
    ("SVM", "SVM", 0.925, 0.93, {"C": 10.0, "kernel": "rbf"}, {"team": "orbit"}, "Tuned SVM"),
    ("NeuralNetwork", "NeuralNetwork", 0.887, 0.9, {"hidden_layer_sizes": [64, 32], "alpha": 0.001}, {}, ""),
    ("NeuralNetwork", "NeuralNetwork", 0.915, 0.92, {"hidden_layer_sizes": [128, 64], "alpha": 0.0001}, {}, ""),
]


def tiny_model():
    from sklearn.tree import DecisionTreeClassifier

    X, y = training_data(n=120)
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)


def evaluation_for(f1: float, accuracy: float) -> dict:
    tp, fn, fp, tn = 41, 4, 3, 72
    return {
        "accuracy": accuracy,
        "precision": round(f1 + 0.004, 4),
        "recall": round(f1 - 0.006, 4),
        "f1_score": f1,
        "roc_auc": round(min(0.999, f1 + 0.04), 4),
        "classes": LABELS,
        "per_class": {
            "CONFIRMED": {"precision": round(f1 - 0.02, 4), "recall": round(f1 - 0.03, 4),
                          "f1": round(f1 - 0.025, 4), "support": tp + fn},
            "FALSE POSITIVE": {"precision": round(f1 + 0.02, 4), "recall": round(f1 + 0.03, 4),
                               "f1": round(f1 + 0.025, 4), "support": fp + tn},
        },
        "confusion_matrix": {"labels": LABELS, "matrix": [[tp, fn], [fp, tn]]},
        "feature_importances": {f: round(0.4 - 0.08 * i + f1 / 100, 4) for i, f in enumerate(FEATURES)},
    }


def register_version(registry, model, name, algorithm, f1, accuracy, hyper, tags, description) -> str:
    return registry.register_model(
        model=model,
        model_name=name,
        algorithm=algorithm,
        evaluation_results=evaluation_for(f1, accuracy),
        hyperparameters=hyper,
        training_info={"dataset": "cumulative_2025", "training_samples": 96, "test_samples": 24,
                       "class_distribution": {"CONFIRMED": 45, "FALSE POSITIVE": 75}, "random_state": 42},
        feature_columns=FEATURES,
        description=description,
        tags=tags,
    )


def build_gui_registry(root: Path) -> dict[str, str]:
    """Build the fixture registry; returns ``{"RandomForest:2": model_id, ...}``."""
    from core.model_registry import ModelRegistry

    registry = ModelRegistry(root)
    model = tiny_model()
    ids: dict[str, str] = {}
    counters: dict[str, int] = {}
    for name, algorithm, f1, accuracy, hyper, tags, description in VERSIONS:
        counters[name] = counters.get(name, 0) + 1
        ids[f"{name}:{counters[name]}"] = register_version(
            registry, model, name, algorithm, f1, accuracy, hyper, tags, description
        )
    registry.set_alias("RandomForest", "production", 2)
    registry.delete_model(ids["SVM:1"])
    return ids


@dataclass
class GuiRegistry:
    root: Path
    ids: dict[str, str]


@pytest.fixture(scope="session")
def gui_registry(tmp_path_factory) -> GuiRegistry:
    root = tmp_path_factory.mktemp("gui") / "registry"
    return GuiRegistry(root, build_gui_registry(root))


@pytest.fixture
def registry_copy(gui_registry, tmp_path) -> GuiRegistry:
    root = tmp_path / "registry"
    shutil.copytree(gui_registry.root, root, ignore=shutil.ignore_patterns(".lock"))
    return GuiRegistry(root, dict(gui_registry.ids))


@dataclass
class MessageRecorder:
    errors: list[tuple[str, BaseException]] = field(default_factory=list)
    infos: list[tuple[str, str]] = field(default_factory=list)
    questions: list[tuple[str, str]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)
    answers: list = field(default_factory=list)
    save_paths: list[str] = field(default_factory=list)

    def next_answer(self, default):
        return self.answers.pop(0) if self.answers else default


@pytest.fixture
def messages(monkeypatch) -> MessageRecorder:
    from exoreg_gui.dialogs.messages import Messages

    recorder = MessageRecorder()
    monkeypatch.setattr(Messages, "error", classmethod(lambda cls, parent, title, exc:
                                                       recorder.errors.append((title, exc))))
    monkeypatch.setattr(Messages, "information", classmethod(lambda cls, parent, title, text:
                                                             recorder.infos.append((title, text))))

    def question(cls, parent, title, text):
        recorder.questions.append((title, text))
        return recorder.next_answer(False)

    def get_text(cls, parent, title, label, text=""):
        recorder.texts.append((title, label))
        return recorder.next_answer(None)

    def get_save_file(cls, parent, title, start, filters):
        return recorder.save_paths.pop(0) if recorder.save_paths else None

    monkeypatch.setattr(Messages, "question", classmethod(question))
    monkeypatch.setattr(Messages, "get_text", classmethod(get_text))
    monkeypatch.setattr(Messages, "get_save_file", classmethod(get_save_file))
    monkeypatch.setattr(Messages, "get_directory", classmethod(lambda cls, parent, title, start="": None))
    return recorder


@pytest.fixture
def gui_settings(tmp_path, monkeypatch):
    """Settings in this test's own folder (never the user's)."""
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(tmp_path / "config"))
    from exoreg_gui.settings import Settings

    settings = Settings()
    settings.set("live/poll_ms", 100)
    # Window tests do not start the prediction worker on their own; dialogs that need it do.
    settings.set("prediction/warm_start_ms", -1)
    return settings


def _running_timers(app) -> list:
    from PySide6.QtCore import QTimer

    timers = []
    for widget in app.topLevelWidgets():
        timers.extend(t for t in widget.findChildren(QTimer) if t.isActive() and t.objectName())
    return timers


@pytest.fixture
def no_dangling_work(qapp):
    """Fail the test when it leaves a worker, a pool thread or one of the app's timers running."""
    yield
    from exoreg_gui import workers

    leftover = workers.active_workers()
    busy_threads = workers.thread_pool().activeThreadCount()
    timers = [t.objectName() for t in _running_timers(qapp)]
    # Let nothing leak into the next test, then report.
    workers.await_workers(timeout=10, cancel=True)
    assert not leftover, f"workers still running after the test: {[w.func for w in leftover]}"
    assert busy_threads == 0, f"{busy_threads} pool threads still busy after the test"
    assert not timers, f"timers still running after the test: {timers}"


@pytest.fixture
def window(qtbot, gui_settings, messages, no_dangling_work):
    from exoreg_gui.main_window import MainWindow

    win = MainWindow(gui_settings)
    qtbot.addWidget(win)
    win.resize(1400, 860)
    win.show()
    yield win
    win.shutdown()
    win.close()


def open_registry(qtbot, window, root: Path, timeout: int = 10000) -> None:
    with qtbot.waitSignal(window.source.entries_loaded, timeout=timeout):
        window.open_registry(root)


def visible_versions(win, name: str) -> list[str]:
    """The version rows the window's tree shows under model ``name`` (as displayed)."""
    proxy = win.tree_panel.proxy
    for r in range(proxy.rowCount()):
        parent = proxy.index(r, 0)
        if parent.data() == name:
            return [proxy.index(c, 0, parent).data() for c in range(proxy.rowCount(parent))]
    return []
