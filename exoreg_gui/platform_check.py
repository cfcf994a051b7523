"""Before Qt starts: are the system libraries its X11 (xcb) platform needs installed?

Qt's xcb plugin aborts the process (a core dump, exit code 134) when one of its libraries is
missing, and its message often names a library that is installed. :func:`startup_problem`
finds the missing ones first and says, in one sentence, which Debian / Ubuntu packages to
install. No Qt is imported here: ``import PySide6`` itself needs some of these libraries.

The sonames are the ``NEEDED`` entries of PySide6's ``libqxcb.so``, ``libQt6XcbQpa.so.6``,
``libQt6Gui.so.6`` and ``libQt6Core.so.6`` that do not ship inside the wheel (a test
compares this table with ``ldd`` on the installed plugin).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from collections.abc import Mapping

#: soname -> the Debian / Ubuntu package that provides it (same names on Ubuntu 22.04 and 24.04).
XCB_LIBRARIES: dict[str, str] = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
}

#: Not needed to start, but Qt tries OpenGL through GLX first and logs a warning without it.
RECOMMENDED_PACKAGES = ("libxcb-glx0",)


def apt_get_command(packages, *, sudo: bool = True) -> str:
    """``sudo apt-get install …`` for these packages, in a stable order, without repeats."""
    return ("sudo " if sudo else "") + "apt-get install " + " ".join(sorted(set(packages)))


def readme_packages() -> list[str]:
    """Every package the README lists: what the xcb platform needs plus the recommended ones."""
    return sorted(set(XCB_LIBRARIES.values()) | set(RECOMMENDED_PACKAGES))


def library_loadable(soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (and everything it needs itself)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def _not_root() -> bool:
    return not hasattr(os, "geteuid") or os.geteuid() != 0


def xcb_platform_in_use(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will start on its xcb platform: Linux, and no other platform chosen.

    ``QT_QPA_PLATFORM`` may list several (``wayland;xcb``): only the first one counts, since
    Qt falls back to the next only when the first cannot start. Without it, a Wayland session
    may start on Wayland, so nothing is claimed there.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        first = chosen.split(";")[0].split(":")[0].strip().lower()
        return first == "xcb"
    return environ.get("XDG_SESSION_TYPE", "").lower() != "wayland"


def missing_libraries() -> list[str]:
    """The sonames of :data:`XCB_LIBRARIES` the dynamic loader cannot find."""
    return [soname for soname in XCB_LIBRARIES if not library_loadable(soname)]


def startup_problem(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """What stops the window from starting, with the fix; None when nothing does (or it is not xcb)."""
    environ = os.environ if environ is None else environ
    if not xcb_platform_in_use(environ, platform):
        return None
    missing = missing_libraries()
    if missing:
        packages = sorted({XCB_LIBRARIES[soname] for soname in missing})
        if shutil.which("apt-get") is None and shutil.which("dpkg") is None:
            fix = f"install the packages of your distribution that provide {', '.join(missing)}"
        else:
            fix = f"install {'it' if len(packages) == 1 else 'them'} with:\n  {apt_get_command(packages, sudo=_not_root())}"
        return (
            f"exoreg-gui: Qt's X11 (xcb) platform needs system libraries that are not installed "
            f"({', '.join(missing)}); {fix}"
        )
    if not environ.get("DISPLAY"):
        return (
            "exoreg-gui: there is no X display to open the window on (DISPLAY is not set); "
            "start it from a desktop session, or over ssh with `ssh -X`."
        )
    return None
