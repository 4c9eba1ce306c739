"""``InputError``: bad input to the simulator (a scenario, policy, fault, trace row
or SLO it cannot use). The commands print its one-line message and exit 2."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input; the message names what and where (one line)."""
