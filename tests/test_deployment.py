"""Deployment bundles of real models trained on rows of the shared KOI table.

The three pipelines (a forest, an MLP trained with Adam, a calibrated SVC) are trained once
per session on a slice of the real table, registered, and exported once each; the tests
then check every way the bundle is meant to be used.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from core.deployment.bundle import (
    MANIFEST_NAME,
    MAX_PROBA_DIFFERENCE,
    MIN_LABEL_AGREEMENT,
    BundleExistsError,
    ExportCancelled,
    export_bundle,
    export_registered_model,
    read_table,
    verify_bundle,
)
from core.errors import DataError
from core.registry import safety

pytestmark = pytest.mark.koi

ALGORITHMS = ("RandomForest", "NeuralNetwork", "SVM")
FEATURES = [
    "koi_period", "koi_impact", "koi_duration", "koi_depth", "koi_prad", "koi_teq", "koi_insol",
    "koi_model_snr", "koi_steff", "koi_slogg", "koi_srad", "koi_kepmag",
    "koi_fpflag_nt", "koi_fpflag_ss", "koi_fpflag_co", "koi_fpflag_ec",
]
# Modules predict.py may import: the standard library's and the three it is allowed to need.
PREDICT_IMPORTS = {"__future__", "argparse", "contextlib", "csv", "gzip", "hashlib", "os", "re", "stat", "sys", "tempfile",
                   "pathlib", "numpy", "pandas", "skops.io"}


# -- session fixtures: real models, a registry, one bundle per algorithm ------------------------

@pytest.fixture(scope="session")
def koi_table(koi_csv) -> pd.DataFrame:
    return read_table(koi_csv)


def _pipeline(algorithm: str):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    impute = ("impute", SimpleImputer(strategy="median"))
    if algorithm == "RandomForest":
        return Pipeline([impute, ("model", RandomForestClassifier(n_estimators=25, max_depth=8, random_state=0))])
    if algorithm == "NeuralNetwork":
        mlp = MLPClassifier(hidden_layer_sizes=(16,), solver="adam", max_iter=150, random_state=0)
        return Pipeline([impute, ("scale", StandardScaler()), ("model", mlp)])
    svc = CalibratedClassifierCV(SVC(C=1.0, gamma="scale"), cv=3)
    return Pipeline([impute, ("scale", StandardScaler()), ("model", svc)])


def _evaluation(model, X, y) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    pred = model.predict(X)
    labels = [str(c) for c in model.classes_]
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(mp),
        "recall": float(mr),
        "f1_score": float(mf),
        "per_class": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
        "confusion_matrix": {"labels": labels, "matrix": confusion_matrix(y, pred, labels=labels).tolist()},
    }


@pytest.fixture(scope="session")
def trained(koi_table):
    """Three real pipelines on 1,600 dispositioned rows; evaluated on 800 held-out ones."""
    labelled = koi_table[koi_table["koi_disposition"] != "CANDIDATE"].sample(n=2400, random_state=1)
    train, test = labelled.iloc[:1600], labelled.iloc[1600:]
    models = {}
    for algorithm in ALGORITHMS:
        model = _pipeline(algorithm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings of the small MLP
            model.fit(train[FEATURES], train["koi_disposition"])
        models[algorithm] = (model, _evaluation(model, test[FEATURES], test["koi_disposition"]), len(train), len(test))
    return models


@pytest.fixture(scope="session")
def sample_rows(koi_table) -> pd.DataFrame:
    """Real rows the models never saw in training: CANDIDATEs and others, with missing values."""
    return koi_table.sample(n=1500, random_state=7).reset_index(drop=True)


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory, sample_rows) -> Path:
    """The sample rows as a NASA-style CSV, comment header included."""
    path = tmp_path_factory.mktemp("sample") / "koi_sample.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("# This file was produced by the NASA Exoplanet Archive\n# COLUMN koi_period: Orbital Period [days]\n")
        sample_rows.to_csv(fh, index=False)
    return path


@pytest.fixture(scope="session")
def registry(tmp_path_factory, trained):
    from core.model_registry import ModelRegistry

    reg = ModelRegistry(tmp_path_factory.mktemp("reg") / "registry")
    for algorithm, (model, evaluation, n_train, n_test) in trained.items():
        reg.register_model(
            model=model,
            model_name=f"Koi{algorithm}",
            algorithm=algorithm,
            evaluation_results=evaluation,
            hyperparameters=model.steps[-1][1].get_params(deep=False) if algorithm != "SVM" else {"C": 1.0},
            training_info={
                "dataset": "koi_cumulative_2025-09-18",
                "training_samples": n_train,
                "test_samples": n_test,
                "class_distribution": {"CONFIRMED": 1, "FALSE POSITIVE": 1},
            },
            feature_columns=FEATURES,
            description=f"{algorithm} on physical columns and vetting flags (test model).",
        )
    reg.set_alias("KoiRandomForest", "production", 1)
    return reg


@pytest.fixture(scope="session")
def bundles(tmp_path_factory, registry, sample_csv) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bundles")
    paths = {}
    for algorithm in ALGORITHMS:
        ref = "KoiRandomForest@production" if algorithm == "RandomForest" else f"Koi{algorithm}:1"
        report = export_registered_model(registry, ref, out / algorithm, sample_rows=sample_csv)
        paths[algorithm] = report.path
    return paths


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST_NAME).read_text())


def _registry_model(registry, algorithm):
    model, _meta = registry.load_model(model_name=f"Koi{algorithm}", version=1)
    return model


# -- predict.py --------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_predict_script_gives_the_registry_models_predictions(bundles, registry, sample_csv, sample_rows,
                                                              algorithm, tmp_path):
    bundle = bundles[algorithm]
    output = tmp_path / "predictions.csv"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # our package must not be reachable
    done = subprocess.run(
        [sys.executable, "predict.py", str(sample_csv), "-o", str(output)],
        cwd=bundle, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(output)
    model = _registry_model(registry, algorithm)
    X = sample_rows[FEATURES]
    assert got["kepoi_name"].tolist() == sample_rows["kepoi_name"].tolist()
    assert got["predicted_label"].tolist() == model.predict(X).tolist()
    proba = model.predict_proba(X)
    for i, label in enumerate(model.classes_):
        np.testing.assert_array_equal(got[f"probability_{label}"].to_numpy(), proba[:, i])


def test_predict_script_imports_only_sklearn_skops_pandas(bundles):
    tree = ast.parse((bundles["RandomForest"] / "predict.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert imported <= PREDICT_IMPORTS, imported - PREDICT_IMPORTS


def test_predict_script_writes_the_columns_exoreg_predict_writes(bundles, registry, sample_csv, tmp_path, capsys):
    script_out, cli_out = tmp_path / "script.csv", tmp_path / "cli.csv"
    assert _predict_module(bundles["RandomForest"]).main([str(sample_csv), "-o", str(script_out)]) == 0
    assert _run_cli("predict", "KoiRandomForest@production", str(sample_csv), "-o", str(cli_out),
                    "--registry", str(registry.root)) == 0
    script, cli = pd.read_csv(script_out), pd.read_csv(cli_out)
    def outputs(frame):  # the columns after the identifiers each copies from the input
        return list(frame.columns[list(frame.columns).index("predicted_label"):])

    assert outputs(script) == [c for c in outputs(cli) if c != "model_id"]
    assert "predicted_label" in script.columns and "prediction" not in script.columns
    assert script["predicted_label"].tolist() == cli["predicted_label"].tolist()


def test_predict_script_never_writes_over_its_input(bundles, sample_csv, tmp_path, capsys):
    source = tmp_path / "in.csv"
    shutil.copyfile(sample_csv, source)
    before = source.read_bytes()
    (tmp_path / "hard.csv").hardlink_to(source)
    (tmp_path / "link.csv").symlink_to(source)
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "sub").mkdir()
    script = _predict_module(bundles["SVM"])
    cases = {
        str(source): "is the input file",
        str(tmp_path / "sub" / ".." / "in.csv"): "is the input file",
        str(tmp_path / "hard.csv"): "is the input file",
        str(tmp_path / "link.csv"): "is a symbolic link, not a regular file",
        str(tmp_path / "pipe.csv"): "is a special file (FIFO, socket or device), not a regular file",
        str(tmp_path / "sub"): "is a folder, not a regular file",
        str(tmp_path / "no-such-folder" / "out.csv"): "does not exist; create it",
    }
    for output, words in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            script.main([str(source), "-o", output])
        assert exit_info.value.code == 1
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, (output, err)
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.csv", "in.csv", "link.csv", "pipe.csv", "sub"]
    # a good run writes the file whole, with the mode a new file gets under the umask, and nothing else
    out = tmp_path / "sub" / "out.csv"
    assert script.main([str(source), "-o", str(out)]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["out.csv"]


def _literal(path: Path, name: str):
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not assigned in {path}")


def test_predict_script_embeds_the_registry_allowlist(bundles):
    for bundle in bundles.values():
        embedded = _literal(bundle / "predict.py", "ALLOWED_TYPES")
        assert set(embedded) == set(safety.ALLOWED_TYPES)
        assert len(embedded) == len(safety.ALLOWED_TYPES)
        assert _literal(bundle / "predict.py", "FEATURE_COLUMNS") == FEATURES
        assert _literal(bundle / "predict.py", "CLASSES") == ["CONFIRMED", "FALSE POSITIVE"]


def test_predict_script_refuses_a_changed_model_file(bundles, sample_csv, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(bundles["RandomForest"], bundle)
    with open(bundle / "model.skops", "ab") as fh:
        fh.write(b"\0")
    done = subprocess.run([sys.executable, "predict.py", str(sample_csv)], cwd=bundle,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "model.skops has changed" in done.stderr
    assert "Traceback" not in done.stderr


def _predict_module(bundle: Path):
    """The bundle's predict.py imported in this process (quicker than a subprocess for edge cases)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"predict_{bundle.name}", bundle / "predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_predict_script_names_missing_columns(bundles, sample_rows, tmp_path, capsys):
    partial = tmp_path / "partial.csv"
    sample_rows.drop(columns=["koi_depth", "koi_teq"]).head(20).to_csv(partial, index=False)
    with pytest.raises(SystemExit) as exit_info:
        _predict_module(bundles["SVM"]).main([str(partial)])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "lacks the feature column(s): koi_depth, koi_teq." in err


