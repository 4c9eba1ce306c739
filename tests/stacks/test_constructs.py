"""Construct-level validation: bad wiring fails while the stack is built."""

from __future__ import annotations

import pytest

from modules.iam import PolicyDocumentBuilder, Statement

pytestmark = pytest.mark.synth


def test_wildcard_action_is_refused() -> None:
    with pytest.raises(ValueError, match=r"wildcard action 'sqs:\*'"):
        Statement("All", ("sqs:*",), ("arn:aws:sqs:ap-northeast-2:123456789012:q",))


def test_star_resource_only_for_unscopable_actions() -> None:
    with pytest.raises(ValueError, match="'sqs:GetQueueAttributes', which can be scoped"):
        Statement("Read", ("sqs:GetQueueAttributes",), ("*",))
    assert Statement("Describe", ("autoscaling:DescribeAutoScalingGroups",), ("*",)).resources == (
        "*",
    )


def test_same_sid_merges_resources_and_rejects_other_actions() -> None:
    policy = PolicyDocumentBuilder()
    policy.allow("Read", ["sqs:GetQueueAttributes"], ["arn:a"])
    policy.allow("Read", ["sqs:GetQueueAttributes"], ["arn:b", "arn:a"])
    assert policy.statements[0].resources == ("arn:a", "arn:b")
    with pytest.raises(ValueError, match="same Sid"):
        policy.allow("Read", ["sqs:DeleteMessage"], ["arn:c"])


def test_target_tracking_refuses_the_lambda_controlled_fleet(lambda_zip) -> None:  # type: ignore[no-untyped-def]
    from cdktf import App, TerraformStack

    from modules.backlog_target_tracking import BacklogTargetTracking
    from modules.settings import load_environment
    from modules.worker_fleet import WorkerFleet
    from modules.worker_queue import WorkerQueue
    from worker_metrics.contract import WorkerType

    # GIVEN the Video fleet of the local environment
    env = load_environment("local")
    stack = TerraformStack(App(), "t")
    video = env.fleet(WorkerType.VIDEO)
    queues = [WorkerQueue(stack, "q", settings=video.queues[0])]
    fleet = WorkerFleet(
        stack, "video", settings=video, queues=queues, name_prefix="t-x", region=env.region
    )
    # WHEN a target-tracking policy is attached THEN construction fails naming the type
    with pytest.raises(ValueError, match="'Video' is controlled by the queue-depth Lambda"):
        BacklogTargetTracking(stack, "tt", fleet=fleet)


def test_publisher_needs_the_built_zip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cdktf import App

    from modules.settings import load_environment
    from modules.worker_stack import WorkerAutoscalingStack

    with pytest.raises(ValueError, match="run `make lambda` first"):
        WorkerAutoscalingStack(
            App(), settings=load_environment("dev"), lambda_zip=tmp_path / "missing.zip"
        )


@pytest.mark.parametrize("worker_type", ["VIDEO", "MESSAGING"])
def test_activation_grant_refuses_a_fleet_it_would_fight(worker_type: str) -> None:
    from cdktf import App, TerraformStack

    from modules.iam import PolicyDocumentBuilder
    from modules.settings import load_environment
    from modules.worker_fleet import WorkerFleet
    from modules.worker_queue import WorkerQueue
    from worker_metrics.contract import WorkerType

    # GIVEN the Video fleet (the Lambda's own), and prod's Messaging fleet (min_size 1: target
    # tracking's alone)
    env = load_environment("prod" if worker_type == "MESSAGING" else "local")
    settings = env.fleet(WorkerType[worker_type])
    stack = TerraformStack(App(), "t")
    queues = [WorkerQueue(stack, "q", settings=settings.queues[0])]
    fleet = WorkerFleet(
        stack, "f", settings=settings, queues=queues, name_prefix="t-x", region=env.region
    )
    policy = PolicyDocumentBuilder()
    # WHEN the activation grant is asked for THEN it is refused, naming the fleet
    with pytest.raises(ValueError, match=f"fleet {settings.key}: only a target-tracked fleet"):
        fleet.grant_activation(policy)
    assert policy.statements == []
