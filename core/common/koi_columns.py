"""KOI column names the registry needs as much as the training code: which columns must never be features.

Kept below the registry layer so :mod:`core.registry` can check a version's features without
importing the training pipeline; :mod:`core.training.koi` (and its old name ``core.koi``)
re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The archive's vetting outputs: NASA's Robovetter score, its disposition from Kepler data, and
#: the archive's disposition (the label itself). The labels were largely made from the same
#: vetting, so a model that sees any of them learns the answer; they are never features. The
#: four ``koi_fpflag_*`` flags are individual vetting tests and stay allowed (the ``vetting``
#: feature set uses them on purpose).
LEAKY_COLUMNS = ("koi_score", "koi_pdisposition", "koi_disposition")


def leaky_features(columns: Iterable[object]) -> list[str]:
    """The members of ``columns`` that are :data:`LEAKY_COLUMNS`, in the order given."""
    return [str(c) for c in columns if str(c) in LEAKY_COLUMNS]


def leaky_features_note(leaky: Iterable[str]) -> str:
    """The one-sentence note the inspector shows for a version whose features include ``leaky``."""
    return (f"Features include {', '.join(leaky)}: these are NASA's vetting outputs, so its metrics "
            "overstate what it would do on new KOIs.")


def leaky_features_warning(leaky: Iterable[str]) -> str:
    """The one-sentence warning ``register_model`` and the trainer give for ``leaky`` feature columns."""
    return (f"The feature columns include {', '.join(leaky)}, NASA's vetting outputs from which the labels "
            "were made, so the model's metrics overstate what it would do on new KOIs; train without them.")
