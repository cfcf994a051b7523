"""Registry subcommands: list, show, compare, best, export, import, inspect, delete, restore,
alias, describe, tag, stats, verify, backup, restore-backup, copy."""

from __future__ import annotations

import argparse
import json
import sys

from core.cli._common import (
    TerminalProgress,
    open_registry,
    print_json,
    print_table,
    registry_path,
    rounded,
    wants_json,
)
from core.errors import RegistryError
from core.registry.metadata import HEADLINE_METRICS

LIST_COLUMNS = [
    "model_name",
    "version",
    "algorithm",
    "f1_score",
    "accuracy",
    "aliases",
    "training_date",
    "model_id",
]
LIST_HEADERS = ["NAME", "VERSION", "ALGORITHM", "F1", "ACCURACY", "ALIASES", "TRAINED", "ID"]


def add_commands(subparsers, common: argparse.ArgumentParser) -> None:
    def add(name, handler, help_text, **kwargs):
        parser = subparsers.add_parser(
            name, parents=[common], help=help_text, description=help_text, **kwargs
        )
        parser.set_defaults(func=handler)
        return parser

    p = add("list", cmd_list, "List registered versions by name and version.")
    p.add_argument("name", nargs="?", help="only this model name")
    p.add_argument("--all", action="store_true", help="include deleted versions")

    p = add("show", cmd_show, "Show everything recorded about one version.")
    p.add_argument("ref", help="id, NAME, NAME:VERSION, NAME@ALIAS, best or best:METRIC")

    p = add("compare", cmd_compare, "Compare versions side by side.")
    p.add_argument("refs", nargs="*", help="references (default: every active version)")

    p = add("best", cmd_best, "Show the best active version by a metric.")
    p.add_argument("--metric", default="f1_score")
    p.add_argument("--name", help="only versions of this model name (or algorithm)")
    p.add_argument("--algorithm", help="only versions using this algorithm")

    p = add("export", cmd_export, "Export a version as model file + metadata JSON + .exoreg archive.")
    p.add_argument("ref")
    p.add_argument("dest", metavar="DIR")

    p = add(
        "import",
        cmd_import,
        "Import an .exoreg archive, a model file + metadata pair, or a bare model file (with --name).",
    )
    p.add_argument("path")
    p.add_argument("--metadata", metavar="JSON", help="the metadata file (default: beside the model)")
    p.add_argument(
        "--trust",
        action="store_true",
        help="load it even though it is a pickle or holds untrusted types (only if you know its source)",
    )
    p.add_argument(
        "--allow-duplicate",
        action="store_true",
        help="import it even when the registry already holds the same model file",
    )
    outside = p.add_argument_group(
        "a model file that came without metadata (e.g. a pipeline saved with joblib)"
    )
    outside.add_argument("--name", help="the model name to register it under")
    outside.add_argument("--algorithm", help="its algorithm (default: read from the estimator)")
    features = outside.add_mutually_exclusive_group()
    features.add_argument(
        "--features-from", metavar="FILE.csv", help="its feature columns: the header of this CSV file"
    )
    features.add_argument(
        "--features", metavar="a,b,c", help="its feature columns (default: the estimator's feature_names_in_)"
    )
    outside.add_argument(
        "--evaluate",
        metavar="LABELLED.csv",
        help='score it on this labelled file for its headline metrics (marked "overlap unknown")',
    )
    outside.add_argument("--label", metavar="COL", help="the label column of --evaluate (e.g. koi_disposition)")

    p = add(
        "confirm-metrics",
        cmd_confirm_metrics,
        'Accept the metrics of a version marked "overlap unknown", so that it may be the best.',
    )
    p.add_argument("ref")

    p = add("inspect", cmd_inspect, "List what a model file would import or construct, without loading it.")
    p.add_argument("path")

    p = add("delete", cmd_delete, "Hide a version (soft delete; restorable).")
    p.add_argument("ref")
    p = add("restore", cmd_restore, "Restore a deleted version.")
    p.add_argument("ref")

    p = add("alias", cmd_alias, "Point NAME@ALIAS at a version (or --remove it).")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version", nargs="?", type=int)
    p.add_argument("--remove", action="store_true")

    p = add("describe", cmd_describe, "Set a version's description.")
    p.add_argument("ref")
    p.add_argument("--text", required=True)

    p = add("tag", cmd_tag, "Set tags on a version (KEY=VALUE; KEY= removes the tag).")
    p.add_argument("ref")
    p.add_argument("pairs", nargs="+", metavar="KEY=VALUE")

    add("stats", cmd_stats, "Counts per name and algorithm, best per metric, size on disk.")

    p = add("verify", cmd_verify, "Check every model file's hash; find orphans and leftovers.")
    p.add_argument("--repair", action="store_true", help="remove leftovers and rebuild a stale index")

    p = add("backup", cmd_backup, "Write the whole registry into one zip archive.")
    p.add_argument("dest", metavar="DEST.zip")

    p = add("restore-backup", cmd_restore_backup, "Restore a backup archive into an empty registry folder.")
    p.add_argument("archive")

    p = add(
        "copy",
        cmd_copy,
        "Copy every version, alias, deleted version and sidecar of one registry into another "
        "(folders or s3://BUCKET/PREFIX); running it again copies only what is new.",
    )
    p.add_argument("source", metavar="SRC")
    p.add_argument("target", metavar="DST")


