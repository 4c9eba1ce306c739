"""``BackendSettings`` (``[backend]``): where Terraform state lives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modules.settings.checks import fail

REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
"""An AWS region name such as ``ap-northeast-2``."""


@dataclass(frozen=True)
class BackendSettings:
    """Where Terraform state lives.

    ``kind``: ``local`` (a file next to the stack; synth and validate need no
    AWS) or ``s3`` (default for real environments: native S3 locking with
    ``use_lockfile``, encryption on). ``bucket``/``key``/``region``: required
    for ``s3``; region defaults to the environment's region.
    """

    kind: Literal["local", "s3"] = "local"
    bucket: str = ""
    key: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("local", "s3"):
            fail("kind", self.kind, "must be 'local' or 's3'")
        if self.kind == "s3":
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", self.bucket):
                fail("bucket", self.bucket, "must be an S3 bucket name")
            if not self.key or self.key.startswith("/"):
                fail("key", self.key, "must be a relative object key like 'workers/prod.tfstate'")
            if self.region and not REGION.match(self.region):
                fail("region", self.region, "is not an AWS region like 'ap-northeast-2'")
