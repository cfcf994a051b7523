"""The guide's ``core.random_forest_classifier``: the same module as :mod:`core.training.random_forest` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.random_forest as _module

sys.modules[__name__] = _module
