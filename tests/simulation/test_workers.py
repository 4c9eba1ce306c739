"""The time-stepped worker pool (the demo's workers): boot, slots, durations, kills."""

from __future__ import annotations

import numpy as np

from fleetctl.simulation.workers import WorkerPool
from modules.settings import WorkloadSettings

FIXED_20S = WorkloadSettings(boot_seconds=30, job_duration="fixed", mean_job_seconds=20)


class Queue:
    """A fake queue of numbered messages; records what it handed out."""

    def __init__(self, count: int) -> None:
        self.messages = list(range(count))
        self.asked: list[int] = []

    def receive(self, count: int) -> list[int]:
        self.asked.append(count)
        taken, self.messages = self.messages[: min(count, 10)], self.messages[min(count, 10) :]
        return taken


def test_a_step_runs_jobs_back_to_back_after_the_boot() -> None:
    # GIVEN an instance with 2 slots that appears at t = 0 and boots for 30 s; 20 s jobs
    pool: WorkerPool[int] = WorkerPool(FIXED_20S, slots=2, rng=np.random.default_rng(1))
    pool.sync(["i-1"], now=0.0)
    queue = Queue(100)

    # WHEN the pool advances to t = 60, then to t = 120
    first = pool.advance(60.0, queue.receive)
    second = pool.advance(120.0, queue.receive)

    # THEN nothing ran before 30 s; each slot ran 30-50, 50-70 (ends after 60): 2 done
    # by 60 and 2 running; by 120 each slot finished jobs at 70, 90, 110
    assert (len(first.completed), first.started, first.running) == (2, 4, 2)
    assert (len(second.completed), second.started, second.running) == (6, 6, 2)
    # and messages received but not started are given back
    assert sorted(first.completed + second.completed) == list(range(8))
    assert not set(second.unused) & set(second.completed)


def test_an_instance_that_goes_away_kills_its_running_jobs() -> None:
    # GIVEN two instances running jobs
    pool: WorkerPool[int] = WorkerPool(FIXED_20S, slots=1, rng=np.random.default_rng(1))
    pool.sync(["i-1", "i-2"], now=0.0)
    step = pool.advance(45.0, Queue(10).receive)
    assert step.running == 2

    # WHEN the group lists only i-2
    killed = pool.sync(["i-2"], now=45.0)

    # THEN i-1's job is returned as killed and only i-2's runs on
    assert len(killed) == 1
    assert pool.running == 1


def test_durations_follow_the_fleets_distribution() -> None:
    # GIVEN a lognormal workload of mean 10 s, and an instance with many slots
    workload = WorkloadSettings(boot_seconds=0, mean_job_seconds=10, p95_job_seconds=25)
    pool: WorkerPool[int] = WorkerPool(workload, slots=1000, rng=np.random.default_rng(2))
    pool.sync(["i-1"], now=0.0)

    # WHEN 1000 jobs start at once and the pool advances to the mean, 10 s
    queue = Queue(1000)
    pool.advance(0.0, queue.receive)
    step = pool.advance(10.0, queue.receive)

    # THEN the share done is the lognormal's P(d <= mean) = Phi(sigma / 2) = 0.639
    assert 600 < len(step.completed) < 680
