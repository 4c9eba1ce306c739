"""The drain decision: a pure state machine from what an instance observes to what its agent does.

No I/O and no clock. The shell (``worker_agent.agent``) observes (IMDS, the job
files of the local contract, the time), calls ``step``, runs the actions it
returns and calls ``confirm`` for each action that succeeded. An action that
failed is decided again on the next poll, so the poll loop is the retry.

What it decides, in order:

1. **Stop taking work** once the instance's target lifecycle state is
   ``Terminated`` (a scale-in, an instance refresh, a health replacement) or a
   Spot interruption notice appears.
2. **Scale-in protection** (``manage_protection`` fleets only, while not
   draining): protected while the worker holds any job or claim, unprotected
   when it holds none, so the ASG only ever picks idle instances.
3. **Spot**: give back to the queue (visibility 0) every message whose job is
   not expected to end ``spot_margin_seconds`` before the interruption.
4. **Terminating**: while any job runs, a lifecycle heartbeat every
   ``heartbeat_interval_seconds``; when none runs, ``CompleteLifecycleAction``
   with ``CONTINUE``, once. It never completes while a job that was not given
   back runs, and never in the same poll as the stop signal: the job files it
   counts must have been listed after the worker could see that signal.

The simulator and the demo run this same module for their simulated instances.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Union

TERMINATING_TARGET_STATE = "Terminated"
"""The IMDS ``autoscaling/target-lifecycle-state`` of an instance the ASG is terminating."""

CONTINUE = "CONTINUE"


class DrainReason(str, Enum):
    """Why the instance takes no new work; the content of the contract's ``drain`` file."""

    SCALE_IN = "scale-in"
    SPOT = "spot-interruption"


@dataclass(frozen=True)
class Job:
    """One job (or claim) the worker holds, as its ``jobs/<job_id>`` file says.

    ``queue_url`` and ``receipt_handle`` are empty for a claim (the worker is
    about to receive and holds no message yet). ``expected_end``: epoch seconds
    the worker expects the job to end, or None (unknown).
    """

    job_id: str
    queue_url: str = ""
    receipt_handle: str = ""
    expected_end: float | None = None

    @property
    def holds_message(self) -> bool:
        return bool(self.queue_url and self.receipt_handle)


@dataclass(frozen=True)
class SpotNotice:
    """A Spot interruption notice: ``action`` (terminate, stop, hibernate) at epoch ``at``."""

    action: str
    at: float


@dataclass(frozen=True)
class Observation:
    """What the agent saw in one poll.

    ``now``: epoch seconds. ``target_lifecycle_state``: the IMDS value, None when
    IMDS did not answer (nothing is decided from a missing answer).
    ``spot``: the interruption notice, if any. ``jobs``: the live job files.
    """

    now: float
    target_lifecycle_state: str | None
    spot: SpotNotice | None
    jobs: tuple[Job, ...] = ()


@dataclass(frozen=True)
class Policy:
    """How the agent of one fleet behaves.

    ``manage_protection``: the fleet starts instances protected from scale-in
    (``protect_from_scale_in``) and the agent sets and clears it.
    ``heartbeat_interval_seconds``: > 0; a third of the hook's heartbeat timeout.
    ``spot_margin_seconds``: default 20; a job must be expected to end this long
    before the Spot interruption to keep its message.
    """

    manage_protection: bool
    heartbeat_interval_seconds: float
    spot_margin_seconds: float = 20.0

    def __post_init__(self) -> None:
        if not self.heartbeat_interval_seconds > 0:
            raise ValueError(
                f"heartbeat_interval_seconds = {self.heartbeat_interval_seconds}: must be > 0"
            )
        if self.spot_margin_seconds < 0:
            raise ValueError(f"spot_margin_seconds = {self.spot_margin_seconds}: must be >= 0")


@dataclass(frozen=True)
class StopTakingWork:
    reason: DrainReason


@dataclass(frozen=True)
class SetProtection:
    protected: bool


@dataclass(frozen=True)
class RecordHeartbeat:
    pass


@dataclass(frozen=True)
class CompleteLifecycle:
    result: str = CONTINUE


