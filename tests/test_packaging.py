"""What a wheel ships: every package, the GUI's resources and core's data files (``pyproject.toml``).

``.ci/run`` builds the wheel and runs ``.ci/wheel_smoke.py`` against it in a fresh environment; these
tests keep the configuration that build reads honest without building anything.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _folder_of(package: str) -> Path:
    for mapped, folder in SETUPTOOLS.get("package-dir", {}).items():
        if package == mapped or package.startswith(mapped + "."):
            return ROOT / folder / Path(*package[len(mapped):].lstrip(".").split(".")) if package != mapped \
                else ROOT / folder
    return ROOT / Path(*package.split("."))


def _shipped_folders() -> dict[Path, str]:
    return {_folder_of(package).resolve(): package for package in SETUPTOOLS["packages"]}


def _files_under(top: Path):
    for path in sorted(top.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


@pytest.mark.parametrize("top", ["core", "exoreg_gui", "resources"])
def test_every_folder_with_files_is_a_listed_package(top):
    shipped = _shipped_folders()
    missing = sorted({str(path.parent.relative_to(ROOT)) for path in _files_under(ROOT / top)
                      if path.parent.resolve() not in shipped})
    assert not missing, f"folders a wheel would leave out (add them to [tool.setuptools] packages): {missing}"


def test_every_data_file_matches_the_package_data():
    shipped = _shipped_folders()
    data = SETUPTOOLS.get("package-data", {})
    left_out = []
    for top in ("core", "exoreg_gui", "resources"):
        for path in _files_under(ROOT / top):
            if path.suffix == ".py":
                continue
            patterns = data.get(shipped[path.parent.resolve()], [])
            if not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns):
                left_out.append(str(path.relative_to(ROOT)))
    assert not left_out, f"data files no [tool.setuptools.package-data] pattern ships: {left_out}"


def test_resources_are_read_through_importlib_from_the_resources_folder():
    from exoreg_gui import resources

    assert Path(resources.__file__).resolve() == ROOT / "resources" / "__init__.py"
    assert resources.resources_dir().resolve() == ROOT / "resources"
    assert files("exoreg_gui.resources").joinpath("style.qss").read_text(encoding="utf-8") == resources.stylesheet()
    assert resources.stylesheet().strip()


def test_every_icon_the_code_asks_for_exists():
    source = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "exoreg_gui").rglob("*.py"))
    names = set(re.findall(r"\bicon\(\"([\w-]+)\"\)", source))
    names |= {"model", "version", "best", "deleted"}  # the tree's icons, asked for in a loop
    icons = ROOT / "resources" / "icons"
    assert names and not sorted(name for name in names if not (icons / f"{name}.svg").is_file())


def test_a_missing_icon_or_stylesheet_is_logged_not_silent(qapp, caplog, monkeypatch, tmp_path):
    from exoreg_gui import resources

    monkeypatch.setattr(resources, "resources_dir", lambda: tmp_path)
    monkeypatch.setattr(resources, "_icons", {})
    with caplog.at_level(logging.WARNING, logger="exoreg_gui.resources"):
        assert resources.icon("app").isNull()
        assert resources.stylesheet() == ""
    assert "icon app is missing" in caplog.text
    assert "stylesheet could not be read" in caplog.text


def test_koi_column_descriptions_come_from_core_alone():
    from core.training.koi import KNOWN_COLUMNS
    from exoreg_gui.resources import koi_column_tooltip

    assert not (ROOT / "resources" / "koi_columns.json").exists()
    assert koi_column_tooltip("koi_period") == "Orbital Period [days]"
    assert koi_column_tooltip("koi_score") == "Disposition Score"
    assert koi_column_tooltip("not_a_koi_column") is None
    assert all(koi_column_tooltip(name) for name in KNOWN_COLUMNS)
