"""Where a registry's bytes live: the :class:`~core.registry.store.base.RegistryStore` seam and its stores."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import unquote, urlparse

from core.errors import RegistryError
from core.registry.store.base import RegistryStore

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def open_store(root: Any) -> RegistryStore:
    """The store ``root`` names: a folder path or ``file://`` URI is a :class:`LocalStore`, ``s3://bucket/prefix``
    an :class:`~core.registry.store.s3.S3Store` (with the ``exoreg[s3]`` extra); a store is itself."""
    if not isinstance(root, str | os.PathLike):
        if hasattr(root, "uri") and hasattr(root, "add_version"):
            return root  # already a store
        raise RegistryError(f"{root!r} is neither a registry folder, a registry URI nor a store.")
    text = os.fspath(root)
    match = _SCHEME.match(text) if isinstance(text, str) else None
    if match is None:
        from core.registry.store.local import LocalStore

        return LocalStore(root)
    scheme = match.group(1).lower()
    if scheme == "file":
        from core.registry.store.local import LocalStore

        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise RegistryError(f"{text} names a folder on another host; open it through a mounted path.")
        return LocalStore(unquote(parsed.path))
    if scheme == "s3":
        try:
            from core.registry.store.s3 import S3Store
        except ImportError as exc:
            if (exc.name or "").split(".")[0] not in ("boto3", "botocore"):
                raise
            raise RegistryError(
                f"Opening {text} needs boto3, which is not installed; install it with `pip install 'exoreg[s3]'`."
            ) from None
        return S3Store(text)
    raise RegistryError(
        f"{text} uses the storage scheme {scheme!r}, which this version of ExoReg cannot open; "
        "use a folder path, a file:// URI or s3://BUCKET/PREFIX."
    )
