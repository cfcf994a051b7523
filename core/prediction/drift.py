"""Drift and range checks: is a file like the rows a version was trained on?

A version registered with a training profile (:func:`core.registry.records.training_profile`:
per feature the count, missing rate, quantiles, min / max and a 20-bin histogram) can be
compared with any file of its feature columns. :func:`check_drift` does it for a frame or a
mapping of columns; :class:`DriftCounter` does it batch by batch, for the streaming engine
(:func:`core.prediction.engine.predict_csv` counts each batch on its worker thread and adds
the counts up in file order).

How the verdict is decided (the README says the same)
-----------------------------------------------------
For each feature, three figures are compared with what chance alone would give at the file's
size ``n`` and the number ``k`` of features looked at (a Bonferroni share ``alpha / k`` each,
so that a file drawn from the training distribution is called drifted in about ``alpha`` = 1 %
of cases):

- **PSI** over the training histogram's 20 bins (values beyond the end edges count in the end
  bins), with shares floored at ``EPSILON`` = 1e-4 so that an empty bin costs a finite amount.
  Its chance distribution comes from resampling the training histogram: draws of about
  ``n_eff = n N / (n + N)`` values from the training bin shares (Poisson counts per bin, the
  multinomial's fast equivalent) (``N`` the training count; the
  ``N`` term accounts for the training histogram being a sample too), ``RESAMPLES`` draws,
  vectorised, fitted by a scaled chi-square (mean and variance matched; PSI is ``chi2 / n`` in
  the limit) whose ``1 - alpha / k`` quantile is the limit. ``n_eff`` is rounded to a quarter
  octave and the fit is cached per (rounded size, training bins), so a second file of about the
  same size costs nothing. The limit is never below ``PSI_FLOOR`` (0.1, the customary "no
  shift" bound): at a million rows, chance alone would flag differences nobody cares about.
  Unlike: above the ``1 - ALPHA_UNLIKE / k`` quantile and ``PSI_UNLIKE_FLOOR`` (2.5).
- **Range**: values outside the training [min, max]. The share of a distribution beyond the
  extremes of ``N`` values drawn from it is Beta(2, N - 1); the count outside is Poisson given
  that share (:func:`_range_limit`). Values beyond the training 1 % and 99 % quantiles are
  binomial around 2 % (:func:`_tail_limit`). Unlike: more than ``RANGE_UNLIKE_SHARE`` (10 %)
  outside the range, or more than ``TAIL_UNLIKE_SHARE`` (half) beyond the 1-99 % range.
- **Missing rate** against the training missing rate: drift when the difference exceeds both
  5 percentage points and ``z(1 - alpha / 2k)`` binomial standard deviations (of both samples);
  unlike beyond ``MISSING_UNLIKE`` (50 points: a column empty throughout that training filled).

A feature's flag is the worst of these; the verdict is *unlike the training data* when one
feature is unlike, *some drift* when one drifts, else *like the training data*. The three worst
columns (each figure divided by its limit, the largest ratio) are named. Below ``MIN_ROWS``
rows the verdict is *too few rows to judge drift*.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist
from typing import Any

LIKE = "like the training data"
SOME = "some drift"
UNLIKE = "unlike the training data"
TOO_FEW = "too few rows to judge drift"

MIN_ROWS = 50
ALPHA = 0.01
ALPHA_UNLIKE = 1e-6
EPSILON = 1e-4
PSI_FLOOR = 0.1
PSI_UNLIKE_FLOOR = 2.5
RANGE_UNLIKE_SHARE = 0.10
TAIL_SHARE = 0.02
TAIL_UNLIKE_SHARE = 0.5
MISSING_FLOOR = 0.05
MISSING_UNLIKE = 0.5
RESAMPLES = 1000

_FLAG_LEVEL = {"ok": 0, SOME: 1, UNLIKE: 2}


@dataclass
class DriftReport:
    """How a file compares with a version's training rows (see the module docstring)."""

    verdict: str
    worst: list[str]
    rows: int
    features: list[dict[str, Any]]
    sentence: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# The profile


