"""``python3 -m worker_agent [agent|check]`` (the instance runs the bundled ``.pyz``).

``agent`` (default) runs the drain agent until the instance's lifecycle action
is complete or SIGTERM. ``check`` verifies the prerequisites (Python >= 3.9,
boto3) and exits; the systemd unit runs it first, so a missing boto3 fails the
unit at once with the fix in its message (exit 3, not restarted).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_NO_IMDS = 4

MISSING_BOTO3 = (
    "worker_agent: boto3 is not installed for {python}. The AMI must provide it, baked in "
    "at image build time (Amazon Linux 2023: 'dnf install -y python3-boto3'); nothing is "
    "fetched from the internet at boot."
)


def _check() -> str | None:
    try:
        import boto3  # noqa: F401
    except ImportError:
        return MISSING_BOTO3.format(python=sys.executable)
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "agent"
    if command not in ("agent", "check"):
        print(f"usage: worker_agent [agent|check] (got {command!r})", file=sys.stderr)
        return EXIT_USAGE
    problem = _check()
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_CONFIG
    if command == "check":
        print(f"worker_agent: Python {sys.version.split()[0]} with boto3: ready")
        return 0
    return _run_agent()


def _run_agent() -> int:
    from worker_agent.agent import Agent
    from worker_agent.aws import LifecycleApi, clients
    from worker_agent.config import AgentConfig, ConfigError
    from worker_agent.contract import RunDir
    from worker_agent.imds import Imds, ImdsUnavailable

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = AgentConfig.from_env()
    except ConfigError as err:
        print(f"worker_agent: {err}", file=sys.stderr)
        return EXIT_CONFIG
    imds = Imds(config.imds_endpoint)
    try:
        instance_id = imds.instance_id()
    except ImdsUnavailable as err:
        print(f"worker_agent: {err}", file=sys.stderr)
        return EXIT_NO_IMDS
    autoscaling, sqs = clients(config.region)
    api = LifecycleApi(
        autoscaling,
        sqs,
        asg_name=config.asg_name,
        hook_name=config.lifecycle_hook_name,
        instance_id=instance_id,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return Agent(config, imds, api, RunDir(config.run_dir)).run(stop)


if __name__ == "__main__":
    sys.exit(main())
