"""``exoreg-gui`` checks the system libraries of Qt's xcb platform before Qt starts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exoreg_gui import app, platform_check
from exoreg_gui.platform_check import XCB_LIBRARIES, apt_get_command, readme_packages, startup_problem

ROOT = Path(__file__).resolve().parent.parent
X11 = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}


@pytest.fixture
def missing(monkeypatch):
    """Make the dynamic loader 'miss' the sonames put in the returned set."""
    gone: set[str] = set()
    monkeypatch.setattr(platform_check, "library_loadable", lambda soname: soname not in gone)
    monkeypatch.setattr(platform_check, "_not_root", lambda: True)
    return gone


def test_missing_libraries_are_named_with_the_apt_get_line_that_installs_them(missing):
    missing |= {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    message = startup_problem(X11, "linux")
    assert message is not None
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in message
    assert message.splitlines()[-1].strip() == "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    assert "Traceback" not in message


def test_one_package_per_line_even_when_it_provides_several_missing_libraries(missing):
    missing |= {"libglib-2.0.so.0", "libgthread-2.0.so.0"}
    message = startup_problem(X11, "linux")
    assert message.splitlines()[-1].strip() == "sudo apt-get install libglib2.0-0"
    assert "install it with" in message


def test_without_apt_the_library_files_are_named(missing, monkeypatch):
    missing.add("libxcb-cursor.so.0")
    monkeypatch.setattr(platform_check.shutil, "which", lambda _name: None)
    message = startup_problem(X11, "linux")
    assert "apt-get" not in message
    assert message.endswith("install the packages of your distribution that provide libxcb-cursor.so.0")


def test_nothing_missing_and_a_display_means_no_problem(missing):
    assert startup_problem(X11, "linux") is None


def test_no_display_is_said_before_qt_aborts(missing):
    message = startup_problem({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert message.startswith("exoreg-gui: there is no X display")


@pytest.mark.parametrize("environ, platform, expected", [
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
    ({"QT_QPA_PLATFORM": "xcb;offscreen"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb:display=:1"}, "linux", True),
    ({}, "linux", True),
    ({"XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({"XDG_SESSION_TYPE": "x11"}, "linux", True),
    ({}, "darwin", False),
    ({}, "win32", False),
])
def test_only_the_xcb_platform_is_checked(missing, environ, platform, expected):
    missing.add("libxcb-icccm.so.4")
    assert (startup_problem({**environ, "DISPLAY": ":0"}, platform) is not None) is expected


def test_offscreen_never_looks_a_library_up(monkeypatch):
    def fail(soname):
        raise AssertionError(f"looked up {soname}")

    monkeypatch.setattr(platform_check, "library_loadable", fail)
    assert startup_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None


def test_exoreg_gui_exits_non_zero_before_qt_is_imported(tmp_path):
    """The entry point itself, in a fresh interpreter: one message, exit code 1, no Qt loaded, no core dump."""
    code = textwrap.dedent("""
        import sys
        from exoreg_gui import platform_check
        platform_check.library_loadable = lambda soname: soname not in {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
        from exoreg_gui.app import main
        rc = main([])
        print(rc, sorted(m for m in sys.modules if m.startswith("PySide6")))
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1 []"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2, out.stderr
    assert lines[0].startswith("exoreg-gui: Qt's X11 (xcb) platform needs system libraries that are not installed")
    assert re.fullmatch(r"\s+(sudo )?apt-get install libxcb-icccm4 libxcb-keysyms1", lines[1])


def test_main_does_not_create_the_application_when_libraries_are_missing(missing, monkeypatch, capsys):
    missing.add("libxcb-keysyms.so.1")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(app, "create_application", lambda *a: pytest.fail("Qt was started"))
    assert app.main([]) == 1
    assert capsys.readouterr().err.strip().endswith("sudo apt-get install libxcb-keysyms1")


def test_the_readme_lists_every_package_in_one_line():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert apt_get_command(readme_packages()) in readme


@pytest.mark.skipif(shutil.which("readelf") is None, reason="needs readelf (binutils) to read the plugin's needs")
def test_the_table_covers_every_system_library_of_the_installed_xcb_plugin():
    """The sonames the xcb plugin and the Qt libraries it loads need, except those inside the wheel and libc's."""
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    plugin = qt / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.is_file():
        pytest.skip("this PySide6 has no xcb plugin")
    bundled = {path.name for path in (qt / "lib").iterdir()}
    base = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libpthread.so.0", "libdl.so.2",
            "librt.so.1", "libz.so.1", "libzstd.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    needed = set()
    for name in ("libQt6Core.so.6", "libQt6Gui.so.6", "libQt6DBus.so.6", "libQt6XcbQpa.so.6"):
        libraries = [plugin, qt / "lib" / name]
        for lib in libraries:
            dyn = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True).stdout
            needed |= set(re.findall(r"\(NEEDED\).*\[(.+)\]", dyn))
    system = {name for name in needed if name not in bundled and name not in base}
    assert system, "readelf found no system libraries at all"
    assert system <= set(XCB_LIBRARIES), f"not in XCB_LIBRARIES: {sorted(system - set(XCB_LIBRARIES))}"
