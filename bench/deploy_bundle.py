"""Deployment bundles of realistic models: export time per stage, file sizes, ONNX parity.

Trains the three algorithms on the dispositioned rows of the KOI table (a 300-tree forest,
an MLP trained with Adam, a calibrated SVC), exports each bundle with the CANDIDATE rows as
the parity sample, and times predict.py on the whole table.

    EXOREG_KOI_CSV=../shared/data/koi_cumulative_2025-09-18.csv python bench/deploy_bundle.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.deployment.bundle import export_bundle, read_table, verify_bundle  # noqa: E402

FEATURES = [
    "koi_period", "koi_impact", "koi_duration", "koi_depth", "koi_prad", "koi_teq", "koi_insol",
    "koi_model_snr", "koi_steff", "koi_slogg", "koi_srad", "koi_kepmag",
    "koi_fpflag_nt", "koi_fpflag_ss", "koi_fpflag_co", "koi_fpflag_ec",
]
STAGES = ["sample", "model.pkl (if asked)", "model.skops", "model.onnx+parity", "MLflow files", "predict.py", "card",
          "manifest"]


def pipelines():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    impute = ("impute", SimpleImputer(strategy="median"))
    return {
        "RandomForest": Pipeline([impute, ("model", RandomForestClassifier(n_estimators=300, random_state=0,
                                                                           n_jobs=2))]),
        "NeuralNetwork": Pipeline([impute, ("scale", StandardScaler()),
                                   ("model", MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=300,
                                                           random_state=0))]),
        "SVM": Pipeline([impute, ("scale", StandardScaler()),
                         ("model", CalibratedClassifierCV(SVC(C=3.0, gamma="scale"), cv=5))]),
    }


def main() -> int:
    csv = os.environ.get("EXOREG_KOI_CSV")
    if not csv:
        print("Set EXOREG_KOI_CSV to the NASA cumulative KOI table.", file=sys.stderr)
        return 2
    table = read_table(csv)
    labelled = table[table["koi_disposition"] != "CANDIDATE"]
    candidates = table[table["koi_disposition"] == "CANDIDATE"]
    with tempfile.TemporaryDirectory(prefix="exoreg-bench-") as tmp:
        run(table, labelled, candidates, csv, Path(tmp))
    return 0


def run(table, labelled, candidates, csv: str, out: Path) -> None:
    print(f"{len(labelled)} labelled rows for training, {len(candidates)} CANDIDATE rows as the parity sample")
    for name, model in pipelines().items():
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(labelled[FEATURES], labelled["koi_disposition"])
        fit = time.perf_counter() - t0
        marks = []
        start = time.perf_counter()
        report = export_bundle(
            model, out / name, {"model_name": f"Bench{name}", "version": 1, "algorithm": name},
            sample_rows=candidates, progress=lambda done, total, marks=marks: marks.append(time.perf_counter()),
        )
        total = time.perf_counter() - start
        stages = [b - a for a, b in zip(marks, marks[1:], strict=False)]
        t1 = time.perf_counter()
        assert verify_bundle(report.path).ok
        verify = time.perf_counter() - t1
        t2 = time.perf_counter()
        subprocess.run([sys.executable, "predict.py", csv, "-o", str(out / f"{name}.csv")], cwd=report.path,
                       check=True, capture_output=True)
        predict = time.perf_counter() - t2
        parity = report.onnx.get("parity") or {}
        print(f"\n{name}: fit {fit:.1f} s, export {total:.2f} s, verify-bundle {verify * 1000:.0f} ms, "
              f"predict.py on {len(table)} rows {predict:.2f} s (process start included)")
        print("  stages: " + ", ".join(f"{s} {t:.2f} s" for s, t in zip(STAGES, stages, strict=False)))
        print("  files:  " + ", ".join(f"{n} {e['size'] / 1024:,.0f} KiB" for n, e in report.files.items()
                                       if n.startswith("model.")))
        print(f"  ONNX:   {report.onnx['status']}; label agreement {parity.get('label_agreement', float('nan')):.4%}, "
              f"max |dp| {parity.get('max_probability_difference', float('nan')):.2g} on {parity.get('rows')} rows")


if __name__ == "__main__":
    sys.exit(main())
