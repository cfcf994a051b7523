"""The guide's ``core.model_evaluator``: the same module as :mod:`core.training.evaluator` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.evaluator as _module

sys.modules[__name__] = _module
