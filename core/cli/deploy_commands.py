"""``exoreg deploy`` and ``exoreg verify-bundle``: deployment bundles from the command line."""

from __future__ import annotations

import argparse
import sys


def add_commands(subparsers, common: argparse.ArgumentParser) -> None:
    deploy = subparsers.add_parser(
        "deploy",
        parents=[common],
        help="write a deployment bundle (MLflow folder, skops, ONNX, predict.py, model card)",
        description=(
            "Write a deployment bundle for a registered model into OUTPUT_DIR: an MLflow model folder that "
            "loads model.skops (no pickle), model.onnx (when it matches scikit-learn), a standalone "
            "predict.py, a model card (README.md) and manifest.json with every file's SHA-256."
        ),
    )
    deploy.add_argument("ref", metavar="REF", help="model reference: id, NAME, NAME:VERSION, NAME@ALIAS, best")
    deploy.add_argument("output", metavar="OUTPUT_DIR", help="folder to create (must be new or empty)")
    deploy.add_argument("--no-onnx", dest="include_onnx", action="store_false", help="do not convert to ONNX")
    deploy.add_argument(
        "--sample",
        metavar="CSV",
        help="real rows for the ONNX parity check and the input example (default: candidates.csv beside "
        "the registry folder if it exists, else synthetic rows)",
    )
    deploy.add_argument(
        "--overwrite", action="store_true", help="replace an earlier bundle in OUTPUT_DIR (never other files)"
    )
    deploy.add_argument(
        "--with-pickle",
        action="store_true",
        help="also write model.pkl and point MLflow's sklearn flavor at it, for serving systems that read "
        "only pickles (MLflow releases before skops support); a pickle runs code when loaded",
    )
    deploy.set_defaults(func=_deploy)

    verify = subparsers.add_parser(
        "verify-bundle",
        parents=[common],
        help="check a deployment bundle's files against its manifest",
        description="Check every file of a deployment bundle against manifest.json; name any changed, "
        "missing or extra entry (links and special files included, never followed). Exit code 0 when the bundle is intact, 1 otherwise.",
    )
    verify.add_argument("path", metavar="PATH", help="bundle folder")
    verify.set_defaults(func=_verify)


def _deploy(args: argparse.Namespace) -> int:
    from core.cli._common import TerminalProgress, open_registry, print_json, wants_json
    from core.deployment.bundle import export_registered_model, onnx_unavailable_reason

    registry = open_registry(args)
    unavailable = onnx_unavailable_reason() if args.include_onnx else None
    if unavailable:
        print(f"Note: {unavailable}", file=sys.stderr)
    progress = TerminalProgress("Exporting")
    try:
        report = export_registered_model(
            registry,
            args.ref,
            args.output,
            include_onnx=args.include_onnx,
            sample_rows=args.sample,
            overwrite=args.overwrite,
            with_pickle=args.with_pickle,
            progress=progress,
        )
    finally:
        progress.close()
    if wants_json(args):
        print_json(report.to_dict())
        return 0
    version = f" v{report.version}" if report.version is not None else ""
    print(f"Wrote the deployment bundle of {report.model_name}{version} to {report.path}")
    for name, entry in report.files.items():
        print(f"  {name:<28} {entry['size']:>10,} bytes")
    print("  manifest.json                (SHA-256 of every file above)")
    onnx = report.onnx
    print(f"ONNX: {onnx.get('message')}")
    sample = report.sample
    if sample.get("source") == "synthetic":
        print("Sample: none given, so the parity check used synthetic rows; pass --sample CSV for real rows.")
    else:
        print(f"Sample: {sample.get('rows')} rows of {sample.get('source')}.")
    for warning in report.warnings:
        if warning != onnx.get("message"):
            print(f"Note: {warning}", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from core.cli._common import print_json, wants_json
    from core.deployment.bundle import verify_bundle

    report = verify_bundle(args.path)
    if wants_json(args):
        print_json(report.to_dict())
        return 0 if report.ok else 1
    if report.ok:
        print(f"{report.path}: all {report.checked} files match the manifest.")
        return 0
    for message in report.messages():
        print(f"exoreg: {message}", file=sys.stderr)
    if report.changed or report.missing or report.extra:
        print(f"exoreg: the bundle at {report.path} does not match its manifest.", file=sys.stderr)
    return 1
