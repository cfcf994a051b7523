"""The window's remembered state (QSettings), read through typed accessors with defaults.

Normally the settings live where Qt keeps an application's settings on the platform. When
``EXOREG_CONFIG_DIR`` is set (the tests set it to a temporary folder) they live in an INI
file in that folder instead, so a test run never reads or changes the user's settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from core.common.userdirs import remember_registry

ORGANIZATION = "ExoReg"
APPLICATION = "exoreg-gui"
MAX_RECENT = 8

DEFAULTS: dict[str, Any] = {
    "registry/last": "",
    "registry/recent": [],
    "remote/recent": [],
    "view/show_deleted": False,
    "view/primary_metric": "f1_score",
    "view/differences_only": False,
    "view/current_tab": 0,
    "live/poll_ms": 1500,
    # Milliseconds after the window's first paint before the prediction worker process starts
    # (importing scikit-learn); negative: only when a prediction dialog first needs it.
    "prediction/warm_start_ms": 300,
}


def _open_qsettings() -> QSettings:
    folder = os.environ.get("EXOREG_CONFIG_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / f"{APPLICATION}.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


class Settings:
    """Typed access to the remembered state of the window."""

    def __init__(self, qsettings: QSettings | None = None):
        self._qs = qsettings if qsettings is not None else _open_qsettings()

    @property
    def file_name(self) -> str:
        return self._qs.fileName()

    # -- generic ---------------------------------------------------------------------------
    def get_bool(self, key: str) -> bool:
        value = self._qs.value(key, DEFAULTS.get(key, False))
        if isinstance(value, str):
            return value.lower() in {"1", "true", "yes"}
        return bool(value)

    def get_int(self, key: str) -> int:
        try:
            return int(self._qs.value(key, DEFAULTS.get(key, 0)))
        except (TypeError, ValueError):
            return int(DEFAULTS.get(key, 0))

    def get_str(self, key: str) -> str:
        value = self._qs.value(key, DEFAULTS.get(key, ""))
        return "" if value is None else str(value)

    def get_bytes(self, key: str) -> QByteArray | None:
        value = self._qs.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def get_list(self, key: str) -> list[str]:
        value = self._qs.value(key, DEFAULTS.get(key, []))
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]

    def set(self, key: str, value: Any) -> None:
        self._qs.setValue(key, value)

    def sync(self) -> None:
        self._qs.sync()

    # -- registries --------------------------------------------------------------------------
    @property
    def last_registry(self) -> str:
        return self.get_str("registry/last")

    def recent_registries(self) -> list[str]:
        return self.get_list("registry/recent")

    def add_recent_registry(self, path: str | os.PathLike[str]) -> None:
        path = str(Path(path).expanduser().resolve())
        recent = [p for p in self.recent_registries() if p != path]
        recent.insert(0, path)
        self.set("registry/recent", recent[:MAX_RECENT])
        self.set("registry/last", path)
        remember_registry(path)  # the command line reads this registry when told of no other

    def clear_recent_registries(self) -> None:
        self.set("registry/recent", [])

    # -- registries in object storage -----------------------------------------------------------
    def recent_remotes(self) -> list[str]:
        """``s3://bucket/prefix`` URIs opened from File ▸ Open Remote Registry…, the latest first."""
        return self.get_list("remote/recent")

    def add_recent_remote(self, uri: str) -> None:
        uri = uri.strip().rstrip("/")
        recent = [u for u in self.recent_remotes() if u != uri]
        recent.insert(0, uri)
        self.set("remote/recent", recent[:MAX_RECENT])

    def clear_recent_remotes(self) -> None:
        self.set("remote/recent", [])
