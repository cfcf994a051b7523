"""Former name of ``core.registry.metadata``, kept for one release: the same module as :mod:`core.registry.metadata` (an alias, so attributes patched through either name are shared)."""

import sys

import core.registry.metadata as _module

sys.modules[__name__] = _module
