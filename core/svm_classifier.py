"""The guide's ``core.svm_classifier``: the same module as :mod:`core.training.svm` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.svm as _module

sys.modules[__name__] = _module
