"""The sections of ``RUNBOOK.md`` that alarm descriptions point to.

Every alarm's description ends with ``Runbook: RUNBOOK.md#<anchor>``, so the
person paged reads what it means, what to check and what to do. A test checks
that each section here is a heading of ``RUNBOOK.md`` and that every alarm of
every synthesized stack names one.
"""

from __future__ import annotations

import enum
import re

RUNBOOK_FILE = "RUNBOOK.md"


class RunbookSection(enum.Enum):
    """One ``## <title>`` section of ``RUNBOOK.md``; the value is the title."""

    LAMBDA_ERRORS = "Queue-depth Lambda errors"
    MISSING_QUEUE_DEPTH = "QueueDepth missing"
    MISSING_TRACKED_SERIES = "Tracked series missing"
    CAPACITY_EXHAUSTED = "Fleet capacity exhausted"
    MESSAGES_WAITING_TOO_LONG = "Messages waiting too long"
    DEAD_LETTER_QUEUE = "Dead-letter queue not empty"

    @property
    def anchor(self) -> str:
        """The heading's link anchor as GitHub renders it (``fleet-capacity-exhausted``)."""
        return heading_anchor(self.value)

    def describe(self, meaning: str) -> str:
        """An alarm description: ``meaning`` and where the runbook says what to do."""
        return f"{meaning} Runbook: {RUNBOOK_FILE}#{self.anchor}"


def heading_anchor(title: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped
    (except ``-`` and ``_``), spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
