"""core.comparison.tests (McNemar, Cochran's Q, DeLong, Holm) against published numbers and brute force;
bootstrap coverage and hostile inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from core.comparison import ScoredVersion, compare_versions, metric_intervals
from core.comparison.tests import cochran_q, delong, holm, mcnemar_exact


def _pairs(only_a, only_b, both=0, neither=0):
    a = np.r_[np.ones(only_a), np.zeros(only_b), np.ones(both), np.zeros(neither)].astype(bool)
    b = np.r_[np.zeros(only_a), np.ones(only_b), np.ones(both), np.zeros(neither)].astype(bool)
    return a, b


def test_mcnemar_exact_reproduces_the_published_example():
    # Fagerland, Lydersen & Laake (2013), "The McNemar test for binary matched-pairs data: mid-p and
    # asymptotic are better than exact conditional", BMC Medical Research Methodology 13:91, Table 1
    # (airway hyper-responsiveness before/after stem cell transplantation, Bentur et al. 2009):
    # 21 pairs, discordant cells 1 and 7; exact conditional p-value 0.070 (= 2 * 9/256 = 0.0703).
    a, b = _pairs(1, 7, both=1, neither=12)
    assert mcnemar_exact(a, b) == pytest.approx(0.0703125)
    assert mcnemar_exact(b, a) == pytest.approx(0.0703125)


def test_mcnemar_is_one_when_the_two_never_disagree_and_capped_at_one():
    a, b = _pairs(0, 0, both=30, neither=5)
    assert mcnemar_exact(a, b) == 1.0
    assert mcnemar_exact(*_pairs(4, 4)) == 1.0


def test_cochran_q_reproduces_the_published_example():
    # Conover (1999), Practical Nonparametric Statistics, 3rd ed., p. 253 (also the NIST Dataplot
    # reference manual, COCHRAN TEST): 12 subjects, 3 treatments, Q = 2.8 with 2 degrees of freedom,
    # p = 0.2466.
    x = np.array([[1, 1, 1], [1, 1, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0], [1, 1, 1],
                  [1, 1, 1], [1, 1, 0], [0, 0, 1], [0, 1, 0], [1, 1, 1], [1, 1, 1]])
    result = cochran_q(x)
    assert result["q"] == pytest.approx(2.8)
    assert result["df"] == 2
    assert result["p"] == pytest.approx(0.246597, abs=1e-6)
    assert cochran_q(np.ones((10, 4))) == {"q": 0.0, "df": 3, "p": 1.0}


def _brute_force_delong(y, a, b):
    """DeLong et al. (1988) directly: placement values by O(m n) comparison, then their covariance."""
    pos, neg = y.astype(bool), ~y.astype(bool)
    m, n = pos.sum(), neg.sum()

    def psi(x, z):
        return (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])

    v10, v01, aucs = [], [], []
    for s in (a, b):
        k = psi(s[pos], s[neg])
        aucs.append(k.mean())
        v10.append(k.mean(axis=1))
        v01.append(k.mean(axis=0))
    s = np.cov(np.array(v10)) / m + np.cov(np.array(v01)) / n
    return aucs, s[0, 0] + s[1, 1] - 2 * s[0, 1]


@pytest.mark.parametrize("seed", range(5))
def test_delong_equals_the_brute_force_variance_on_small_data(seed):
    rng = np.random.default_rng(seed)
    y = rng.random(40) < 0.4
    a = np.round(y * 0.8 + rng.random(40), 1)  # rounded: ties inside and across classes
    b = np.round(y * 0.3 + rng.random(40), 1)
    result = delong(y, a, b)
    (auc_a, auc_b), variance = _brute_force_delong(y, a, b)
    assert result["auc_a"] == pytest.approx(auc_a) == pytest.approx(roc_auc_score(y, a))
    assert result["auc_b"] == pytest.approx(auc_b)
    assert result["variance"] == pytest.approx(variance, rel=1e-10)
    assert result["z"] == pytest.approx((auc_a - auc_b) / math.sqrt(variance))
    assert 0 <= result["p"] <= 1


def test_delong_of_identical_scores_and_of_one_class():
    y = np.array([0, 1, 0, 1, 1], dtype=bool)
    s = np.array([0.1, 0.9, 0.4, 0.3, 0.8])
    assert delong(y, s, s)["p"] == 1.0 and delong(y, s, s)["z"] == 0.0
    one = delong(np.ones(5, dtype=bool), s, s[::-1])
    assert one["p"] == 1.0 and math.isnan(one["auc_a"])


def test_holm_matches_the_textbook_step_down():
    # Holm (1979): sorted p (0.01, 0.02, 0.03, 0.04) times (4, 3, 2, 1), made monotone -> 0.04, 0.06, 0.06, 0.06
    assert holm([0.03, 0.01, 0.04, 0.02]) == pytest.approx([0.06, 0.04, 0.06, 0.06])
    assert holm([]) == [] and holm([0.9, float("nan")]) == [1.0, 1.0]


def test_bootstrap_intervals_cover_the_true_accuracy_between_90_and_99_percent():
    """200 simulated data sets with a known accuracy in [0.90, 0.99]: the 95 % interval holds it 90–99 % of the time."""
    rng = np.random.default_rng(2025)
    classes = ["CONFIRMED", "FALSE POSITIVE"]
    covered = 0
    for k in range(200):
        truth = rng.uniform(0.90, 0.99)
        n = 400
        y = rng.choice(np.array(classes, dtype=object), n)
        right = rng.random(n) < truth
        pred = np.where(right, y, np.where(y == classes[0], classes[1], classes[0])).astype(object)
        estimate = metric_intervals(y, pred, None, classes, n_resamples=400, seed=k)["accuracy"]
        covered += estimate.low <= truth <= estimate.high
    assert 180 <= covered <= 198, covered


labels = st.sampled_from(["A", "B", "C"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(labels, labels, labels, st.floats(0, 1), st.floats(0, 1)), min_size=1, max_size=60),
       st.integers(0, 2**31 - 1))
def test_intervals_contain_the_point_and_p_values_are_probabilities(rows, seed):
    y = np.array([r[0] for r in rows], dtype=object)
    pa = np.array([r[1] for r in rows], dtype=object)
    pb = np.array([r[2] for r in rows], dtype=object)
    raw = np.array([[r[3], r[4], 1.0] for r in rows])
    proba = raw / raw.sum(axis=1, keepdims=True)
    a = ScoredVersion("<script>", "a", ["A", "B", "C"], y, pa, proba)
    b = ScoredVersion('say "hi"', "b", ["A", "B", "C"], y, pb, proba[:, ::-1].copy())
    c = compare_versions([a, b], n_resamples=50, seed=seed)
    for metrics in c.metrics.values():
        for e in metrics.values():
            if not math.isnan(e.value) and not math.isnan(e.low):
                assert e.low - 1e-9 <= e.value <= e.high + 1e-9
    for per_class in c.per_class.values():
        for values in per_class.values():
            for e in values.values():
                assert e.low - 1e-9 <= e.value <= e.high + 1e-9
    (pair,) = c.pairs
    assert 0 <= pair.p_value <= 1 and 0 <= pair.p_holm <= 1 and 0 <= pair.mcnemar_p <= 1
    assert pair.verdict in {"better", "worse", "no detectable difference"}