def _profile_entries(profile: Mapping) -> dict[str, dict]:
    """Feature name -> its entry in a training profile."""
    feats = profile.get("features") if isinstance(profile, Mapping) else None
    if isinstance(feats, Mapping):
        return {str(k): v for k, v in feats.items() if isinstance(v, Mapping)}
    if isinstance(feats, Sequence):
        return {str(f["name"]): f for f in feats if isinstance(f, Mapping) and "name" in f}
    return {}


class _Unusable(ValueError):
    """A feature's entry in a training profile cannot be used (the sentence says why)."""


class _Feature:
    """One feature's training figures, ready for counting."""

    __slots__ = ("name", "edges", "train_counts", "count", "missing_rate", "lo", "hi", "q1", "q99")

    def __init__(self, name: str, entry: Mapping):
        import numpy as np

        hist = entry.get("histogram") or {}
        self.name = name
        self.edges = np.asarray(hist.get("edges") or [], dtype=np.float64)
        self.train_counts = np.asarray(hist.get("counts") or [], dtype=np.int64)
        if len(self.edges) != len(self.train_counts) + 1 or len(self.train_counts) == 0:
            raise _Unusable(f"{name} had no values in the training rows")
        if (
            not (np.isfinite(self.edges).all() and (np.diff(self.edges) > 0).all())
            or (self.train_counts < 0).any()
        ):
            raise _Unusable(f"the training profile's histogram of {name} is not usable")
        try:
            self.count = int(entry.get("count") or int(self.train_counts.sum()))
            self.missing_rate = min(1.0, max(0.0, float(entry.get("missing_rate") or 0.0)))
        except (TypeError, ValueError) as exc:
            raise _Unusable(f"the training profile of {name} is not usable") from exc
        lo, hi = entry.get("min"), entry.get("max")
        self.lo = float(lo) if lo is not None else float(self.edges[0])
        self.hi = float(hi) if hi is not None else float(self.edges[-1])
        quantiles = entry.get("quantiles") or {}
        q1, q99 = quantiles.get("1"), quantiles.get("99")
        self.q1 = float(q1) if q1 is not None else self.lo
        self.q99 = float(q99) if q99 is not None else self.hi

    def histogram(self, x):
        """Counts of ``x`` in the training bins: [a, b) bins, the last closed, values beyond the
        end edges in the end bins (the profile's own rule); NaN is not counted."""
        import numpy as np

        # One binary search per value (np.histogram sorts every batch): index i + 1 for
        # edges[i] <= x < edges[i + 1], 0 below the first edge, bins + 1 from the last edge up (NaN too).
        bins = len(self.train_counts)
        found = np.bincount(np.searchsorted(self.edges, x, side="right"), minlength=bins + 2)
        counts = found[1 : bins + 1].copy()
        counts[0] += found[0]
        counts[-1] += found[bins + 1] - np.count_nonzero(np.isnan(x))
        return counts


# ---------------------------------------------------------------------------------------------
# Counting


class DriftCounter:
    """Counts a file's values against a training profile, batch by batch.

    ``count(columns)`` (thread-safe: it only reads) returns the counts of one batch;
    ``add(counts)`` adds them up; ``report()`` judges them.
    """

    def __init__(self, profile: Mapping, features: Sequence[str]):
        entries = _profile_entries(profile)
        self.notes: list[str] = []
        self.features: list[_Feature] = []
        unprofiled = [f for f in features if f not in entries]
        for name in features:
            if name in entries:
                try:
                    self.features.append(_Feature(name, entries[name]))
                except (TypeError, ValueError) as exc:
                    why = (
                        str(exc)
                        if isinstance(exc, _Unusable)
                        else f"the training profile of {name} is not usable"
                    )
                    self.notes.append(f"{why}; it is left out of the drift check")
        if unprofiled:
            self.notes.append(
                f"{len(unprofiled)} feature column(s) have no training profile and are not checked: "
                + ", ".join(unprofiled[:5])
                + ("..." if len(unprofiled) > 5 else "")
            )
        import numpy as np

        self.bins = max((len(f.train_counts) for f in self.features), default=0)
        # per feature: bin counts, then values outside [min, max], missing, outside [q1, q99]
        self.totals = np.zeros((len(self.features), self.bins + 3), dtype=np.int64)
        self.rows = 0

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def count(self, columns: Mapping[str, Any], rows: int | None = None):
        """Counts of one batch; ``columns`` maps feature -> float values (NaN = missing)."""
        import numpy as np

        out = np.zeros_like(self.totals)
        n = rows
        for i, feat in enumerate(self.features):
            x = np.asarray(columns[feat.name], dtype=np.float64)
            n = len(x) if n is None else n
            counts = out[i]
            with np.errstate(invalid="ignore"):
                counts[self.bins] = np.count_nonzero(x < feat.lo) + np.count_nonzero(x > feat.hi)
                counts[self.bins + 2] = np.count_nonzero(x < feat.q1) + np.count_nonzero(x > feat.q99)
                counts[self.bins + 1] = np.count_nonzero(np.isnan(x))
                counts[: len(feat.train_counts)] = feat.histogram(x)
        return int(n or 0), out

    def add(self, counted) -> None:
        rows, counts = counted
        self.rows += rows
        self.totals += counts

    def report(self) -> DriftReport:
        return _judge(self)


