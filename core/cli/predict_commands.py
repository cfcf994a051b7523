"""Prediction subcommands: ``predict`` (batch prediction on a CSV) and ``evaluate`` (scoring on a labelled CSV)."""

from __future__ import annotations

import argparse
import contextlib
import sys

from core.cli._common import (
    TerminalProgress,
    open_registry,
    print_json,
    print_table,
    seconds_since_start,
    wants_json,
)
from core.common.files import STORAGE_ERRNOS, describe_os_error
from core.errors import RegistryError, StorageError
from core.training.koi import LABEL_COLUMN


def add_commands(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "predict",
        parents=[common],
        help="Predict every row of a CSV file with a registered model.",
        description="Predict every row of a CSV file (plain or .gz; comma, semicolon or tab separated) "
        "with a registered model, streaming, and write identifiers, the predicted label and one "
        "probability per class to OUTPUT (.csv, .csv.gz or .parquet). Rows that cannot be predicted "
        "go to OUTPUT's .rejects.csv with the reason.",
    )
    p.add_argument("ref", metavar="REF", help="id, NAME, NAME:VERSION, NAME@ALIAS, best or best:METRIC")
    p.add_argument("input", metavar="INPUT", help="CSV file with the model's feature columns")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUTPUT",
        help="output file, or - for standard output (default: INPUT's name with .predictions.csv, next to it)",
    )
    p.add_argument(
        "--id-column",
        action="append",
        dest="id_columns",
        metavar="COLUMN",
        help="copy this column to the output (repeatable; default: kepoi_name and kepid when present)",
    )
    p.add_argument("--rejects", metavar="PATH", help="where rejected rows go (default: OUTPUT.rejects.csv)")
    p.add_argument("--check", action="store_true", help="only check the file against the model (preflight)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="prediction threads (default: one per core; the model runs single-threaded in each)",
    )
    p.set_defaults(func=cmd_predict)

    p = subparsers.add_parser(
        "evaluate",
        parents=[common],
        help="Score and compare versions on the same labelled CSV file, without their training rows.",
        description="Score one or more versions on a labelled CSV file in one pass and compare them: each "
        "version's own training and validation rows are left out, the versions are scored on the rows none "
        "of them saw (paired), every metric gets a 95 %% paired-bootstrap interval and each pair a verdict "
        "on the primary metric (Holm-corrected). Prints the notes, the metrics and the verdicts; --report "
        "and --markdown write a self-contained report.",
    )
    p.add_argument("refs", metavar="REF", nargs="+", help="versions to score")
    p.add_argument("input", metavar="INPUT", help="CSV file with the feature columns and the true labels")
    p.add_argument(
        "--label",
        default=LABEL_COLUMN,
        metavar="COLUMN",
        help="true label column (default: %(default)s)",
    )
    p.add_argument("--report", metavar="OUT.html", help="write a self-contained HTML report (no network requests)")
    p.add_argument("--markdown", metavar="OUT.md", help="write the report as Markdown")
    p.add_argument(
        "--include-training-rows",
        action="store_true",
        help="score every labelled row, the versions' own training and validation rows included",
    )
    p.add_argument(
        "--unpaired",
        action="store_true",
        help="when the versions share too few held-out rows, score each on its own held-out rows (no verdict)",
    )
    p.add_argument(
        "--primary",
        default="f1_macro",
        metavar="METRIC",
        help="metric of the verdict: f1_macro (default), accuracy, balanced_accuracy, mcc, roc_auc, ...",
    )
    p.add_argument("--alpha", type=float, default=0.05, metavar="A", help="significance level (default: 0.05)")
    p.add_argument("--resamples", type=int, default=2000, metavar="N", help="bootstrap resamples (default: 2000)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="bootstrap seed (default: 0)")
    p.set_defaults(func=cmd_evaluate)


def cmd_predict(args) -> int:
    from core.prediction.engine import default_output_path, predict_csv, preflight

    registry = open_registry(args)
    if args.check:
        report = preflight(args.ref, args.input, registry=registry, id_columns=args.id_columns)
        if wants_json(args):
            print_json(report.to_dict())
        else:
            _print_preflight(report)
        return 0 if report.ok else 1

    output = args.output or str(default_output_path(args.input))
    startup = seconds_since_start()  # interpreter start and imports, paid before the first row
    progress = TerminalProgress("predicting", unit=" rows")
    try:
        summary = predict_csv(
            args.ref, args.input, output, progress=progress, id_columns=args.id_columns,
            registry=registry, rejects_path=args.rejects, workers=args.workers,
        )  # fmt: skip
    except OSError as exc:
        if isinstance(exc, RegistryError) or exc.errno not in STORAGE_ERRNOS:
            raise
        # The writer's own error names no file (pyarrow's): say which one, and that none is left.
        raise StorageError(
            describe_os_error(exc, what=f"the output {output}", outcome="the prediction stopped and left no output"),
            errno=exc.errno,
            filename=output,
        ) from exc
    finally:
        progress.close()
    # With -o - the predictions are standard output: the report goes to standard error.
    with contextlib.redirect_stdout(sys.stderr) if output == "-" else contextlib.nullcontext():
        _print_summary(args, summary, startup)
    return 0


def _print_summary(args, summary, startup: float | None) -> None:
    if wants_json(args):
        print_json({**summary.to_dict(), "startup_seconds": startup})
        return
    print(f"model:      {summary.model_id}")
    print(
        f"rows read:  {summary.rows_read:,} in {summary.elapsed_seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)"
    )
    print(
        f"predicted:  {summary.rows_predicted:,}"
        + (
            f" ({summary.rows_imputed:,} with empty cells imputed by the model)"
            if summary.rows_imputed
            else ""
        )
    )
    print(
        f"rejected:   {summary.rows_rejected:,}"
        + (f" -> {summary.rejects_path}" if summary.rejects_path else "")
    )
    for label, count in summary.class_counts.items():
        share = count / summary.rows_predicted if summary.rows_predicted else 0.0
        print(f"  {label:<20} {count:>10,}  {share:6.1%}")
    print(f"output:     {summary.output_path}")
    print(
        f"time:       {f'{startup:.2f} s start and imports, ' if startup is not None else ''}"
        f"{summary.load_seconds:.2f} s loading and checking the model (while reading), "
        f"{summary.elapsed_seconds:.2f} s in all after start"
    )


def _print_preflight(report) -> None:
    rows = f"{report.estimated_rows:,}" + ("" if report.rows_exact else " (estimated)")
    print(f"file:       {report.path}")
    print(
        f"format:     {report.encoding}, delimiter {report.delimiter!r}"
        + (f", {report.compression}" if report.compression else "")
        + (f", {report.comment_lines} comment lines" if report.comment_lines else "")
    )
    print(f"rows:       {rows}")
    print(f"features:   {len(report.matched)} of {len(report.feature_columns)} present")
    print(f"ids:        {', '.join(report.id_columns) or '(none: row numbers)'}")
    for line in report.warnings:
        print(f"  sample:   {line}")
    if report.error:
        print(f"error:      {report.error}", file=sys.stderr)
    else:
        print("ok:         the model can run on this file")


def cmd_evaluate(args) -> int:
    from core.prediction.scoring import check_report_paths, compare_on_file

    check_report_paths(args.input, args.report, args.markdown)  # before the pass, not after it
    registry = open_registry(args)
    what = args.refs[0] if len(args.refs) == 1 else f"{len(args.refs)} versions"
    progress = TerminalProgress(f"scoring {what}", unit=" rows")
    try:  # one pass over the file feeds every version
        found = compare_on_file(
            args.refs, args.input, args.label, registry=registry, progress=progress,
            exclude_training_rows=not args.include_training_rows, allow_unpaired=args.unpaired,
            primary=args.primary, alpha=args.alpha, n_resamples=args.resamples, seed=args.seed,
        )  # fmt: skip
    finally:
        progress.close()
    written = found.write_report(html=args.report, markdown=args.markdown)
    if wants_json(args):
        print_json(found.to_dict())
        return 0
    _print_comparison(found)
    for path in written:
        print(f"report:     {path}")
    return 0


def _print_comparison(found) -> None:
    from core.comparison.results import interval_text, metric_name

    comparison = found.comparison
    metrics = comparison.metrics
    rows = []
    for version, result in zip(found.versions, found.results, strict=True):
        m = metrics[version.label]
        rows.append({
            "model_id": result.model_id,
            "rows": len(version.y_true),
            "excluded": result.rows_excluded if result.overlap_checked else "unknown",
            "accuracy": m["accuracy"].value,
            "precision": m["precision_macro"].value,
            "recall": m["recall_macro"].value,
            "f1": m["f1_macro"].value,
            "registered_f1": result.registered_metrics.get("f1_score"),
        })  # fmt: skip
    print_table(
        rows,
        ["model_id", "rows", "accuracy", "precision", "recall", "f1", "registered_f1", "excluded"],
        ["ID", "ROWS", "ACCURACY", "PRECISION", "RECALL", "F1", "REGISTERED F1", "EXCLUDED"],
    )
    print("precision, recall and F1 are macro averages over the classes; EXCLUDED: the version's own "
          "training and validation rows left out")
    shown = [k for k in ("accuracy", "f1_macro", "roc_auc", "brier") if k in next(iter(metrics.values()), {})]
    if comparison.primary not in shown:
        shown.insert(0, comparison.primary)
    how = "paired bootstrap" if comparison.paired else "unpaired bootstrap, each version on its own rows"
    print()
    print(f"95 % intervals ({how}, {comparison.n_resamples:,} resamples, seed {comparison.seed}):")
    print_table(
        [{"version": v.label, **{k: interval_text(metrics[v.label][k]) for k in shown}} for v in found.versions],
        ["version", *shown],
        ["VERSION", *(metric_name(k).upper() for k in shown)],
    )
    unscored = {}
    for r in found.results:
        for label, n in r.unscored.items():
            unscored[label] = max(unscored.get(label, 0), n)
    print()
    if unscored:
        parts = ", ".join(f"{n:,} {label}" for label, n in sorted(unscored.items()))
        print(f"not scored (labels a model does not predict, or empty): {parts}")
    for note in found.notes:
        print(f"note: {note}")
    print()
    print(f"verdict on {metric_name(comparison.primary)} (Holm-corrected, alpha = {comparison.alpha:g}):")
    for sentence in found.sentences():
        print(f"  {sentence}")
