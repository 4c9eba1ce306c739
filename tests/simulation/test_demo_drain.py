"""The demo's drain agents: ``worker_agent.core`` per simulated instance, on the local AWS."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from fleetctl.demo.context import DemoError
from fleetctl.demo.drain import DemoDrain
from fleetctl.demo.workers import SqsWorkers
from fleetctl.local_aws import LocalAws
from tests.local_aws_support import client, local_aws_per_module  # noqa: F401
from tests.local_aws_support import group as make_group
from tests.simulation.conftest import environment
from worker_metrics.contract import WorkerType

VIDEO = WorkerType.VIDEO


def _group(aws: LocalAws, name: str, hook: bool) -> str:
    # as the stack deploys it for local's Video fleet, with its hook or not
    autoscaling = make_group(aws, name, hook_heartbeat=900 if hook else None)
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return str(group["Instances"][0]["InstanceId"])


def _states(aws: LocalAws, name: str) -> dict[str, str]:
    (group,) = client(aws, "autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name]
    )["AutoScalingGroups"]
    return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}


class _Counting:
    """A boto3 client that counts its calls by name."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(**kwargs)

        return call


def test_a_busy_instance_picked_for_scale_in_finishes_its_job_then_goes(aws: LocalAws) -> None:
    # GIVEN local's Video workers (60 s boot, 60 s jobs, one per instance) on one instance
    # of a group with its termination hook, and 3 messages
    env = environment("local")
    instance = _group(aws, "demo-drain", hook=True)
    sqs, autoscaling = client(aws, "sqs"), client(aws, "autoscaling")
    urls = {
        t: (sqs.create_queue(QueueName=f"demo-drain-{t.name}")["QueueUrl"],) for t in WorkerType
    }
    workers = SqsWorkers(sqs, urls, env)
    agents = _Counting(autoscaling)
    drain = DemoDrain(agents, env, {VIDEO: "demo-drain"})
    workers.enqueue(VIDEO, 3)
    workers.step(0.0, {VIDEO: [instance]}, drain=drain)
    running = workers.step(90.0, {VIDEO: [instance]}, drain=drain)[VIDEO]
    assert running.in_flight == 1  # its job started at 60 s and ends at 120 s

    # WHEN the group scales in mid-job: the hook holds the instance in Terminating:Wait
    autoscaling.set_desired_capacity(AutoScalingGroupName="demo-drain", DesiredCapacity=0)
    assert _states(aws, "demo-drain") == {instance: "Terminating:Wait"}
    held = workers.step(100.0, {VIDEO: []}, {VIDEO: [instance]}, drain)[VIDEO]

    # THEN the job goes on: nothing killed, nothing released, a heartbeat recorded
    assert (held.killed, held.drained, held.in_flight) == (0, (), 1)
    assert agents.calls["record_lifecycle_action_heartbeat"] == 1 and held.held_busy == 1
    assert _states(aws, "demo-drain") == {instance: "Terminating:Wait"}

    # WHEN the job has ended
    done = workers.step(130.0, {VIDEO: []}, {VIDEO: [instance]}, drain)[VIDEO]

    # THEN it was completed (deleted), no new job started, and the agent released the instance
    assert (done.completed, done.started, done.killed, done.drained) == (1, 0, 0, (instance,))
    assert _states(aws, "demo-drain") == {}
    visible = sqs.get_queue_attributes(
        QueueUrl=urls[VIDEO][0], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert visible == "2"


def test_a_group_without_its_hook_is_a_demo_error(aws: LocalAws) -> None:
    _group(aws, "demo-no-hook", hook=False)
    with pytest.raises(DemoError, match="demo-no-hook: no autoscaling:EC2_INSTANCE_TERMINATING"):
        DemoDrain(client(aws, "autoscaling"), environment("local"), {VIDEO: "demo-no-hook"})
