"""core.comparison.report: one self-contained HTML file (no remote reference, all text escaped) and its Markdown twin."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from core.comparison import ScoredVersion, compare_versions
from core.comparison.report import render_html, render_markdown

THREE = ["CANDIDATE", "CONFIRMED", "FALSE POSITIVE"]
TWO = ["CONFIRMED", "FALSE POSITIVE"]
HOSTILE = "<script>alert(1)</script>"
QUOTED = 'forest "tuned" <b>v2</b> [x](http://evil.example/) | url(http://evil.example/a.css)'


def _versions(classes=THREE, n=400, labels=("RandomForest v1", HOSTILE, QUOTED)):
    rng = np.random.default_rng(0)
    cls = np.array(classes, dtype=object)
    y = rng.choice(cls, n)
    out = []
    for k, label in enumerate(labels):
        logits = rng.normal(size=(n, len(classes))) + (1 + k) * (cls[None, :] == y[:, None])
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out.append(ScoredVersion(label, f"id{k}", list(classes), y, cls[p.argmax(axis=1)], p if k != 1 else None))
    return out


CONTEXT = {
    "data_file": 'koi "cumulative" <2025>.csv',
    "sha256": "ab" * 32,
    "rows": {"RandomForest v1": {"labelled": 7585, "excluded": 6068, "scored": 1517},
             HOSTILE: {"labelled": 7585, "excluded": 0, "scored": 1517}},
    "notes": [f"{HOSTILE} has no recorded training rows: overlap could not be checked."],
    "description": 'A description with "quotes" & <tags>',
}


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.attrs, self.styles, self._in_style = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        self._in_style = tag == "style"
        self.styles.extend(v or "" for k, v in attrs if k == "style")

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)


def _assert_offline(text):
    parser = _Collector()
    parser.feed(text)
    for name, value in parser.attrs:
        if name in {"src", "href", "srcset", "action", "data", "poster", "xlink:href"}:
            assert value is not None and not REMOTE.match(value) or value.startswith("data:"), (name, value)
    css = "\n".join(parser.styles)
    assert not re.search(r"url\s*\(", css, re.I) and not re.search(r"@import", css, re.I)
    assert "script" not in parser.tags and "iframe" not in parser.tags and "link" not in parser.tags
    return parser


@pytest.mark.parametrize("classes", [THREE, TWO])
def test_html_report_is_self_contained_and_escapes_every_label(classes):
    versions = _versions(classes)
    comparison = compare_versions(versions, n_resamples=200)
    text = render_html(comparison, versions, CONTEXT)
    parser = _assert_offline(text)
    assert HOSTILE not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "forest &quot;tuned&quot; &lt;b&gt;v2&lt;/b&gt;" in text and "<b>" not in text
    assert parser.tags.count("svg") >= 3  # ROC, precision-recall and reliability, drawn inline
    assert "polyline" in parser.tags
    # the facts a reader needs
    assert "koi &quot;cumulative&quot; &lt;2025&gt;.csv" in text and "ab" * 32 in text
    assert "7,585" in text and "6,068" in text and "1,517" in text
    assert "overlap could not be checked" in text
    for p in comparison.pairs:
        assert p.verdict in text
    assert "Confusion matrices" in text and "Disagreements" in text
    assert "macro F1" in text and "[" in text  # metrics with intervals


def test_disagreements_are_cut_at_100_rows():
    versions = _versions(THREE, n=2000, labels=("A v1", "B v1"))
    comparison = compare_versions(versions, n_resamples=50)
    text = render_html(comparison, versions, {})
    differ = int((versions[0].y_pred != versions[1].y_pred).sum())
    assert differ > 100
    assert f"{differ:,} rows where the versions predict different labels; the first 100 are shown." in text
    section = text.split("<h2>Disagreements</h2>")[1]
    assert section.count("<tr>") == 101  # header + 100 rows


def test_markdown_twin_has_the_same_tables_and_escapes_markup():
    versions = _versions()
    comparison = compare_versions(versions, n_resamples=200)
    md = render_markdown(comparison, versions, CONTEXT)
    for heading in ("## Verdicts", "## Rows used and excluded", "## Metrics with 95 % intervals", "## Per class",
                    "## Curves and calibration", "## Confusion matrices", "## Disagreements"):
        assert heading in md
    assert "<script>" not in md and r"\<script\>alert(1)\</script\>" in md
    assert r"\[x\](http://evil.example/)" in md  # no link can form
    assert "`" + "ab" * 32 + "`" in md
    width = None  # every row of a table has as many unescaped | as its header
    for line in md.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        width = cells if width is None else width
        assert cells == width, line
    html_text = render_html(comparison, versions, CONTEXT)
    for p in comparison.pairs:
        assert p.verdict in md and p.verdict in html_text


def test_unpaired_report_says_so():
    a = _versions(THREE, n=300, labels=("A v1",))
    b = _versions(THREE, n=200, labels=("B v1",))
    comparison = compare_versions(a + b, paired=False, n_resamples=50)
    text = render_html(comparison, a + b, {})
    assert "unpaired" in text and "not set side by side" in text
    assert "unpaired" in render_markdown(comparison, a + b, {})
