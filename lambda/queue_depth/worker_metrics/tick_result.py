"""What one tick observed and did (``TickResult``), its failures (``TickError``),
the exception the handler raises after a failed invocation, and the log lines."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from worker_metrics.contract import WorkerType
from worker_metrics.video_capacity import Decision

if TYPE_CHECKING:
    from worker_metrics.sampling import InvocationResult


@dataclass(frozen=True)
class TickError:
    """One failed call: which type it hurt, at which stage, on what, and why."""

    worker_type: WorkerType
    stage: str
    error_code: str
    message: str
    resource: str = ""

    def log_record(self) -> dict[str, Any]:
        """The structured error log line."""
        return {
            "event": "publisher_error",
            "worker_type": self.worker_type.value,
            "stage": self.stage,
            "error_code": self.error_code,
            "resource": self.resource,
            "message": self.message,
        }


@dataclass(frozen=True)
class VideoOutcome:
    """What the tick did to a fleet it writes: Video, or a tracked fleet it activated.

    ``decision`` is ``None`` when the fleet was not touched because an input
    was missing (``skipped`` says which). ``applied`` is true when
    SetDesiredCapacity was called and succeeded.
    """

    decision: Decision | None
    applied: bool = False
    skipped: str = ""


@dataclass
class TickResult:
    """Everything one tick observed and did; the log line and the demo read it.

    ``sample``: the slot of its invocation. ``queue_depth_published``: the types
    whose ``QueueDepth`` datum it published (the loop owes the others).
    """

    timestamp: datetime
    sample: int = 0
    queue_depth: dict[WorkerType, int] = field(default_factory=dict)
    backlog_per_instance: dict[WorkerType, float] = field(default_factory=dict)
    in_service: dict[WorkerType, int] = field(default_factory=dict)
    video: VideoOutcome = field(default_factory=lambda: VideoOutcome(None))
    activation: dict[WorkerType, VideoOutcome] = field(default_factory=dict)
    api_calls: dict[str, int] = field(default_factory=dict)
    errors: list[TickError] = field(default_factory=list)
    durations_ms: dict[str, float] = field(default_factory=dict)
    datums_published: int = 0
    queue_depth_published: set[WorkerType] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """True if nothing failed."""
        return not self.errors

    def log_record(self) -> dict[str, Any]:
        """The one structured log line of the tick."""
        decision = self.video.decision
        return {
            "event": "tick",
            "timestamp": self.timestamp.isoformat(),
            "sample": self.sample,
            "queue_depth": {t.value: v for t, v in self.queue_depth.items()},
            "backlog_per_instance": {t.value: v for t, v in self.backlog_per_instance.items()},
            "in_service": {t.value: v for t, v in self.in_service.items()},
            "video": {
                "previous": decision.previous if decision else None,
                "desired": decision.desired if decision else None,
                "action": decision.action.value if decision else "skipped",
                "reason": decision.reason if decision else self.video.skipped,
                "applied": self.video.applied,
            },
            # Only the tracked fleets the Lambda started from zero this tick.
            "activation": {
                t.value: {
                    "desired": o.decision.desired if o.decision else None,
                    "reason": o.decision.reason if o.decision else "",
                    "applied": o.applied,
                }
                for t, o in self.activation.items()
            },
            "api_calls": dict(sorted(self.api_calls.items())),
            "durations_ms": {k: round(v, 1) for k, v in self.durations_ms.items()},
            "datums_published": self.datums_published,
            "errors": len(self.errors),
        }


class TickFailed(RuntimeError):
    """Raised by the handler after an invocation with errors, so the Lambda Errors
    alarm fires. ``result``: the ``InvocationResult`` (or a single ``TickResult``)."""

    def __init__(self, result: TickResult | InvocationResult) -> None:
        stages = sorted({f"{e.worker_type.value}/{e.stage}" for e in result.errors})
        super().__init__(f"{len(result.errors)} failure(s) this tick: {', '.join(stages)}")
        self.result = result


def emit_logs(result: TickResult, logger: logging.Logger) -> None:
    """Write one JSON error line per failure, then the tick's JSON line."""
    for error in result.errors:
        logger.error(json.dumps(error.log_record(), sort_keys=True))
    logger.info(json.dumps(result.log_record(), sort_keys=True))
