"""On-demand prices per instance-hour, region ap-northeast-2 (Seoul), Linux, shared tenancy.

Source: the AWS price list for Amazon EC2 on-demand in Asia Pacific (Seoul),
as of ``PRICE_DATE``. **Not verified:** the tools available when this table was
written (public documentation search) held no Seoul price list, so the figures
are as last read from the AWS pricing page, not re-checked against it. Check
them with ``aws pricing get-products --service-code AmazonEC2`` (region
``ap-northeast-2``, operating system Linux, tenancy Shared, capacity status
Used) before relying on a cost; the instance-hours are exact either way.

A fleet's cost uses the first of its ``instance_types`` (the launch template's
type); a type missing here has no cost (shown as ``n/a``).
"""

from __future__ import annotations

from collections.abc import Mapping

PRICE_DATE = "2026-11"
"""When the table was written (year-month)."""
PRICE_REGION = "ap-northeast-2"

ON_DEMAND_USD_PER_HOUR: Mapping[str, float] = {
    "t3.small": 0.026,
    "t3.medium": 0.052,
    "t3.large": 0.104,
    "c6i.xlarge": 0.192,
    "c6i.2xlarge": 0.384,
    "g4dn.xlarge": 0.647,
    "g5.xlarge": 1.459,
}
"""USD per instance-hour, on demand (see the module doc for the source and its caveat)."""


def hourly_price(instance_type: str) -> float | None:
    """USD per hour of ``instance_type``, or ``None`` if the table lacks it."""
    return ON_DEMAND_USD_PER_HOUR.get(instance_type)