def cmd_list(args) -> int:
    registry = open_registry(args)
    rows = registry.list_models(args.name, include_deleted=args.all)
    if wants_json(args):
        print_json(rows)
    elif not rows:
        print("No models registered yet." if args.name is None else f"No versions of {args.name}.")
    else:
        for row in rows:
            row["training_date"] = row["training_date"][:16].replace("T", " ")
            if row["status"] == "deleted":
                row["aliases"] = ["(deleted)"]
        print_table(rows, LIST_COLUMNS, LIST_HEADERS)
    return 0


def cmd_show(args) -> int:
    meta = open_registry(args).resolve(args.ref)
    data = meta.to_dict()
    if wants_json(args):
        print_json(data)  # full precision
        return 0
    width = max(len(k) for k in data)
    for key, value in data.items():
        if key in HEADLINE_METRICS and value is None:
            value = "unknown"
        value = rounded(value)
        if isinstance(value, dict | list) and value:
            text = json.dumps(value, indent=2, default=str)
            print(f"{key:<{width}}  " + text.replace("\n", "\n" + " " * (width + 2)))
        else:
            print(f"{key:<{width}}  {value}")
    return 0


def cmd_compare(args) -> int:
    registry = open_registry(args)
    ids = [registry.resolve(ref).model_id for ref in args.refs] or None
    frame = registry.compare_models(model_ids=ids, show=False)
    if wants_json(args):
        print_json(frame.to_dict(orient="records"))
    elif frame.empty:
        print("No models to compare.")
    else:
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def cmd_best(args) -> int:
    meta = open_registry(args).best_metadata(args.metric, model_name=args.name, algorithm=args.algorithm)
    if wants_json(args):
        print_json(meta.to_dict())
    else:
        print(
            f"{meta.model_id}  {meta.model_name} v{meta.version} ({meta.algorithm})  "
            f"{args.metric}={meta.metric(args.metric):.4f}"
        )
    return 0


def cmd_export(args) -> int:
    registry = open_registry(args)
    paths = registry.export_model(registry.resolve(args.ref).model_id, args.dest)
    if wants_json(args):
        print_json({k: str(v) for k, v in paths.items()})
    else:
        for kind, path in paths.items():
            print(f"{kind:<9} {path}")
    return 0


