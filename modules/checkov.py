"""Inline checkov suppressions for the Terraform JSON that cdktf synthesizes.

``suppress(resource, "CKV_AWS_158", "why")`` records the skip, with its reason,
in the resource's own ``"//"`` comment block (HCL JSON ignores ``//`` keys, so
Terraform never sees it)::

    "aws_cloudwatch_log_group": {"queue-depth_log-group_655BFCB6": {
        "//": {"metadata": {...},
               "checkov": {"skip": [{"id": "CKV_AWS_158", "comment": "why"}]}},
        ...

That is the form proposed for CDKTF in checkov issue #4634 (CloudFormation's
``Metadata.checkov.skip``). checkov 3.x's ``terraform_json`` framework does not
read it yet: its runner passes no skipped checks for JSON (and its ``terraform``
framework does not read ``.tf.json`` at all). ``scripts/checkov_scan.py`` (``make
lint``) therefore runs checkov and applies these skips itself, failing on any
finding without one and on any skip that no longer matches a finding.

The suppression lives in the construct that causes the finding, next to the
code it excuses, so it is reviewed with that code and removed with it.
"""

from __future__ import annotations

import re

from cdktf import TerraformResource

CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")
"""checkov check ids: ``CKV_AWS_158``, ``CKV2_AWS_62``."""

MIN_REASON_CHARS = 20
"""A reason says why the finding does not apply here, not just "not needed"."""

_SKIPS: dict[str, dict[str, str]] = {}
"""Suppressions recorded so far, by the resource's construct path, then check id."""


def suppress(resource: TerraformResource, check_id: str, reason: str) -> None:
    """Skip checkov's ``check_id`` on ``resource`` only, for ``reason``.

    Raises ``ValueError`` for a malformed check id or a reason shorter than
    ``MIN_REASON_CHARS``. A second call for the same check replaces the reason.
    """
    if not CHECK_ID.match(check_id):
        raise ValueError(f"check_id = {check_id!r}: not a checkov check id (e.g. CKV_AWS_158)")
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON_CHARS:
        raise ValueError(
            f"reason = {reason!r}: say why {check_id} does not apply (at least "
            f"{MIN_REASON_CHARS} characters)"
        )
    skips = _SKIPS.setdefault(resource.node.path, {})
    skips[check_id] = reason
    resource.add_override(
        "//.checkov.skip",
        [{"id": check, "comment": text} for check, text in sorted(skips.items())],
    )
