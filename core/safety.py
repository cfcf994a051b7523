"""Former name of ``core.registry.safety``, kept for one release: the same module as :mod:`core.registry.safety` (an alias, so attributes patched through either name are shared)."""

import sys

import core.registry.safety as _module

sys.modules[__name__] = _module
