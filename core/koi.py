"""Former name of ``core.training.koi``, kept for one release: the same module as :mod:`core.training.koi` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.koi as _module

sys.modules[__name__] = _module
