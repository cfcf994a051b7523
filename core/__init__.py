"""ExoReg core: a model registry for Kepler exoplanet (KOI) classifiers.

Four jobs, one package each: ``registry`` (versioned, safely loaded models behind a storage
seam), ``training`` (the KOI table and the three classifiers), ``prediction`` (batch CSV
prediction and scoring) and ``deployment`` (bundles for serving systems); ``cli`` is the
command line. The guide's modules (``core.model_registry``, ``core.model_trainer``, …) are
the same module objects under their documented names.

Importing this package is cheap: scikit-learn, skops and pandas are imported only
when a function that needs them runs, so the desktop window can appear at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> module that defines it (imported on first access).
_EXPORTS = {
    "ModelRegistry": "core.registry.registry",
    "ModelPersistence": "core.registry.persistence",
    "ModelMetadata": "core.registry.metadata",
    "VerifyReport": "core.registry.registry",
    "DataProcessor": "core.training.processing",
    "ModelTrainer": "core.training.trainer",
}

if TYPE_CHECKING:  # pragma: no cover
    from core.registry.metadata import ModelMetadata
    from core.registry.persistence import ModelPersistence
    from core.registry.registry import ModelRegistry, VerifyReport
    from core.training.processing import DataProcessor
    from core.training.trainer import ModelTrainer


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = [  # noqa: F822 - resolved lazily by __getattr__
    "DataProcessor",
    "ModelMetadata",
    "ModelPersistence",
    "ModelRegistry",
    "ModelTrainer",
    "VerifyReport",
]
