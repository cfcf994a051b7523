"""skops.io, imported without its scan of all of scikit-learn.

When ``skops.io`` is imported it lists the estimators it trusts by default with
``sklearn.utils.all_estimators()``, which imports every scikit-learn module (clustering,
manifold learning, the test helpers...): about half a second and a tenth of the process's
memory before a model can load, and every node a load audits is then checked against that
list of some 250 names.

The registry never relies on skops's default trust to load a model a person did not trust: it
checks every type the file names against its own allowlist and gives skops that list
(:func:`core.registry.safety.load_skops`). So :func:`skops_io` imports skops with that list
empty, which can only make skops trust less, and :func:`complete_default_trust` fills it in, as
a plain import would have, before anything that reports what skops itself trusts.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

_lock = threading.Lock()
_deferred = False  # this process imported skops.io with its estimator list left empty


def skops_io() -> ModuleType:
    """The ``skops.io`` module; imported here, without listing every scikit-learn estimator."""
    global _deferred
    module = sys.modules.get("skops.io")
    if module is not None and hasattr(module, "loads"):
        return module
    with _lock:
        if "skops.io._trusted_types" in sys.modules:  # imported elsewhere, or by another thread
            import skops.io

            return skops.io
        import sklearn.utils

        everything = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = _none
        try:
            import skops.io
        finally:
            sklearn.utils.all_estimators = everything
        _deferred = True
    return skops.io


def complete_default_trust() -> None:
    """Give skops the default-trusted estimator list a plain ``import skops.io`` computes."""
    global _deferred
    if not _deferred:
        return
    with _lock:
        if not _deferred:
            return
        from sklearn.utils.discovery import all_estimators
        from skops.io import _trusted_types
        from skops.io._utils import get_type_name

        names = [get_type_name(cls) for _, cls in all_estimators()]
        # The list skops's nodes read when they are built: filled in place, as the same object.
        _trusted_types.SKLEARN_ESTIMATOR_TYPE_NAMES[:] = [n for n in names if n.startswith("sklearn.")]
        _deferred = False


def _none(type_filter=None) -> list:
    return []
