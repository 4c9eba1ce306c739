"""``fleetctl``: operator commands for the worker autoscaling stack.

Subcommands are modules listed in ``SUBCOMMANDS``. Each module provides:

* ``HELP`` (one line for ``fleetctl --help``), ``DESCRIPTION`` and ``EPILOG``
  (the subcommand's ``--help``, with examples);
* ``add_arguments(parser: argparse.ArgumentParser) -> None``;
* ``run(args: argparse.Namespace) -> int``: the exit code.

To add a subcommand (``demo`` is next), write such a module and add one line
to ``SUBCOMMANDS``; nothing else here changes. Modules are imported only when
the parser is built, so a slow import (boto3) is paid by the commands only.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol, cast

from modules.settings import SettingsError

SUBCOMMANDS: dict[str, str] = {
    "report": "fleetctl.report",
    "verify": "fleetctl.verify",
    "demo": "fleetctl.demo",
    "simulate": "fleetctl.simulation.simulate_cli",
    "diagram": "fleetctl.diagram",
    "trace": "fleetctl.simulation.trace_cli",
}
"""Subcommand name -> module implementing the interface above."""


class Subcommand(Protocol):
    HELP: str
    DESCRIPTION: str
    EPILOG: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(module_name: str) -> Subcommand:
    module: ModuleType = importlib.import_module(module_name)
    return cast(Subcommand, module)


def build_parser() -> argparse.ArgumentParser:
    """The ``fleetctl`` parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="fleetctl",
        description="Operator commands for the worker autoscaling stack.",
        epilog="examples:\n  fleetctl report --env prod --out out/report-prod.md\n"
        "  fleetctl verify --env prod\n\nrun `fleetctl <command> --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name, module_name in SUBCOMMANDS.items():
        module = _load(module_name)
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the subcommand, return its exit code.

    A settings error (unknown environment, invalid ``config/<env>.toml``) is one
    line on stderr and exit code 2.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as error:
        print(f"fleetctl {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fleetctl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
