"""The agent and the consume loop, for real: a fake IMDS on 127.0.0.1 and the local AWS.

The fake IMDS reads each instance's target lifecycle state from the local AWS
(its termination hook is honoured there, ``fleetctl.local_aws``), so a scale-in
decided by the ASG reaches the agent the way it does on EC2. Nothing is mocked
between the agent and those two servers.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetctl.local_aws import LocalAws
from tests.drain_agent.fake_imds import FakeImds, fake_imds
from tests.local_aws_support import client, group, local_aws_per_module  # noqa: F401
from worker_agent.agent import Agent
from worker_agent.aws import LifecycleApi
from worker_agent.config import AgentConfig
from worker_agent.consume import ConsumeLoop, Message, Outcome
from worker_agent.contract import RunDir
from worker_agent.core import DrainReason
from worker_agent.imds import Imds

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15.0


def _until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Fleet:
    """One ASG of one instance with a termination hook, and its queue, in the local AWS."""

    aws: LocalAws
    name: str
    queue_url: str
    instance_id: str

    @property
    def autoscaling(self) -> Any:
        return client(self.aws, "autoscaling")

    @property
    def sqs(self) -> Any:
        return client(self.aws, "sqs")

    def describe(self) -> dict[str, Any] | None:
        found = self.autoscaling.describe_auto_scaling_instances(InstanceIds=[self.instance_id])
        return (found["AutoScalingInstances"] or [None])[0]

    def target_state(self) -> str:
        """What IMDS says on EC2: ``Terminated`` from the moment the ASG starts terminating."""
        instance = self.describe()
        if instance is None or instance["LifecycleState"].startswith("Terminat"):
            return "Terminated"
        return "InService"

    def ec2_state(self) -> str:
        reservations = client(self.aws, "ec2").describe_instances(InstanceIds=[self.instance_id])
        return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])

    def protected(self) -> bool:
        instance = self.describe()
        return bool(instance and instance["ProtectedFromScaleIn"])

    def messages(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())


_COUNTER = iter(range(10_000))


def _fleet(aws: LocalAws, *, protect: bool = False, messages: int = 1) -> Fleet:
    name = f"drain-{next(_COUNTER)}"
    autoscaling = group(aws, name, protect=protect, hook_heartbeat=30)
    sqs = client(aws, "sqs")
    (created,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for index in range(messages):
        sqs.send_message(QueueUrl=url, MessageBody=f"job-{index}")
    return Fleet(aws, name, url, created["Instances"][0]["InstanceId"])


@dataclass
class Running:
    """An agent running in a thread against the fake IMDS and the local AWS."""

    agent: Agent
    imds: FakeImds
    run_dir: RunDir
    stop: threading.Event
    thread: threading.Thread
    exit_code: list[int]

    def finished(self) -> bool:
        return not self.thread.is_alive()


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(fleet: Fleet, *, protect: bool = False) -> Running:
        imds_context = fake_imds(fleet.instance_id)
        imds_state = imds_context.__enter__()
        imds_state.target_state = fleet.target_state
        config = AgentConfig(
            asg_name=fleet.name,
            lifecycle_hook_name=f"{fleet.name}-drain",
            region=fleet.aws.region,
            heartbeat_interval_seconds=0.3,
            poll_seconds=0.1,
            manage_protection=protect,
            imds_endpoint=imds_state.endpoint,
            run_dir=tmp_path / fleet.name,
        )
        api = LifecycleApi(
            fleet.autoscaling,
            fleet.sqs,
            asg_name=fleet.name,
            hook_name=config.lifecycle_hook_name,
            instance_id=fleet.instance_id,
            sleep=lambda _s: None,
        )
        run_dir = RunDir(config.run_dir)
        agent = Agent(config, Imds(imds_state.endpoint), api, run_dir)
        stop, exit_code = threading.Event(), []
        thread = threading.Thread(target=lambda: exit_code.append(agent.run(stop)), daemon=True)
        thread.start()
        running = Running(agent, imds_state, run_dir, stop, thread, exit_code)
        running.imds_context = imds_context  # type: ignore[attr-defined]
        started.append(running)
        _until(lambda: run_dir.status_file.exists(), "the agent's first poll")
        return running

    yield start
    for running in started:
        running.stop.set()
        running.thread.join(timeout=5)
        running.imds_context.__exit__(None, None, None)  # type: ignore[attr-defined]


class BlockingJob:
    """A handler that runs until released, recording what it saw."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.bodies: list[str] = []

    def __call__(self, message: Message) -> None:
        self.bodies.append(message.body)
        self.started.set()
        assert self.release.wait(TIMEOUT), "the test never released the job"


