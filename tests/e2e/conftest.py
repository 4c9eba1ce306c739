"""One ``local`` stack, deployed the way our users deploy, shared by the e2e tests.

The ``deployed`` fixture (session-scoped: a deploy to the local AWS takes about a
minute) does the users' path up to the deploy:

1. start the local AWS and bootstrap the state bucket in it with the demo's own
   code (``fleetctl.demo.deploy.bootstrap_state_bucket``);
2. ``cdktf deploy workers-local`` with the real cdktf CLI, offline, on a copy of
   the session's synth (``--skip-synth --output``; the copy keeps the committed
   provider lock file, so cdktf runs no ``terraform providers lock``).

The tests then run in file order, ``test_local_stack.py`` before
``test_users_path.py``, whose last test destroys everything. Stopping the local
AWS at the end discards whatever a failed test left behind. Each step's wall time
goes to ``timings`` and is printed at the end of the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fleetctl.demo.aws import aws_clients
from fleetctl.demo.deploy import bootstrap_state_bucket, terraform_env
from fleetctl.local_aws import LocalAws
from fleetctl.stack_outputs import StackOutputs
from fleetctl.terraform import Terraform
from modules.settings import EnvironmentSettings, load_environment
from tests.conftest import ROOT

ENV = "local"
CDKTF = ROOT / "node_modules" / ".bin" / "cdktf"
CDKTF_TIMEOUT_SECONDS = 600
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

TIMINGS: dict[str, float] = {}
"""Wall time of each step of the users' path, in seconds, for the end-of-run summary.
Tests add theirs through ``Deployed.timings`` (pytest may load this file under another
module name than the tests import it by)."""


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass(frozen=True)
class CdktfRun:
    returncode: int
    output: str
    seconds: float


@dataclass
class Deployed:
    """The deployed ``local`` stack and what the tests need to reach it.

    ``workdir``: holds ``cdktf.out/`` (the deployed copy of the synth, so a
    command run there with ``cwd=workdir`` finds ``cdktf.out/stacks/workers-local``)
    and the bootstrap stack. ``workers``: Terraform in the stack folder cdktf
    deployed from (initialized on the S3 backend in the local AWS).
    """

    settings: EnvironmentSettings
    aws: LocalAws
    env: dict[str, str]
    workdir: Path
    cdktf_out: Path
    bootstrap: Terraform
    workers: Terraform
    outputs: StackOutputs
    clients: dict[str, Any]
    lambda_zip: Path
    deploy_run: CdktfRun
    timings: dict[str, float] = field(default_factory=lambda: TIMINGS)

    @property
    def stack_dir(self) -> Path:
        return self.cdktf_out / "stacks" / self.settings.stack_name

    def cdktf(self, command: str, *extra: str) -> CdktfRun:
        """``cdktf <command> workers-local --skip-synth --output <copy> <extra>``, as
        ``make deploy``/``make plan`` run it, with the local AWS's environment."""
        args = [str(CDKTF), command, self.settings.stack_name, "--skip-synth"]
        args += ["--output", str(self.cdktf_out), *extra]
        return run_cdktf(args, self.env)


def run_cdktf(args: list[str], env: dict[str, str]) -> CdktfRun:
    started = time.monotonic()
    done = subprocess.run(
        args,
        cwd=ROOT,  # cdktf.json lives here
        env={**os.environ, **env, "CI": "1", "NO_COLOR": "1", "FORCE_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=CDKTF_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = strip_ansi(done.stdout + done.stderr)
    return CdktfRun(done.returncode, output, time.monotonic() - started)


@pytest.fixture(scope="session")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, synthesized: Any, lambda_zip: Path
) -> Iterator[Deployed]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    assert CDKTF.is_file(), f"{CDKTF} is missing: run `make setup`"
    settings = load_environment(ENV)
    workdir = tmp_path_factory.mktemp("e2e")
    cdktf_out = workdir / "cdktf.out"
    shutil.copytree(synthesized.outdir, cdktf_out, ignore=shutil.ignore_patterns(".terraform"))
    with LocalAws.start(region=settings.region) as aws:
        env = terraform_env(aws)
        started = time.monotonic()
        # Two levels down: its local backend (../../../terraform-state) stays in workdir.
        state = bootstrap_state_bucket(
            env,
            synthesized.stack_dir(settings.bootstrap_stack_name),
            workdir / "bootstrap" / "stacks" / settings.bootstrap_stack_name,
        )
        TIMINGS["1 bootstrap (state bucket, demo code)"] = time.monotonic() - started
        workers = Terraform(cdktf_out / "stacks" / settings.stack_name, env)
        deploy = run_cdktf(
            [
                str(CDKTF),
                "deploy",
                settings.stack_name,
                "--skip-synth",
                "--auto-approve",
                "--output",
                str(cdktf_out),
            ],
            env,
        )
        TIMINGS["2 cdktf deploy"] = deploy.seconds
        assert deploy.returncode == 0, deploy.output[-4000:]
        outputs = StackOutputs.from_mapping(workers.outputs(), settings.stack_name)
        yield Deployed(
            settings=settings,
            aws=aws,
            env=env,
            workdir=workdir,
            cdktf_out=cdktf_out,
            bootstrap=state.terraform,
            workers=workers,
            outputs=outputs,
            clients=aws_clients(aws),
            lambda_zip=lambda_zip,
            deploy_run=deploy,
        )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The users' path timings, when the e2e tests ran."""
    if not TIMINGS:
        return
    terminalreporter.section("e2e: the users' path on the local AWS (wall time)")
    for step, seconds in TIMINGS.items():
        terminalreporter.write_line(f"  {step:<58} {seconds:6.1f} s")
