"""The guide's ``core.data_processor``: the same module as :mod:`core.training.processing` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.processing as _module

sys.modules[__name__] = _module
