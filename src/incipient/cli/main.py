"""The ``incipient`` command: one entry point whose subcommands are imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

from incipient.errors import IncipientError

# name -> (module, one-line help). Each module defines ``add_arguments(parser)`` and ``run(args)``.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("incipient.cli.info", "versions, built-in data and engine check"),
    "relax": ("incipient.cli.relax", "relax positions and cell with the MTP"),
    "md": ("incipient.cli.md", "NVT then NVE molecular dynamics to an H5MD trajectory"),
    "migration": ("incipient.cli.migration", "MSD, diffusion coefficients, hops and pathways"),
    "spectra": ("incipient.cli.spectra", "VACF DOS, S(Q,w) and DHO fits"),
    "kappa": ("incipient.cli.kappa", "force constants and Wigner thermal conductivity"),
    "gk": ("incipient.cli.gk", "Green-Kubo thermal conductivity from heat currents"),
    "mem": ("incipient.cli.mem", "maximum-entropy electron density from a CIF"),
    "train": ("incipient.cli.train", "fit an MTP to labelled configurations (needs the 'train' extra: torch)"),
    "learn": ("incipient.cli.learn", "active learning of an MTP: MD, extrapolation grade, oracle labels, refit"),
    "run": ("incipient.cli.run", "run a whole study and write its report"),
}


def build_parser() -> argparse.ArgumentParser:
    from incipient import __version__

    parser = argparse.ArgumentParser(
        prog="incipient",
        description="Ion migration and lattice heat transport in ionic conductors.",
    )
    parser.add_argument("--version", action="version", version=f"incipient {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] not in COMMANDS:
        args = parser.parse_args(argv)  # prints help, version or an error
        parser.print_help()
        return 0 if not argv else 2
    name = argv[0]
    module_name, help_ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            print(f"incipient {name}: this subcommand is not available in this build", file=sys.stderr)
            return 2
        raise
    sub = argparse.ArgumentParser(prog=f"incipient {name}", description=help_)
    module.add_arguments(sub)
    sub.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    args = sub.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except (IncipientError, ValueError, OSError, RuntimeError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"incipient {name}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (OSErrors with their file name and reason)."""
    if isinstance(exc, OSError) and not isinstance(exc, IncipientError) and exc.strerror:
        msg = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        msg = str(exc) or type(exc).__name__
    return " ".join(msg.split())


if __name__ == "__main__":
    raise SystemExit(main())
