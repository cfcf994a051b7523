"""Worker processes of the S3 concurrency tests: ``python -m tests._s3_workers JOB URI OUT [N]``.

``register`` registers N versions of one name; ``alias`` moves ``Shared@production`` N times and
records each move that returned; ``read`` resolves ``Shared@production`` until the file
``OUT.stop`` appears, recording every version it saw. Each writes its record to ``OUT`` as JSON.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path


def tiny_model():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


def register_many(registry, name: str, count: int, model=None) -> list[str]:
    model = model if model is not None else tiny_model()
    return [
        registry.register_model(
            model=model, model_name=name, algorithm="LogisticRegression",
            evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
            feature_columns=["a", "b", "c"],
        )
        for _ in range(count)
    ]


def main(argv: list[str]) -> int:
    from core import ModelRegistry

    job, uri, out = argv[0], argv[1], Path(argv[2])
    count = int(argv[3]) if len(argv) > 3 else 0
    registry = ModelRegistry(uri)
    record: list = []
    if job == "register":
        record = register_many(registry, "Shared", count)
    elif job == "alias":
        versions = [r["version"] for r in registry.list_models("Shared")]
        rng = random.Random(out.name)
        for _ in range(count):
            version = rng.choice(versions)
            registry.set_alias("Shared", "production", version)
            record.append(version)
    elif job == "read":
        stop = out.with_suffix(".stop")
        while not stop.exists():
            record.append(registry.resolve("Shared@production").version)
    out.write_text(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
