"""The AWS provider of a stack, built from settings (never inside a reusable construct)."""

from __future__ import annotations

from cdktf import TerraformStack

from modules.aws import (
    AwsProvider,
    AwsProviderDefaultTags,
    AwsProviderEndpoints,
    AwsProviderIgnoreTags,
)
from modules.settings import EnvironmentSettings
from worker_metrics.contract import VIDEO_SCALE_IN_MARKER_TAG

EMULATED_SERVICES = (
    "autoscaling",
    "cloudwatch",
    "cloudwatchevents",
    "cloudwatchlogs",
    "ec2",
    "iam",
    "lambda",
    "s3",
    "sqs",
    "sts",
)
"""Services whose endpoint is redirected when ``local_endpoint`` is set."""


def aws_provider(stack: TerraformStack, env: EnvironmentSettings) -> AwsProvider:
    """The provider for ``env``: its region, default tags and ignored tags. The ``local``
    environment talks to an emulated AWS: dummy ``test`` credentials, no
    account or credential checks, path-style S3, and the endpoint from
    ``local_endpoint`` or, when that is unset, ``AWS_ENDPOINT_URL``."""
    emulated = env.emulated
    return AwsProvider(
        stack,
        "aws",
        region=env.region,
        default_tags=[AwsProviderDefaultTags(tags=dict(env.tags))] if env.tags else None,
        # The Lambda writes this tag on the Video ASG at each scale-in (once-per-tick
        # marker); Terraform must not remove it on the next apply.
        ignore_tags=[AwsProviderIgnoreTags(keys=[VIDEO_SCALE_IN_MARKER_TAG])],
        access_key="test" if emulated else None,
        secret_key="test" if emulated else None,
        skip_credentials_validation=True if emulated else None,
        skip_requesting_account_id=True if emulated else None,
        skip_metadata_api_check="true" if emulated else None,
        s3_use_path_style=True if emulated else None,
        endpoints=(
            [AwsProviderEndpoints(**{name: env.local_endpoint for name in EMULATED_SERVICES})]
            if env.local_endpoint
            else None
        ),
    )
