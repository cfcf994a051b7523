"""The guide's ``core.model_persistence``: the same module as :mod:`core.registry.persistence` (an alias, so attributes patched through either name are shared)."""

import sys

import core.registry.persistence as _module

sys.modules[__name__] = _module
