"""Paired bootstrap intervals and verdicts for versions scored on the same rows.

**The resampling.** One ``(n_resamples, n)`` matrix of resample *counts* ``W`` (row ``r`` says how
often each of the ``n`` rows was drawn in resample ``r``; drawn with ``numpy.random.default_rng(seed)``,
in blocks of about two million cells) is shared by every version, so the versions are resampled on
the same rows and their differences get intervals too. Every label metric comes from the resampled
confusion counts ``W @ onehot(true, predicted)`` — one matrix product per block for all versions;
Brier score and log loss from ``W @ per-row loss``; ROC AUC and average precision from weighted
Mann–Whitney / precision sums over tie groups of the sorted scores. No Python loop runs per resample.

**Intervals** are the 2.5 % and 97.5 % percentiles of the resampled values (resamples where a metric
is undefined, e.g. no positive row, are left out), widened to hold the observed value when they miss
it (which only happens on a handful of rows).

**The p-value** of a difference ``d`` (version a − version b) with resampled differences ``d*_r`` is
the two-sided bootstrap p of Efron & Tibshirani (1993, §16.4), shifted to the null hypothesis:
``p = (1 + #{r : |d*_r − d| ≥ |d|}) / (R + 1)``. Identical versions give ``p = 1``; the smallest
possible value is ``1 / (R + 1)``. The p-values of all pairs are Holm-corrected, and a pair is
**better** or **worse** (a relative to b, on the primary metric) when its Holm p is below ``alpha``,
otherwise **no detectable difference**.

**Averaging.** Macro precision, recall and F1 average over the classes present in the true or
predicted labels of each resample (the rule of ``core.training.metrics``); balanced accuracy averages
recall over the classes with true rows (as scikit-learn does); MCC is the multi-class
Matthews coefficient, 0 when undefined.

**Binary positive class.** ROC AUC, average precision and Brier score of a two-class version score
the positive class: ``CONFIRMED`` when it is one of the two classes, else the last class of
``predict_proba`` (ROC AUC is the same either way). Three classes: macro one-vs-rest ROC AUC and
average precision; the multi-class Brier score ``mean Σ_k (p_k − y_k)²``. Log loss clips
probabilities to ``[1e-15, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from core.comparison.results import (
    BETTER,
    CLASS_METRICS,
    LABEL_METRICS,
    LOWER_IS_BETTER,
    METRIC_NAMES,
    NO_DIFFERENCE,
    PROBABILITY_METRICS,
    WORSE,
    Comparison,
    Estimate,
    PairResult,
    ScoredVersion,
    interval_text,
    metric_name,
    p_text,
)
from core.errors import DataError

POSITIVE_CLASS = "CONFIRMED"
#: Cells of the resample-count matrix held at once (about 8 MB of float32).
BLOCK_CELLS = 2_000_000
LOG_LOSS_EPS = 1e-15
NAN = float("nan")


def positive_class(classes: Sequence[str]) -> str:
    """The class a two-class version's probability is read for: CONFIRMED when present, else the last."""
    classes = [str(c) for c in classes]
    return POSITIVE_CLASS if POSITIVE_CLASS in classes else classes[-1]