def check_drift(profile: Mapping, frame_or_columns, *, features: Sequence[str]) -> DriftReport:
    """Compare ``frame_or_columns`` (a DataFrame, or a mapping column -> values) with ``profile``.

    Cells that are not numbers count as missing. See the module docstring for the rule.
    """
    import numpy as np

    counter = DriftCounter(profile, features)
    columns = {}
    rows = None
    for feat in counter.features:
        col = frame_or_columns[feat.name]
        try:
            values = np.asarray(col, dtype=np.float64)
        except (TypeError, ValueError):
            import pandas as pd

            values = pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(dtype=np.float64)
        columns[feat.name] = values
        rows = len(values)
    if rows is None:
        rows = len(frame_or_columns) if hasattr(frame_or_columns, "__len__") else 0
    counter.add(counter.count(columns, rows))
    return counter.report()


# ---------------------------------------------------------------------------------------------
# Chance


def psi(file_shares, train_shares):
    """Population stability index per row of ``file_shares`` (shares floored at EPSILON)."""
    import numpy as np

    a = np.maximum(np.asarray(file_shares, dtype=np.float64), EPSILON)
    e = np.maximum(np.asarray(train_shares, dtype=np.float64), EPSILON)
    return ((a - e) * np.log(a / e)).sum(axis=-1)


def size_bucket(n: float) -> int:
    """``n`` rounded to a quarter octave (the sizes the chance thresholds are computed for)."""
    if n <= 1:
        return 1
    return max(1, round(2 ** (round(math.log2(n) * 4) / 4)))


@functools.lru_cache(maxsize=8192)
def _chance_fit(train_counts: tuple[int, ...], n: int) -> tuple[float, float]:
    """(mean, variance) of the PSI of ``n`` values drawn from the training bins."""
    import numpy as np

    counts = np.asarray(train_counts, dtype=np.float64)
    p = counts / counts.sum()
    rng = np.random.default_rng(20250918)
    # Poisson counts per bin, then shares: the multinomial draw of about n values, twice as fast
    draws = rng.poisson(n * p, size=(RESAMPLES, len(p))).astype(np.float64)
    totals = draws.sum(axis=1, keepdims=True)
    values = psi(draws / np.maximum(totals, 1), p)
    return float(values.mean()), float(values.var())


def chance_limit(train_counts: Sequence[int], n_eff: float, tail: float) -> float:
    """The PSI that chance exceeds with probability ``tail`` at size ``n_eff`` (a scaled chi-square
    fitted to resampled PSIs)."""
    mean, var = _chance_fit(tuple(int(c) for c in train_counts), size_bucket(n_eff))
    if var <= 0 or mean <= 0:
        return mean
    scale, dof = var / (2 * mean), 2 * mean * mean / var
    z = NormalDist().inv_cdf(1 - tail)
    h = 2 / (9 * dof)  # Wilson-Hilferty
    return scale * dof * max(0.0, 1 - h + z * math.sqrt(h)) ** 3


