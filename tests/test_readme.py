"""Every Python and shell block of README.md runs as written, each in a fresh folder (a fresh registry).

A block that cannot run in a test (it installs the product or opens a window) is marked with
``<!-- readme-test: skip (why) -->`` on the line before its fence; a block that reads input files
names them with ``<!-- readme-test: needs FILE... -->``, and the test puts those files in the folder.
Blocks without a language (command summaries, benchmark output, folder trees) are not code.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LANGUAGES = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash", "console": "bash"}
MARK = re.compile(r"^<!--\s*readme-test:\s*(skip|needs)\b(.*?)-->\s*$", re.M)
FENCE = re.compile(r"^```(\w*)\s*$")
# What `needs` may ask for; each is made by a function below.
PROVIDED = ("koi_cumulative_2025-09-18.csv", "model.pkl", "labelled.csv")
MODEL_FEATURES = ["koi_period", "koi_duration", "koi_depth"]


@dataclass
class Block:
    language: str
    code: str
    line: int
    skip: str | None = None
    needs: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.language}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of a language in :data:`LANGUAGES`, with the mark on the line before each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        start, language = i, fence.group(1).lower()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"README.md line {start + 1}: a code block is never closed"
        i = end + 1
        if language not in LANGUAGES:
            continue
        previous = lines[start - 1] if start else ""
        mark = MARK.search(previous)
        block = Block(LANGUAGES[language], "\n".join(lines[start + 1:end]) + "\n", start + 1)
        if mark and mark.group(1) == "skip":
            block.skip = mark.group(2).strip() or "marked skip"
        elif mark:
            block.needs = tuple(mark.group(2).split())
        blocks.append(block)
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def test_readme_marks_are_well_formed():
    text = README.read_text(encoding="utf-8")
    assert len([b for b in BLOCKS if b.skip is None]) >= 4
    for block in BLOCKS:
        assert block.skip is None or re.fullmatch(r"\(.+\)", block.skip), f"line {block.line}: say why it is skipped"
        unknown = set(block.needs) - set(PROVIDED)
        assert not unknown, f"README.md line {block.line} needs {unknown}; the test can provide {PROVIDED}"
    # Every mark sits right before a code block (a stray one would silently mean nothing).
    marks = [m.start() for m in MARK.finditer(text)]
    assert len(marks) == sum(1 for b in BLOCKS if b.skip or b.needs)


def _labelled_frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(400, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    frame["koi_disposition"] = np.where(frame["koi_period"] + frame["koi_depth"] > 0, "CONFIRMED", "FALSE POSITIVE")
    return frame


def _provide(name: str, folder: Path, koi_csv: Path | None) -> None:
    if name == "koi_cumulative_2025-09-18.csv":
        if koi_csv is None:
            pytest.skip("EXOREG_KOI_CSV is not set: this README block reads the KOI table")
        os.symlink(koi_csv, folder / name)
    elif name == "labelled.csv":
        _labelled_frame().to_csv(folder / name, index=False)
    elif name == "model.pkl":
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline

        frame = _labelled_frame()
        model = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=20, random_state=0))
        model.fit(frame[MODEL_FEATURES], frame["koi_disposition"])
        (folder / name).write_bytes(pickle.dumps(model))


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.skip is None], ids=lambda b: b.id)
def test_readme_block_runs_as_written(block, tmp_path):
    koi = os.environ.get("EXOREG_KOI_CSV")
    koi_csv = Path(koi) if koi and Path(koi).is_file() else None
    folder = tmp_path / "fresh"
    folder.mkdir()
    for name in block.needs:
        _provide(name, folder, koi_csv)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "EXOREG_OFFLINE": "1",
    }
    env.pop("EXOREG_REGISTRY", None)
    if block.language == "python":
        command = [sys.executable, "-c", block.code]
    else:
        command = [shutil.which("bash") or "/bin/bash", "-euo", "pipefail", "-c", block.code]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"README.md block at line {block.line} failed ({done.returncode}):\n{block.code}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )
