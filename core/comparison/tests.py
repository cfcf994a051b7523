"""The classical tests beside the bootstrap verdict, each named for what it tests.

- :func:`mcnemar_exact` — do two versions make different numbers of mistakes on the same rows
  (accuracy)? Exact binomial test on the rows where exactly one of them is right.
- :func:`cochran_q` — do three to ten versions have the same accuracy on the same rows?
- :func:`delong` — do two binary versions have the same ROC AUC on the same rows? DeLong, DeLong
  & Clarke-Pearson (1988), computed with the fast midrank algorithm of Sun & Xu (2014).
- :func:`holm` — Holm's step-down correction of p-values for the number of pairs compared.
"""

from __future__ import annotations

import math

import numpy as np


def mcnemar_exact(correct_a, correct_b) -> float:
    """Two-sided exact McNemar p-value from per-row correctness; 1.0 when the two never disagree.

    With ``b`` rows where only ``a`` is right and ``c`` where only ``b`` is, the p-value is
    ``min(1, 2 · P(X ≤ min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``.
    """
    from scipy.stats import binom

    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("Both versions' correctness must cover the same rows.")
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(~a & b))
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(only_a, only_b), discordant, 0.5)))


def cochran_q(correct) -> dict:
    """Cochran's Q on an ``(n rows, k versions)`` correctness matrix: ``{"q", "df", "p"}``.

    ``Q = (k − 1) (k Σ C_j² − N²) / (k N − Σ R_i²)`` with column totals ``C_j``, row totals ``R_i``
    and grand total ``N``; ``p`` from χ² with ``k − 1`` degrees of freedom. When every row is
    all right or all wrong the versions never differ: ``q = 0``, ``p = 1``.
    """
    from scipy.stats import chi2

    x = np.asarray(correct, dtype=bool)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError("Cochran's Q needs a (rows, versions) matrix with at least two versions.")
    k = x.shape[1]
    cols = x.sum(axis=0, dtype=np.float64)
    rows = x.sum(axis=1, dtype=np.float64)
    total = cols.sum()
    denominator = k * total - float(np.dot(rows, rows))
    if denominator <= 0:
        return {"q": 0.0, "df": k - 1, "p": 1.0}
    q = (k - 1) * (k * float(np.dot(cols, cols)) - total * total) / denominator
    return {"q": float(q), "df": k - 1, "p": float(chi2.sf(q, k - 1))}


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    n = len(x)
    # boundaries of runs of equal values
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], n]
    run_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks_sorted = np.repeat(run_rank, ends - starts)
    out = np.empty(n, dtype=np.float64)
    out[order] = ranks_sorted
    return out


def delong_placements(y_true_binary, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and the structural components ``V10`` (positives) and ``V01`` (negatives), Sun & Xu (2014).

    ``scores`` is ``(k, n)``; returns ``auc (k,)``, ``v10 (k, m)``, ``v01 (k, n − m)``.
    """
    y = np.asarray(y_true_binary, dtype=bool)
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    pos, neg = s[:, y], s[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    tx = np.array([_midranks(r) for r in pos])
    ty = np.array([_midranks(r) for r in neg])
    tz = np.array([_midranks(r) for r in np.hstack([pos, neg])])
    auc = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2.0) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def delong(y_true_binary, scores_a, scores_b) -> dict:
    """DeLong's test that two scorings of the same rows have equal ROC AUC.

    Returns ``{"auc_a", "auc_b", "difference", "z", "p", "variance"}`` (two-sided normal p). With no
    positive or no negative row the AUCs are undefined: every value is ``nan`` and ``p`` is 1.0.
    When the difference has zero variance (identical scorings) ``z`` is 0 and ``p`` 1.0.
    """
    from scipy.stats import norm

    y = np.asarray(y_true_binary, dtype=bool)
    m = int(y.sum())
    n = y.size - m
    if m == 0 or n == 0:
        nan = float("nan")
        return {"auc_a": nan, "auc_b": nan, "difference": nan, "z": nan, "p": 1.0, "variance": nan}
    auc, v10, v01 = delong_placements(y, np.vstack([scores_a, scores_b]))
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    cov = s10 / m + s01 / n
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    difference = float(auc[0] - auc[1])
    if variance <= 1e-300:
        z, p = 0.0, 1.0 if abs(difference) < 1e-15 else 0.0
    else:
        z = difference / math.sqrt(variance)
        p = float(min(1.0, 2.0 * norm.sf(abs(z))))
    return {"auc_a": float(auc[0]), "auc_b": float(auc[1]), "difference": difference, "z": float(z),
            "p": float(p), "variance": max(variance, 0.0)}


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (each in [0, 1]; ``nan`` counts as 1)."""
    p = np.asarray(list(p_values), dtype=np.float64)
    if p.size == 0:
        return []
    p = np.where(np.isnan(p), 1.0, np.clip(p, 0.0, 1.0))
    m = p.size
    order = np.argsort(p, kind="mergesort")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty(m, dtype=np.float64)
    out[order] = adjusted_sorted
    return [float(x) for x in out]