def _consume(fleet: Fleet, run_dir: RunDir, handler: Any, **options: Any) -> tuple[Any, ...]:
    loop = ConsumeLoop(
        fleet.sqs,
        [fleet.queue_url],
        handler,
        run_dir=run_dir,
        wait_seconds=1,
        visibility_timeout_seconds=4,
        **options,
    )
    counts: dict[Outcome, int] = {}
    thread = threading.Thread(target=lambda: counts.update(loop.run()), daemon=True)
    thread.start()
    return loop, thread, counts


# ------------------------------------------------------------------ scale-in


def test_scale_in_of_a_busy_worker_waits_for_its_job(aws: LocalAws, start_agent: Any) -> None:
    # GIVEN a worker running a job on an instance of a fleet with a termination hook
    fleet = _fleet(aws)
    agent = start_agent(fleet)
    job = BlockingJob()
    _loop, consumer, counts = _consume(fleet, agent.run_dir, job)
    assert job.started.wait(TIMEOUT)

    # WHEN the ASG scales in and picks that instance
    fleet.autoscaling.set_desired_capacity(AutoScalingGroupName=fleet.name, DesiredCapacity=0)

    # THEN the worker is told to take no new work, and the agent keeps the hook alive
    _until(lambda: agent.run_dir.drain_reason() is DrainReason.SCALE_IN, "the drain signal")
    _until(lambda: agent.agent.state.last_heartbeat is not None, "a heartbeat")
    first_heartbeat = agent.agent.state.last_heartbeat
    _until(lambda: agent.agent.state.last_heartbeat != first_heartbeat, "a second heartbeat")
    # ...and does not complete while the job runs: the instance is still there
    assert fleet.describe()["LifecycleState"] == "Terminating:Wait"  # type: ignore[index]
    assert fleet.ec2_state() == "running"

    # WHEN the job ends
    job.release.set()

    # THEN its message is deleted, the worker stops, and only then the instance goes
    consumer.join(TIMEOUT)
    assert counts[Outcome.DONE] == 1 and counts[Outcome.STOP] == 1
    _until(agent.finished, "the agent to complete the lifecycle action")
    assert agent.exit_code == [0]
    assert fleet.ec2_state() == "terminated" and fleet.describe() is None
    assert fleet.messages() == 0


def test_an_idle_instance_is_released_within_two_polls(aws: LocalAws, start_agent: Any) -> None:
    fleet = _fleet(aws, messages=0)
    agent = start_agent(fleet)
    fleet.autoscaling.set_desired_capacity(AutoScalingGroupName=fleet.name, DesiredCapacity=0)
    _until(agent.finished, "the agent to complete", timeout=5)
    assert fleet.ec2_state() == "terminated"


# ------------------------------------------------------------------ protection (Video)


