"""ExoReg core: a model registry for Kepler exoplanet (KOI) classifiers.

Importing this package is cheap: scikit-learn, skops and pandas are imported only
when a function that needs them runs, so the desktop window can appear at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> module that defines it (imported on first access).
_EXPORTS = {
    "ModelRegistry": "core.model_registry",
    "ModelPersistence": "core.model_persistence",
    "ModelMetadata": "core.metadata",
    "VerifyReport": "core.model_registry",
    "DataProcessor": "core.data_processor",
    "ModelTrainer": "core.model_trainer",
}

if TYPE_CHECKING:  # pragma: no cover
    from core.data_processor import DataProcessor
    from core.metadata import ModelMetadata
    from core.model_persistence import ModelPersistence
    from core.model_registry import ModelRegistry, VerifyReport
    from core.model_trainer import ModelTrainer


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