def cmd_import(args) -> int:
    from core.registry import transfer

    details = {"--name": args.name, "--algorithm": args.algorithm, "--features": args.features,
               "--features-from": args.features_from, "--evaluate": args.evaluate}
    if args.label and not args.evaluate:
        raise RegistryError("--label names the label column of --evaluate; give the labelled file with --evaluate too.")
    if args.evaluate and not args.label:
        raise RegistryError("Say which column of the --evaluate file holds the true labels with --label COL.")
    registry = open_registry(args, write=True)
    preview = transfer.preview_import(args.path, args.metadata)
    given = [flag for flag, value in details.items() if value]
    if not preview.needs_details and given:
        raise RegistryError(
            f"{preview.source} comes with its metadata, so {', '.join(given)} cannot be used; leave them out."
        )
    if preview.needs_details and not args.name:
        raise RegistryError(
            f"{preview.source} came without metadata; import it by naming it: exoreg import {args.path} --name NAME "
            "(feature columns and an --evaluate file are optional), or give its metadata JSON with --metadata."
        )
    existing = transfer.same_model_file(registry, preview)
    if existing is not None and not args.allow_duplicate:
        message = transfer.duplicate_message(preview, existing)
        if wants_json(args):
            print_json({"skipped": True, "same_as": existing.model_id, "message": message})
        else:
            print(f"{message}; pass --allow-duplicate to import it anyway.", file=sys.stderr)
        return 0
    if preview.needs_trust and args.trust and not wants_json(args):
        print(
            f"Trusting {args.path} ({preview.format}); it imports: "
            f"{', '.join(preview.inspection.untrusted) or 'nothing listed'}",
            file=sys.stderr,
        )
    if preview.needs_details:
        from core.prediction.importing import csv_columns, import_outside_model, parse_feature_list

        model = transfer.load_previewed_model(preview, trusted=args.trust)  # after the safety review
        features = None
        if args.features:
            features = parse_feature_list(args.features)
        elif args.features_from:
            features = csv_columns(args.features_from, exclude=(args.label,) if args.label else ())
        model_id = import_outside_model(
            registry, preview, name=args.name, algorithm=args.algorithm, feature_columns=features,
            evaluate=args.evaluate, label_column=args.label or "", trusted=args.trust, model=model,
        )
    else:
        model_id = registry.import_model(args.path, args.metadata, trusted=args.trust, preview=preview)
    meta = registry.get_metadata(model_id)
    if wants_json(args):
        print_json({"model_id": model_id, "version": meta.version, "imported_from": meta.imported_from,
                    "metrics_caveat": meta.metrics_caveat, "warnings": preview.warnings})
        return 0
    print(f"Imported as {model_id} ({meta.model_name} v{meta.version})")
    for warning in preview.warnings:
        print(f"Warning: {warning}", file=sys.stderr)
    if preview.needs_details:
        print(f"  algorithm {meta.algorithm}; {len(meta.feature_columns)} feature columns")
        if meta.metrics_caveat:
            scores = ", ".join(f"{k} {getattr(meta, k):.4f}" for k in HEADLINE_METRICS if getattr(meta, k) is not None)
            print(f"  scored on {args.evaluate}: {scores} ({meta.metrics_caveat})")
            print("  It is not a candidate for best until you confirm these metrics (the file holds none of its "
                  f"training rows): exoreg confirm-metrics {model_id}")
        else:
            print("  Its metrics are unknown; score it with: exoreg evaluate "
                  f"{model_id} LABELLED.csv --label COL")
    return 0


def cmd_confirm_metrics(args) -> int:
    registry = open_registry(args, write=True)
    meta = registry.confirm_metrics(registry.resolve(args.ref).model_id)
    if wants_json(args):
        print_json({"model_id": meta.model_id, "metrics_caveat": meta.metrics_caveat})
    else:
        print(f"Confirmed the metrics of {meta.model_id}; it may now be the best of {meta.model_name}.")
    return 0


def cmd_inspect(args) -> int:
    from core.registry.safety import inspect_model_file

    report = inspect_model_file(args.path)
    if wants_json(args):
        print_json(report.to_dict())
        return 0
    verdict = "safe to load" if report.safe else "NEEDS TRUST"
    print(f"{report.path}: {report.format}, {verdict}")
    for name in report.imports:
        mark = "  UNTRUSTED" if name in report.untrusted else ""
        print(f"  {name}{mark}")
    for note in report.notes:
        print(f"note: {note}")
    return 0


def cmd_delete(args) -> int:
    registry = open_registry(args, write=True)
    meta = registry.delete_model(registry.resolve(args.ref).model_id)
    print(f"Deleted {meta.model_id} (restore with: exoreg restore {meta.model_id})")
    return 0


def cmd_restore(args) -> int:
    registry = open_registry(args, write=True)
    meta = registry.restore_model(registry.resolve(args.ref).model_id)
    print(f"Restored {meta.model_id}")
    return 0


