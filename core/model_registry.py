"""The guide's ``core.model_registry``: the same module as :mod:`core.registry.registry` (an alias, so attributes patched through either name are shared)."""

import sys

import core.registry.registry as _module

sys.modules[__name__] = _module
