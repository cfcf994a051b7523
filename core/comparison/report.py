r"""The comparison report: one self-contained HTML file and its Markdown twin.

The HTML makes no network request: its CSS is inline, its plots are inline SVG drawn here, and it has
no ``src``, ``href``, CSS ``url()`` or ``@import`` at all. Every piece of text that comes from a user
(version labels, class names, the data file's name, notes) is HTML-escaped; in the Markdown every
character of such text that could start markup (``\ ` * _ { } [ ] < > # + ! | ~ &``) is
backslash-escaped, so neither can inject markup.

``context`` (all optional):

- ``data_file`` — the scored file's name; ``sha256`` — its SHA-256;
- ``rows`` — version label -> ``{column: value}`` counts, e.g. ``{"labelled": 7585, "excluded": 6068,
  "scored": 1517}``, shown as given;
- ``notes`` — sentences shown above the tables (warnings such as "overlap could not be checked");
- ``title`` — the report's heading; ``description`` — a paragraph under it.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence

import numpy as np

from core.comparison.bootstrap import _as_str, _labels_of
from core.comparison.curves import curves, disagreements
from core.comparison.results import (
    CLASS_METRICS,
    LABEL_METRICS,
    PROBABILITY_METRICS,
    Comparison,
    Estimate,
    ScoredVersion,
    interval_text,
    metric_name,
    number,
    p_text,
)

DISAGREEMENTS_SHOWN = 100
LEGEND_CHARS = 30  # of a version's label in a plot's legend (the tables show it whole)
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
td.better { background: #e3f4e3; } td.worse { background: #f9e0e0; }
.note { background: #fff6d6; border-left: 4px solid #e0b000; padding: 0.4em 0.8em; }
.mono { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
svg text { font-size: 11px; font-family: inherit; }
"""


def _h(value) -> str:
    return html.escape(str(value), quote=True)


def _md(value) -> str:
    """Text as literal Markdown on one line: every character that could start markup backslash-escaped."""
    text = " ".join(str(value).split())
    return re.sub(r"([\\`*_{}\[\]<>#+!|~&])", r"\\\1", text)


# -- tables, shared by both formats ----------------------------------------------------------

def _tables(comparison: Comparison, versions: Sequence[ScoredVersion], context: dict) -> list[dict]:
    """Every table of the report as ``{"id", "title", "header", "rows", "classes"}`` (cells are text)."""
    tables: list[dict] = []
    rows_info = context.get("rows") or {}
    if rows_info:
        columns: list[str] = []
        for counts in rows_info.values():
            for key in (counts or {}):
                if key not in columns:
                    columns.append(str(key))
        body = []
        for label, counts in rows_info.items():
            counts = counts or {}
            body.append([str(label)] + [_count(counts.get(c, "")) for c in columns])
        tables.append({"id": "rows", "title": "Rows used and excluded", "header": ["Version", *columns],
                       "rows": body})
    if comparison.pairs:
        body, classes = [], []
        for p in comparison.pairs:
            auc = ""
            if p.delong is not None:
                auc = f"DeLong ΔAUC {number(p.delong['difference'])}, {p_text(p.delong['p'])}"
            elif p.auc_difference is not None:
                auc = f"ΔAUC {interval_text(p.auc_difference, sign=True)}"
            body.append([f"{p.a} vs {p.b}", interval_text(p.difference, sign=True), p_text(p.p_value),
                         p_text(p.p_holm), p.verdict, p_text(p.mcnemar_p), auc])
            classes.append({4: {"better": "better", "worse": "worse"}.get(p.verdict, "")})
        tables.append({"id": "verdicts",
                       "title": f"Verdicts on {metric_name(comparison.primary)} (a − b, Holm at α = {comparison.alpha:g})",
                       "header": ["Pair (a vs b)", "Difference [95 % interval]", "p", "p (Holm)", "Verdict",
                                  "McNemar (accuracy)", "ROC AUC"],
                       "rows": body, "classes": classes})
    names = [m for m in (*LABEL_METRICS, *PROBABILITY_METRICS)
             if any(not math.isnan(comparison.metrics[v][m].value) for v in comparison.metrics)]
    tables.append({"id": "metrics", "title": "Metrics with 95 % intervals",
                   "header": ["Version", *[metric_name(m) for m in names]],
                   "rows": [[label, *[_estimate(metrics[m]) for m in names]]
                            for label, metrics in comparison.metrics.items()]})
    body = []
    for label, per_class in comparison.per_class.items():
        for cls, values in per_class.items():
            body.append([f"{label} — {cls}", *[_estimate(values[m]) for m in CLASS_METRICS]])
    tables.append({"id": "per-class", "title": "Per class", "header": ["Version — class", *CLASS_METRICS],
                   "rows": body})
    calibration = []
    for v in versions:
        c = curves(v)
        if not c["available"]:
            calibration.append([v.label, "—", "—", "—", "—", "no probabilities"])
            continue
        aucs = ", ".join(f"{cls} {number(d['auc']) if d['auc'] is not None else 'n/a'}" for cls, d in c["roc"].items())
        aps = ", ".join(f"{cls} {number(d['ap']) if d['ap'] is not None else 'n/a'}" for cls, d in c["pr"].items())
        calibration.append([v.label, aucs, aps, number(c["brier"]), number(c["ece"]), c["reliability_kind"]])
    tables.append({"id": "curves-summary", "title": "Curves and calibration",
                   "header": ["Version", "ROC AUC", "Average precision", "Brier", "ECE (10 bins)", "Reliability of"],
                   "rows": calibration})
    return tables


