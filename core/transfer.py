"""Former name of ``core.registry.transfer``, kept for one release: the same module as :mod:`core.registry.transfer` (an alias, so attributes patched through either name are shared)."""

import sys

import core.registry.transfer as _module

sys.modules[__name__] = _module