def poisson_quantile(lam: float, tail: float) -> int:
    """The smallest c with P(Poisson(lam) > c) <= tail."""
    if lam <= 0:
        return 0
    if lam > 200:  # normal approximation with continuity
        return math.ceil(lam + NormalDist().inv_cdf(1 - tail) * math.sqrt(lam) + 0.5)
    c, pmf = 0, math.exp(-lam)
    cdf = pmf
    while 1 - cdf > tail and c < 10_000:
        c += 1
        pmf *= lam / c
        cdf += pmf
    return c


def gamma2_quantile(tail: float) -> float:
    """The g with P(Gamma(2, 1) > g) = (1 + g) exp(-g) = ``tail`` (Newton's method)."""
    g = -math.log(tail) + math.log(-math.log(tail) + 1)
    for _ in range(30):
        f = (1 + g) * math.exp(-g) - tail
        g -= f / (-g * math.exp(-g))
    return g


def _range_limit(n: int, count: int, tail: float) -> int:
    """Values outside the training [min, max] that chance exceeds with probability about ``tail``.

    The share of a distribution beyond the range of ``count`` values drawn from it is
    Beta(2, count - 1), about Gamma(2) / (count + 1): half the tail for it, half for the
    Poisson count of ``n`` values given that share."""
    if n == 0:
        return 0
    share = gamma2_quantile(tail / 2) / (count + 1)
    return poisson_quantile(n * share, tail / 2)


def _tail_limit(n: int, count: int, tail: float) -> int:
    """Values beyond the training 1 % and 99 % quantiles that chance exceeds with probability
    about ``tail``: the share beyond them is about 2 %, give or take the binomial error of
    quantiles estimated from ``count`` values (half the tail each)."""
    if n == 0:
        return 0
    z = NormalDist().inv_cdf(1 - tail / 2)
    share = TAIL_SHARE + z * math.sqrt(TAIL_SHARE * (1 - TAIL_SHARE) / max(count, 1))
    return poisson_quantile(n * min(share, 1.0), tail / 2)


# ---------------------------------------------------------------------------------------------
# The verdict


