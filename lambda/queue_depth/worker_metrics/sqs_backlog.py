"""Reading SQS backlog: one GetQueueAttributes per queue, all queues concurrently.

``count_backlog`` is the pure counting rule; ``read_queues`` does the I/O. A
type is only as good as its worst queue: if any of its queues cannot be read its
total is unknown, never a partial (smaller) sum, because a low count scales in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from worker_metrics.contract import CountingRule

ATTRIBUTE_NAMES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
"""The three counters one GetQueueAttributes call asks for."""

MAX_READ_THREADS = 64
"""Upper bound of concurrent GetQueueAttributes calls (and of HTTP connections).

Reads wait on network round trips, not CPU, so 100 queues take two rounds of
round trips rather than four (at 32); more threads would mostly add TLS
handshakes on a cold container.
"""


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _read_pool() -> ThreadPoolExecutor:
    """The process-wide read pool, created on first use.

    Kept for the life of the (warm) Lambda container: starting threads anew
    every tick costs a scheduling round trip per thread, which on a busy host
    was most of a 100-queue tick. Concurrent ticks in one process share it.
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=MAX_READ_THREADS, thread_name_prefix="read-queue"
            )
        return _pool


@dataclass(frozen=True)
class QueueCounts:
    """One queue's (approximate) counters, or several queues' sums."""

    visible: int = 0
    in_flight: int = 0
    delayed: int = 0

    def __add__(self, other: QueueCounts) -> QueueCounts:
        return QueueCounts(
            self.visible + other.visible,
            self.in_flight + other.in_flight,
            self.delayed + other.delayed,
        )

    @classmethod
    def from_attributes(cls, attributes: Mapping[str, str]) -> QueueCounts:
        """Parse a GetQueueAttributes ``Attributes`` map (values are strings)."""
        return cls(
            visible=int(attributes.get("ApproximateNumberOfMessages", "0")),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", "0")),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", "0")),
        )


def count_backlog(counts: QueueCounts, rule: CountingRule, include_delayed: bool) -> int:
    """The ``QueueDepth`` of one type: visible, plus in flight and delayed per the rule.

    ``include_delayed`` (the ``<TYPE>_INCLUDE_DELAYED`` setting) adds delayed
    messages even if ``rule.delayed`` is false.
    """
    total = counts.visible
    if rule.in_flight:
        total += counts.in_flight
    if rule.delayed or include_delayed:
        total += counts.delayed
    return total


def sum_counts(counts: Iterable[QueueCounts]) -> QueueCounts:
    """Sum of several queues' counters."""
    total = QueueCounts()
    for item in counts:
        total = total + item
    return total


@dataclass(frozen=True)
class QueueReadError:
    """Why one queue could not be read: the AWS error code and message."""

    queue_url: str
    error_code: str
    message: str


QueueRead = QueueCounts | QueueReadError


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore error, else the exception's class name."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


def read_queue(sqs: Any, queue_url: str) -> QueueRead:
    """One GetQueueAttributes call; AWS and transport errors become a ``QueueReadError``."""
    try:
        response = sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=list(ATTRIBUTE_NAMES)
        )
    except (ClientError, BotoCoreError) as error:
        return QueueReadError(queue_url, error_code(error), str(error))
    try:
        return QueueCounts.from_attributes(response.get("Attributes", {}))
    except ValueError as error:  # a non-numeric counter: treat as unreadable, not as 0
        return QueueReadError(queue_url, "InvalidAttributeValue", str(error))


def read_queues(
    sqs: Any,
    queue_urls: Iterable[str],
    on_call: Callable[[str], None] = lambda _kind: None,
) -> dict[str, QueueRead]:
    """Read every queue concurrently; map each URL to its counts or its error.

    boto3 clients are thread-safe, so the threads share ``sqs``; its connection
    pool must hold ``MAX_READ_THREADS`` connections (see ``clients``) or calls
    queue up behind each other. ``on_call`` is told about each API call made.
    """
    urls = list(dict.fromkeys(queue_urls))
    if not urls:
        return {}

    def read(url: str) -> QueueRead:
        on_call("sqs.GetQueueAttributes")
        return read_queue(sqs, url)

    if len(urls) == 1:
        return {urls[0]: read(urls[0])}
    return dict(zip(urls, _read_pool().map(read, urls), strict=True))