def test_predict_script_reads_gzip_and_treats_bad_values_as_missing(bundles, registry, sample_rows, tmp_path,
                                                                     capsys):
    import gzip

    rows = sample_rows.head(30).copy()
    rows["koi_depth"] = rows["koi_depth"].astype(object)
    rows.loc[0, "koi_depth"] = "abc"
    rows.loc[1, "koi_depth"] = "inf"
    source = tmp_path / "rows.csv.gz"
    with gzip.open(source, "wt", encoding="utf-8") as fh:
        fh.write("# COLUMN koi_depth: Transit Depth [ppm]\n")
        rows.to_csv(fh, index=False)
    output = tmp_path / "out.csv"
    assert _predict_module(bundles["RandomForest"]).main([str(source), "-o", str(output)]) == 0
    assert "2 value(s) of koi_depth are not finite numbers; treated as missing" in capsys.readouterr().err
    got = pd.read_csv(output)
    X = sample_rows.head(30)[FEATURES].copy()
    X.loc[[0, 1], "koi_depth"] = np.nan
    model = _registry_model(registry, "RandomForest")
    assert got["predicted_label"].tolist() == model.predict(X).tolist()
    np.testing.assert_array_equal(got["probability_CONFIRMED"].to_numpy(), model.predict_proba(X)[:, 0])


