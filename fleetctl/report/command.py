"""The ``fleetctl report`` subcommand: arguments, exit codes, where the text goes."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fleetctl.report.build import build_report
from fleetctl.report.model import DEFAULT_VERIFY_MINUTES
from fleetctl.report.render import FORMATS, render
from fleetctl.report.stack import ReportError
from modules.settings import CONFIG_DIR, load_environment

HELP = "rebuild the metric schema report from the synthesized stack; exit 1 on drift"
DESCRIPTION = (
    "Render the metric schema report (publisher, consumers per ASG, the Video fleet, the "
    "tenant backlog query, verification commands) from cdktf.out and the metric contract, "
    "and check that every consumer reads what the publisher emits."
)
EPILOG = """\
examples:
  fleetctl report --env prod                           # Markdown on stdout
  fleetctl report --env prod --out out/report-prod.md
  fleetctl report --env dev --format html --out out/report-dev.html
  fleetctl report --env local --synth-dir /tmp/cdktf.out
  make report ENV=prod                                 # synth first, then out/report-prod.md

exit codes: 0 no drift, 1 drift (each mismatch is printed on stderr and in the
report), 2 the report could not be built (unknown environment, no synthesized stack).
drift kinds: unpublished-metric (a policy, dashboard graph or alarm reads a series
nobody publishes), wrong-series, uncontrolled-fleet, lambda-fleet-has-policy,
environment, empty-widget (a dashboard graph that draws nothing).
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment name: config/<env>.toml")
    parser.add_argument("--format", choices=FORMATS, default="md", help="md (default) or html")
    parser.add_argument(
        "--out", type=Path, help="write here instead of stdout (parents are created)"
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        default=Path("cdktf.out"),
        help="cdktf output directory (default cdktf.out)",
    )
    parser.add_argument(
        "--minutes",
        type=int,
        default=DEFAULT_VERIFY_MINUTES,
        help=f"window of the verification commands (default {DEFAULT_VERIFY_MINUTES})",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path(os.environ.get("WORKER_CONFIG_DIR", CONFIG_DIR)),
        help="settings directory (default: config/, or WORKER_CONFIG_DIR)",
    )


def run(args: argparse.Namespace) -> int:
    """Build, render and write the report; print drift and findings on stderr."""
    settings = load_environment(args.env, args.config_dir)  # SettingsError: handled by the CLI
    try:
        report = build_report(settings, args.synth_dir, verify_minutes=args.minutes)
    except ReportError as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    text = render(report, args.format)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"report: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    for warning in report.warnings:
        print(f"report: finding: {warning}", file=sys.stderr)
    for drift in report.drift:
        print(f"report: {drift.show()}", file=sys.stderr)
    return 1 if report.drift else 0
