"""The local AWS's errors."""

from __future__ import annotations


class LocalAwsError(RuntimeError):
    """The local AWS could not be started, reached or stopped."""


class MotoPatchError(LocalAwsError):
    """moto no longer has the shape a patch was written for (raised at startup)."""