def _count(value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _estimate(e: Estimate) -> str:
    return "n/a" if math.isnan(e.value) else interval_text(e)


def _confusions(versions: Sequence[ScoredVersion]) -> list[tuple[str, list[str], np.ndarray]]:
    out = []
    for v in versions:
        labels = _labels_of([v])
        index = {c: i for i, c in enumerate(labels)}
        m = np.zeros((len(labels), len(labels)), dtype=np.int64)
        np.add.at(m, ([index[t] for t in _as_str(v.y_true)], [index[p] for p in _as_str(v.y_pred)]), 1)
        out.append((v.label, labels, m))
    return out


def _disagreement_table(versions: Sequence[ScoredVersion]) -> tuple[list[str], list[list[str]], int]:
    every = disagreements(versions) if len(versions) > 1 and _same_rows(versions) else []
    header = ["Row", "True label"]
    for v in versions:
        header.append(f"{v.label}: predicted")
        if v.proba is not None:
            header.append(f"{v.label}: probabilities")
    body = []
    for d in every[:DISAGREEMENTS_SHOWN]:
        row = [f"{d['row']:,}", d["true"]]
        for v in versions:
            row.append(d["predicted"][v.label])
            probs = d["probabilities"][v.label]
            if probs is not None:
                row.append(", ".join(f"{c} {p:.3f}" for c, p in probs.items()))
        body.append(row)
    return header, body, len(every)


def _disagreement_summary(versions, total: int) -> str:
    """The sentence above the disagreements table (the same in HTML and Markdown)."""
    if len(versions) < 2:
        return "One version only: nothing to disagree with."
    if not _same_rows(versions):
        return "The versions were scored on different rows, so their predictions are not set side by side."
    shown = min(total, DISAGREEMENTS_SHOWN)
    return (f"{total:,} rows where the versions predict different labels"
            + (f"; the first {shown:,} are shown." if total > shown else "."))


def _same_rows(versions: Sequence[ScoredVersion]) -> bool:
    n = len(versions[0].y_true)
    return all(len(v.y_true) == n and len(v.y_pred) == n for v in versions)


def _intro(comparison: Comparison, context: dict) -> list[tuple[str, str]]:
    facts = []
    if context.get("data_file"):
        facts.append(("Data file", str(context["data_file"])))
    if context.get("sha256"):
        facts.append(("SHA-256", str(context["sha256"])))
    if comparison.paired:
        facts.append(("Rows scored", f"{comparison.rows:,} (the same rows for every version: paired)"))
    else:
        facts.append(("Rows scored", "each version on its own rows (unpaired): "
                      + ", ".join(f"{k} {n:,}" for k, n in comparison.rows_by_version.items())))
    facts.append(("Bootstrap", f"{comparison.n_resamples:,} resamples, seed {comparison.seed}, 95 % percentile "
                               "intervals"))
    facts.append(("Verdict", f"{metric_name(comparison.primary)}, Holm-corrected p below α = {comparison.alpha:g}"))
    if comparison.cochran_q is not None:
        q = comparison.cochran_q
        facts.append(("Cochran's Q (accuracy, all versions)", f"Q = {q['q']:.3f}, df = {q['df']}, {p_text(q['p'])}"))
    return facts


# -- HTML ------------------------------------------------------------------------------------

def render_html(comparison: Comparison, versions: Sequence[ScoredVersion], context: dict | None = None) -> str:
    """The report as one self-contained HTML document (see the module)."""
    context = dict(context or {})
    versions = list(versions)
    title = context.get("title") or "ExoReg comparison report"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_h(title)}</title>", f"<style>{CSS}</style></head><body>", f"<h1>{_h(title)}</h1>"]
    if context.get("description"):
        out.append(f"<p>{_h(context['description'])}</p>")
    out.append("<table>")
    for key, value in _intro(comparison, context):
        cls = ' class="mono"' if key == "SHA-256" else ""
        out.append(f"<tr><th>{_h(key)}</th><td{cls}>{_h(value)}</td></tr>")
    out.append("</table>")
    for note in context.get("notes") or []:
        out.append(f'<p class="note">{_h(note)}</p>')
    out.append("<h2>Verdicts</h2><ul>")
    out.extend(f"<li>{_h(s)}</li>" for s in comparison.sentences())
    out.append("</ul>")
    for table in _tables(comparison, versions, context):
        out.append(f'<h2 id="{_h(table["id"])}">{_h(table["title"])}</h2>')
        out.append(_html_table(table["header"], table["rows"], table.get("classes")))
        if table["id"] == "curves-summary":
            out.append(_html_plots(versions))
    out.append("<h2>Confusion matrices</h2><p>Rows: true label; columns: predicted label.</p>")
    for label, labels, m in _confusions(versions):
        out.append(f"<h3>{_h(label)}</h3>")
        out.append(_html_table(["true \\ predicted", *labels],
                               [[lab, *[f"{x:,}" for x in row]] for lab, row in zip(labels, m, strict=True)]))
    header, body, total = _disagreement_table(versions)
    out.append("<h2>Disagreements</h2>")
    out.append(f"<p>{_h(_disagreement_summary(versions, total))}</p>")
    if body and len(versions) >= 2 and _same_rows(versions):
        out.append(_html_table(header, body))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]], classes=None) -> str:
    parts = ["<table><thead><tr>", *(f"<th>{_h(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        marks = classes[i] if classes else {}
        cells = []
        for j, cell in enumerate(row):
            cls = marks.get(j, "")
            cells.append(f'<td class="{cls}">{_h(cell)}</td>' if cls else f"<td>{_h(cell)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _html_plots(versions: Sequence[ScoredVersion]) -> str:
    data = [(_short(v.label), curves(v)) for v in versions]
    data = [(label, c) for label, c in data if c["available"]]
    if not data:
        return "<p>No version gives probabilities, so there are no curves.</p>"
    classes: list[str] = []
    for _, c in data:
        for cls in c["roc"]:
            if cls not in classes:
                classes.append(cls)
    plots = []
    for cls in classes:
        roc = [(f"{label} (AUC {number(c['roc'][cls]['auc'])})", c["roc"][cls]["fpr"], c["roc"][cls]["tpr"])
               for label, c in data if cls in c["roc"] and c["roc"][cls]["auc"] is not None]
        plots.append(_svg_plot(f"ROC — {cls}", roc, "false positive rate", "true positive rate", diagonal=True))
        pr = [(f"{label} (AP {number(c['pr'][cls]['ap'])})", c["pr"][cls]["recall"], c["pr"][cls]["precision"])
              for label, c in data if cls in c["pr"] and c["pr"][cls]["ap"] is not None]
        plots.append(_svg_plot(f"Precision-recall — {cls}", pr, "recall", "precision"))
    reliability = []
    for label, c in data:
        rel = c["reliability"]
        points = [(m, o) for m, o in zip(rel["mean_predicted"], rel["observed"], strict=True) if m is not None]
        reliability.append((f"{label} (Brier {number(c['brier'])}, ECE {number(c['ece'])})",
                            [m for m, _ in points], [o for _, o in points]))
    plots.append(_svg_plot("Reliability (10 bins)", reliability, "mean predicted probability",
                           "observed frequency", diagonal=True, markers=True))
    return '<div class="plots">' + "".join(plots) + "</div>"


def _short(label: str) -> str:
    return label if len(label) <= LEGEND_CHARS else label[: LEGEND_CHARS - 1] + "…"


def _svg_plot(title: str, series, xlabel: str, ylabel: str, *, diagonal: bool = False,
              markers: bool = False) -> str:
    """A small line plot on [0, 1] × [0, 1] as inline SVG (no external reference, no script)."""
    width, left, top, size = 380, 46, 24, 240
    legend_top = top + size + 50
    height = legend_top + 14 * len(series) + 6

    def x(v: float) -> float:
        return left + size * min(max(v, 0.0), 1.0)

    def y(v: float) -> float:
        return top + size * (1.0 - min(max(v, 0.0), 1.0))

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_h(title)}">',
             f'<text x="{left}" y="15" font-weight="bold">{_h(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{size}" height="{size}" fill="#fff" stroke="#999"/>']
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{x(t):.1f}" y1="{y(0):.1f}" x2="{x(t):.1f}" y2="{y(0) + 4:.1f}" stroke="#999"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{y(0) + 15:.1f}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{left - 5}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{left + size / 2}" y="{top + size + 34}" text-anchor="middle">{_h(xlabel)}</text>')
    parts.append(f'<text x="12" y="{top + size / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + size / 2})">{_h(ylabel)}</text>')
    if diagonal:
        parts.append(f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="#bbb" stroke-dasharray="4 3"/>')
    for k, (name, xs, ys) in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(xs, ys, strict=True))
        if points:
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        if markers:
            parts.extend(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="2.5" fill="{colour}"/>'
                         for a, b in zip(xs, ys, strict=True))
        ly = legend_top + 14 * k
        parts.append(f'<line x1="{left}" y1="{ly - 4}" x2="{left + 18}" y2="{ly - 4}" stroke="{colour}" '
                     'stroke-width="3"/>')
        parts.append(f'<text x="{left + 24}" y="{ly}">{_h(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- Markdown --------------------------------------------------------------------------------

def render_markdown(comparison: Comparison, versions: Sequence[ScoredVersion], context: dict | None = None) -> str:
    """The report's Markdown twin: the same facts and tables (the curves as their AUC / AP / calibration numbers)."""
    context = dict(context or {})
    versions = list(versions)
    out = [f"# {_md(context.get('title') or 'ExoReg comparison report')}", ""]
    if context.get("description"):
        out += [_md(context["description"]), ""]
    for key, value in _intro(comparison, context):
        shown = f"`{value}`" if key == "SHA-256" and re.fullmatch(r"[0-9a-fA-F]+", str(value)) else _md(value)
        out.append(f"- **{_md(key)}:** {shown}")
    out.append("")
    for note in context.get("notes") or []:
        out += [f"> {_md(note)}", ""]
    out += ["## Verdicts", ""]
    out += [f"- {_md(s)}" for s in comparison.sentences()]
    out.append("")
    for table in _tables(comparison, versions, context):
        out += [f"## {_md(table['title'])}", "", *_md_table(table["header"], table["rows"]), ""]
        if table["id"] == "curves-summary":
            out += ["The ROC, precision-recall and reliability curves are drawn in the HTML report.", ""]
    out += ["## Confusion matrices", "", "Rows: true label; columns: predicted label.", ""]
    for label, labels, m in _confusions(versions):
        out += [f"### {_md(label)}", "",
                *_md_table(["true \\ predicted", *labels],
                           [[lab, *[f"{x:,}" for x in row]] for lab, row in zip(labels, m, strict=True)]), ""]
    out += ["## Disagreements", ""]
    header, body, total = _disagreement_table(versions)
    out.append(_disagreement_summary(versions, total))
    if body and len(versions) >= 2 and _same_rows(versions):
        out += ["", *_md_table(header, body)]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines
