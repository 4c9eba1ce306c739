"""``StateBootstrapStack``: creates the S3 bucket the environment's state lives in.

It is applied once, before the worker stack, and keeps its own (small) state in
a local file, ``terraform-state/tfstate-<env>.tfstate``: the bucket cannot hold
the state of its own creation. Back that file up (DEPLOYING.md), or import the
bucket later.
"""

from __future__ import annotations

from cdktf import LocalBackend, TerraformOutput, TerraformStack
from constructs import Construct

from modules.provider import aws_provider
from modules.settings import EnvironmentSettings
from modules.state_bucket import StateBucket

BOOTSTRAP_STATE_DIR = "../../../terraform-state"
"""The bootstrap state's folder, relative to ``cdktf.out/stacks/<stack>/``: the
project's ``terraform-state/`` (git-ignored), which survives ``make synth``."""


class StateBootstrapStack(TerraformStack):
    """The state bucket of ``settings.backend`` (which must be ``s3``)."""

    def __init__(self, scope: Construct, *, settings: EnvironmentSettings) -> None:
        super().__init__(scope, settings.bootstrap_stack_name)
        if settings.backend.kind != "s3":
            raise ValueError(
                f"backend.kind = {settings.backend.kind!r}: only an s3 backend needs a bootstrap"
            )
        aws_provider(self, settings)
        # Outside cdktf.out (which `make synth` recreates): <repo>/terraform-state/.
        LocalBackend(self, path=f"{BOOTSTRAP_STATE_DIR}/{settings.bootstrap_stack_name}.tfstate")
        bucket = StateBucket(self, "state", bucket_name=settings.backend.bucket)
        TerraformOutput(self, "state_bucket", value=bucket.bucket.bucket)
