"""ONNX is part of the default install where onnxruntime has wheels; elsewhere the bundle says so before it starts."""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from core.deployment import bundle
from core.deployment.bundle import ONNX_PACKAGES, onnx_unavailable_reason

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_REGISTRY = ROOT / "tests" / "data" / "registry-0.1.0"


def _environment(system: str, machine: str, python: str) -> dict[str, str]:
    return {"platform_system": system, "platform_machine": machine, "python_version": python,
            "sys_platform": {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}[system],
            "python_full_version": python + ".0", "implementation_name": "cpython", "os_name": "posix",
            "platform_python_implementation": "CPython", "platform_release": "", "platform_version": "",
            "extra": ""}


def _default_requirements(environment) -> dict[str, str]:
    """ONNX package -> its version specifier in the default install for this environment."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    chosen = {}
    for line in deps:
        req = Requirement(line)
        if req.name in ONNX_PACKAGES and (req.marker is None or req.marker.evaluate(environment)):
            assert req.name not in chosen, f"two requirements for {req.name} apply to {environment}"
            chosen[req.name] = str(req.specifier)
    return chosen


@pytest.mark.parametrize("system, machine, python", [
    ("Linux", "x86_64", "3.11"), ("Linux", "aarch64", "3.14"), ("Windows", "AMD64", "3.13"),
    ("Darwin", "arm64", "3.14"), ("Darwin", "x86_64", "3.11"), ("Darwin", "x86_64", "3.13"),
])
def test_onnx_comes_with_the_default_install_where_onnxruntime_has_wheels(system, machine, python):
    chosen = _default_requirements(_environment(system, machine, python))
    assert set(chosen) == set(ONNX_PACKAGES)
    if (system, machine) == ("Darwin", "x86_64"):
        assert "<1.24" in chosen["onnxruntime"]  # its last macOS x86-64 wheels


def test_no_onnx_requirement_where_onnxruntime_has_no_wheel():
    assert _default_requirements(_environment("Darwin", "x86_64", "3.14")) == {}


def test_the_onnx_extra_still_installs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["optional-dependencies"]["onnx"] == []
    assert not any("exoreg[onnx]" in dep for dep in project["optional-dependencies"]["test"])


def test_nothing_is_said_when_everything_is_installed():
    assert onnx_unavailable_reason() is None


def test_each_missing_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert onnx_unavailable_reason() == (
        "onnxruntime is not installed for this Python, so the bundle will have no model.onnx "
        "(pip install onnxruntime, where onnxruntime publishes wheels).")
    monkeypatch.setitem(sys.modules, "skl2onnx", None)
    assert onnx_unavailable_reason().startswith("skl2onnx and onnxruntime are not installed")


@pytest.fixture
def registry(tmp_path):
    from core import ModelRegistry

    root = tmp_path / "registry"
    shutil.copytree(FIXTURE_REGISTRY, root)
    return ModelRegistry(str(root))


def test_exoreg_deploy_says_so_before_the_export_starts(registry, tmp_path, monkeypatch, capsys):
    from core.cli import main
    from core.errors import DataError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    started = []

    def export(*args, **kwargs):
        started.append(capsys.readouterr().err)
        raise DataError("stopped here by the test.")

    monkeypatch.setattr(bundle, "export_registered_model", export)
    assert main(["deploy", "best", str(tmp_path / "bundle"), "--registry", str(registry.root)]) != 0
    assert started and started[0].startswith("Note: onnxruntime is not installed for this Python, so the bundle")


def test_exoreg_deploy_no_onnx_says_nothing_about_it(registry, tmp_path, monkeypatch, capsys):
    from core.cli import main
    from core.errors import DataError

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setattr(bundle, "export_registered_model",
                        lambda *a, **k: (_ for _ in ()).throw(DataError("stopped here by the test.")))
    main(["deploy", "best", str(tmp_path / "bundle"), "--no-onnx", "--registry", str(registry.root)])
    assert "onnxruntime" not in capsys.readouterr().err


def _dialog(qtbot, registry):
    from exoreg_gui.dialogs.deploy_dialog import DeployDialog

    meta = registry.resolve("best")
    dialog = DeployDialog(registry, meta, folder=str(Path(registry.root).parent / "bundle"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_the_dialog_unticks_onnx_and_says_why_before_export(qtbot, registry, monkeypatch, tmp_path):
    from exoreg_gui.dialogs import deploy_dialog

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    dialog = _dialog(qtbot, registry)
    assert not dialog.onnx_check.isChecked() and not dialog.onnx_check.isEnabled()
    assert dialog.onnx_note.isVisible()
    assert dialog.onnx_note.text() == onnx_unavailable_reason()
    assert "model.onnx" not in dialog.summary_label.text()
    started = {}
    monkeypatch.setattr(deploy_dialog, "start_worker_for", lambda _parent, _fn, *args, **kwargs: started.update(kwargs))
    dialog.start_export()
    assert started["include_onnx"] is False
    dialog._worker = None
    dialog._update_state()
    assert not dialog.onnx_check.isEnabled()  # not re-enabled when the dialog is idle again
    if os.environ.get("EXOREG_SCREENSHOT_DIR"):
        dialog.grab().save(str(Path(os.environ["EXOREG_SCREENSHOT_DIR"]) / "dialog-deploy-no-onnx.png"))


def test_with_onnxruntime_the_box_is_ticked_and_no_note_shows(qtbot, registry):
    dialog = _dialog(qtbot, registry)
    assert dialog.onnx_check.isChecked() and dialog.onnx_check.isEnabled()
    assert not dialog.onnx_note.isVisible()
