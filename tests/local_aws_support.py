"""A local AWS (``fleetctl.local_aws``) per test module, and boto3 clients for it.

A test module imports the fixture (named ``aws``) and the helper:
``from tests.local_aws_support import client, local_aws_per_module  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fleetctl.local_aws import LocalAws


@pytest.fixture(scope="module", name="aws")
def local_aws_per_module() -> Iterator[LocalAws]:
    """One local AWS server for the module's tests, stopped after the last one."""
    with LocalAws.start() as local_aws:
        yield local_aws


def client(aws: LocalAws, service: str) -> Any:
    """A boto3 client of ``service`` on ``aws``, with its dummy credentials."""
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=aws.region
    ).client(service, endpoint_url=aws.endpoint)
