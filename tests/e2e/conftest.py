"""One deployed ``local`` stack, shared by the e2e tests of a session.

Applying the stack to the local AWS takes 35-80 s, so it happens once: the
``deployed`` fixture starts the local AWS, bootstraps the state bucket, inits
the worker stack on its S3 backend in the local AWS and applies it, exactly as
``make demo`` does (``fleetctl.demo`` and ``fleetctl.terraform``). Stopping the
local AWS at the end discards whatever a test left behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetctl.demo.aws import aws_clients
from fleetctl.demo.deploy import bootstrap_targets
from fleetctl.local_aws import LocalAws
from fleetctl.stack_outputs import StackOutputs
from fleetctl.terraform import Terraform, copy_stack
from modules.settings import EnvironmentSettings, load_environment

ENV = "local"


@dataclass
class Deployed:
    """The applied ``local`` stack and what the tests need to reach it."""

    settings: EnvironmentSettings
    aws: LocalAws
    bootstrap: Terraform
    workers: Terraform
    outputs: StackOutputs
    clients: dict[str, Any]
    lambda_zip: Path


@pytest.fixture(scope="session")
def deployed(
    tmp_path_factory: pytest.TempPathFactory, synthesized: Any, lambda_zip: Path
) -> Iterator[Deployed]:
    if shutil.which("terraform") is None:
        pytest.skip("terraform is not installed")
    settings = load_environment(ENV)
    workdir = tmp_path_factory.mktemp("e2e-stacks")
    with LocalAws.start(region=settings.region) as aws:
        env = {**aws.env(), "AWS_ENDPOINT_URL_S3": aws.endpoint}
        bootstrap = Terraform(
            copy_stack(
                synthesized.stack_dir(settings.bootstrap_stack_name),
                workdir / settings.bootstrap_stack_name,
            ),
            env,
        )
        bootstrap.init()
        targets, _ = bootstrap_targets(bootstrap)
        bootstrap.apply(targets=targets)
        workers = Terraform(
            copy_stack(synthesized.stack_dir(settings.stack_name), workdir / settings.stack_name),
            env,
        )
        workers.init()
        workers.apply()
        outputs = StackOutputs.from_mapping(workers.outputs(), settings.stack_name)
        yield Deployed(settings, aws, bootstrap, workers, outputs, aws_clients(aws), lambda_zip)
