"""The Compare table and uncertainty: a registered metric is best or worst only beyond its interval.

Versions registered with ``metric_intervals`` (the evaluator's 95 % intervals) are marked best /
worst only when the intervals of the two versions being told apart do not overlap; otherwise they
are "tied within uncertainty". Versions registered before intervals were kept show their point
value with a "no interval recorded" hint.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from exoreg_gui.models.compare_table_model import (  # noqa: E402
    INTERVALS_KEY,
    CompareRow,
    CompareTableModel,
    IntervalRole,
    MarkRole,
    metric_marks,
)


@pytest.fixture
def forest_metas(gui_registry):
    from core.model_registry import ModelRegistry

    registry = ModelRegistry(gui_registry.root)
    return [registry.get_metadata(gui_registry.ids[f"RandomForest:{v}"]) for v in (1, 2, 3)]


def with_intervals(meta, **intervals):
    """A copy of ``meta`` whose evaluation records these ``metric=(low, high)`` intervals."""
    evaluation = {**meta.evaluation, INTERVALS_KEY: {k: list(v) for k, v in intervals.items()}}
    return dataclasses.replace(meta, evaluation=evaluation)


def cells(model, label):
    row = model.row_for(label)
    assert row >= 0, model.row_labels()
    return [model.index(row, c) for c in range(1, model.columnCount())]


def marks(model, label):
    return [c.data(MarkRole) for c in cells(model, label)]


def tooltips(model, label):
    return [c.data(Qt.ItemDataRole.ToolTipRole) for c in cells(model, label)]


def test_overlapping_intervals_are_tied_not_best(forest_metas):
    # f1: v1 0.912, v2 0.948, v3 0.931 -- on ~120 test rows the intervals are wide and overlap.
    metas = [with_intervals(forest_metas[0], f1_score=(0.86, 0.95)),
             with_intervals(forest_metas[1], f1_score=(0.91, 0.98)),
             with_intervals(forest_metas[2], f1_score=(0.89, 0.97))]
    model = CompareTableModel()
    model.set_versions(metas)
    assert marks(model, "f1_score") == ["tied", "tied", "tied"]
    tip = tooltips(model, "f1_score")[1]
    assert "tied within uncertainty" in tip
    assert "[0.9100, 0.9800]" in tip and "RandomForest v3 0.9310 [0.8900, 0.9700]" in tip
    assert cells(model, "f1_score")[1].data(IntervalRole) == (0.91, 0.98)
    # The background says "tied", never the green of a best value.
    assert cells(model, "f1_score")[1].data(Qt.ItemDataRole.BackgroundRole).color().name() == "#e4e2f4"


def test_separated_intervals_are_best_and_worst(forest_metas):
    metas = [with_intervals(forest_metas[0], f1_score=(0.905, 0.919)),
             with_intervals(forest_metas[1], f1_score=(0.941, 0.955)),
             with_intervals(forest_metas[2], f1_score=(0.925, 0.937))]
    model = CompareTableModel()
    model.set_versions(metas)
    assert marks(model, "f1_score") == ["worst", "best", None]
    tip = tooltips(model, "f1_score")[1]
    assert "95 % interval [0.9410, 0.9550]" in tip and "best of the 3 compared" in tip


def test_best_apart_but_worst_tied(forest_metas):
    # v2 stands out; v1 and v3 cannot be told apart.
    metas = [with_intervals(forest_metas[0], f1_score=(0.90, 0.925)),
             with_intervals(forest_metas[1], f1_score=(0.944, 0.952)),
             with_intervals(forest_metas[2], f1_score=(0.92, 0.94))]
    model = CompareTableModel()
    model.set_versions(metas)
    assert marks(model, "f1_score") == ["tied", "best", "tied"]


def test_versions_without_intervals_say_so(forest_metas):
    model = CompareTableModel()
    model.set_versions(forest_metas)  # registered before intervals were kept
    assert marks(model, "f1_score") == ["worst", "best", None]  # by point value, as before
    for tip in tooltips(model, "f1_score"):
        assert "no interval recorded" in tip
    assert "by point value" in tooltips(model, "f1_score")[1]
    assert cells(model, "f1_score")[0].data(IntervalRole) is None


def test_mixed_old_and_new_versions(forest_metas):
    # Only v2 has an interval; its runner-up v3 has none: the point values decide, and v3 says why.
    metas = [forest_metas[0], with_intervals(forest_metas[1], f1_score=(0.90, 0.99)), forest_metas[2]]
    model = CompareTableModel()
    model.set_versions(metas)
    assert marks(model, "f1_score") == ["worst", "best", None]
    assert "no interval recorded" in tooltips(model, "f1_score")[2]
    assert "no interval recorded" not in tooltips(model, "f1_score")[1]


def test_lower_is_better_metrics_use_intervals_too(forest_metas):
    metas = [dataclasses.replace(m, metrics={**m.metrics, "log_loss": loss}) for m, loss in
             zip(forest_metas, (0.30, 0.20, 0.25), strict=True)]
    metas = [with_intervals(metas[0], log_loss=(0.28, 0.32)), with_intervals(metas[1], log_loss=(0.18, 0.22)),
             with_intervals(metas[2], log_loss=(0.21, 0.29))]
    model = CompareTableModel()
    model.set_versions(metas)
    assert marks(model, "log_loss") == ["tied", "tied", "tied"]
    metas[2] = with_intervals(metas[2], log_loss=(0.24, 0.26))
    model.set_versions(metas)
    assert marks(model, "log_loss") == ["worst", "best", None]


@pytest.mark.parametrize("bad", [None, "0.9", [0.9], [0.95, 0.90], ["a", "b"], [float("nan"), 1.0],
                                 {"low": 0.1}, [True, 1.0]])
def test_malformed_intervals_count_as_none(forest_metas, bad):
    metas = [dataclasses.replace(m, evaluation={**m.evaluation, INTERVALS_KEY: {"f1_score": bad}})
             for m in forest_metas]
    model = CompareTableModel()
    model.set_versions(metas)
    assert marks(model, "f1_score") == ["worst", "best", None]
    assert all("no interval recorded" in tip for tip in tooltips(model, "f1_score"))


finite = st.floats(min_value=0, max_value=1, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(finite, finite, finite), min_size=2, max_size=6))
def test_marks_never_call_overlapping_values_apart(triples):
    """Whatever the numbers: a best or worst value's interval never overlaps its runner-up's."""
    values, intervals = [], []
    for a, b, c in triples:
        low, mid, high = sorted((a, b, c))
        values.append(mid)
        intervals.append((low, high))
    row = CompareRow("Metrics", "f1_score", values, is_metric=True, intervals=intervals)
    result = metric_marks(row)
    assert result.count("best") <= len(values) and set(result) <= {None, "best", "worst", "tied"}
    for mark in ("best", "worst"):
        for i in (i for i, m in enumerate(result) if m == mark):
            lo, hi = intervals[i]
            for j in range(len(values)):
                if values[j] != values[i]:
                    assert hi < intervals[j][0] or intervals[j][1] < lo, (mark, i, j)
    if "tied" in result:  # a tie is only ever declared over intervals that overlap
        tied = [i for i, m in enumerate(result) if m == "tied"]
        assert any(intervals[i][0] <= intervals[j][1] and intervals[j][0] <= intervals[i][1]
                   for i in tied for j in tied if i != j)
