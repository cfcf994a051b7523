"""The ``exoreg`` command line: one subcommand per registry operation.

Each module listed in ``COMMAND_MODULES`` defines ``add_commands(subparsers, common)``;
``common`` is the parent parser that gives every subcommand ``--registry`` and ``--json``.
A handler returns an exit code; a :class:`core.errors.RegistryError` or an :class:`OSError`
(a full disk, a read-only folder, a missing file) becomes one line on stderr and exit code 1,
never a traceback.
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
    "core.cli.science_commands",
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


# Arguments that are text the registry stores or matches (not paths, which may be any bytes).
TEXT_ARGUMENTS = {
    "ref": "REF",
    "refs": "REF",
    "name": "NAME",
    "alias": "ALIAS",
    "text": "--text",
    "pairs": "KEY=VALUE",
    "metric": "--metric",
    "algorithm": "--algorithm",
    "features": "--features",
    "label": "--label",
}


def check_text_arguments(args: argparse.Namespace) -> None:
    """Refuse text arguments the terminal passed as bytes that are not UTF-8.

    Python decodes such bytes as lone surrogates ("surrogateescape"); stored, they would be
    text no JSON reader accepts, so they stop here with the same error the library gives.
    """
    from core.errors import MetadataValidationError

    for dest, label in TEXT_ARGUMENTS.items():
        values = getattr(args, dest, None)
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str):
                continue
            bad = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
            if bad is not None:
                byte = f"the byte 0x{ord(bad) - 0xDC00:02x}" if bad >= "\udc80" else f"U+{ord(bad):04X}"
                raise MetadataValidationError(
                    f"The argument {label} ({value!r}) is not valid UTF-8 text ({byte} cannot be decoded); "
                    "give it as UTF-8 text.",
                    field=dest,
                )


def main(argv: list[str] | None = None) -> int:
    from core.cli._common import Terminated, terminate_as_interrupt
    from core.common.files import FileTooLargeError, NotRegularFileError, os_error_sentence
    from core.errors import RegistryError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with terminate_as_interrupt():
            check_text_arguments(args)
            return int(args.func(args) or 0)
    except Terminated as stop:
        print("exoreg: stopped by a signal; nothing half-written was left", file=sys.stderr)
        return 128 + stop.signum
    except KeyboardInterrupt:
        print("exoreg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `exoreg list | head`
        return 0
    except (RegistryError, NotRegularFileError, FileTooLargeError) as exc:
        print(f"exoreg: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a read-only folder, a missing file: one sentence, never a traceback
        print(f"exoreg: {os_error_sentence(exc)}", file=sys.stderr)
        return 1


def run() -> None:
    """The ``exoreg`` program: :func:`main`, then exit without the interpreter's last collection.

    Nothing is left to collect once a command has finished, yet a full collection over everything
    scikit-learn, SciPy and pandas created takes half a second after a prediction; frozen objects
    are skipped (``gc.freeze``), and the exit code, buffered output and exit handlers are as usual.
    """
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
