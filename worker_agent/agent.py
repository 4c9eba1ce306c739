"""The agent's loop: observe, decide (``worker_agent.core``), act, every ``poll_seconds``.

Faults never make it drain, unprotect or complete early: an IMDS error is an
observation of nothing (no decision is taken from it), and an AWS call that
fails is logged and decided again on the next poll. Only an IMDS that does not
answer at start (not on EC2) ends the agent (``worker_agent.__main__``: a message, exit 4).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from worker_agent.aws import ActionFailed, LifecycleApi
from worker_agent.config import AgentConfig
from worker_agent.contract import RunDir
from worker_agent.core import (
    Action,
    AgentState,
    CompleteLifecycle,
    Observation,
    Policy,
    RecordHeartbeat,
    ReturnMessage,
    SetProtection,
    StopTakingWork,
    confirm,
    step,
)
from worker_agent.imds import Imds, ImdsUnavailable

log = logging.getLogger("worker_agent")

EXIT_DONE = 0


class Superseded(Exception):
    """An action no longer wanted by the time it ran; decided again on the next poll."""


class Agent:
    """One instance's drain agent. ``api`` is a ``LifecycleApi`` for this instance."""

    def __init__(
        self,
        config: AgentConfig,
        imds: Imds,
        api: LifecycleApi,
        run_dir: RunDir,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.imds = imds
        self.api = api
        self.run_dir = run_dir
        self.clock = clock
        self.policy = Policy(
            manage_protection=config.manage_protection,
            heartbeat_interval_seconds=config.heartbeat_interval_seconds,
        )
        self.state = AgentState()
        self._imds_failing = False
        self._last_target: str | None = None

    def observe(self) -> Observation:
        target = spot = None
        try:
            target = self.imds.target_lifecycle_state()
            spot = self.imds.spot_notice()
            if self._imds_failing:
                log.info("IMDS answers again")
            self._imds_failing = False
        except ImdsUnavailable as err:
            if not self._imds_failing:
                log.error("%s; nothing is decided until it answers", err)
            self._imds_failing = True
        if target is not None and target != self._last_target:
            log.info("target lifecycle state: %s", target)
            self._last_target = target
        jobs = self.run_dir.read_jobs()
        self.run_dir.forget_returned(job.job_id for job in jobs)
        return Observation(self.clock(), target, spot, jobs)

    def poll(self) -> None:
        """One observe-decide-act round."""
        observation = self.observe()
        self.state, actions = step(self.state, observation, self.policy)
        for action in actions:
            try:
                self.act(action, len(observation.jobs))
            except ActionFailed as err:
                log.error("%s (decided again on the next poll)", err)
                continue
            except Superseded as why:
                log.info("%s", why)
                continue
            self.state = confirm(self.state, action, self.clock())
        self.run_dir.write_status(self.status(observation))

    def act(self, action: Action, jobs: int) -> None:
        if isinstance(action, StopTakingWork):
            self.run_dir.signal_drain(action.reason)
            log.warning("drain (%s): no new work; %d job(s) held", action.reason.value, jobs)
        elif isinstance(action, SetProtection):
            self._set_protection(action.protected)
            log.info(
                "scale-in protection %s (%d job(s))", "on" if action.protected else "off", jobs
            )
        elif isinstance(action, RecordHeartbeat):
            self.api.record_heartbeat()
            log.info("lifecycle heartbeat: %d job(s) still running", jobs)
        elif isinstance(action, CompleteLifecycle):
            self.api.complete(action.result)
            log.warning("lifecycle action completed (%s): no job running", action.result)
        elif isinstance(action, ReturnMessage):
            self.api.return_message(action.job)
            self.run_dir.mark_returned(action.job.job_id)
            log.warning("job %s: message returned to its queue (Spot)", action.job.job_id)

    def _set_protection(self, protected: bool) -> None:
        # The marker follows the real protection: it appears after the call succeeded,
        # and disappears before the call that clears it (restored if that fails).
        if protected:
            self.api.set_protection(True)
            self.run_dir.set_protected(True)
            return
        self.run_dir.set_protected(False)
        if self.run_dir.read_jobs():
            # A worker claimed a job since the observation. It claims, then reads the
            # marker: either its claim shows here, or the marker was already gone and
            # it waits for protection. So no message is received while unprotected.
            self.run_dir.set_protected(True)
            raise Superseded("a job was claimed meanwhile: scale-in protection kept")
        try:
            self.api.set_protection(False)
        except ActionFailed:
            if self.state.protected:
                self.run_dir.set_protected(True)
            raise

    def status(self, observation: Observation) -> dict[str, Any]:
        state = self.state
        return {
            "instance_id": self.api.instance_id,
            "target_lifecycle_state": observation.target_lifecycle_state,
            "drain": state.signalled.value if state.signalled else None,
            "protected": state.protected,
            "jobs": len(observation.jobs),
            "last_heartbeat": state.last_heartbeat,
            "completed": state.completed,
            "updated": observation.now,
        }

    def run(self, stop: threading.Event | None = None) -> int:
        """Poll until the lifecycle action is complete (0) or ``stop`` is set (0)."""
        stop = stop or threading.Event()
        self.run_dir.prepare()
        log.info(
            "drain agent for %s in %s (hook %s, protection %s)",
            self.api.instance_id,
            self.config.asg_name,
            self.config.lifecycle_hook_name,
            "self-managed" if self.config.manage_protection else "off",
        )
        while not stop.is_set():
            self.poll()
            if self.state.completed:
                return EXIT_DONE
            stop.wait(self.config.poll_seconds)
        return EXIT_DONE
