"""The local AWS runs termination lifecycle hooks as AWS documents them (two moto patches)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fleetctl.local_aws import (
    LocalAws,
    MotoPatchError,
    patch_lifecycle_hook_shape,
    patch_termination_lifecycle_actions,
)
from tests.local_aws_support import client, group, local_aws_per_module  # noqa: F401


def _group(aws: LocalAws, name: str, size: int, *, hook: bool, protect: bool = False) -> Any:
    heartbeat = 900 if hook else None
    return group(aws, name, desired=size, max_size=10, protect=protect, hook_heartbeat=heartbeat)


def _states(autoscaling: Any, name: str) -> dict[str, str]:
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ]
    return {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}


def _ec2_state(aws: LocalAws, instance_id: str) -> str:
    reservations = client(aws, "ec2").describe_instances(InstanceIds=[instance_id])
    return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])


def test_lifecycle_hook_reads_back_as_it_was_put(aws: LocalAws) -> None:
    # GIVEN a hook put with no role, no notification target, heartbeat 900 s
    autoscaling = _group(aws, "hook-shape", 0, hook=True)
    # WHEN it is described
    (hook,) = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName="hook-shape")[
        "LifecycleHooks"
    ]
    # THEN it has no invented ARNs, and AWS's global timeout min(48 h, 100 x 900 s)
    assert "RoleARN" not in hook and "NotificationTargetARN" not in hook
    assert hook["GlobalTimeout"] == 90_000
    assert (hook["HeartbeatTimeout"], hook["DefaultResult"]) == (900, "CONTINUE")


def test_scale_in_waits_for_complete_lifecycle_action(aws: LocalAws) -> None:
    # GIVEN a group of 2 with a termination hook
    autoscaling = _group(aws, "hook-wait", 2, hook=True)
    first, second = sorted(_states(autoscaling, "hook-wait"))
    # WHEN desired drops to 1
    autoscaling.set_desired_capacity(AutoScalingGroupName="hook-wait", DesiredCapacity=1)
    states = _states(autoscaling, "hook-wait")
    # THEN one instance waits in Terminating:Wait, still running, and none is launched
    assert sorted(states.values()) == ["InService", "Terminating:Wait"]
    waiting = next(i for i, s in states.items() if s == "Terminating:Wait")
    assert _ec2_state(aws, waiting) == "running"
    assert set(states) == {first, second}
    # WHEN the agent heartbeats and then completes with CONTINUE
    call = {
        "AutoScalingGroupName": "hook-wait",
        "LifecycleHookName": "hook-wait-drain",
        "InstanceId": waiting,
    }
    autoscaling.record_lifecycle_action_heartbeat(**call)
    autoscaling.complete_lifecycle_action(**call, LifecycleActionResult="CONTINUE")
    # THEN the instance is terminated and leaves the group; the other stays in service
    assert _ec2_state(aws, waiting) == "terminated"
    assert _states(autoscaling, "hook-wait") == {({first, second} - {waiting}).pop(): "InService"}
    # ...and a second completion finds no waiting action, as on AWS
    with pytest.raises(ClientError, match="No active Lifecycle Action found"):
        autoscaling.complete_lifecycle_action(**call, LifecycleActionResult="CONTINUE")


def test_deleting_the_hook_releases_the_waiting_instances(aws: LocalAws) -> None:
    # GIVEN an instance waiting on the hook (no agent answered)
    autoscaling = _group(aws, "hook-delete", 1, hook=True)
    (waiting,) = _states(autoscaling, "hook-delete")
    autoscaling.set_desired_capacity(AutoScalingGroupName="hook-delete", DesiredCapacity=0)
    assert _states(autoscaling, "hook-delete") == {waiting: "Terminating:Wait"}
    # WHEN the hook is deleted (terraform destroy deletes it before the group)
    autoscaling.delete_lifecycle_hook(
        AutoScalingGroupName="hook-delete", LifecycleHookName="hook-delete-drain"
    )
    # THEN the waiting action completes (CONTINUE), as AWS does: the instance goes
    assert _states(autoscaling, "hook-delete") == {}
    assert _ec2_state(aws, waiting) == "terminated"


def test_heartbeat_for_an_instance_in_service_is_refused(aws: LocalAws) -> None:
    autoscaling = _group(aws, "hook-refuse", 1, hook=True)
    (instance,) = _states(autoscaling, "hook-refuse")
    with pytest.raises(ClientError, match="No active Lifecycle Action found"):
        autoscaling.record_lifecycle_action_heartbeat(
            AutoScalingGroupName="hook-refuse",
            LifecycleHookName="hook-refuse-drain",
            InstanceId=instance,
        )


def test_scale_in_skips_protected_instances(aws: LocalAws) -> None:
    # GIVEN a group of 2 with a hook, one instance protected
    autoscaling = _group(aws, "hook-protect", 2, hook=True)
    protected, other = sorted(_states(autoscaling, "hook-protect"))
    autoscaling.set_instance_protection(
        AutoScalingGroupName="hook-protect", InstanceIds=[protected], ProtectedFromScaleIn=True
    )
    # WHEN desired drops to 0
    autoscaling.set_desired_capacity(AutoScalingGroupName="hook-protect", DesiredCapacity=0)
    # THEN only the unprotected one waits for termination
    assert _states(autoscaling, "hook-protect") == {
        protected: "InService",
        other: "Terminating:Wait",
    }


def test_clearing_protection_lets_a_group_above_desired_scale_in(aws: LocalAws) -> None:
    # GIVEN a group of 2, all protected, whose desired capacity dropped to 1 (nothing happened)
    autoscaling = _group(aws, "hook-clear", 2, hook=True, protect=True)
    busy, idle = sorted(_states(autoscaling, "hook-clear"))
    autoscaling.set_desired_capacity(AutoScalingGroupName="hook-clear", DesiredCapacity=1)
    assert set(_states(autoscaling, "hook-clear").values()) == {"InService"}
    # WHEN the idle instance clears its protection
    autoscaling.set_instance_protection(
        AutoScalingGroupName="hook-clear", InstanceIds=[idle], ProtectedFromScaleIn=False
    )
    # THEN the group scales in through the hook: the idle one waits, the busy one stays
    assert _states(autoscaling, "hook-clear") == {busy: "InService", idle: "Terminating:Wait"}


def test_a_group_without_a_hook_still_terminates_at_once(aws: LocalAws) -> None:
    autoscaling = _group(aws, "no-hook", 2, hook=False)
    autoscaling.set_desired_capacity(AutoScalingGroupName="no-hook", DesiredCapacity=1)
    assert list(_states(autoscaling, "no-hook").values()) == ["InService"]


def test_lifecycle_patches_fail_loudly_when_moto_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.autoscaling import models, responses

    # GIVEN a moto that implements CompleteLifecycleAction itself
    monkeypatch.setattr(
        responses.AutoScalingResponse,
        "complete_lifecycle_action",
        lambda self: None,
        raising=False,
    )
    # WHEN / THEN the patch refuses, naming itself
    with pytest.raises(MotoPatchError, match=r"termination-lifecycle-actions.*implements"):
        patch_termination_lifecycle_actions()
    # GIVEN a LifecycleHook with another constructor WHEN / THEN the shape patch refuses
    monkeypatch.setattr(models, "LifecycleHook", type("LifecycleHook", (), {}))
    with pytest.raises(MotoPatchError, match=r"lifecycle-hook-shape.*LifecycleHook"):
        patch_lifecycle_hook_shape()


def test_an_instance_refresh_is_accepted_and_reported_done(aws: LocalAws) -> None:
    # GIVEN a group (the provider starts a refresh when its launch template version changes)
    autoscaling = _group(aws, "refresh", 1, hook=True)
    # WHEN a refresh starts, and another is cancelled
    refresh_id = autoscaling.start_instance_refresh(
        AutoScalingGroupName="refresh", Strategy="Rolling"
    )["InstanceRefreshId"]
    (refresh,) = autoscaling.describe_instance_refreshes(AutoScalingGroupName="refresh")[
        "InstanceRefreshes"
    ]
    # THEN it is listed as done (nothing to replace locally), and nothing is left to cancel
    assert (refresh["InstanceRefreshId"], refresh["Status"]) == (refresh_id, "Successful")
    with pytest.raises(ClientError, match="ActiveInstanceRefreshNotFound"):
        autoscaling.cancel_instance_refresh(AutoScalingGroupName="refresh")


def test_patches_apply_twice_as_a_no_op() -> None:
    # In a child process: patching moto here would change it for the other tests.
    done = subprocess.run(
        [sys.executable, "-c", "from fleetctl.local_aws import apply_moto_patches as a; a(); a()"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