def resample_counts(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of the resample-count matrix, transposed: float32 ``(n, block)`` arrays.

    Column ``r`` of a block holds how often each row was drawn in that resample (the columns sum to
    ``n``). Rows first, so sums down the sorted rows (ROC AUC) run over contiguous memory.
    """
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, BLOCK_CELLS // max(n, 1)))
    for start in range(0, n_resamples, block):
        c = min(block, n_resamples - start)
        idx = rng.integers(0, n, size=(c, n), dtype=np.int64)
        idx *= c
        idx += np.arange(c, dtype=np.int64)[:, None]
        yield np.bincount(idx.ravel(), minlength=c * n).reshape(n, c).astype(np.float32)


# -- metrics from batches of confusion counts -------------------------------------------------

def _label_metrics(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Label metrics of a batch of confusion matrices ``(b, K, K)`` (rows true, columns predicted)."""
    cm = cm.astype(np.float64, copy=False)
    tp = np.einsum("bkk->bk", cm)
    predicted = cm.sum(axis=1)
    actual = cm.sum(axis=2)
    total = actual.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        present = (predicted > 0) | (actual > 0)
        n_present = present.sum(axis=1)
        has_true = actual > 0
        out = {
            "accuracy": np.where(total > 0, tp.sum(axis=1) / total, NAN),
            "precision_macro": np.where(n_present > 0, (precision * present).sum(axis=1) / n_present, 0.0),
            "recall_macro": np.where(n_present > 0, (recall * present).sum(axis=1) / n_present, 0.0),
            "f1_macro": np.where(n_present > 0, (f1 * present).sum(axis=1) / n_present, 0.0),
            "balanced_accuracy": np.where(has_true.any(axis=1),
                                          (recall * has_true).sum(axis=1) / has_true.sum(axis=1), NAN),
        }
        correct = tp.sum(axis=1)
        cov_tp = correct * total - (actual * predicted).sum(axis=1)
        cov_pp = total**2 - (predicted**2).sum(axis=1)
        cov_tt = total**2 - (actual**2).sum(axis=1)
        denominator = np.sqrt(cov_pp * cov_tt)
        out["mcc"] = np.where(denominator > 0, cov_tp / denominator, 0.0)
    out["_precision"], out["_recall"], out["_f1"] = precision, recall, f1
    return out


def _cumsum_down(x: np.ndarray) -> np.ndarray:
    """``np.cumsum(x, axis=0)`` for a C-ordered ``(rows, b)`` array, row by row (numpy's own is strided
    along axis 0 and several times slower for wide blocks)."""
    out = np.array(x, dtype=np.float64, copy=True)
    if out.shape[1] < 32:
        return np.cumsum(out, axis=0, out=out)
    for i in range(1, out.shape[0]):
        np.add(out[i - 1], out[i], out=out[i])
    return out


class _Ranked:
    """One score column prepared for weighted ROC AUC / average precision.

    The rows are grouped by equal score, groups in descending score order; a sparse
    ``(2 groups, n)`` matrix sums a block's resample counts into each group's positive and negative
    weight in one product, so the work per block is one pass over the counts plus sums over groups.
    """

    def __init__(self, positive: np.ndarray, score: np.ndarray):
        from scipy.sparse import csr_matrix

        unique, group = np.unique(-score, return_inverse=True)  # group 0 = highest score
        g = len(unique)
        rows = np.where(positive, group.ravel(), g + group.ravel())
        n = len(score)
        self.groups = g
        self.sum_by_group = csr_matrix((np.ones(n, dtype=np.float32), (rows, np.arange(n))), shape=(2 * g, n))

    def auc_ap(self, wt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted ROC AUC and average precision for each column of resample counts ``wt`` ``(n, b)``."""
        sums = np.asarray(self.sum_by_group @ wt, dtype=np.float64)
        pos_g, neg_g = sums[: self.groups], sums[self.groups:]
        cum_pos = _cumsum_down(pos_g)
        cum_neg = _cumsum_down(neg_g)
        p_tot = cum_pos[-1]
        n_tot = cum_neg[-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            # a positive beats every negative scored lower (n_tot - cum_neg) and half of those tied
            beaten = p_tot * n_tot - np.einsum("gb,gb->b", pos_g, cum_neg - 0.5 * neg_g)
            auc = beaten / (p_tot * n_tot)
            cum_neg += cum_pos
            ap = np.einsum("gb,gb->b", pos_g, cum_pos / cum_neg) / p_tot
        auc = np.where((p_tot > 0) & (n_tot > 0), auc, NAN)
        ap = np.where(p_tot > 0, ap, NAN)
        return auc, ap


class _Prepared:
    """One version turned into the arrays the resampling multiplies."""

    def __init__(self, version: ScoredVersion, labels: list[str], index: dict[str, int], y_idx: np.ndarray):
        self.label = version.label
        k = len(labels)
        self.k = k
        self.pred_idx = _indices(version.y_pred, index)
        self.correct = self.pred_idx == y_idx
        self.cell = y_idx * k + self.pred_idx
        self.classes = [str(c) for c in version.classes]
        self.has_proba = version.proba is not None
        self.ranked: list[_Ranked] = []
        self.losses: np.ndarray | None = None
        if not self.has_proba:
            return
        proba = np.asarray(version.proba, dtype=np.float64)
        y_true = _as_str(version.y_true)
        onehot = np.stack([y_true == c for c in self.classes], axis=1)
        if len(self.classes) == 2:
            j = self.classes.index(positive_class(self.classes))
            targets = [(onehot[:, j], proba[:, j])]
            brier = (proba[:, j] - onehot[:, j]) ** 2
        else:
            targets = [(onehot[:, j], proba[:, j]) for j in range(len(self.classes))]
            brier = ((proba - onehot) ** 2).sum(axis=1)
        self.ranked = [_Ranked(pos, score) for pos, score in targets]
        totals = proba.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            p_true = np.where(totals > 0, (proba * onehot).sum(axis=1) / totals, 0.0)
        log_loss = -np.log(np.clip(p_true, LOG_LOSS_EPS, 1.0))
        self.losses = np.stack([brier, log_loss], axis=1)


class _Collector:
    """Accumulates per-resample metric values of every prepared version, block by block."""

    def __init__(self, prepared: list[_Prepared], labels: list[str], n: int):
        self.prepared = prepared
        self.labels = labels
        self.n = n
        k = len(labels)
        self.k = k
        columns = np.arange(len(prepared))[None, :] * k * k + np.stack([p.cell for p in prepared], axis=1)
        onehot = np.zeros((n, len(prepared) * k * k), dtype=np.float32)
        np.put_along_axis(onehot, columns, 1.0, axis=1)
        self.onehot_t = np.ascontiguousarray(onehot.T)
        self.with_losses = [i for i, p in enumerate(prepared) if p.losses is not None]
        self.losses_t = (np.ascontiguousarray(np.hstack([prepared[i].losses for i in self.with_losses]).T)
                         if self.with_losses else None)
    def add(self, wt: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Every metric of every version for each column of resample counts ``wt`` ``(n, b)``."""
        b = wt.shape[1]
        values: list[dict[str, np.ndarray]] = [{} for _ in self.prepared]
        counts = (self.onehot_t @ wt).T.reshape(b, len(self.prepared), self.k, self.k)
        for i, _p in enumerate(self.prepared):
            values[i].update(_label_metrics(counts[:, i]))
        if self.losses_t is not None:
            sums = (self.losses_t @ wt.astype(np.float64)) / wt.sum(axis=0, dtype=np.float64)[None, :]
            for j, i in enumerate(self.with_losses):
                values[i]["brier"] = sums[2 * j]
                values[i]["log_loss"] = sums[2 * j + 1]
                aucs, aps = zip(*(r.auc_ap(wt) for r in self.prepared[i].ranked), strict=True)
                values[i]["roc_auc"] = np.mean(aucs, axis=0)
                values[i]["average_precision"] = np.mean(aps, axis=0)
        return values


def _as_str(values) -> np.ndarray:
    arr = np.asarray(values, dtype=object).ravel()
    return np.array([str(v) for v in arr], dtype=object)


def _indices(values, index: dict[str, int]) -> np.ndarray:
    """Each value's position in ``index`` (values compared as strings)."""
    unique, inverse = np.unique(_as_str(values).astype(str), return_inverse=True)
    lookup = np.array([index[u] for u in unique], dtype=np.int64)
    return lookup[inverse.ravel()]


def _labels_of(versions: Sequence[ScoredVersion]) -> list[str]:
    labels: list[str] = []
    seen: set[str] = set()
    for v in versions:
        for c in v.classes:
            if str(c) not in seen:
                seen.add(str(c))
                labels.append(str(c))
    extra: set[str] = set()
    for v in versions:
        extra.update(set(_as_str(v.y_true)) | set(_as_str(v.y_pred)))
    labels.extend(sorted(extra - seen))
    return labels


def _check(version: ScoredVersion) -> int:
    n = len(version.y_true)
    if n == 0:
        raise DataError(f"{version.label} was scored on no rows; score it on a file with labelled rows.")
    if len(version.y_pred) != n:
        raise DataError(f"{version.label} has {len(version.y_pred):,} predictions for {n:,} labelled rows; "
                        "score every row once.")
    if version.proba is not None:
        shape = np.shape(version.proba)
        if shape != (n, len(version.classes)):
            raise DataError(f"{version.label}'s probabilities have shape {shape}, not one column per class "
                            f"for each of the {n:,} rows; pass predict_proba's output as it is.")
    return n


def _estimate(point: float, resampled: np.ndarray) -> Estimate:
    finite = resampled[np.isfinite(resampled)]
    if not math.isfinite(point) or finite.size == 0:
        return Estimate(float(point), NAN, NAN)
    low, high = np.quantile(finite, [0.025, 0.975])
    # On few rows a lumpy metric's percentiles can miss the observed value; the interval always holds it.
    return Estimate(float(point), float(min(low, point)), float(max(high, point)))


def _bootstrap_p(point: float, resampled: np.ndarray) -> float:
    finite = resampled[np.isfinite(resampled)]
    if not math.isfinite(point) or finite.size == 0:
        return 1.0
    extreme = np.count_nonzero(np.abs(finite - point) >= abs(point) - 1e-12)
    return float((1 + extreme) / (finite.size + 1))


class _Scored:
    """Point values and resampled values of every metric of a set of versions on shared rows."""

    def __init__(self, versions: Sequence[ScoredVersion], n_resamples: int, seed: int):
        self.versions = list(versions)
        self.n = _check(self.versions[0])
        self.labels = _labels_of(self.versions)
        index = {c: i for i, c in enumerate(self.labels)}
        y_idx = _indices(self.versions[0].y_true, index)
        self.prepared = [_Prepared(v, self.labels, index, y_idx) for v in self.versions]
        from threadpoolctl import threadpool_limits

        collector = _Collector(self.prepared, self.labels, self.n)
        # These products are thin: one BLAS thread is several times faster than threads fighting
        # over busy cores (and leaves the other core to the window).
        with threadpool_limits(limits=1, user_api="blas"):
            self.point = collector.add(np.ones((self.n, 1), dtype=np.float32))
            blocks = [collector.add(w) for w in resample_counts(self.n, n_resamples, seed)]
        self.boot = [{name: np.concatenate([block[i][name] for block in blocks]) for name in self.point[i]}
                     for i in range(len(self.prepared))]

    def metrics(self, i: int) -> dict[str, Estimate]:
        out = {}
        for name in (*LABEL_METRICS, *PROBABILITY_METRICS):
            if name in self.point[i]:
                out[name] = _estimate(float(self.point[i][name][0]), self.boot[i][name])
            else:
                out[name] = Estimate(NAN, NAN, NAN)
        return out

    def per_class(self, i: int) -> dict[str, dict[str, Estimate]]:
        out = {}
        for j, label in enumerate(self.labels):
            out[label] = {m: _estimate(float(self.point[i][f"_{m}"][0, j]), self.boot[i][f"_{m}"][:, j])
                          for m in CLASS_METRICS}
        return out

    def difference(self, i: int, j: int, metric: str) -> tuple[Estimate, np.ndarray]:
        if metric not in self.point[i] or metric not in self.point[j]:
            return Estimate(NAN, NAN, NAN), np.array([])
        point = float(self.point[i][metric][0] - self.point[j][metric][0])
        resampled = self.boot[i][metric] - self.boot[j][metric]
        return _estimate(point, resampled), resampled


def metric_intervals(y_true, y_pred, proba, classes, *, n_resamples: int = 2000,
                     seed: int = 0) -> dict[str, Estimate]:
    """Every metric of one version with its 95 % bootstrap interval (unpaired).

    Keys: the metric keys of :data:`core.comparison.results.METRIC_NAMES`, and per class
    ``precision_<class>``, ``recall_<class>``, ``f1_<class>`` (the class label as given).
    """
    version = ScoredVersion("version", "", [str(c) for c in classes], np.asarray(y_true, dtype=object),
                            np.asarray(y_pred, dtype=object), None if proba is None else np.asarray(proba))
    scored = _Scored([version], n_resamples, seed)
    out = dict(scored.metrics(0))
    for label, values in scored.per_class(0).items():
        for m, estimate in values.items():
            out[f"{m}_{label}"] = estimate
    return out


def check_verdict_options(primary: str, alpha: float, n_resamples: int, *, minimum: int = 1) -> None:
    """Refuse a verdict metric, significance level or resample count that cannot give a verdict (one sentence)."""
    if primary not in METRIC_NAMES:
        raise DataError(f"Unknown metric {primary!r} for the verdict; choose one of {', '.join(METRIC_NAMES)}.")
    if not 0 < alpha < 1:
        raise DataError(f"The significance level must lie between 0 and 1, not {alpha}; 0.05 is usual.")
    if n_resamples < minimum:
        raise DataError(f"{n_resamples} bootstrap resamples are too few for an interval; use at least {minimum} "
                        "(2,000 is the default).")


def compare_versions(versions: list[ScoredVersion], *, primary: str = "f1_macro", alpha: float = 0.05,
                     n_resamples: int = 2000, seed: int = 0, paired: bool = True) -> Comparison:
    """Intervals for every version and, when ``paired``, a verdict for every pair (see the module)."""
    from core.comparison.tests import cochran_q, delong, holm, mcnemar_exact

    versions = list(versions)
    if not versions:
        raise DataError("No version was scored; choose at least one version to compare.")
    check_verdict_options(primary, alpha, n_resamples, minimum=1)
    labels = [v.label for v in versions]
    if len(set(labels)) != len(labels):
        raise DataError("Two versions carry the same label; give each version its own label.")
    for v in versions:
        _check(v)
    if primary in PROBABILITY_METRICS and paired:
        missing = [v.label for v in versions if v.proba is None]
        if missing:
            raise DataError(f"{missing[0]} gives no probabilities, so it cannot be judged on {metric_name(primary)}; "
                            "choose a label metric such as macro F1.")

    if not paired:
        metrics, per_class, rows = {}, {}, {}
        for v in versions:
            scored = _Scored([v], n_resamples, seed)
            metrics[v.label] = scored.metrics(0)
            per_class[v.label] = scored.per_class(0)
            rows[v.label] = scored.n
        return Comparison(rows=min(rows.values()), seed=seed, n_resamples=n_resamples, alpha=alpha,
                          primary=primary, metrics=metrics, per_class=per_class, pairs=[], cochran_q=None,
                          paired=False, rows_by_version=rows)

    n = len(versions[0].y_true)
    y0 = _as_str(versions[0].y_true)
    for v in versions[1:]:
        if len(v.y_true) != n or not np.array_equal(_as_str(v.y_true), y0):
            raise DataError(f"{v.label} was scored on other rows than {versions[0].label}, so they cannot be "
                            "compared pair by pair; compare them unpaired instead.")
    kinds = {len(v.classes) == 2 for v in versions}
    if len(kinds) > 1:
        raise DataError("Two-class and three-class versions cannot be compared pair by pair; "
                        "compare versions of one task, or compare them unpaired.")

    scored = _Scored(versions, n_resamples, seed)
    metrics = {v.label: scored.metrics(i) for i, v in enumerate(versions)}
    per_class = {v.label: scored.per_class(i) for i, v in enumerate(versions)}

    raw = []
    for i in range(len(versions)):
        for j in range(i + 1, len(versions)):
            difference, resampled = scored.difference(i, j, primary)
            raw.append((i, j, difference, _bootstrap_p(difference.value, resampled)))
    adjusted = holm([p for *_, p in raw])
    pairs = []
    for (i, j, difference, p), p_adj in zip(raw, adjusted, strict=True):
        a, b = versions[i], versions[j]
        verdict = NO_DIFFERENCE
        if p_adj < alpha and math.isfinite(difference.value) and difference.value != 0:
            a_higher = difference.value > 0
            verdict = BETTER if a_higher != (primary in LOWER_IS_BETTER) else WORSE
        pairs.append(PairResult(
            a=a.label, b=b.label, metric=primary, difference=difference, p_value=p, p_holm=p_adj,
            verdict=verdict, sentence=_sentence(a.label, b.label, primary, difference, p_adj, verdict, n,
                                                len(raw)),
            mcnemar_p=mcnemar_exact(scored.prepared[i].correct, scored.prepared[j].correct),
            delong=_delong_pair(a, b, delong),
            auc_difference=(scored.difference(i, j, "roc_auc")[0]
                            if a.proba is not None and b.proba is not None else None),
        ))
    q = None
    if 3 <= len(versions) <= 10:
        q = cochran_q(np.stack([p.correct for p in scored.prepared], axis=1))
    return Comparison(rows=n, seed=seed, n_resamples=n_resamples, alpha=alpha, primary=primary,
                      metrics=metrics, per_class=per_class, pairs=pairs, cochran_q=q, paired=True,
                      rows_by_version={v.label: n for v in versions})


def _delong_pair(a: ScoredVersion, b: ScoredVersion, delong) -> dict | None:
    if a.proba is None or b.proba is None or len(a.classes) != 2 or len(b.classes) != 2:
        return None
    pos_a, pos_b = positive_class(a.classes), positive_class(b.classes)
    if pos_a != pos_b:
        return None
    y = _as_str(a.y_true) == pos_a
    if y.all() or not y.any():
        return None
    score_a = np.asarray(a.proba, dtype=np.float64)[:, [str(c) for c in a.classes].index(pos_a)]
    score_b = np.asarray(b.proba, dtype=np.float64)[:, [str(c) for c in b.classes].index(pos_b)]
    result = delong(y, score_a, score_b)
    return {k: result[k] for k in ("auc_a", "auc_b", "difference", "z", "p")}


def _sentence(a: str, b: str, metric: str, difference: Estimate, p: float, verdict: str, rows: int,
              n_pairs: int) -> str:
    outcome = {BETTER: f"{a} is better", WORSE: f"{a} is worse"}.get(verdict, NO_DIFFERENCE)
    holm_note = " (Holm)" if n_pairs > 1 else ""
    return (f"{a} vs {b}: {metric_name(metric)} {interval_text(difference, sign=True)}, "
            f"{p_text(p)}{holm_note} → {outcome} on these {rows:,} rows")
