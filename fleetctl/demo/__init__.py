"""``fleetctl demo``: the whole autoscaling loop on a local, emulated AWS."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from fleetctl.demo.context import PROJECT_ROOT, DemoError, RunContext
from fleetctl.demo.output import STEPS, say
from fleetctl.demo.runner import demo
from fleetctl.local_aws import LocalAwsError
from fleetctl.terraform import TerraformError
from fleetctl.zip_handler import ZipHandlerError
from modules.settings import CONFIG_DIR, load_environment

DEFAULT_TICKS = 28
"""Enough for AlarmLow's 15 datapoints plus one-a-minute scale-in after the burst."""

HELP = "deploy the stack to a local emulated AWS, scale out and in, tear down"
DESCRIPTION = (__doc__ or HELP).split("\n\n")[0]
EPILOG = """\
examples:
  make demo                                  # setup, lambda, synth, validate, then this
  fleetctl demo --env local
  fleetctl demo --env local --ticks 40
  fleetctl demo --env local --keep           # leave the local AWS running afterwards

exit codes: 0 every check passed, 1 a check failed, 2 a step could not run.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="local", help="an emulated environment (default local)")
    parser.add_argument(
        "--ticks",
        type=int,
        default=DEFAULT_TICKS,
        help=f"simulated minutes to run the loop (default {DEFAULT_TICKS})",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack and the local AWS running, and print how to reach them",
    )
    parser.add_argument("--synth-dir", type=Path, default=PROJECT_ROOT / "cdktf.out")
    parser.add_argument(
        "--zip", type=Path, default=PROJECT_ROOT / "dist" / "queue_depth_lambda.zip"
    )
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "out")


def run(args: argparse.Namespace) -> int:
    settings = load_environment(args.env, CONFIG_DIR)  # SettingsError: handled by the CLI
    if not settings.emulated:
        print(
            f"demo: config/{settings.name}.toml has emulated = false; the demo deploys only "
            "to the local emulated AWS (try --env local)",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.ticks <= 240:
        print(f"demo: --ticks {args.ticks}: must be 1..240", file=sys.stderr)
        return 2
    if settings.backend.kind != "s3":
        print(f"demo: {settings.name} has no s3 backend to bootstrap", file=sys.stderr)
        return 2
    if not args.zip.is_file():
        print(f"demo: {args.zip} is missing; run `make lambda`", file=sys.stderr)
        return 2
    context = RunContext(
        settings=settings,
        run_dir=args.out / f"demo-{settings.name}",
        synth_dir=args.synth_dir,
        zip_path=args.zip,
        ticks=args.ticks,
        keep=args.keep,
    )
    say(
        f"demo {settings.name}: the worker stack on a local emulated AWS "
        f"(1/{STEPS} setup and `make lambda`: done by make)"
    )
    try:
        return demo(context, args.out)
    except (DemoError, TerraformError, LocalAwsError, ZipHandlerError) as error:
        print(f"\ndemo: {error}", file=sys.stderr)
    except ClientError as error:
        print(
            f"\ndemo: {error.operation_name} failed: {error.response.get('Error', {})}",
            file=sys.stderr,
        )
    except BotoCoreError as error:
        print(f"\ndemo: {type(error).__name__}: {error}", file=sys.stderr)
    print(
        f"demo: failed after {context.progress.elapsed():.1f} s; logs in {context.run_dir}",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fleetctl.demo",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
