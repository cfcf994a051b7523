"""The guide's ``core.base_classifier``: the same module as :mod:`core.training.classifier` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.classifier as _module

sys.modules[__name__] = _module
