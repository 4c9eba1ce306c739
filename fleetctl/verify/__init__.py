"""``fleetctl verify``: live checks of the deployed metric pipeline.

Names come from the stack's outputs (``fleetctl.stack_outputs``), expectations
from the metric contract; nothing deployed is spelled here. The checks:

1. ``ListMetrics`` shows each ``WorkerType`` series of ``QueueDepth`` and
   ``BacklogPerInstance``;
2. ``GetMetricStatistics`` over the last N minutes has datapoints for each of
   them, with no gap longer than ``MAX_GAP_PERIODS`` periods (also at the end: a
   publisher that stopped is a gap): ``QueueDepth`` per minute, one datum a
   minute (the seed's ``Sum`` reads the depth), the tracked series at the
   function's ``SAMPLE_SECONDS`` (its last 3 hours at 10 or 30 s);
3. the AI and Messaging ASGs each have exactly one target-tracking policy on
   the contract's series, read at the function's ``SAMPLE_SECONDS``, and Video
   (Lambda-controlled) has none;
4. the EventBridge rule is ENABLED, runs ``rate(1 minute)`` and targets the function;
5. the function's environment matches the contract and the outputs;
6. the function had no errors (``AWS/Lambda`` ``Errors``, Sum) in the window.

Exit codes: 0 all passed, 1 a check failed, 2 the checks could not run (bad
credentials, unreachable endpoint, unknown environment, outputs missing, or a
check hit an unexpected API error). Credential problems abort the run with one
line naming the cause and the fix; boto3 honours ``AWS_ENDPOINT_URL``, so the
same checks run against the local emulated AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import boto3
from botocore.exceptions import NoRegionError, ProfileNotFound

from fleetctl.stack_outputs import (
    StackOutputsError,
    read_outputs_file,
    read_terraform_outputs,
    stack_dir,
)
from fleetctl.verify.aws import Aws, CannotVerify, explain_botocore_error, explain_client_error
from fleetctl.verify.checks import CHECKS, run_checks
from fleetctl.verify.results import (
    EXIT_FAILED,
    EXIT_NOT_RUN,
    EXIT_OK,
    CheckResult,
    Status,
    Window,
    exit_code,
    format_table,
)
from fleetctl.verify.series import largest_gap
from modules.settings import CONFIG_DIR, load_environment

__all__ = [
    "CHECKS",
    "EXIT_FAILED",
    "EXIT_NOT_RUN",
    "EXIT_OK",
    "Aws",
    "CannotVerify",
    "CheckResult",
    "Status",
    "Window",
    "add_arguments",
    "exit_code",
    "explain_botocore_error",
    "explain_client_error",
    "format_table",
    "largest_gap",
    "run",
    "run_checks",
]

REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")


# ------------------------------------------------------------------ CLI

HELP = "check the deployed metric pipeline live (exit 0 ok, 1 failed, 2 could not run)"
DESCRIPTION = __doc__.split("\n\n")[0] if __doc__ else HELP
EPILOG = """\
examples:
  fleetctl verify --env prod
  fleetctl verify --env prod --minutes 60 --json
  AWS_PROFILE=academy-prod fleetctl verify --env prod --region ap-northeast-2
  # against the local AWS (the endpoint comes from AWS_ENDPOINT_URL):
  fleetctl verify --env local --outputs out/outputs-local.json

checks: 1 ListMetrics per WorkerType, 2 datapoints without gaps > 2 periods
(QueueDepth per minute, the tracked series at SAMPLE_SECONDS), 3 AI/Messaging
policies on the contract at SAMPLE_SECONDS (Video none), 4 rule ENABLED rate(1 minute)
-> function, 5 function environment = contract, 6 no AWS/Lambda Errors.
Names come from `terraform output -json` of cdktf.out/stacks/workers-<env>, or --outputs.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment name: config/<env>.toml")
    parser.add_argument(
        "--region", help="AWS region (default: the stack's output, else the settings)"
    )
    parser.add_argument(
        "--minutes", type=int, default=30, help="window of checks 2 and 6 (default 30)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--outputs",
        type=Path,
        help="stack outputs JSON (terraform output -json, cdktf --outputs-file)",
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        default=Path("cdktf.out"),
        help="where the stacks are (default cdktf.out)",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path(os.environ.get("WORKER_CONFIG_DIR", CONFIG_DIR)),
        help="settings directory (default: config/, or WORKER_CONFIG_DIR)",
    )


def run(args: argparse.Namespace, *, aws: Aws | None = None, now: datetime | None = None) -> int:
    """Run ``verify`` for parsed ``args``. ``aws`` and ``now`` are for tests."""
    if not 5 <= args.minutes <= 1440:
        print(f"verify: --minutes {args.minutes}: must be 5..1440", file=sys.stderr)
        return EXIT_NOT_RUN
    settings = load_environment(args.env, args.config_dir)  # SettingsError: handled by the CLI
    if args.region is not None and not REGION_PATTERN.match(args.region):
        print(
            f"verify: --region {args.region!r} is not an AWS region like 'ap-northeast-2'",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    try:
        outputs = (
            read_outputs_file(args.outputs, settings.stack_name)
            if args.outputs
            else read_terraform_outputs(
                stack_dir(args.synth_dir, settings.stack_name), settings.stack_name
            )
        )
    except StackOutputsError as error:
        print(f"verify: {error}", file=sys.stderr)
        return EXIT_NOT_RUN
    region = args.region or outputs.region or settings.region
    if not REGION_PATTERN.match(region):
        print(
            f"verify: region {region!r} (from the stack outputs) is not an AWS region",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    window = Window(end=now or datetime.now(UTC), minutes=args.minutes)
    try:
        if aws is None:
            aws = Aws.from_session(boto3.Session(region_name=region))
        results = run_checks(aws, outputs, window)
    except ProfileNotFound as error:
        print(
            f"verify: {error}. Fix: set AWS_PROFILE to a profile in ~/.aws/config "
            "(`aws configure list-profiles`)",
            file=sys.stderr,
        )
        return EXIT_NOT_RUN
    except NoRegionError:
        print("verify: no AWS region. Fix: pass --region", file=sys.stderr)
        return EXIT_NOT_RUN
    except CannotVerify as error:
        print(f"verify: {error}", file=sys.stderr)
        return EXIT_NOT_RUN
    code = exit_code(results)
    if args.json:
        document = {
            "env": settings.name,
            "stack": settings.stack_name,
            "region": region,
            "window_minutes": window.minutes,
            "checks": [{**asdict(r), "status": r.status.value} for r in results],
            "exit_code": code,
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"verify {settings.stack_name} in {region} (last {window.minutes} min)")
        print(format_table(results))
    return code
