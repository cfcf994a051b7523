"""Saving and loading single model files outside a registry (the guide's ModelPersistence).

The format follows the extension: ``.skops`` (safe: loads only allowlisted types) or
``.pkl`` / ``.joblib`` (a joblib pickle). Beside each file a sidecar
``<file>.meta.json`` records the caller's metadata, the SHA-256, format, date and
library versions. For a pickle the hash is also signed with this user's secret key:
the sidecar alone, which anyone can write, is not enough to make a pickle load.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import platform
from pathlib import Path
from typing import Any

from core.common import jsonio
from core.common.files import (
    NotRegularFileError,
    atomic_write_bytes,
    atomic_write_json,
    fsync_dir,
    fsync_file,
    read_regular_file,
    sha256_bytes,
    temp_file_beside,
)
from core.common.jsonio import to_jsonable
from core.errors import IntegrityError, RegistryError
from core.registry import safety
from core.registry.metadata import MAX_METADATA_BYTES

_FORMATS = {".skops": safety.SKOPS, ".pkl": safety.PICKLE, ".pickle": safety.PICKLE, ".joblib": safety.PICKLE}
MAX_SIDECAR_BYTES = MAX_METADATA_BYTES  # a larger sidecar vouches for nothing: treated as absent
_RECORDED_KEYS = ("sha256", "format", "saved_at", "python_version", "sklearn_version", "file_size")


def sidecar_path(filepath: str | os.PathLike) -> Path:
    filepath = Path(filepath)
    return filepath.with_name(filepath.name + ".meta.json")


class ModelPersistence:
    """Static helpers for model files: save, load, checkpoint, deployment export."""

    @staticmethod
    def save_model(model: Any, filepath: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
        """Write ``model`` to ``filepath`` atomically, with its sidecar; returns the path."""
        filepath = Path(filepath)
        fmt = _format_for(filepath)
        payload = _serialise(model, fmt)
        record = _sidecar_record(payload, metadata)  # hashed and signed before anything is written
        atomic_write_bytes(filepath, payload)
        atomic_write_json(sidecar_path(filepath), record)
        return filepath

    @staticmethod
    def load_model(filepath: str | os.PathLike, *, trusted: bool = False) -> tuple[Any, dict[str, Any]]:
        """Load a model file; the hash is checked before anything is deserialised.

        A skops file loads when its types are on the allowlist. A pickle loads only when
        its sidecar's signature verifies with this user's key, or with ``trusted=True``.
        """
        filepath = Path(filepath)
        if not filepath.is_file():
            raise FileNotFoundError(f"No model file at {filepath}; check the path.")
        side = _read_sidecar(filepath)
        # Read once: the bytes hashed here are the bytes deserialised below, whatever happens
        # to the file in between.
        try:
            payload = read_regular_file(filepath)
        except NotRegularFileError as exc:
            raise IntegrityError(
                f"{filepath.name} is {exc.kind}, not a model file; give the path of a saved model file."
            ) from exc
        digest = sha256_bytes(payload)
        recorded = side.get("sha256")
        if recorded is not None and recorded != digest:
            raise IntegrityError(
                f"{filepath.name} does not match the SHA-256 in its sidecar; it was changed or damaged, so it was not loaded."
            )
        allowed = trusted or (recorded == digest and safety.signature_valid(digest, side.get("signature")))
        model = safety.load_model_bytes(payload, trusted=allowed, name=filepath.name)
        fmt = safety.detect_format(payload, name=filepath.name)
        info = dict(side.get("metadata") or {})
        for key in _RECORDED_KEYS:
            if key in side:
                info[key] = side[key]
        info["sha256"] = digest
        info["format"] = fmt
        return model, info

    @staticmethod
    def save_model_checkpoint(
        model: Any,
        checkpoint_dir: str | os.PathLike,
        checkpoint_name: str,
        metadata: dict[str, Any] | None = None,
        *,
        extension: str = ".skops",
    ) -> Path:
        """Save ``<checkpoint_name>_<YYYYMMDD_HHMMSS>[_n]<extension>``; never overwrites a file."""
        folder = Path(checkpoint_dir)
        folder.mkdir(parents=True, exist_ok=True)
        if not checkpoint_name or any(c in checkpoint_name for c in "/\\\x00"):
            raise RegistryError(f"Checkpoint name {checkpoint_name!r} must be a plain file name.")
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d_%H%M%S")
        plain = folder / f"{checkpoint_name}{extension}"
        fmt = _format_for(plain)
        payload = _serialise(model, fmt)
        record = _sidecar_record(payload, metadata)
        with temp_file_beside(plain) as tmp:
            tmp.write_bytes(payload)
            fsync_file(tmp)
            n = 1
            while True:
                suffix = "" if n == 1 else f"_{n}"
                target = folder / f"{checkpoint_name}_{stamp}{suffix}{extension}"
                try:
                    os.link(tmp, target)  # atomic and refuses to replace an existing file
                    break
                except FileExistsError:
                    n += 1
        fsync_dir(folder)
        atomic_write_json(sidecar_path(target), record)
        return target

    @staticmethod
    def export_model_for_deployment(
        model: Any,
        export_path: str | os.PathLike,
        model_info: dict[str, Any],
        *,
        include_onnx: bool = True,
        sample_rows: Any = None,
        overwrite: bool = False,
    ):
        """Write a deployment bundle (MLflow folder, skops, ONNX, model card, predict script, manifest)."""
        from core.deployment.bundle import export_bundle

        return export_bundle(
            model,
            export_path,
            model_info,
            include_onnx=include_onnx,
            sample_rows=sample_rows,
            overwrite=overwrite,
        )


def _format_for(filepath: Path) -> str:
    fmt = _FORMATS.get(filepath.suffix.lower())
    if fmt is None:
        raise RegistryError(
            f"Unknown model file extension {filepath.suffix!r}; use .skops (safe), .pkl or .joblib."
        )
    return fmt


def _serialise(model: Any, fmt: str) -> bytes:
    if fmt == safety.SKOPS:
        return safety.dumps_skops(model)
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


def _sidecar_record(payload: bytes, metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The sidecar of ``payload``: its hash (and, for a pickle, this user's signature of it).

    Computed from the bytes about to be written, never from the file read back, which
    someone could have replaced in between.
    """
    digest = sha256_bytes(payload)
    fmt = safety.detect_format(payload)
    record: dict[str, Any] = {
        "metadata": to_jsonable(metadata or {}, unknown=str),
        "sha256": digest,
        "format": fmt,
        "file_size": len(payload),
        "saved_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "python_version": platform.python_version(),
        "sklearn_version": safety.sklearn_version(),
    }
    if fmt == safety.PICKLE:
        record["signature"] = safety.sign_digest(digest)
    return record


def _read_sidecar(filepath: Path) -> dict[str, Any]:
    try:
        data = jsonio.read_json_file(sidecar_path(filepath), max_bytes=MAX_SIDECAR_BYTES)
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError, IsADirectoryError):
        return {}  # an unreadable sidecar vouches for nothing: treated as absent
    return data if isinstance(data, dict) else {}
