"""The drain state machine (``worker_agent.core``): pure units, no I/O."""

from __future__ import annotations

import random

import pytest

from worker_agent.core import (
    CONTINUE,
    AgentState,
    CompleteLifecycle,
    DrainReason,
    Job,
    Observation,
    Policy,
    RecordHeartbeat,
    ReturnMessage,
    SetProtection,
    SpotNotice,
    StopTakingWork,
    acts_while_serving,
    confirm,
    step,
)

PLAIN = Policy(manage_protection=False, heartbeat_interval_seconds=300)
PROTECTED = Policy(manage_protection=True, heartbeat_interval_seconds=300)
JOB = Job("j1", "https://sqs/q", "rh-1")
CLAIM = Job("c1")


def _obs(now: float, state: str | None = "InService", *jobs: Job, spot: SpotNotice | None = None):
    return Observation(now=now, target_lifecycle_state=state, spot=spot, jobs=tuple(jobs))


def _run(state: AgentState, observation: Observation, policy: Policy = PLAIN):
    """One poll where every action succeeds."""
    state, actions = step(state, observation, policy)
    for action in actions:
        state = confirm(state, action, observation.now)
    return state, actions


def test_in_service_idle_worker_needs_nothing() -> None:
    # GIVEN an unprotected fleet's instance in service WHEN it polls with no jobs
    _, actions = step(AgentState(), _obs(0), PLAIN)
    # THEN the agent does nothing
    assert actions == ()


def test_protection_follows_busy_and_idle_on_a_protected_fleet() -> None:
    # GIVEN a protected fleet's agent just started (the instance launched protected)
    state = AgentState()
    # WHEN it sees no job THEN it clears the protection, once
    state, actions = _run(state, _obs(0), PROTECTED)
    assert actions == (SetProtection(False),)
    assert _run(state, _obs(2), PROTECTED)[1] == ()
    # WHEN the worker claims (before it receives) THEN it protects
    state, actions = _run(state, _obs(4, "InService", CLAIM), PROTECTED)
    assert actions == (SetProtection(True),)
    # ...and keeps it while the job runs
    assert _run(state, _obs(6, "InService", JOB), PROTECTED)[1] == ()
    # WHEN the job ends THEN it clears it again
    _, actions = _run(state, _obs(8), PROTECTED)
    assert actions == (SetProtection(False),)


def test_unprotected_fleet_never_touches_protection() -> None:
    _, actions = step(AgentState(), _obs(0, "InService", JOB), PLAIN)
    assert not any(isinstance(a, SetProtection) for a in actions)


def test_terminating_idle_instance_signals_then_completes_on_the_next_poll() -> None:
    # GIVEN an idle instance the ASG is terminating
    # WHEN the agent first sees the target state Terminated
    state, actions = _run(AgentState(), _obs(0, "Terminated"))
    # THEN it only tells the worker to stop (the job files it saw predate that signal)
    assert actions == (StopTakingWork(DrainReason.SCALE_IN),)
    # WHEN it polls again with still no job THEN it completes with CONTINUE
    state, actions = _run(state, _obs(2, "Terminated"))
    assert actions == (CompleteLifecycle(CONTINUE),)
    # ...once
    assert _run(state, _obs(4, "Terminated"))[1] == ()


def test_terminating_busy_instance_heartbeats_until_the_job_ends() -> None:
    # GIVEN a job running when the termination starts
    state, actions = _run(AgentState(), _obs(0, "Terminated", JOB))
    # THEN stop taking work and heartbeat at once
    assert actions == (StopTakingWork(DrainReason.SCALE_IN), RecordHeartbeat())
    # WHEN polls come before the interval THEN nothing; at the interval THEN a heartbeat
    state, actions = _run(state, _obs(299, "Terminated", JOB))
    assert actions == ()
    state, actions = _run(state, _obs(300, "Terminated", JOB))
    assert actions == (RecordHeartbeat(),)
    # WHEN the job ends THEN complete
    _, actions = _run(state, _obs(400, "Terminated"))
    assert actions == (CompleteLifecycle(CONTINUE),)


def test_a_claim_holds_the_instance_like_a_job() -> None:
    # GIVEN the worker is inside ReceiveMessage (a claim) when the termination starts
    state, _ = _run(AgentState(), _obs(0, "Terminated", CLAIM))
    # WHEN the claim is still there THEN no completion
    state, actions = _run(state, _obs(2, "Terminated", CLAIM))
    assert not any(isinstance(a, CompleteLifecycle) for a in actions)


def test_a_failed_action_is_decided_again() -> None:
    # GIVEN a heartbeat that failed (not confirmed)
    state, actions = step(AgentState(), _obs(0, "Terminated", JOB), PLAIN)
    state = confirm(state, actions[0], 0)  # only the stop signal succeeded
    # WHEN the next poll comes THEN the heartbeat is decided again
    _, actions = step(state, _obs(2, "Terminated", JOB), PLAIN)
    assert actions == (RecordHeartbeat(),)


def test_imds_silence_while_draining_keeps_draining() -> None:
    # GIVEN a drain under way
    state, _ = _run(AgentState(), _obs(0, "Terminated", JOB))
    # WHEN IMDS stops answering (None) and the job ends
    _, actions = _run(state, _obs(2, None))
    # THEN the termination is still known: complete
    assert actions == (CompleteLifecycle(CONTINUE),)


