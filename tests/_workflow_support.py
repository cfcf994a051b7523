"""Fixtures for the workflow dialog tests: a registry of models trained on the real KOI table.

- ``koi_registry``: two small real pipelines (imputer + random forest) trained on the KOI
  table's CONFIRMED / FALSE POSITIVE rows, built once per session; ``koi_registry_copy`` gives
  a test that writes its own copy.
- ``koi_rows_csv``: 2,000 KOI rows (every column); ``big_koi_csv``: 200,000 rows made by
  repeating the KOI rows (the prediction columns only), written once per session.
- ``prompts``: the workflow dialogs' modal prompts replaced by a recorder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

KOI_FEATURES = ["koi_period", "koi_duration", "koi_depth", "koi_prad", "koi_impact", "koi_model_snr",
                "koi_teq", "koi_steff"]
BIG_ROWS = 200_000


@dataclass
class KoiRegistry:
    root: Path
    ids: list[str]


def read_koi(path):
    import pandas as pd

    return pd.read_csv(path, comment="#", low_memory=False)


def _train(frame, n_estimators: int, seed: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    labelled = frame[frame["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"])]
    X, y = labelled[KOI_FEATURES], labelled["koi_disposition"].to_numpy()
    model = Pipeline([("impute", SimpleImputer(strategy="median")),
                      ("forest", RandomForestClassifier(n_estimators=n_estimators, max_depth=6,
                                                        random_state=seed, n_jobs=1))])
    return model.fit(X, y), len(labelled)


@pytest.fixture(scope="session")
def koi_registry(koi_csv, tmp_path_factory) -> KoiRegistry:
    from core.model_registry import ModelRegistry

    root = tmp_path_factory.mktemp("koi") / "registry"
    registry = ModelRegistry(root)
    frame = read_koi(koi_csv)
    ids = []
    for n, f1 in ((10, 0.88), (25, 0.9)):
        model, rows = _train(frame, n, seed=n)
        ids.append(registry.register_model(
            model=model, model_name="KoiForest", algorithm="RandomForest",
            evaluation_results={"accuracy": f1 + 0.01, "precision": f1, "recall": f1 - 0.01, "f1_score": f1},
            hyperparameters={"n_estimators": n, "max_depth": 6},
            training_info={"dataset": koi_csv.name, "training_samples": rows},
            feature_columns=KOI_FEATURES, description=f"{n} trees",
        ))
    registry.set_alias("KoiForest", "production", 2)
    return KoiRegistry(root, ids)


@pytest.fixture
def koi_registry_copy(koi_registry, tmp_path) -> KoiRegistry:
    root = tmp_path / "koi-registry"
    shutil.copytree(koi_registry.root, root, ignore=shutil.ignore_patterns(".lock"))
    return KoiRegistry(root, list(koi_registry.ids))


@pytest.fixture(scope="session")
def koi_rows_csv(koi_csv, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("koi-rows") / "koi_rows.csv"
    read_koi(koi_csv).head(2000).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def big_koi_csv(koi_csv, tmp_path_factory) -> Path:
    """200,000 rows: the real KOI rows repeated, with the identifier, label and feature columns."""
    import pandas as pd

    frame = read_koi(koi_csv)[["kepid", "kepoi_name", "koi_disposition", *KOI_FEATURES]]
    repeats = -(-BIG_ROWS // len(frame))
    big = pd.concat([frame] * repeats, ignore_index=True).head(BIG_ROWS)
    path = tmp_path_factory.mktemp("koi-big") / "koi_200k.csv"
    big.to_csv(path, index=False)
    return path


@dataclass
class PromptRecorder:
    trust_asked: list = field(default_factory=list)
    trust_answers: list[bool] = field(default_factory=list)
    opened_folders: list[str] = field(default_factory=list)
    files: list[list[str]] = field(default_factory=list)


@pytest.fixture
def prompts(monkeypatch) -> PromptRecorder:
    from exoreg_gui.dialogs.common import Prompts

    recorder = PromptRecorder()

    def confirm_trust(cls, parent, preview):
        recorder.trust_asked.append(preview)
        return recorder.trust_answers.pop(0) if recorder.trust_answers else False

    monkeypatch.setattr(Prompts, "confirm_trust", classmethod(confirm_trust))
    monkeypatch.setattr(Prompts, "open_folder", classmethod(lambda cls, path: recorder.opened_folders.append(str(path))))
    monkeypatch.setattr(Prompts, "open_files", classmethod(
        lambda cls, parent, title, start, filters: recorder.files.pop(0) if recorder.files else []))
    return recorder