@dataclass(frozen=True)
class ReturnMessage:
    job: Job


Action = Union[StopTakingWork, SetProtection, RecordHeartbeat, CompleteLifecycle, ReturnMessage]


@dataclass(frozen=True)
class AgentState:
    """What the agent knows: latched observations and confirmed actions.

    ``terminating`` / ``spot``: seen once, kept (a termination is not undone).
    ``signalled``: the drain reason the worker has been told. ``protected``:
    the last protection set (None: not set since start). ``last_heartbeat``:
    epoch seconds of the last recorded heartbeat. ``completed``: the lifecycle
    action is complete. ``returned``: ids of jobs whose message went back.
    """

    terminating: bool = False
    spot: SpotNotice | None = None
    signalled: DrainReason | None = None
    protected: bool | None = None
    last_heartbeat: float | None = None
    completed: bool = False
    returned: frozenset[str] = field(default_factory=frozenset)

    @property
    def drain_reason(self) -> DrainReason | None:
        if self.spot is not None:
            return DrainReason.SPOT
        if self.terminating:
            return DrainReason.SCALE_IN
        return None


def acts_while_serving(policy: Policy) -> bool:
    """Whether anything but a termination or a Spot notice can make ``step`` act.

    Only scale-in protection follows the jobs of an instance that is not
    draining, so a driver may skip polls of a serving instance when this is
    false (the simulator does: a step per job start and end would triple its cost).
    """
    return policy.manage_protection


def running_jobs(state: AgentState, jobs: tuple[Job, ...]) -> tuple[Job, ...]:
    """The jobs and claims that still hold the instance: all but those given back."""
    return tuple(job for job in jobs if job.job_id not in state.returned)


def step(
    state: AgentState, observation: Observation, policy: Policy
) -> tuple[AgentState, tuple[Action, ...]]:
    """Latch what ``observation`` shows and decide the actions, in the order to run them."""
    terminating = (
        state.terminating or observation.target_lifecycle_state == TERMINATING_TARGET_STATE
    )
    spot = state.spot or observation.spot
    if terminating is not state.terminating or spot is not state.spot:
        state = replace(state, terminating=terminating, spot=spot)
    if state.completed:
        return state, ()
    actions: list = []
    reason = state.drain_reason
    if reason is not None and state.signalled is not reason:
        actions.append(StopTakingWork(reason))
    if policy.manage_protection and reason is None:
        wanted = bool(observation.jobs)
        if state.protected is not wanted:
            actions.append(SetProtection(wanted))
    if state.spot is not None:
        keep_until = state.spot.at - policy.spot_margin_seconds
        for job in running_jobs(state, observation.jobs):
            if job.holds_message and not (
                job.expected_end is not None and job.expected_end <= keep_until
            ):
                actions.append(ReturnMessage(job))
    if state.terminating:
        returning = {a.job.job_id for a in actions if isinstance(a, ReturnMessage)}
        running = [j for j in running_jobs(state, observation.jobs) if j.job_id not in returning]
        if running:
            due = state.last_heartbeat is None or (
                observation.now - state.last_heartbeat >= policy.heartbeat_interval_seconds
            )
            if due:
                actions.append(RecordHeartbeat())
        elif state.signalled is not None and not returning:
            # The worker has seen the stop signal since before these job files were
            # listed, so no job can start after this decision.
            actions.append(CompleteLifecycle(CONTINUE))
    return state, tuple(actions)


def confirm(state: AgentState, action: Action, now: float) -> AgentState:
    """The state after ``action`` succeeded at epoch ``now``."""
    if isinstance(action, StopTakingWork):
        return replace(state, signalled=action.reason)
    if isinstance(action, SetProtection):
        return replace(state, protected=action.protected)
    if isinstance(action, RecordHeartbeat):
        return replace(state, last_heartbeat=now)
    if isinstance(action, CompleteLifecycle):
        return replace(state, completed=True)
    if isinstance(action, ReturnMessage):
        return replace(state, returned=state.returned | {action.job.job_id})
    raise TypeError(f"unknown action {action!r}")
