"""The bundle's small YAML writer: whatever it writes, ``yaml.safe_load`` reads back unchanged."""

from __future__ import annotations

import math

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from core.deployment.bundle import to_yaml

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["yes", "No", "on", "null", "~", "1.9.1", "3.11", "0x1F", "1e5", "- a", "a: b", "#x",
                       "'q'", '"d"', "", " lead", "trail ", "tab\tin", "new\nline", "Ünïcode ✓", "*ref", "&anchor",
                       "!tag", "%pct", "@at", "`tick", "[x]", "{y}", "=", "<<"])
)
keys = st.text(min_size=1, max_size=20) | st.sampled_from(["true", "null", "1", "python_version", "model-index"])
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=6))
def test_yaml_round_trips(document):
    assert _same(yaml.safe_load(to_yaml(document)), document)


def test_yaml_writes_plain_words_plainly_and_quotes_what_could_mislead():
    text = to_yaml({"loader_module": "mlflow.sklearn", "python_version": "3.11.7", "flag": "yes", "code": None})
    assert "loader_module: mlflow.sklearn\n" in text
    assert 'python_version: "3.11.7"\n' in text
    assert 'flag: "yes"\n' in text
    assert "code: null\n" in text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_yaml_non_finite_floats(value):
    back = yaml.safe_load(to_yaml({"x": value}))["x"]
    assert (math.isnan(back) and math.isnan(value)) or back == value
