"""``python -m fleetctl.local_aws serve|start|env|stop``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from fleetctl.local_aws.errors import LocalAwsError
from fleetctl.local_aws.server import _MODULE, DEFAULT_REGION, LocalAws, serve

# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fleetctl.local_aws",
        description="The local, emulated AWS (moto on 127.0.0.1 with the NOTES §2 fixes).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run in the foreground until Ctrl-C")
    serve_parser.add_argument("--port", type=int, default=0, help="default: a free port")
    serve_parser.add_argument("--verbose", action="store_true", help="log every request")
    # Internal: set by LocalAws.start() for its child.
    serve_parser.add_argument("--announce-fd", type=int, help=argparse.SUPPRESS)
    serve_parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    serve_parser.add_argument("--pdeathsig", action="store_true", help=argparse.SUPPRESS)
    start_parser = commands.add_parser("start", help="start detached and record it in a file")
    start_parser.add_argument("--state-file", type=Path, required=True)
    start_parser.add_argument("--port", type=int, default=0, help="default: a free port")
    start_parser.add_argument("--region", default=DEFAULT_REGION)
    start_parser.add_argument("--log", type=Path, help="default: next to the state file")
    for name, text in (
        ("env", "print `export` lines for a running local AWS"),
        ("stop", "stop a local AWS started with `start`"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            serve(
                args.port,
                parent_pid=args.parent_pid,
                use_pdeathsig=args.pdeathsig,
                announce_fd=args.announce_fd,
                verbose=args.verbose,
            )
        elif args.command == "start":
            log_path = args.log or args.state_file.with_suffix(".log")
            aws = LocalAws.start(
                region=args.region, port=args.port, die_with_parent=False, log_path=log_path
            )
            aws.write_state(args.state_file)
            print(f"local AWS running at {aws.endpoint} (pid {aws.pid}, log {aws.log_path})")
            print(
                "point tools at it: "
                f'eval "$(python -m {_MODULE} env --state-file {args.state_file})"'
            )
        elif args.command == "env":
            for key, value in LocalAws.attach(args.state_file).env().items():
                print(f"export {key}='{value}'")
        elif args.command == "stop":
            try:
                aws = LocalAws.attach(args.state_file)
            except LocalAwsError as error:
                print(f"nothing to stop: {error}", file=sys.stderr)
            else:
                aws.stop()
                print(f"stopped the local AWS at {aws.endpoint} (pid {aws.pid})")
            args.state_file.unlink(missing_ok=True)
    except LocalAwsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SystemExit as stop:
        # serve() ends by SIGTERM/SIGINT: a normal stop, not an error.
        if args.command == "serve" and stop.code in (128 + signal.SIGTERM, 128 + signal.SIGINT):
            return 0
        raise
    return 0
