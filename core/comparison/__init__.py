"""Comparing versions scored on the same rows: intervals, significance, curves and reports.

- :func:`compare_versions` — every metric of every version with a 95 % paired-bootstrap interval,
  and per pair of versions a verdict on the primary metric (Holm-corrected, at ``alpha``) with
  McNemar's exact test, DeLong's test (two binary versions) and Cochran's Q (three to ten versions).
- :func:`metric_intervals` — the same intervals for one version on its own rows (unpaired).
- :mod:`core.comparison.tests` — the classical tests; :mod:`core.comparison.curves` — ROC, PR,
  reliability, threshold and disagreement data; :mod:`core.comparison.report` — HTML and Markdown.

The rules (resampling, p-value formula, averaging, positive class) are in
:mod:`core.comparison.bootstrap`. Uses numpy and scipy only; no Qt.
"""

from __future__ import annotations

from core.comparison.bootstrap import compare_versions, metric_intervals, positive_class
from core.comparison.results import Comparison, Estimate, PairResult, ScoredVersion

__all__ = [
    "Comparison",
    "Estimate",
    "PairResult",
    "ScoredVersion",
    "compare_versions",
    "metric_intervals",
    "positive_class",
]