def cmd_alias(args) -> int:
    registry = open_registry(args, write=True)
    if args.remove:
        registry.remove_alias(args.name, args.alias)
        print(f"Removed {args.name}@{args.alias}")
        return 0
    if args.version is None:
        raise RegistryError(
            "Give the version the alias should point at, e.g. `exoreg alias NAME production 3`."
        )
    meta = registry.set_alias(args.name, args.alias, args.version)
    print(f"{args.name}@{args.alias} -> {meta.model_id}")
    return 0


def cmd_describe(args) -> int:
    registry = open_registry(args, write=True)
    meta = registry.update_metadata(registry.resolve(args.ref).model_id, description=args.text)
    print(f"Updated the description of {meta.model_id}")
    return 0


def cmd_tag(args) -> int:
    registry = open_registry(args, write=True)
    meta = registry.resolve(args.ref)
    tags = dict(meta.tags)
    for pair in args.pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RegistryError(
                f"{pair!r} is not KEY=VALUE; write tags like owner=ana (owner= removes the tag)."
            )
        if value:
            tags[key] = value
        else:
            tags.pop(key, None)
    meta = registry.update_metadata(meta.model_id, tags=tags)
    print(f"Tags of {meta.model_id}: " + (", ".join(f"{k}={v}" for k, v in meta.tags.items()) or "none"))
    return 0


def cmd_stats(args) -> int:
    stats = open_registry(args).get_registry_stats()
    if wants_json(args):
        print_json(stats)
        return 0
    print(
        f"Registry {stats['registry']}: {stats['total_models']} active versions of {stats['model_names']} "
        f"names ({stats['deleted_versions']} deleted), {stats['size_on_disk_bytes'] / 1e6:.1f} MB"
    )
    if stats["models_per_name"]:
        print_table(
            [{"name": k, "versions": v} for k, v in stats["models_per_name"].items()],
            ["name", "versions"],
            ["NAME", "VERSIONS"],
        )
        print()
        print_table(
            [{"algorithm": k, "versions": v} for k, v in stats["models_per_algorithm"].items()],
            ["algorithm", "versions"],
            ["ALGORITHM", "VERSIONS"],
        )
        print()
        print_table(
            [{"metric": k, **v} for k, v in stats["best_by_metric"].items()],
            ["metric", "value", "model_id"],
            ["METRIC", "BEST", "ID"],
        )
    return 0


def cmd_verify(args) -> int:
    report = open_registry(args).verify(repair=args.repair)
    if wants_json(args):
        print_json(report.to_dict())
    else:
        print(f"Checked {report.checked} versions: " + ("OK" if report.ok else "PROBLEMS FOUND"))
        for p in report.problems:
            print(f"  {'leftover' if p.leftover else 'ERROR'}  {p.kind}: {p.message}")
        for p in report.warnings:
            print(f"  warning  {p.kind}: {p.message}")
        for path in report.repaired:
            print(f"  repaired: {path}")
    return 0 if report.ok else 1


def cmd_backup(args) -> int:
    from core.registry.transfer import backup_registry

    progress = TerminalProgress("Backing up", unit=" files")
    try:
        dest = backup_registry(open_registry(args), args.dest, progress=progress)
    finally:
        progress.close()
    print(f"Backup written to {dest}")
    return 0


def cmd_restore_backup(args) -> int:
    from core.registry.transfer import restore_backup

    target = registry_path(args, write=True)
    progress = TerminalProgress("Restoring", unit=" files")
    try:
        count = restore_backup(args.archive, target, progress=progress)
    finally:
        progress.close()
    print(f"Restored {count} versions into {target}")
    return 0


def cmd_copy(args) -> int:
    from core.cli._common import open_registry_at
    from core.registry.store.copy import copy_registry

    source = open_registry_at(args.source)
    target = open_registry_at(args.target, write=True)
    progress = TerminalProgress("Copying", unit=" versions")
    try:
        report = copy_registry(source.store, target.store, progress=progress)
    finally:
        progress.close()
    if wants_json(args):
        print_json(report.to_dict())
    else:
        print(report.sentence())
    return 0
