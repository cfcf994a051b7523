"""The guide's ``core.neural_network_classifier``: the same module as :mod:`core.training.neural_network` (an alias, so attributes patched through either name are shared)."""

import sys

import core.training.neural_network as _module

sys.modules[__name__] = _module
