"""The drift verdict in preflight, predict_csv and `exoreg predict` (counted on the streaming pass)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from _factories import FEATURES, register, training_data

from core import ModelRegistry
from core.cli import main
from core.prediction import engine
from core.prediction.drift import LIKE, TOO_FEW, UNLIKE, check_drift


@pytest.fixture
def reg(registry_root):
    registry = ModelRegistry(registry_root)
    X, _ = training_data()
    register(registry, name="Profiled", training_frame=X)
    register(registry, name="Plain")
    return registry


def _rows(n: int, seed: int = 1, scale: dict | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    for column, factor in (scale or {}).items():
        frame[column] *= factor
    frame.insert(0, "kepoi_name", [f"K{i:05d}.01" for i in range(n)])
    return frame


def test_predict_csv_summary_carries_the_verdict_over_every_row(reg, tmp_path):
    src = tmp_path / "drifted.csv"
    frame = _rows(20_000, scale={"koi_depth": 1000})
    frame.to_csv(src, index=False)
    summary = engine.predict_csv("Profiled", src, tmp_path / "out.csv", registry=reg, batch_rows=3072)
    assert summary.rows_predicted == 20_000  # a strongly drifted file is still predicted
    assert summary.drift["verdict"] == UNLIKE
    assert summary.drift["worst"][0] == "koi_depth"
    assert summary.drift["rows"] == 20_000
    assert summary.drift["sentence"].startswith("unlike the training data: koi_depth")
    # counted batch by batch on the worker threads, the same figures as one check of the whole file
    whole = check_drift(reg.training_profile("Profiled"), frame, features=FEATURES).to_dict()
    assert summary.drift == whole


def test_a_file_like_the_training_rows_is_like_them(reg, tmp_path):
    src = tmp_path / "clean.csv"
    _rows(5_000).to_csv(src, index=False)
    summary = engine.predict_csv("Profiled", src, tmp_path / "out.csv", registry=reg)
    assert summary.drift["verdict"] == LIKE and summary.drift_note is None


def test_preflight_judges_the_first_10000_rows(reg, tmp_path):
    src = tmp_path / "big.csv"
    frame = _rows(25_000)
    frame.loc[10_000:, "koi_period"] *= 1000  # only after the sample
    frame.to_csv(src, index=False)
    report = engine.preflight("Profiled", src, registry=reg)
    assert report.drift["rows"] == engine.DRIFT_SAMPLE_ROWS and report.drift["sample"] is True
    assert report.drift["verdict"] == LIKE
    summary = engine.predict_csv("Profiled", src, tmp_path / "out.csv", registry=reg)
    assert summary.drift["verdict"] == UNLIKE and summary.drift["worst"][0] == "koi_period"


def test_preflight_of_a_small_file_reads_all_of_it(reg, tmp_path):
    src = tmp_path / "small.csv"
    _rows(30).to_csv(src, index=False)
    report = engine.preflight("Profiled", src, registry=reg)
    assert report.drift["verdict"] == TOO_FEW and report.drift["sample"] is False
    assert report.to_dict()["drift"]["rows"] == 30


def test_a_version_without_a_profile_has_no_verdict_but_a_note(reg, tmp_path):
    src = tmp_path / "clean.csv"
    _rows(500).to_csv(src, index=False)
    summary = engine.predict_csv("Plain", src, tmp_path / "out.csv", registry=reg)
    assert summary.drift is None
    assert "registered without a training profile" in summary.drift_note
    report = engine.preflight("Plain", src, registry=reg)
    assert report.drift is None and "without a training profile" in report.drift_note


def test_predict_in_a_child_process_carries_the_verdict(reg, tmp_path):
    src = tmp_path / "drifted.csv"
    _rows(2_000, scale={"koi_prad": 1000}).to_csv(src, index=False)
    summary = engine.predict_csv("Profiled", src, tmp_path / "out.csv", registry=reg, in_subprocess=True)
    assert summary.drift["verdict"] == UNLIKE and summary.drift["worst"][0] == "koi_prad"


# ---------------------------------------------------------------------------------------------
# Command line


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_predict_prints_the_verdict_and_still_predicts(reg, tmp_path, capsys):
    src = tmp_path / "drifted.csv"
    _rows(1_000, scale={"koi_depth": 1000}).to_csv(src, index=False)
    code, out, _ = _run(capsys, "--registry", reg.root, "predict", "Profiled", src, "-o", tmp_path / "o.csv")
    assert code == 0 and (tmp_path / "o.csv").is_file()
    assert "drift:      unlike the training data: koi_depth drifts most" in out


def test_cli_predict_json_has_the_per_feature_table(reg, tmp_path, capsys):
    src = tmp_path / "clean.csv"
    _rows(1_000).to_csv(src, index=False)
    code, out, _ = _run(
        capsys, "--registry", reg.root, "predict", "Profiled", src, "-o", tmp_path / "o.csv", "--json"
    )
    drift = json.loads(out)["drift"]
    assert code == 0 and drift["verdict"] == LIKE
    assert [f["name"] for f in drift["features"]] == FEATURES
    assert {"outside_range", "missing_rate", "training_missing_rate", "psi", "psi_limit", "flag"} <= set(
        drift["features"][0]
    )


def test_cli_check_prints_the_verdict_of_the_sample(reg, tmp_path, capsys):
    src = tmp_path / "drifted.csv"
    _rows(12_000, scale={"koi_duration": 1000}).to_csv(src, index=False)
    code, out, _ = _run(capsys, "--registry", reg.root, "predict", "Profiled", src, "--check")
    assert code == 0
    assert "drift:      unlike the training data: koi_duration drifts most (first 10,000 rows)" in out
    code, out, _ = _run(capsys, "--registry", reg.root, "predict", "Plain", src, "--check")
    assert "drift:      not checked (" in out and "without a training profile" in out