# -- model.skops and model.pkl ----------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_skops_file_loads_with_the_allowlist_and_predicts_the_same(bundles, registry, sample_rows, algorithm):
    loaded = safety.load_skops(bundles[algorithm] / "model.skops")  # no trust given
    model = _registry_model(registry, algorithm)
    X = sample_rows[FEATURES]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


# -- ONNX --------------------------------------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_onnx_file_matches_scikit_learn_within_bounds(bundles, registry, sample_rows, algorithm):
    import onnxruntime as ort

    bundle = bundles[algorithm]
    onnx = _manifest(bundle)["onnx"]
    assert onnx["status"] == "ok" and onnx["included"], onnx["message"]
    assert onnx["parity"]["rows"] == len(sample_rows)
    session = ort.InferenceSession(str(bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    X = sample_rows[FEATURES]
    labels, proba = session.run(None, {onnx["input_name"]: X.to_numpy(np.float32)})
    model = _registry_model(registry, algorithm)
    agreement = np.mean(np.asarray(labels).astype(str) == model.predict(X).astype(str))
    assert agreement >= MIN_LABEL_AGREEMENT
    assert np.max(np.abs(proba - model.predict_proba(X))) <= MAX_PROBA_DIFFERENCE
    card = (bundle / "README.md").read_text()
    assert "model.onnx matches scikit-learn" in card


def test_onnx_parity_failure_is_said_plainly(trained, sample_rows, tmp_path, monkeypatch):
    import core.deployment.bundle as deployment

    monkeypatch.setattr(deployment, "MAX_PROBA_DIFFERENCE", -1.0)  # no model can meet this bound
    model = trained["NeuralNetwork"][0]
    report = export_bundle(model, tmp_path / "b", {"model_name": "Mlp", "version": 3}, sample_rows=sample_rows)
    assert not (report.path / "model.onnx").exists()
    manifest = _manifest(report.path)
    assert manifest["onnx"]["status"] == "parity_failed"
    assert manifest["onnx"]["included"] is False
    assert "model.onnx" not in manifest["files"]
    card = (report.path / "README.md").read_text()
    assert "**Not included.** model.onnx is not included" in card
    assert report.warnings and "not included" in report.warnings[0]
    assert verify_bundle(report.path).ok


def test_onnx_conversion_failure_is_said_plainly(trained, sample_rows, tmp_path, monkeypatch):
    import skl2onnx

    def refuse(*args, **kwargs):
        raise RuntimeError("Unable to find a shape calculator for type 'Pipeline'")

    monkeypatch.setattr(skl2onnx, "convert_sklearn", refuse)
    report = export_bundle(trained["RandomForest"][0], tmp_path / "b", {"model_name": "Rf"}, sample_rows=sample_rows)
    manifest = _manifest(report.path)
    assert manifest["onnx"]["status"] == "conversion_failed"
    assert "shape calculator" in manifest["onnx"]["message"]
    assert "could not convert" in (report.path / "README.md").read_text()
    assert not (report.path / "model.onnx").exists()


def test_without_onnx_requested_the_bundle_has_none(trained, sample_rows, tmp_path):
    report = export_bundle(trained["SVM"][0], tmp_path / "b", {"model_name": "Svm"}, include_onnx=False,
                           sample_rows=sample_rows)
    assert report.onnx["status"] == "not_requested"
    assert not (report.path / "model.onnx").exists()
    assert report.warnings == []


# -- MLflow model folder -----------------------------------------------------------------------

def test_mlmodel_parses_and_has_every_key(bundles, registry, sample_rows):
    import sklearn

    bundle = bundles["NeuralNetwork"]
    mlmodel = yaml.safe_load((bundle / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"
    assert (bundle / pyfunc["model_path"]).is_file()
    assert pyfunc["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert (bundle / pyfunc["env"]["virtualenv"]).is_file() and (bundle / pyfunc["env"]["conda"]).is_file()
    flavor = mlmodel["flavors"]["sklearn"]
    assert flavor["pickled_model"] == pyfunc["model_path"] == "model.skops"
    assert flavor["serialization_format"] == "skops"
    assert flavor["sklearn_version"] == sklearn.__version__
    assert len(mlmodel["model_uuid"]) == 32
    assert mlmodel["utc_time_created"][:4].isdigit()
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [col["name"] for col in inputs] == FEATURES
    types = {col["name"]: col["type"] for col in inputs}
    assert types["koi_period"] == "double" and types["koi_fpflag_nt"] == "long"  # as pandas reads the table
    info = mlmodel["saved_input_example_info"]
    example = json.loads((bundle / info["artifact_path"]).read_text())
    assert info["pandas_orient"] == "split" and example["columns"] == FEATURES and len(example["data"]) == 5
    serving = json.loads((bundle / info["serving_input_path"]).read_text())
    assert serving["dataframe_split"] == example
    assert mlmodel["model_size_bytes"] == (bundle / "model.skops").stat().st_size


def test_environment_files_pin_the_versions(bundles):
    import pandas
    import sklearn
    import skops

    bundle = bundles["SVM"]
    lines = [ln for ln in (bundle / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert f"scikit-learn=={sklearn.__version__}" in lines
    assert f"pandas=={pandas.__version__}" in lines
    assert f"skops=={skops.__version__}" in lines
    env = yaml.safe_load((bundle / "python_env.yaml").read_text())
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["dependencies"] == ["-r requirements.txt"]
    conda = yaml.safe_load((bundle / "conda.yaml").read_text())
    pip_deps = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert f"scikit-learn=={sklearn.__version__}" in pip_deps


# Loads bundles with MLflow in a separate interpreter, as a serving host would: it must never
# unpickle anything (pickle.load/loads are replaced by a refusal) for the pickle-free bundle.
_MLFLOW_LOADER = r"""
import json, pickle, sys
import pandas as pd

bundle, rows, forbid_pickle = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if forbid_pickle:
    def refuse(*args, **kwargs):
        raise AssertionError("MLflow unpickled something while loading a pickle-free bundle")
    pickle.load = pickle.loads = refuse
import mlflow
import mlflow.pyfunc
import mlflow.sklearn

table = pd.read_csv(rows)
pyfunc_model = mlflow.pyfunc.load_model(bundle)
labels = [str(v) for v in pyfunc_model.predict(table)]
native = mlflow.sklearn.load_model(bundle)
proba = native.predict_proba(table[list(native.feature_names_in_)]).tolist()
print(json.dumps({"mlflow": mlflow.__version__, "labels": labels, "proba": proba}))
"""


def _mlflow_python() -> str:
    """The interpreter that loads bundles with MLflow: ``$EXOREG_MLFLOW_PYTHON`` (the separate
    environment that .ci/run builds with mlflow-skinny, scikit-learn, skops and pandas), else this
    one when it has mlflow. Under CI=true the check never skips: a missing MLflow fails it."""
    candidates = [os.environ.get("EXOREG_MLFLOW_PYTHON"), sys.executable]
    for python in filter(None, candidates):
        done = subprocess.run([python, "-c", "import mlflow.pyfunc, skops.io"], capture_output=True, timeout=120)
        if done.returncode == 0:
            return python
    message = ("MLflow is not installed: set EXOREG_MLFLOW_PYTHON to the python of an environment with "
               "mlflow-skinny, scikit-learn, skops and pandas (.ci/run builds one)")
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _load_with_mlflow(bundle: Path, rows: Path, *, forbid_pickle: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # ExoReg must not be reachable
    done = subprocess.run([_mlflow_python(), "-c", _MLFLOW_LOADER, str(bundle), str(rows), "1" if forbid_pickle else "0"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=rows.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_mlflow_loads_the_pickle_free_bundle_and_predicts_the_same(bundles, registry, sample_rows, trained,
                                                                   tmp_path):
    rows = tmp_path / "rows.csv"
    sample_rows.to_csv(rows, index=False)  # extra columns are ignored by the signature
    for algorithm, bundle in bundles.items():
        assert not (bundle / "model.pkl").exists()
        got = _load_with_mlflow(bundle, rows, forbid_pickle=True)
        model = _registry_model(registry, algorithm)
        assert got["labels"] == [str(v) for v in model.predict(sample_rows[FEATURES])], algorithm
        np.testing.assert_array_equal(np.asarray(got["proba"]), model.predict_proba(sample_rows[FEATURES]))
    # the bundle asked for with a pickle loads through it
    with_pickle = export_bundle(trained["RandomForest"][0], tmp_path / "with-pickle", {"model_name": "Rf"},
                                include_onnx=False, sample_rows=sample_rows, with_pickle=True)
    got = _load_with_mlflow(with_pickle.path, rows, forbid_pickle=False)
    assert got["labels"] == [str(v) for v in trained["RandomForest"][0].predict(sample_rows[FEATURES])]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_default_bundle_has_no_pickle_and_trusts_exactly_the_audited_types(bundles, registry, sample_rows,
                                                                            algorithm):
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    bundle = bundles[algorithm]
    for path in bundle.iterdir():  # no file of the bundle is a pickle (protocol 2 to 5 header), whatever its name
        head = path.read_bytes()[:2]
        assert not (head[:1] == b"\x80" and head[1:] in (b"\x02", b"\x03", b"\x04", b"\x05")), path.name
    flavor = yaml.safe_load((bundle / "MLmodel").read_text())["flavors"]["sklearn"]
    trusted = flavor["skops_trusted_types"]
    audited = sorted(safety.skops_untrusted_types(bundle / "model.skops"))
    assert trusted == audited and trusted and set(trusted) <= safety.ALLOWED_TYPES
    assert _manifest(bundle)["mlflow"] == {"model_file": "model.skops", "serialization_format": "skops",
                                           "skops_trusted_types": trusted, "first_mlflow_release": "3.9.0"}
    model = sio.load(bundle / "model.skops", trusted=trusted)  # exactly these types are enough...
    X = sample_rows[FEATURES]
    np.testing.assert_array_equal(model.predict_proba(X), _registry_model(registry, algorithm).predict_proba(X))
    for left_out in trusted:  # ...and each one is needed
        with pytest.raises(UntrustedTypesFoundException):
            sio.load(bundle / "model.skops", trusted=[t for t in trusted if t != left_out])


def test_with_pickle_writes_model_pkl_and_points_mlflow_at_it(trained, sample_rows, tmp_path):
    model = trained["NeuralNetwork"][0]
    report = export_bundle(model, tmp_path / "b", {"model_name": "Mlp"}, include_onnx=False,
                           sample_rows=sample_rows, with_pickle=True)
    mlmodel = yaml.safe_load((report.path / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["sklearn"]
    assert flavor["pickled_model"] == mlmodel["flavors"]["python_function"]["model_path"] == "model.pkl"
    assert flavor["serialization_format"] == "pickle" and "skops_trusted_types" not in flavor
    assert {"model.pkl", "model.skops"} <= set(report.files)
    # a plain standard-library pickle, as `serialization_format: pickle` says
    with open(report.path / "model.pkl", "rb") as fh:
        unpickled = pickle.load(fh)  # our own file, just written by the export
    X = sample_rows[FEATURES]
    np.testing.assert_array_equal(unpickled.predict_proba(X), model.predict_proba(X))
    card = (report.path / "README.md").read_text()
    assert "flavor loads `model.pkl`" in card and "A pickle runs code when loaded" in card
    assert verify_bundle(report.path).ok


def test_model_card_says_which_mlflow_release_first_reads_skops(bundles):
    card = (bundles["SVM"] / "README.md").read_text()
    assert "without a pickle" in card and "`serialization_format: skops`" in card
    assert "MLflow reads skops files from release 3.9.0 on" in card
    assert "`model.pkl`" not in card.split("## Files")[1]
    requirements = (bundles["SVM"] / "requirements.txt").read_text().splitlines()
    assert "mlflow>=3.9.0" in requirements


def test_cli_deploy_with_pickle(registry, tmp_path, capsys):
    out = tmp_path / "bundle"
    assert _run_cli("deploy", "KoiRandomForest", str(out), "--registry", str(registry.root), "--no-onnx",
                    "--with-pickle") == 0
    assert "model.pkl" in capsys.readouterr().out
    assert yaml.safe_load((out / "MLmodel").read_text())["flavors"]["sklearn"]["pickled_model"] == "model.pkl"
    assert _run_cli("deploy", "KoiRandomForest", str(out), "--registry", str(registry.root), "--no-onnx",
                    "--overwrite") == 0
    assert not (out / "model.pkl").exists() and verify_bundle(out).ok


# -- the model card ----------------------------------------------------------------------------

def test_model_card_has_front_matter_and_the_promised_sections(bundles, registry):
    meta = registry.resolve("KoiRandomForest@production")
    text = (bundles["RandomForest"] / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] and front["library_name"] == "sklearn"
    assert front["datasets"] == ["koi_cumulative_2025-09-18"]
    assert front["features"] == FEATURES
    assert "1. `koi_period`: Orbital Period [days]\n2. `koi_impact`\n" in text  # from the CSV header
    metrics = {m["type"]: m["value"] for m in front["model-index"][0]["results"][0]["metrics"]}
    assert metrics["f1_score"] == pytest.approx(meta.f1_score, abs=1e-6)
    assert metrics["accuracy"] == pytest.approx(meta.accuracy, abs=1e-6)
    body = text.split("---\n", 2)[2]
    for heading in ("## Intended use and limits", "## Training data", "## Evaluation", "### Per class",
                    "### Confusion matrix", "### With predict.py", "### With scikit-learn and skops",
                    "### With MLflow", "### With onnxruntime"):
        assert heading in body
    assert "`koi_score`" in body and "`koi_pdisposition`" in body
    assert "The features include the Kepler vetting flags (koi_fpflag_nt, koi_fpflag_ss, koi_fpflag_co, " \
           "koi_fpflag_ec) on purpose" in body
    assert "CANDIDATE rows are unlabelled" in body
    assert "no substitute for vetting" in body
    support = meta.evaluation["per_class"]["CONFIRMED"]["support"]
    assert f"| CONFIRMED | {meta.evaluation['per_class']['CONFIRMED']['precision']:.4f}" in body
    assert f"| {support} |" in body
    row = meta.evaluation["confusion_matrix"]["matrix"][0]
    assert f"| CONFIRMED | {row[0]} | {row[1]} |" in body


def test_manifest_records_source_model_and_metadata(bundles, registry):
    meta = registry.resolve("KoiRandomForest@production")
    manifest = _manifest(bundles["RandomForest"])
    assert manifest["model"]["model_id"] == meta.model_id
    assert manifest["model"]["registry_model_sha256"] == meta.model_sha256
    assert manifest["metadata"]["aliases"] == ["production"]
    assert manifest["sample"] == {"source": "koi_sample.csv", "rows": 1500}
    expected = {"MLmodel", "model.skops", "model.onnx", "predict.py", "README.md",
                "requirements.txt", "python_env.yaml", "conda.yaml", "input_example.json",
                "serving_input_example.json"}
    assert set(manifest["files"]) == expected
    for name, entry in manifest["files"].items():
        assert entry["size"] == (bundles["RandomForest"] / name).stat().st_size


# -- verify-bundle -----------------------------------------------------------------------------

def _run_cli(*argv) -> int:
    from core.cli import main

    return main(list(argv))


@pytest.fixture
def bundle_copy(bundles, tmp_path) -> Path:
    path = tmp_path / "bundle"
    shutil.copytree(bundles["RandomForest"], path)
    return path


def test_verify_bundle_passes_an_intact_bundle(bundle_copy, capsys):
    assert verify_bundle(bundle_copy).ok
    assert _run_cli("verify-bundle", str(bundle_copy)) == 0
    assert "all 10 files match" in capsys.readouterr().out


def test_verify_bundle_names_a_changed_file(bundle_copy, capsys):
    card = bundle_copy / "README.md"
    card.write_text(card.read_text().replace("CONFIRMED", "CONFIRMEd", 1))
    report = verify_bundle(bundle_copy)
    assert not report.ok and report.changed == ["README.md"]
    assert _run_cli("verify-bundle", str(bundle_copy)) == 1
    err = capsys.readouterr().err
    assert "README.md was changed" in err


def test_verify_bundle_names_a_missing_file(bundle_copy, capsys):
    (bundle_copy / "model.onnx").unlink()
    assert verify_bundle(bundle_copy).missing == ["model.onnx"]
    assert _run_cli("verify-bundle", str(bundle_copy), "--json") == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["missing"] == ["model.onnx"]


def test_verify_bundle_names_an_extra_file(bundle_copy, capsys):
    (bundle_copy / "sub").mkdir()
    (bundle_copy / "sub" / "notes.txt").write_text("added later")
    assert verify_bundle(bundle_copy).extra == ["sub/notes.txt"]
    assert _run_cli("verify-bundle", str(bundle_copy)) == 1
    assert "sub/notes.txt is not listed in the manifest" in capsys.readouterr().err


def test_verify_bundle_reports_every_entry_the_manifest_does_not_list(bundle_copy, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not part of the bundle")
    (bundle_copy / "link-to-file").symlink_to(outside / "secret.txt")
    (bundle_copy / "link-to-folder").symlink_to(outside, target_is_directory=True)
    (bundle_copy / "dangling").symlink_to(tmp_path / "nothing-here")
    (bundle_copy / "empty").mkdir()
    (bundle_copy / "nested" / "deeper").mkdir(parents=True)
    os.mkfifo(bundle_copy / "pipe")
    report = verify_bundle(bundle_copy)
    assert report.extra == ["dangling", "empty", "link-to-file", "link-to-folder", "nested/deeper", "pipe"]
    assert report.extra_kinds == {"dangling": "a symbolic link", "empty": "an empty folder",
                                  "link-to-file": "a symbolic link", "link-to-folder": "a symbolic link",
                                  "nested/deeper": "an empty folder", "pipe": "a FIFO"}
    assert not report.ok and report.checked == 10 and not report.changed and not report.missing
    assert _run_cli("verify-bundle", str(bundle_copy)) == 1
    err = capsys.readouterr().err
    for line in ("link-to-folder (a symbolic link) is not listed in the manifest",
                 "empty (an empty folder) is not listed in the manifest",
                 "pipe (a FIFO) is not listed in the manifest"):
        assert line in err
    assert "Traceback" not in err and "secret" not in err  # nothing behind a link was opened or walked


def test_verify_bundle_never_follows_a_listed_file_that_became_a_link_or_a_fifo(bundle_copy, tmp_path):
    # a link to an identical copy would pass a check that follows links: it is reported instead
    (tmp_path / "card.md").write_bytes((bundle_copy / "README.md").read_bytes())
    (bundle_copy / "README.md").unlink()
    (bundle_copy / "README.md").symlink_to(tmp_path / "card.md")
    (bundle_copy / "predict.py").unlink()
    os.mkfifo(bundle_copy / "predict.py")  # opening it to hash it would block forever
    report = verify_bundle(bundle_copy)
    assert not report.ok
    assert "README.md is a symbolic link, not the regular file the manifest lists" in report.problems
    assert "predict.py is a FIFO, not the regular file the manifest lists" in report.problems
    assert report.checked == 8


def test_verify_bundle_refuses_a_linked_manifest(bundle_copy, tmp_path):
    shutil.move(bundle_copy / MANIFEST_NAME, tmp_path / "elsewhere.json")
    (bundle_copy / MANIFEST_NAME).symlink_to(tmp_path / "elsewhere.json")
    report = verify_bundle(bundle_copy)
    assert report.problems == ["manifest.json is a symbolic link, not a regular file; the bundle cannot be checked."]


def test_verify_bundle_without_manifest_says_so(bundle_copy, capsys):
    (bundle_copy / MANIFEST_NAME).unlink()
    assert _run_cli("verify-bundle", str(bundle_copy)) == 1
    err = capsys.readouterr().err
    assert "manifest.json is missing" in err and "Traceback" not in err


# -- refusing to overwrite, leaving nothing half-written ---------------------------------------

def test_export_refuses_a_non_empty_folder(trained, sample_rows, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    model = trained["RandomForest"][0]
    with pytest.raises(BundleExistsError, match="not empty"):
        export_bundle(model, target, {"model_name": "Rf"}, sample_rows=sample_rows)
    # overwrite replaces only an earlier bundle, never an unrelated folder
    with pytest.raises(BundleExistsError, match="not a deployment bundle"):
        export_bundle(model, target, {"model_name": "Rf"}, sample_rows=sample_rows, overwrite=True)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_export_into_an_empty_folder_and_overwrite_of_a_bundle(trained, sample_rows, tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    model = trained["RandomForest"][0]
    first = export_bundle(model, target, {"model_name": "Rf", "version": 1}, sample_rows=sample_rows, include_onnx=False)
    uuid1 = yaml.safe_load((target / "MLmodel").read_text())["model_uuid"]
    with pytest.raises(BundleExistsError):
        export_bundle(model, target, {"model_name": "Rf", "version": 2}, sample_rows=sample_rows)
    second = export_bundle(model, target, {"model_name": "Rf", "version": 2}, sample_rows=sample_rows,
                           include_onnx=False, overwrite=True)
    assert first.path == second.path == target
    assert yaml.safe_load((target / "MLmodel").read_text())["model_uuid"] != uuid1
    assert _manifest(target)["model"]["version"] == 2
    assert verify_bundle(target).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or backup folder left


def test_a_failed_export_leaves_nothing_behind(trained, sample_rows, tmp_path, monkeypatch):
    import core.deployment.bundle as deployment

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(deployment, "render_model_card", broken)
    with pytest.raises(OSError, match="disk full"):
        export_bundle(trained["SVM"][0], tmp_path / "out", {"model_name": "Svm"}, sample_rows=sample_rows)
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_export_leaves_nothing_behind(trained, sample_rows, tmp_path):
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) >= 4

    seen = []
    with pytest.raises(ExportCancelled):
        export_bundle(trained["RandomForest"][0], tmp_path / "out", {"model_name": "Rf"},
                      sample_rows=sample_rows, progress=lambda d, t: seen.append((d, t)), cancelled=cancelled)
    assert list(tmp_path.iterdir()) == []
    assert seen[0] == (0, 8) and all(t == 8 for _d, t in seen)


def test_export_refuses_leaky_feature_columns(tmp_path):
    from sklearn.tree import DecisionTreeClassifier

    X = pd.DataFrame({"koi_period": [1.0, 2.0, 3.0, 4.0], "koi_score": [0.1, 0.9, 0.2, 0.8]})
    model = DecisionTreeClassifier().fit(X, ["FALSE POSITIVE", "CONFIRMED", "FALSE POSITIVE", "CONFIRMED"])
    with pytest.raises(DataError, match="koi_score"):
        export_bundle(model, tmp_path / "out", {"model_name": "Leaky"})
    assert list(tmp_path.iterdir()) == []


# -- the guide's API and the command line ------------------------------------------------------

def test_guide_example_4_runs_as_written(registry, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The guide's Example 4, imports from core (the registry path points at the test registry).
    from core.model_persistence import ModelPersistence
    from core.model_registry import ModelRegistry

    registry = ModelRegistry(registry.root)
    best_model, metadata = registry.get_best_model()

    ModelPersistence.export_model_for_deployment(
        model=best_model,
        export_path="deployment/production",
        model_info={
            'model_name': metadata.model_name,
            'algorithm': metadata.algorithm,
            'version': metadata.version,
            'accuracy': metadata.accuracy,
            'f1_score': metadata.f1_score,
            'feature_columns': metadata.feature_columns
        }
    )
    bundle = tmp_path / "deployment" / "production"
    assert verify_bundle(bundle).ok
    manifest = _manifest(bundle)
    assert manifest["model"]["model_name"] == metadata.model_name
    assert manifest["sample"]["source"] == "synthetic"  # no rows were given: said so, not hidden
    assert "synthetic rows" in (bundle / "README.md").read_text()


def test_cli_deploy_then_verify(registry, sample_csv, tmp_path, capsys):
    out = tmp_path / "bundle"
    code = _run_cli("deploy", "KoiSVM", str(out), "--registry", str(registry.root), "--sample", str(sample_csv),
                    "--json")
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model_name"] == "KoiSVM" and report["onnx"]["status"] == "ok"
    assert Path(report["path"]) == out
    assert _run_cli("verify-bundle", str(out)) == 0
    # a second deploy into the same folder is refused with one line, no traceback
    assert _run_cli("--registry", str(registry.root), "deploy", "KoiSVM", str(out)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err
    assert _run_cli("--registry", str(registry.root), "deploy", "best", str(out), "--overwrite", "--no-onnx") == 0
    assert "model.onnx" not in _manifest(out)["files"]


def test_cli_deploy_unknown_reference_is_one_line(registry, tmp_path, capsys):
    assert _run_cli("deploy", "NoSuchModel@production", str(tmp_path / "b"), "--registry", str(registry.root)) == 1
    err = capsys.readouterr().err
    assert err.startswith("exoreg: ") and err.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_model_info_may_be_registry_metadata(registry, sample_rows, tmp_path):
    model, meta = registry.load_model(model_name="KoiSVM")
    report = export_bundle(model, tmp_path / "b", meta, include_onnx=False, sample_rows=sample_rows)
    manifest = _manifest(report.path)
    assert manifest["model"]["model_id"] == meta.model_id
    assert manifest["metadata"]["evaluation"]["confusion_matrix"] == meta.evaluation["confusion_matrix"]
    assert "KoiSVM v1" in (report.path / "README.md").read_text()


def test_a_model_outside_the_allowlist_is_refused_and_nothing_written(trained, sample_rows, tmp_path):
    import operator

    from sklearn.base import clone
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from core.errors import UntrustedModelError

    forest = clone(trained["RandomForest"][0])
    model = make_pipeline(FunctionTransformer(operator.pos), forest)  # a function: not on the allowlist
    train = sample_rows[sample_rows["koi_disposition"] != "CANDIDATE"]
    model.fit(train[FEATURES], train["koi_disposition"])
    with pytest.raises(UntrustedModelError, match="outside the allowlist") as info:
        export_bundle(model, tmp_path / "out", {"model_name": "Odd"}, sample_rows=sample_rows)
    assert info.value.untrusted == ["_operator.pos"]
    assert list(tmp_path.iterdir()) == []


def test_registry_convenience_takes_an_id_and_a_registry_folder(registry, sample_rows, tmp_path):
    meta = registry.resolve("KoiNeuralNetwork")
    report = export_registered_model(registry.root, meta.model_id, tmp_path / "b", include_onnx=False,
                                     sample_rows=sample_rows)
    assert report.model_id == meta.model_id and report.version == 1
    assert _manifest(report.path)["metadata"]["reference"] == meta.model_id
    assert verify_bundle(report.path).ok


def test_without_skl2onnx_the_bundle_says_onnx_is_unavailable(trained, sample_rows, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # as if the 'onnx' extra were not installed
    report = export_bundle(trained["RandomForest"][0], tmp_path / "b", {"model_name": "Rf"}, sample_rows=sample_rows)
    assert report.onnx["status"] == "unavailable"
    assert "skl2onnx is not installed" in report.onnx["message"]
    assert "skl2onnx is not installed" in (report.path / "README.md").read_text()
    assert not (report.path / "model.onnx").exists()


def test_registry_method_exports_a_verified_bundle(registry, sample_rows, tmp_path):
    from core.deployment.bundle import verify_bundle

    target = tmp_path / "via-registry"
    registry.export_for_deployment("KoiNeuralNetwork", target, include_onnx=False, sample_rows=sample_rows)
    assert verify_bundle(target).ok
    assert json.loads((target / "manifest.json").read_text())["model"]["model_name"] == "KoiNeuralNetwork"
