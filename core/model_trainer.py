"""The guide's ``core.model_trainer``: the same module as :mod:`core.training.trainer` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.trainer as _module

sys.modules[__name__] = _module