def _judge(counter: DriftCounter) -> DriftReport:
    n_rows = counter.rows
    k = max(1, len(counter.features))
    z_missing = NormalDist().inv_cdf(1 - ALPHA / (2 * k))
    rows = []
    for i, feat in enumerate(counter.features):
        b = len(feat.train_counts)
        file_counts = counter.totals[i, :b]
        outside = int(counter.totals[i, counter.bins])
        missing = int(counter.totals[i, counter.bins + 1])
        n = int(file_counts.sum())
        missing_rate = missing / n_rows if n_rows else 0.0
        ratios: dict[str, float] = {}
        flag = "ok"
        reasons = []
        row: dict[str, Any] = {"name": feat.name, "rows": n}
        # PSI
        psi_value = psi_limit = psi_unlike = None
        if n and feat.train_counts.sum():
            p = feat.train_counts / feat.train_counts.sum()
            psi_value = float(psi(file_counts / n, p))
            n_eff = n * feat.count / (n + feat.count) if feat.count else n
            psi_limit = max(PSI_FLOOR, chance_limit(feat.train_counts, n_eff, ALPHA / k))
            psi_unlike = max(PSI_UNLIKE_FLOOR, chance_limit(feat.train_counts, n_eff, ALPHA_UNLIKE / k))
            ratios["psi"] = psi_value / psi_limit
            flag = _flagged(flag, reasons, psi_value, psi_limit, psi_unlike, f"PSI {psi_value:.2f} > {psi_limit:.2f}")
        # range
        range_limit = _range_limit(n, feat.count, ALPHA / k)
        range_unlike = max(_range_limit(n, feat.count, ALPHA_UNLIKE / k), math.ceil(RANGE_UNLIKE_SHARE * n))
        ratios["range"] = outside / max(range_limit, 1) if outside else 0.0
        flag = _flagged(flag, reasons, outside, range_limit, range_unlike,
                        f"{outside / max(n, 1):.1%} outside the training range")
        # the training 1-99 % range: about 2 % of training values lie beyond it
        tails = int(counter.totals[i, counter.bins + 2])
        tail_limit = _tail_limit(n, feat.count, ALPHA / k)
        tail_unlike = max(_tail_limit(n, feat.count, ALPHA_UNLIKE / k), math.ceil(TAIL_UNLIKE_SHARE * n))
        ratios["tails"] = tails / max(tail_limit, 1)
        flag = _flagged(flag, reasons, tails, tail_limit, tail_unlike,
                        f"{tails / max(n, 1):.0%} beyond the training 1-99 % range")
        # missing rate
        p0 = feat.missing_rate
        diff = abs(missing_rate - p0)
        train_rows = feat.count / (1 - p0) if p0 < 1 else feat.count
        spread = max(p0 * (1 - p0), 1 / (train_rows + 1))
        sd = math.sqrt(spread * (1 / max(n_rows, 1) + 1 / max(train_rows, 1)))
        missing_limit = max(MISSING_FLOOR, z_missing * sd)
        if missing_rate > p0 and n_rows:  # more empty cells: counted (Poisson), not a normal guess
            upper = p0 + z_missing * math.sqrt(spread / max(train_rows, 1))
            above = poisson_quantile(n_rows * min(upper, 1.0), ALPHA / (2 * k)) / n_rows - p0
            missing_limit = max(MISSING_FLOOR, above)
        ratios["missing"] = diff / missing_limit
        flag = _flagged(flag, reasons, diff, missing_limit, MISSING_UNLIKE,
                        f"{missing_rate:.0%} empty (training {p0:.0%})")
        row.update(
            outside_range=outside / n if n else 0.0,
            outside_limit=range_limit / n if n else 0.0,
            outside_quantiles=tails / n if n else 0.0,
            outside_quantiles_limit=tail_limit / n if n else 0.0,
            missing_rate=missing_rate,
            training_missing_rate=p0,
            psi=psi_value,
            psi_limit=psi_limit,
            psi_unlike_limit=psi_unlike,
            flag=flag if n_rows >= MIN_ROWS else TOO_FEW,
            score=max(ratios.values()) + 10 * _FLAG_LEVEL[flag],
            reason="; ".join(reasons),
            histogram={
                "edges": feat.edges.tolist(),
                "training": feat.train_counts.tolist(),
                "file": file_counts.tolist(),
            },
        )
        rows.append(row)
    order = sorted(rows, key=lambda r: -r["score"])
    worst = [r["name"] for r in order[:3]]
    levels = [_FLAG_LEVEL.get(r["flag"], 0) for r in rows]
    notes = list(counter.notes)
    if n_rows < MIN_ROWS or not rows:
        verdict = TOO_FEW
        if not rows:
            sentence = "no feature column has a training profile to compare with"
        else:
            sentence = (
                f"{TOO_FEW}: {n_rows:,} row{'s' if n_rows != 1 else ''}, at least {MIN_ROWS} are needed"
            )
    else:
        top = max(levels)
        verdict = (LIKE, SOME, UNLIKE)[top]
        if top:
            named = [r["name"] for r in order if _FLAG_LEVEL[r["flag"]]][:3]
            worst = named
            sentence = f"{verdict}: {', '.join(named)} drift{'s' if len(named) == 1 else ''} most"
        else:
            sentence = f"{verdict} ({len(rows)} features, {n_rows:,} rows, none beyond chance)"
    for r in rows:
        r["score"] = round(float(r["score"]), 4)
    return DriftReport(
        verdict=verdict, worst=worst, rows=n_rows, features=rows, sentence=sentence, notes=notes
    )


def _flagged(flag: str, reasons: list[str], value: float, limit: float, unlike: float, reason: str) -> str:
    """``flag`` raised by one check: beyond ``unlike`` is unlike the training data, beyond ``limit`` some drift
    (and ``reason`` is noted)."""
    if value > limit:
        reasons.append(reason)
    if value > unlike:
        return UNLIKE
    return _worse(flag, SOME) if value > limit else flag


def _worse(a: str, b: str) -> str:
    return a if _FLAG_LEVEL[a] >= _FLAG_LEVEL[b] else b
