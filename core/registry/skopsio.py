"""skops.io, imported without its two scans of everything loaded.

When ``skops.io`` is imported, its ``_trusted_types`` module lists what skops trusts by default:
every scikit-learn estimator, found with ``sklearn.utils.all_estimators()`` (which imports every
scikit-learn module: clustering, manifold learning, the test helpers...), and every numpy and
scipy ufunc, each searched for in every loaded module. Together that is most of a second and a
tenth of the process's memory before a model can load.

The registry never relies on skops's default trust to load a model a person did not trust: it
checks every type the file names against its own allowlist and gives skops that list
(:func:`core.registry.safety.load_skops`). So :func:`skops_io` runs ``_trusted_types`` with those
scans answering "nothing", which can only make skops trust less, and
:func:`complete_default_trust` fills the lists in, with what a plain import computes, before
anything that reports what skops itself trusts.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType

_TRUSTED_TYPES = "skops.io._trusted_types"
_lock = threading.Lock()
_deferred = False  # this process imported skops.io with its default-trust lists left empty


def skops_io() -> ModuleType:
    """The ``skops.io`` module; imported here without its scans for default-trusted types."""
    global _deferred
    module = sys.modules.get("skops.io")
    if module is not None and hasattr(module, "loads"):
        return module
    with _lock:
        if _TRUSTED_TYPES in sys.modules:  # imported elsewhere, or by another thread
            import skops.io

            return skops.io
        finder = _SlimTrustedTypes()
        sys.meta_path.insert(0, finder)
        try:
            import skops.io
        finally:
            sys.meta_path.remove(finder)
        _deferred = finder.ran
    return skops.io


def complete_default_trust() -> None:
    """Give skops the default-trust lists a plain ``import skops.io`` computes."""
    global _deferred
    if not _deferred:
        return
    with _lock:
        if not _deferred:
            return
        import skops.io
        from skops.io import _trusted_types as slim

        # _trusted_types run again, unchanged, into a module of its own: exactly a plain import's lists.
        spec = importlib.machinery.PathFinder.find_spec(_TRUSTED_TYPES, skops.io.__path__)
        plain = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plain)
        for name, value in vars(plain).items():
            if name.isupper() and isinstance(value, list):
                # Filled in place: skops's nodes read these very list objects when they are built.
                getattr(slim, name)[:] = value
        _deferred = False


class _SlimTrustedTypes(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``skops.io._trusted_types`` and runs it with both scans returning nothing."""

    def __init__(self) -> None:
        self.ran = False
        self._loader = None

    def find_spec(self, fullname, path, target=None):
        if fullname != _TRUSTED_TYPES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            return None
        self._loader, spec.loader = spec.loader, self
        return spec

    def create_module(self, spec):
        return None  # the default module

    def exec_module(self, module) -> None:
        import sklearn.utils

        utils = importlib.import_module("skops.io._utils")
        scans = [(sklearn.utils, "all_estimators"), (utils, "get_public_type_names")]
        saved = [getattr(owner, name) for owner, name in scans]
        for owner, name in scans:
            setattr(owner, name, _nothing)
        try:
            self._loader.exec_module(module)
        finally:
            for (owner, name), value in zip(scans, saved, strict=True):
                setattr(owner, name, value)
        for (_, name), value in zip(scans, saved, strict=True):
            if hasattr(module, name):  # the module's own names for them, as a plain import binds
                setattr(module, name, value)
        module.__loader__ = module.__spec__.loader = self._loader
        self.ran = True


def _nothing(*args, **kwargs) -> list:
    return []