def test_protected_fleet_protects_before_receiving_and_scales_in_only_when_idle(
    aws: LocalAws, start_agent: Any
) -> None:
    # GIVEN a fleet whose instances start protected; the agent clears it while idle
    fleet = _fleet(aws, protect=True)
    agent = start_agent(fleet, protect=True)
    _until(lambda: not fleet.protected(), "the idle instance to be unprotected")

    # WHEN the worker receives: record the protection at the moment of each ReceiveMessage
    protected_at_receive: list[bool] = []
    sqs = fleet.sqs

    class RecordingSqs:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

        def receive_message(self, **kwargs: Any) -> Any:
            protected_at_receive.append(fleet.protected())
            return sqs.receive_message(**kwargs)

    job = BlockingJob()
    loop = ConsumeLoop(
        RecordingSqs(),
        [fleet.queue_url],
        job,
        run_dir=agent.run_dir,
        wait_for_protection=True,
        wait_seconds=1,
        visibility_timeout_seconds=4,
        idle_pause_seconds=0.3,
    )
    counts: dict[Outcome, int] = {}
    consumer = threading.Thread(target=lambda: counts.update(loop.run()), daemon=True)
    consumer.start()
    assert job.started.wait(TIMEOUT)

    # THEN it was protected before it took the message, and stays so while the job runs
    assert protected_at_receive[0] is True
    # WHEN the Lambda lowers desired capacity to 0 mid-job
    fleet.autoscaling.set_desired_capacity(AutoScalingGroupName=fleet.name, DesiredCapacity=0)
    time.sleep(0.5)
    # THEN nothing is terminated: the busy encoder is protected
    assert fleet.describe()["LifecycleState"] == "InService"  # type: ignore[index]
    assert agent.run_dir.drain_reason() is None

    # WHEN the job ends THEN the idle worker is unprotected, scaled in, drained and released
    job.release.set()
    _until(agent.finished, "the idle instance to be scaled in and released")
    consumer.join(TIMEOUT)
    assert counts[Outcome.DONE] == 1 and counts[Outcome.STOP] == 1
    assert all(protected_at_receive)
    assert fleet.ec2_state() == "terminated" and fleet.messages() == 0


# ------------------------------------------------------------------ Spot


def test_spot_notice_gives_the_unfinished_message_back(aws: LocalAws, start_agent: Any) -> None:
    # GIVEN a worker running a job of unknown length
    fleet = _fleet(aws)
    agent = start_agent(fleet)
    job = BlockingJob()
    _loop, consumer, counts = _consume(fleet, agent.run_dir, job)
    assert job.started.wait(TIMEOUT)
    (job_id,) = [j.job_id for j in agent.run_dir.read_jobs()]

    # WHEN a Spot interruption notice appears, two minutes out
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    agent.imds.spot_notice = f'{{"action": "terminate", "time": "{at}"}}'

    # THEN the worker is told to stop, and the message is back in the queue at once
    _until(lambda: agent.run_dir.was_returned(job_id), "the message to be returned")
    assert agent.run_dir.drain_reason() is DrainReason.SPOT
    again = fleet.sqs.receive_message(QueueUrl=fleet.queue_url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in again] == job.bodies
    # ...and the running job does not hide it again when its visibility would be extended
    job.release.set()
    consumer.join(TIMEOUT)
    assert counts[Outcome.STOP] == 1


# ------------------------------------------------------------------ the consume loop alone


