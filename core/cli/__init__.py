"""The ``exoreg`` command line: one subcommand per registry operation.

Each module listed in ``COMMAND_MODULES`` defines ``add_commands(subparsers, common)``;
``common`` is the parent parser that gives every subcommand ``--registry`` and ``--json``.
A handler returns an exit code; a :class:`core.errors.RegistryError` (or a few other
user mistakes) becomes one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "core.cli.registry_commands",
    "core.cli.deploy_commands",
    "core.cli.predict_commands",
    "core.cli.demo_commands",
)


def build_parser() -> argparse.ArgumentParser:
    from core.cli._common import common_parser

    common = common_parser()
    parser = argparse.ArgumentParser(
        prog="exoreg",
        description="ExoReg: a model registry for Kepler exoplanet classifiers.",
        parents=[common],
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    from core.common.files import FileTooLargeError, NotRegularFileError
    from core.errors import RegistryError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("exoreg: interrupted", file=sys.stderr)
        return 130
    except (
        RegistryError,
        FileNotFoundError,
        PermissionError,
        IsADirectoryError,
        NotRegularFileError,
        FileTooLargeError,
    ) as exc:
        print(f"exoreg: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `exoreg list | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
