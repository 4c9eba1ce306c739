"""``fleetctl trace pull``: write an environment's real traffic as a trace CSV.

Reads each queue's ``AWS/SQS NumberOfMessagesSent`` from CloudWatch (queue
names from the environment's settings) and writes ``timestamp,queue,count``
rows, the format ``fleetctl simulate --trace`` replays (README, "Simulating
your traffic"). Exit 0, or 2 with one line: bad arguments, or AWS refused (the
cause and the fix, as ``fleetctl verify`` gives them).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError, ProfileNotFound

from fleetctl.simulation.trace import format_rows
from fleetctl.simulation.trace_pull import pull_rows
from fleetctl.verify import explain_botocore_error, explain_client_error
from modules.settings import available_environments, load_environment

HELP = "Pull a queue traffic trace from CloudWatch for fleetctl simulate --trace"
DESCRIPTION = __doc__ or ""
EPILOG = """examples:
  fleetctl trace pull --env prod --from 2026-11-02T00:00Z --to 2026-11-09T00:00Z --out week.csv
  fleetctl trace pull --env prod --from 2026-09-01 --to 2026-10-01 --period 300 --out month.csv
  fleetctl simulate --env prod --trace week.csv --policy current,keda
"""
MAX_DAYS = 63
"""CloudWatch keeps five-minute datapoints for 63 days."""


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="<action>")
    pull = actions.add_parser(
        "pull",
        help="write NumberOfMessagesSent per queue and minute as a trace CSV",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    pull.add_argument("--env", required=True, help=f"one of {', '.join(available_environments())}")
    pull.add_argument("--from", dest="start", required=True, type=_moment, help="ISO 8601 (UTC)")
    pull.add_argument("--to", dest="end", required=True, type=_moment, help="ISO 8601 (UTC)")
    pull.add_argument("--out", type=Path, help="the CSV file (default: stdout)")
    pull.add_argument("--region", help="default: the environment's region")
    pull.add_argument(
        "--period",
        type=int,
        default=60,
        help="CloudWatch period in seconds, a multiple of 60 (default 60; 300 past 15 days)",
    )


def run(args: argparse.Namespace) -> int:
    settings = load_environment(args.env)  # SettingsError: one line, exit 2 (the CLI)
    problem = None
    if args.end <= args.start:
        problem = "--to must be after --from"
    elif (args.end - args.start).days > MAX_DAYS:
        problem = f"at most {MAX_DAYS} days (CloudWatch keeps five-minute data that long)"
    elif args.period <= 0 or args.period % 60:
        problem = f"--period {args.period}: must be a positive multiple of 60"
    if problem:
        print(f"fleetctl trace pull: {problem}", file=sys.stderr)
        return 2
    queues = [queue.name for fleet in settings.fleets for queue in fleet.queues]
    action = "cloudwatch:GetMetricData"
    try:
        client = boto3.Session(region_name=args.region or settings.region).client("cloudwatch")
        rows = pull_rows(client, queues, args.start, args.end, args.period)
    except ClientError as error:
        print(
            f"fleetctl trace pull: {explain_client_error(error, action) or error}", file=sys.stderr
        )
        return 2
    except (ProfileNotFound, NoRegionError) as error:
        print(f"fleetctl trace pull: {error}", file=sys.stderr)
        return 2
    except BotoCoreError as error:
        print(
            f"fleetctl trace pull: {explain_botocore_error(error, action) or error}",
            file=sys.stderr,
        )
        return 2
    text = format_rows(rows)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        total = sum(r.count for r in rows)
        print(f"wrote {args.out}: {len(rows)} rows, {total} messages", file=sys.stderr)
    return 0