def test_a_failed_job_is_left_for_a_retry(aws: LocalAws, tmp_path: Path) -> None:
    fleet = _fleet(aws, messages=1)
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare()

    def fail(message: Message) -> None:
        raise RuntimeError("encoder crashed")

    loop = ConsumeLoop(
        fleet.sqs, [fleet.queue_url], fail, run_dir=run_dir, wait_seconds=1,
        visibility_timeout_seconds=2,
    )  # fmt: skip
    assert loop.run_once() is Outcome.FAILED
    # the message is not deleted: still in flight until its visibility timeout, then
    # redelivered (the queue's redrive policy counts the attempts); the claim is gone
    attributes = fleet.sqs.get_queue_attributes(
        QueueUrl=fleet.queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert run_dir.read_jobs() == ()


def test_a_long_job_keeps_its_message_hidden(aws: LocalAws, tmp_path: Path) -> None:
    # GIVEN a job three times longer than the visibility timeout it receives with
    fleet = _fleet(aws, messages=1)
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare()
    seen_by_others: list[int] = []

    def long_job(message: Message) -> None:
        for _ in range(3):
            other = fleet.sqs.receive_message(QueueUrl=fleet.queue_url, WaitTimeSeconds=1)
            seen_by_others.append(len(other.get("Messages", [])))

    loop = ConsumeLoop(
        fleet.sqs, [fleet.queue_url], long_job, run_dir=run_dir, wait_seconds=1,
        visibility_timeout_seconds=2,
    )  # fmt: skip
    # WHEN it runs THEN no other consumer ever gets the message, and it is deleted at the end
    assert loop.run_once() is Outcome.DONE
    assert seen_by_others == [0, 0, 0]
    assert fleet.messages() == 0


def test_drain_stops_the_loop_before_it_receives(aws: LocalAws, tmp_path: Path) -> None:
    fleet = _fleet(aws, messages=1)
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare()
    run_dir.signal_drain(DrainReason.SCALE_IN)
    loop = ConsumeLoop(fleet.sqs, [fleet.queue_url], BlockingJob(), run_dir=run_dir)
    assert loop.run() == {**dict.fromkeys(Outcome, 0), Outcome.STOP: 1}
    visible = fleet.sqs.get_queue_attributes(
        QueueUrl=fleet.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert visible["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_a_message_that_arrives_after_drain_goes_straight_back(
    aws: LocalAws, tmp_path: Path
) -> None:
    # GIVEN the drain signal appears while the worker is inside ReceiveMessage
    fleet = _fleet(aws, messages=1)
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare()
    sqs = fleet.sqs

    class DrainDuringReceive:
        def __getattr__(self, name: str) -> Any:
            return getattr(sqs, name)

        def receive_message(self, **kwargs: Any) -> Any:
            response = sqs.receive_message(**kwargs)
            run_dir.signal_drain(DrainReason.SCALE_IN)
            return response

    job = BlockingJob()
    loop = ConsumeLoop(DrainDuringReceive(), [fleet.queue_url], job, run_dir=run_dir)
    # WHEN the cycle runs THEN the job never starts and the message is visible again at once
    assert loop.run_once() is Outcome.RETURNED
    assert not job.started.is_set()
    again = sqs.receive_message(QueueUrl=fleet.queue_url, WaitTimeSeconds=1)
    assert len(again["Messages"]) == 1


# ------------------------------------------------------------------ the command line


def _agent_command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker_agent", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_command_exits_with_a_message_when_imds_is_unreachable(tmp_path: Path) -> None:
    # GIVEN a complete configuration, but no IMDS (not on EC2)
    started = time.monotonic()
    result = _agent_command(
        "agent",
        ASG_NAME="g",
        LIFECYCLE_HOOK_NAME="g-drain",
        AWS_REGION="ap-northeast-2",
        DRAIN_HEARTBEAT_SECONDS="10",
        IMDS_ENDPOINT="http://127.0.0.1:9",
        WORKER_RUN_DIR=str(tmp_path),
    )
    # THEN exit 4 within seconds, naming the problem
    assert result.returncode == 4, result.stderr
    assert "is unreachable" in result.stderr and "EC2 instance" in result.stderr
    assert time.monotonic() - started < 10


def test_command_names_a_missing_setting_and_checks_prerequisites() -> None:
    missing = _agent_command("agent", ASG_NAME="g")
    assert missing.returncode == 3
    assert "LIFECYCLE_HOOK_NAME is not set" in missing.stderr
    check = _agent_command("check")
    assert check.returncode == 0 and "with boto3: ready" in check.stdout


def test_two_slots_run_two_jobs_at_once_and_both_stop_on_drain(
    aws: LocalAws, tmp_path: Path
) -> None:
    # GIVEN 4 messages and a worker with 2 slots (jobs_per_instance = 2)
    fleet = _fleet(aws, messages=4)
    run_dir = RunDir(tmp_path / "run")
    run_dir.prepare()
    lock = threading.Lock()
    running, peak, done = [0], [0], threading.Event()
    handled: list[str] = []

    def job(message: Message) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        with lock:
            running[0] -= 1
            handled.append(message.body)
            if len(handled) == 4:
                done.set()

    loop = ConsumeLoop(fleet.sqs, [fleet.queue_url], job, run_dir=run_dir, wait_seconds=1)
    counts: dict[Outcome, int] = {}
    consumer = threading.Thread(target=lambda: counts.update(loop.run(concurrency=2)))
    consumer.start()
    # WHEN the 4 jobs are done and the agent signals drain
    assert done.wait(TIMEOUT)
    run_dir.signal_drain(DrainReason.SCALE_IN)
    consumer.join(TIMEOUT)
    # THEN both slots worked at once, every job ran once, and each slot stopped
    assert peak[0] == 2 and sorted(handled) == [f"job-{i}" for i in range(4)]
    assert counts[Outcome.DONE] == 4 and counts[Outcome.STOP] == 2
    assert fleet.messages() == 0 and run_dir.read_jobs() == ()
