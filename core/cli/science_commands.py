"""KOI science subcommands: ``rank`` (CANDIDATEs ranked by P(CONFIRMED)) and ``backtest`` (two table vintages)."""

from __future__ import annotations

import argparse
import sys

from core.cli._common import open_registry, print_json, print_table, wants_json

SHOWN_ROWS = 20  # rows `exoreg rank` prints without --top


def add_commands(subparsers, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        "rank",
        parents=[common],
        help="Rank the CANDIDATE rows of a KOI table by a version's P(CONFIRMED).",
        description="Rank the CANDIDATE rows of a KOI table (every row of a file without dispositions) by a "
        "version's probability of CONFIRMED, highest first (ties by kepoi_name), with the predicted label, "
        "NASA's koi_score beside it and each row's three most influential features: the change in "
        "P(CONFIRMED) when that feature alone is set to its training median.",
    )
    p.add_argument("ref", metavar="REF", help="id, NAME, NAME:VERSION, NAME@ALIAS, best or best:METRIC")
    p.add_argument("input", metavar="INPUT", nargs="?",
                   help="KOI table to rank (default: $EXOREG_KOI_CSV, else the downloaded copy)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the ranked rows to this CSV file")
    p.add_argument("--top", type=int, metavar="N", help="keep the first N rows only (printed and written)")
    p.add_argument("--trust", action="store_true",
                   help="load a pickled version (only after reviewing it with `exoreg inspect`)")
    p.set_defaults(func=cmd_rank)
    add_backtest(subparsers, common)


def _input_table(args) -> str:
    from core.training.koi import find_koi_table

    if args.input:
        return args.input
    found = find_koi_table(None)
    why = {"EXOREG_KOI_CSV": "from $EXOREG_KOI_CSV", "cache": "the downloaded copy",
           "download": "just downloaded from the NASA Exoplanet Archive"}.get(found.origin, found.origin)
    print(f"exoreg: ranking the KOI table {found.path} ({why})", file=sys.stderr)
    return str(found.path)


def cmd_rank(args) -> int:
    from core.ranking import check_output, rank_candidates

    registry = open_registry(args)
    table = _input_table(args)
    if args.output:
        check_output(args.output, table)  # before the work, not after it
    result = rank_candidates(args.ref, table, registry=registry, top=args.top, trusted=args.trust)
    if args.output:
        result.to_csv(args.output)
    if wants_json(args):
        print_json(result.to_dict())
        return 0
    shown = result.frame if args.top else result.frame.head(SHOWN_ROWS)
    print(f"{result.candidates:,} row(s) of {_name(result.source)} ranked by P(CONFIRMED) of {result.model_id}:")
    print_table(_display_rows(shown), *_display_columns(shown))
    if len(shown) < result.candidates:
        more = result.candidates - len(shown)
        hint = "" if args.output else " (write them all with -o OUT, or show more with --top N)"
        print(f"... {more:,} more row(s){hint}")
    for note in result.notes:
        print(f"note: {note}")
    if args.output:
        print(f"Wrote {len(result.frame):,} ranked row(s) to {args.output}")
    return 0


def _name(source: str) -> str:
    from pathlib import Path

    from core.ranking import FRAME_SOURCE

    return Path(source).name if source and source != FRAME_SOURCE else source


def _display_columns(frame) -> tuple[list[str], list[str]]:
    from core.ranking import P_COLUMN, PREDICTED_COLUMN, RANK_COLUMN, SCORE_COLUMN

    columns = [RANK_COLUMN]
    headers = ["RANK"]
    for column, header in (("kepoi_name", "KEPOI_NAME"), ("kepler_name", "KEPLER_NAME")):
        if column in frame and frame[column].notna().any():
            columns.append(column)
            headers.append(header)
    columns += [P_COLUMN, PREDICTED_COLUMN]
    headers += ["P(CONFIRMED)", "PREDICTED"]
    if SCORE_COLUMN in frame:
        columns.append(SCORE_COLUMN)
        headers.append("KOI_SCORE")
    if "feature_1" in frame:
        columns.append("influences")
        headers.append("MOST INFLUENTIAL (effect on P(CONFIRMED))")
    return columns, headers


def _display_rows(frame) -> list[dict]:
    import math

    n_features = sum(1 for c in frame.columns if str(c).startswith("feature_"))
    rows = []
    for record in frame.to_dict("records"):
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        row["influences"] = ", ".join(
            f"{row[f'feature_{i}']} {row[f'effect_{i}']:+.3f}" for i in range(1, n_features + 1)
            if row.get(f"feature_{i}") is not None)
        rows.append(row)
    return rows


def add_backtest(subparsers, common: argparse.ArgumentParser) -> None:
    from core.training.koi import DEFAULT_FEATURE_SET, FEATURE_SETS

    p = subparsers.add_parser(
        "backtest",
        parents=[common],
        help="Train on an older KOI table, rank its CANDIDATEs and score the ranking against a newer table.",
        description="Train a classifier on OLD's CONFIRMED / FALSE POSITIVE rows, rank OLD's CANDIDATEs by "
        "P(CONFIRMED) and score the ranking against their dispositions in NEW (joined on kepoi_name): counts, "
        "precision at 50 / 100 / 200 and ROC AUCs, beside OLD's koi_score as the baseline, each with a "
        "bootstrap 95 % interval.",
    )
    p.add_argument("old", metavar="OLD.csv", help="the older KOI table (NASA cumulative export)")
    p.add_argument("new", metavar="NEW.csv", help="the newer KOI table")
    p.add_argument("--algorithm", default="random_forest",
                   help="random_forest, neural_network or svm (default: %(default)s)")
    p.add_argument("--feature-set", default=DEFAULT_FEATURE_SET, choices=sorted(FEATURE_SETS),
                   help="columns the model learns from (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the split, the model and the bootstrap")
    p.add_argument("--resamples", type=int, default=2000, metavar="N",
                   help="bootstrap resamples for the intervals (default: %(default)s; 0: none)")
    p.add_argument("--register", metavar="NAME",
                   help="register the trained version under NAME with the backtest in its metadata")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write OLD's CANDIDATEs, ranked, with p_confirmed, koi_score and their NEW disposition")
    p.set_defaults(func=cmd_backtest)


def cmd_backtest(args) -> int:
    from core.backtest import backtest
    from core.ranking import check_output

    if args.output:
        check_output(args.output, args.old)  # before the training, not after it
    registry = open_registry(args, write=True) if args.register else None
    quiet = wants_json(args)

    def status(text: str) -> None:
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    result = backtest(args.old, args.new, algorithm=args.algorithm, feature_set=args.feature_set,
                      random_state=args.seed, n_resamples=args.resamples, register=args.register,
                      registry=registry, status=status)
    if args.output:
        result.to_csv(args.output)
    if quiet:
        print_json(result.to_dict())
        return 0
    for line in result.lines():
        print(line)
    if args.output:
        print(f"Wrote OLD's {len(result.frame):,} ranked CANDIDATEs with their NEW disposition to {args.output}")
    return 0
