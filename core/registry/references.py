"""How a model is named, and which version is "best": the one home of both rules.

References accepted wherever a model is named (the CLI, the API, the browser)::

    NAME_v3_20250104_123456   a version's id
    NAME                      the latest active version of NAME (its highest version number)
    NAME:VERSION              a version number, e.g. ExoplanetClassifier:2
    NAME:latest               the same as NAME
    NAME@ALIAS                the version holding an alias, e.g. ExoplanetClassifier@production
    best                      the best active version of the registry by f1_score
    best:METRIC               the best active version by METRIC (a headline metric or one of ``metrics``)

:func:`parse_reference` reads the syntax; :class:`~core.registry.registry.ModelRegistry.resolve`
looks the parts up. An id and a bare name look alike (neither has ``:`` or ``@``; names may not
contain them), so both parse as :data:`ID_OR_NAME` and the registry tries the id first.

**The best version** (:func:`best_row`) is the one with the highest value of the metric. Equal
values go to the **higher version number**, never to a clock (the machines that registered
two versions need not agree on the time); across names (the registry-wide best) equal values and
equal version numbers go to the name that sorts first, so the answer never depends on the order
of the rows. Rows without a finite number for the metric never win, and neither do rows whose
metrics carry a caveat (``metrics_caveat``: scored where the overlap with the training rows is
unknown) until a person confirms them. Callers pass only the rows that may win: deleted versions
are left out by the caller (:func:`active`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import ModelNotFoundError
from core.registry.metadata import HEADLINE_METRICS

DEFAULT_METRIC = "f1_score"
BEST = "best"
LATEST = "latest"

ID_OR_NAME = "id_or_name"
VERSION = "version"
ALIAS = "alias"
BEST_KIND = "best"
KINDS = (ID_OR_NAME, VERSION, ALIAS, BEST_KIND)

Row = Mapping[str, Any]


class ReferenceSyntaxError(ModelNotFoundError):
    """A reference that cannot name any model; ``name`` is the model name it mentions, if any."""

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name


@dataclass(frozen=True)
class Reference:
    """A parsed reference: its ``kind`` (one of :data:`KINDS`) and the parts that kind has.

    * ``id_or_name``: ``name`` holds the text (an id or a model name);
    * ``version``: ``name`` and ``version`` (``None`` for ``NAME:latest``);
    * ``alias``: ``name`` and ``alias``;
    * ``best``: ``metric`` (``f1_score`` unless given).
    """

    kind: str
    text: str
    name: str | None = None
    version: int | None = None
    alias: str | None = None
    metric: str | None = None

    @property
    def latest(self) -> bool:
        """True for ``NAME`` and ``NAME:latest`` style references to a name's latest version."""
        return self.kind == VERSION and self.version is None


def parse_reference(ref: Any) -> Reference:
    """Read a reference (see the module's docstring); raises :class:`ReferenceSyntaxError`."""
    if not isinstance(ref, str) or not ref:
        raise ReferenceSyntaxError(
            "An empty model reference was given; name a model, e.g. NAME, NAME:2 or best."
        )
    if ref == BEST or ref.startswith(BEST + ":"):
        return Reference(BEST_KIND, ref, metric=ref.partition(":")[2] or DEFAULT_METRIC)
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return Reference(ALIAS, ref, name=name, alias=alias)
    if ":" in ref:
        name, _, version_text = ref.rpartition(":")
        if version_text == LATEST:
            return Reference(VERSION, ref, name=name, version=None)
        try:
            version = int(version_text)
        except ValueError:
            raise ReferenceSyntaxError(
                f"{version_text!r} is not a version number; use NAME:VERSION, e.g. {name}:1.", name=name
            ) from None
        return Reference(VERSION, ref, name=name, version=version)
    return Reference(ID_OR_NAME, ref, name=ref)


# -- the best version -----------------------------------------------------------------------------


def row_metric(row: Row, metric: str) -> float | None:
    """The row's finite value of ``metric`` (a headline metric or one of its ``metrics``), else None."""
    value = row.get(metric) if metric in HEADLINE_METRICS else (row.get("metrics") or {}).get(metric)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def available_metrics(rows: Iterable[Row]) -> set[str]:
    """The metrics ``best:METRIC`` accepts for these rows: the headline ones and every recorded one."""
    names = set(HEADLINE_METRICS)
    for r in rows:
        names.update(r.get("metrics") or {})
    return names


def is_deleted(row: Row) -> bool:
    return row.get("status", "active") == "deleted"


def active(rows: Iterable[Row]) -> list[Row]:
    """The rows that are not deleted (the only ones that may be "best" or "latest")."""
    return [r for r in rows if not is_deleted(r)]


def _version(row: Row) -> int:
    try:
        return int(row.get("version") or 0)
    except (TypeError, ValueError):
        return 0


def best_row(rows: Iterable[Row], metric: str = DEFAULT_METRIC) -> Row | None:
    """The row with the highest ``metric``; ties go to the higher version, then the first name.

    ``None`` when no row has a finite number for ``metric`` (rows with a ``metrics_caveat``
    do not count). Deleted rows are not skipped here:
    leave them out first (:func:`active`).
    """
    best, best_key, best_name = None, None, ""
    for row in rows:  # one pass: this runs over every version for ``best``
        value = row_metric(row, metric)
        if value is None or row.get("metrics_caveat"):
            continue
        key, name = (value, _version(row)), str(row.get("model_name", ""))
        if best_key is None or key > best_key or (key == best_key and name < best_name):
            best, best_key, best_name = row, key, name
    return best


def latest_row(rows: Iterable[Row]) -> Row | None:
    """The row with the highest version number (what ``NAME`` names among a name's active rows)."""
    return max(rows, key=_version, default=None)
