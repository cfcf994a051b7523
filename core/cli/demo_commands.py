"""``exoreg demo``: build a populated demo registry from the real Kepler KOI table."""

from __future__ import annotations

import argparse
import sys

from core.cli._common import TerminalProgress, print_json, print_table, wants_json


def add_commands(subparsers, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "demo",
        parents=[common],
        help="train real classifiers on the KOI table and register them as a demo registry",
        description=(
            "Train RandomForest, NeuralNetwork and SVM classifiers in several versions on the NASA Kepler KOI "
            "table and register them, with aliases, in a new registry; write the CANDIDATE rows to "
            "candidates.csv next to the registry folder. Without --registry the demo goes to the user's data "
            "folder. The table comes from --data, else $EXOREG_KOI_CSV, else the download cache, else the NASA "
            "Exoplanet Archive; with none available a clearly labelled synthetic sample is used."
        ),
    )
    parser.add_argument("--data", metavar="CSV", help="the KOI table to train on (NASA cumulative export)")
    parser.add_argument("--no-download", action="store_true",
                        help="never download the table (same as EXOREG_OFFLINE=1 for this command)")
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from core.common.userdirs import remember_registry
    from core.registry.registry import ModelRegistry
    from core.training.demo import build_demo_registry, default_demo_root

    root = getattr(args, "registry", None) or default_demo_root()
    quiet = wants_json(args)
    bar = TerminalProgress("Building demo")
    interactive = bar.stream.isatty()
    state = {"done": 0, "total": 0, "text": ""}

    def progress(done: int, total: int) -> None:
        state.update(done=done, total=total)
        if not quiet:
            bar(done, total, state["text"])

    def status(text: str) -> None:
        state["text"] = text
        if quiet:
            return
        if interactive:
            bar(state["done"], state["total"] or None, text)
        else:
            print(text, file=sys.stderr, flush=True)

    try:
        result = build_demo_registry(root, args.data, allow_download=not args.no_download,
                                     progress=progress, status=status)
    finally:
        bar.close()
    remember_registry(result.root)  # what `exoreg list` reads when nothing else is said
    if quiet:
        print_json(result.to_dict())
        return 0
    registry = ModelRegistry(result.root)
    rows = []
    for entry in registry.list_models():
        rows.append({**entry, "feature_set": entry.get("tags", {}).get("feature_set", ""),
                     "aliases": ",".join(entry.get("aliases") or [])})
    print_table(rows, ["model_name", "version", "algorithm", "feature_set", "accuracy", "f1_score", "aliases"],
                ["NAME", "VERSION", "ALGORITHM", "FEATURES", "ACCURACY", "F1", "ALIASES"])
    for note in result.notes:
        print(f"note: {note}")
    print(f"\nDemo registry: {result.root}")
    print(f"CANDIDATE rows for batch prediction: {result.candidates_csv}")
    if result.data_origin != "real":
        print("These models were trained on SYNTHETIC data, not on real KOIs.")
    print(f"Browse it with: exoreg-gui {result.root}   or   exoreg list --registry {result.root}")
    return 0