def test_imds_silence_in_service_decides_nothing_about_draining() -> None:
    _, actions = step(AgentState(), _obs(0, None, JOB), PLAIN)
    assert actions == ()


def test_protection_is_left_alone_while_draining() -> None:
    # GIVEN a protected, busy instance being terminated (an instance refresh)
    state, _ = _run(AgentState(protected=True), _obs(0, "Terminated", JOB), PROTECTED)
    # WHEN the job ends THEN it completes without touching the protection
    _, actions = _run(state, _obs(2, "Terminated"), PROTECTED)
    assert actions == (CompleteLifecycle(CONTINUE),)


def test_spot_returns_the_messages_that_cannot_finish() -> None:
    # GIVEN a Spot notice for t=120 and three jobs: one ending at 90, one at 110, one unknown
    notice = SpotNotice("terminate", at=120)
    early = Job("early", "q", "rh-early", expected_end=90)
    late = Job("late", "q", "rh-late", expected_end=110)
    unknown = Job("unknown", "q", "rh-unknown")
    # WHEN the agent polls at t=0 (margin 20 s: keep what ends by t=100)
    state, actions = _run(
        AgentState(), _obs(0, "InService", early, late, unknown, CLAIM, spot=notice)
    )
    # THEN stop taking work and return the two that cannot finish; a claim holds no message
    assert actions == (
        StopTakingWork(DrainReason.SPOT),
        ReturnMessage(late),
        ReturnMessage(unknown),
    )
    # ...and never twice
    _, again = _run(state, _obs(2, "InService", early, late, unknown, spot=notice))
    assert again == ()


def test_spot_then_asg_termination_completes_once_the_kept_jobs_end() -> None:
    notice = SpotNotice("terminate", at=120)
    kept = Job("kept", "q", "rh-kept", expected_end=50)
    gone = Job("gone", "q", "rh-gone")
    state, _ = _run(AgentState(), _obs(0, "Terminated", kept, gone, spot=notice))
    assert state.returned == frozenset({"gone"})
    # WHEN the kept job is still running THEN heartbeat, no completion
    state, actions = _run(state, _obs(1, "Terminated", kept, gone, spot=notice))
    assert not any(isinstance(a, CompleteLifecycle) for a in actions)
    # WHEN only the returned job's process is left THEN complete (its message is back)
    _, actions = _run(state, _obs(60, "Terminated", gone, spot=notice))
    assert actions == (CompleteLifecycle(CONTINUE),)


def test_a_spot_notice_during_a_scale_in_drain_updates_the_signal() -> None:
    state, _ = _run(AgentState(), _obs(0, "Terminated", JOB))
    assert state.signalled is DrainReason.SCALE_IN
    _, actions = _run(state, _obs(1, "Terminated", JOB, spot=SpotNotice("terminate", 100)))
    assert actions[0] == StopTakingWork(DrainReason.SPOT)
    assert ReturnMessage(JOB) in actions


@pytest.mark.parametrize("seed", range(40))
def test_never_completes_while_a_job_runs_or_before_the_worker_was_told(seed: int) -> None:
    # GIVEN random polls: jobs come and go, IMDS flickers, actions fail at random
    rng = random.Random(seed)
    state = AgentState()
    policy = rng.choice([PLAIN, PROTECTED])
    pool = [JOB, CLAIM, Job("j2", "q", "rh-2"), Job("j3", "q", "rh-3", expected_end=500.0)]
    terminating_from = rng.randint(0, 30)
    spot = SpotNotice("terminate", 1000.0) if rng.random() < 0.3 else None
    for poll in range(60):
        now = poll * 7.0
        jobs = tuple(j for j in pool if rng.random() < 0.4)
        target = rng.choice([None, "Terminated"]) if poll >= terminating_from else "InService"
        observation = _obs(now, target, *jobs, spot=spot if poll >= 10 else None)
        signalled_before = state.signalled
        returned_before = state.returned
        state, actions = step(state, observation, policy)
        for action in actions:
            if isinstance(action, CompleteLifecycle):
                # THEN a completion only ever comes when nothing but given-back jobs run,
                # and after the stop signal was confirmed in an earlier poll
                assert signalled_before is not None
                assert all(job.job_id in returned_before for job in jobs)
            if rng.random() < 0.8:
                state = confirm(state, action, now)
        if state.completed:
            assert state.terminating


@pytest.mark.parametrize("seed", range(20))
def test_only_protection_acts_while_serving(seed: int) -> None:
    # GIVEN random serving observations (no termination, no Spot notice), any state
    rng = random.Random(seed)
    pool = [JOB, CLAIM, Job("j2", "q", "rh-2")]
    for policy in (PLAIN, PROTECTED):
        state = AgentState(protected=rng.choice([None, True, False]))
        for poll in range(20):
            jobs = tuple(j for j in pool if rng.random() < 0.5)
            state, actions = _run(state, _obs(poll, rng.choice(["InService", None]), *jobs), policy)
            # THEN a fleet that does not manage protection never acts (the simulator's shortcut)
            if not acts_while_serving(policy):
                assert actions == ()
            assert all(isinstance(a, SetProtection) for a in actions)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="heartbeat_interval_seconds = 0"):
        Policy(manage_protection=False, heartbeat_interval_seconds=0)
    with pytest.raises(ValueError, match="spot_margin_seconds = -1"):
        Policy(manage_protection=False, heartbeat_interval_seconds=1, spot_margin_seconds=-1)
