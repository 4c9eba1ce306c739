"""The checks' results: status, one row per check, the time window, the exit code, the table."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 2


class Status(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"  # the check could not run


@dataclass(frozen=True)
class CheckResult:
    number: int
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class Window:
    """The time window of checks 2 and 6."""

    end: datetime
    minutes: int

    @property
    def start(self) -> datetime:
        return self.end - timedelta(minutes=self.minutes)


def exit_code(results: Sequence[CheckResult]) -> int:
    """1 if a check failed, else 2 if one could not run, else 0."""
    if any(r.status is Status.FAIL for r in results):
        return EXIT_FAILED
    if any(r.status is Status.ERROR for r in results):
        return EXIT_NOT_RUN
    return EXIT_OK


def format_table(results: Sequence[CheckResult]) -> str:
    """A fixed-width table: number, check, status, detail."""
    rows = [("#", "check", "status", "detail")] + [
        (str(r.number), r.name, r.status.value, r.detail) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:>{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}"
        for row in rows
    ]
    return "\n".join(lines)
