"""The exoreg command line over the registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import ModelRegistry
from core.cli import main
from tests._factories import register


@pytest.fixture
def reg(registry_root):
    registry = ModelRegistry(registry_root)
    register(registry, name="A", f1=0.8)
    register(registry, name="A", f1=0.9)
    register(registry, name="B", algorithm="SVM", f1=0.85)
    return registry


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_registry_option_before_or_after_the_subcommand(reg, capsys):
    code1, out1, _ = run(capsys, "--registry", reg.root, "list", "--json")
    code2, out2, _ = run(capsys, "list", "--registry", reg.root, "--json")
    assert code1 == code2 == 0 and out1 == out2
    assert [r["version"] for r in json.loads(out1)] == [1, 2, 1]


def test_registry_from_environment(reg, capsys, monkeypatch):
    monkeypatch.setenv("EXOREG_REGISTRY", str(reg.root))
    code, out, _ = run(capsys, "list")
    assert code == 0 and "A" in out and "SVM" in out


def test_read_commands_speak_json(reg, capsys):
    for argv in (["show", "A"], ["compare", "A:1", "A:2"], ["best"], ["stats"], ["verify"]):
        code, out, _ = run(capsys, "--registry", reg.root, *argv, "--json")
        assert code == 0
        json.loads(out)
    _, out, _ = run(capsys, "--registry", reg.root, "best", "--metric", "f1_score", "--json")
    assert json.loads(out)["model_name"] == "A" and json.loads(out)["version"] == 2


def test_changes_through_the_cli(reg, capsys):
    root = reg.root
    assert run(capsys, "--registry", root, "alias", "A", "production", "1")[0] == 0
    assert reg.resolve("A@production").version == 1
    assert run(capsys, "--registry", root, "describe", "A@production", "--text", "the one in use")[0] == 0
    assert run(capsys, "--registry", root, "tag", "A:1", "owner=ana", "stage=prod")[0] == 0
    assert run(capsys, "--registry", root, "tag", "A:1", "stage=")[0] == 0
    meta = reg.resolve("A:1")
    assert (meta.description, meta.tags) == ("the one in use", {"owner": "ana"})
    assert run(capsys, "--registry", root, "delete", "A:2")[0] == 0
    assert reg.resolve("A").version == 1
    assert run(capsys, "--registry", root, "restore", "A:2")[0] == 0
    assert reg.resolve("A").version == 2


def test_export_import_inspect_backup_restore(reg, capsys, tmp_path):
    root = reg.root
    code, out, _ = run(capsys, "--registry", root, "export", "B", tmp_path / "out", "--json")
    paths = json.loads(out)
    code, out, _ = run(capsys, "--registry", root, "inspect", paths["model"])
    assert code == 0 and "safe to load" in out and "sklearn.tree._tree.Tree" in out
    code, out, err = run(capsys, "--registry", root, "import", paths["archive"])
    assert code == 0 and "same model file as B v1" in err and "--allow-duplicate" in err and not out
    code, out, _ = run(capsys, "--registry", root, "import", paths["archive"], "--allow-duplicate")
    assert code == 0 and "B v2" in out
    code, out, _ = run(capsys, "--registry", root, "backup", tmp_path / "b.zip")
    assert code == 0 and (tmp_path / "b.zip").exists()
    code, out, _ = run(capsys, "--registry", tmp_path / "restored", "restore-backup", tmp_path / "b.zip")
    assert code == 0 and "Restored 4 versions" in out


def test_untrusted_import_fails_with_one_line(reg, capsys, tmp_path):
    import pickle

    (tmp_path / "x.pkl").write_bytes(pickle.dumps({"not": "a model"}))
    meta = reg.resolve("A").to_dict()
    meta["model_sha256"] = ""
    (tmp_path / "x.json").write_text(json.dumps(meta))
    code, out, err = run(capsys, "--registry", reg.root, "import", tmp_path / "x.pkl")
    assert code == 1 and err.count("\n") == 1 and "pickle" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,needle", [
    (["show", "Nope"], "registered names are: A, B"),
    (["show", "A:9"], "versions are: 1, 2"),
    (["best", "--metric", "auc"], "available metrics"),
    (["import", "/does/not/exist.exoreg"], "No file at"),
    (["alias", "A", "production"], "version"),
])
def test_mistakes_exit_nonzero_with_one_line(reg, capsys, argv, needle):
    code, _, err = run(capsys, "--registry", reg.root, *argv)
    assert code != 0
    assert needle in err and err.count("\n") == 1


def test_verify_exit_code_reflects_corruption(reg, capsys):
    path = reg.model_file_path(reg.resolve("B").model_id)
    path.write_bytes(path.read_bytes()[:-5] + b"xxxxx")
    code, out, _ = run(capsys, "--registry", reg.root, "verify")
    assert code == 1 and "hash_mismatch" in out


def test_console_script_runs_without_traceback(reg, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run([sys.executable, "-m", "core.cli", "--registry", str(reg.root), "show", "Missing"],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("exoreg: No model is named 'Missing'") and "Traceback" not in proc.stderr
