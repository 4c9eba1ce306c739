"""Fixes to moto 5.2.1 for the local AWS (NOTES §2), applied inside the server child.

Every patch runs before the server serves its first request. Each checks the exact
moto shape it relies on first, and raises ``MotoPatchError`` naming itself when that
shape is gone, instead of silently patching nothing. ``MOTO_PATCHES`` lists them.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

from fleetctl.local_aws.errors import MotoPatchError
from modules.settings.drain import (
    MAX_GLOBAL_TIMEOUT_SECONDS as LIFECYCLE_HOOK_MAX_GLOBAL_TIMEOUT_SECONDS,
)
from modules.settings.drain import TERMINATING_TRANSITION

# --------------------------------------------------------------------------- patches
# Every patch runs inside the server child, before it serves its first request.
# Each checks the exact moto shape it relies on first, and raises MotoPatchError
# naming itself when that shape is gone, instead of silently patching nothing.


def _moto_version() -> str:
    import moto

    return str(getattr(moto, "__version__", "unknown"))


def _require(condition: bool, patch: str, what: str) -> None:
    if not condition:
        raise MotoPatchError(
            f"moto patch {patch!r} cannot be applied: {what}. It was written for moto 5.2.1 "
            f"(installed: {_moto_version()}); re-check the quirk (NOTES §2) and update or "
            f"delete the patch in fleetctl/local_aws/moto_patches.py."
        )


def _lookup(owner: Any, attribute: str, patch: str) -> Any:
    value = getattr(owner, attribute, None)
    _require(value is not None, patch, f"{getattr(owner, '__name__', owner)}.{attribute} is gone")
    return value


# Marks our replacements so that applying the patches twice is a no-op.
_PATCHED_MARK = "_fleetctl_patched"


def patch_describe_policies_shape() -> None:
    """Make DescribePolicies return ``Enabled`` and no empty predictive config.

    Why: moto 5.2.1 stores neither the ``Enabled`` flag of PutScalingPolicy nor
    ``None`` for an absent ``PredictiveScalingConfiguration`` (it stores ``{}``),
    so DescribePolicies omits ``Enabled`` and always carries an empty
    ``PredictiveScalingConfiguration``. The aws provider 5.100.0 then reads
    ``enabled = false`` plus a predictive block, and every plan shows a diff for
    ``aws_autoscaling_policy``.

    Fix: after moto's own PutScalingPolicy handler has stored the policy, record
    the request's ``Enabled`` (default ``true``, as on AWS) on the stored policy
    and drop an empty predictive configuration. moto's response serializer reads
    both attributes by name (``enabled``, ``predictive_scaling_configuration``)
    and skips ``None``.
    """
    name = "describe-policies-shape"
    from moto.autoscaling import models as autoscaling_models
    from moto.autoscaling import responses as autoscaling_responses

    response_class = _lookup(autoscaling_responses, "AutoScalingResponse", name)
    original = _lookup(response_class, "put_scaling_policy", name)
    if getattr(original, _PATCHED_MARK, False):
        return
    policy_class = _lookup(autoscaling_models, "FakeScalingPolicy", name)
    _require(
        "predictive_scaling_configuration" in inspect.signature(policy_class).parameters,
        name,
        "FakeScalingPolicy no longer takes predictive_scaling_configuration",
    )
    _lookup(autoscaling_models.AutoScalingBackend, "describe_policies", name)

    def put_scaling_policy(self: Any) -> Any:
        result = original(self)
        policy = self.autoscaling_backend.policies.get(self._get_param("PolicyName"))
        if policy is None:
            raise MotoPatchError(
                f"moto patch {name!r}: PutScalingPolicy did not store the policy under its "
                f"name in AutoScalingBackend.policies (moto {_moto_version()})"
            )
        policy.enabled = self._get_bool_param("Enabled", True)
        if not policy.predictive_scaling_configuration:
            policy.predictive_scaling_configuration = None
        return result

    setattr(put_scaling_policy, _PATCHED_MARK, True)
    response_class.put_scaling_policy = put_scaling_policy


def patch_delete_marker_dispose() -> None:
    """Give S3 delete markers the ``dispose()`` that moto calls on every version.

    Why: in moto 5.2.1, ``_VersionedKeyStore.pop`` calls ``dispose()`` on every
    version of a key, but ``FakeDeleteMarker`` has no such method. A bucket whose
    versioning is *Suspended* (Terraform suspends it when it destroys
    ``aws_s3_bucket_versioning``) takes the non-versioned path of
    ``delete_object`` and pops the whole key, so DeleteObjects fails with HTTP 500
    ("'FakeDeleteMarker' object has no attribute 'dispose'") as soon as a key has
    a delete marker (the S3 backend's ``.tflock`` always does). Terraform then
    retries the bucket's destroy forever.

    Fix: a no-op ``dispose``. ``FakeKey.dispose`` closes the temporary file that
    holds an object's bytes; a delete marker holds no bytes, so there is nothing
    to release. (moto still deletes every version of the key in that case, where
    AWS would delete only the given version; for emptying a bucket the outcome is
    the same.)
    """
    name = "delete-marker-dispose"
    from moto.s3 import models as s3_models
    from moto.s3 import utils as s3_utils

    marker_class = _lookup(s3_models, "FakeDeleteMarker", name)
    existing = getattr(marker_class, "dispose", None)
    if getattr(existing, _PATCHED_MARK, False):
        return
    _require(
        existing is None,
        name,
        "FakeDeleteMarker now defines dispose() itself, so the bug may be fixed upstream",
    )
    store_class = _lookup(s3_utils, "_VersionedKeyStore", name)
    _require("pop" in vars(store_class), name, "_VersionedKeyStore.pop is gone")

    def dispose(self: Any, garbage: bool = False) -> None:
        """Nothing to release: a delete marker has no backing temporary file."""

    setattr(dispose, _PATCHED_MARK, True)
    marker_class.dispose = dispose


def patch_sqs_redrive_policy_compact() -> None:
    """Return ``RedrivePolicy`` as compact JSON, as SQS does.

    Why: moto 5.2.1 serializes the stored redrive policy with ``json.dumps``
    defaults (``", "`` and ``": "`` separators); SQS returns it without spaces.
    The aws provider 5.100.0 compares the string, so every plan after an apply
    shows a "whitespace changes" update of each queue with a dead-letter queue,
    and the IAM policy documents that read the queues' ARNs follow it.

    Fix: after moto has built a queue's attributes, re-serialize ``RedrivePolicy``
    with compact separators.
    """
    name = "sqs-redrive-policy-compact"
    from moto.sqs import models as sqs_models

    queue_class = _lookup(sqs_models, "Queue", name)
    original = vars(queue_class).get("attributes")
    getter = original.fget if isinstance(original, property) else None
    if getter is None:
        _require(False, name, "Queue.attributes is no longer a property with a getter")
        return
    if getattr(getter, _PATCHED_MARK, False):
        return

    def attributes(self: Any) -> Any:
        result = getter(self)
        if getattr(self, "redrive_policy", None):
            result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
        return result

    setattr(attributes, _PATCHED_MARK, True)
    queue_class.attributes = property(attributes)


def patch_launch_template_own_tags() -> None:
    """Keep a launch template's own tags out of its launch data.

    Why: moto 5.2.1 copies CreateLaunchTemplate's top-level ``TagSpecifications``
    (which tag the template resource, ``ResourceType = launch-template``) into
    ``LaunchTemplateData.TagSpecifications``, where EC2 allows only the types a
    launch applies (instance, volume, ...). With provider ``default_tags`` every
    template then reads back a ``tag_specifications`` block that the
    configuration never had, and every plan shows an update.

    Fix: drop ``launch-template`` entries from a version's data before moto
    stores it; the template's own tags are kept by moto separately.
    """
    name = "launch-template-own-tags"
    from moto.ec2.models import launch_templates

    version_class = _lookup(launch_templates, "LaunchTemplateVersion", name)
    original = version_class.__init__
    if getattr(original, _PATCHED_MARK, False):
        return
    _require(
        list(inspect.signature(original).parameters)[:5]
        == ["self", "template", "number", "data", "description"],
        name,
        "LaunchTemplateVersion.__init__ no longer takes (template, number, data, description)",
    )

    def __init__(self: Any, template: Any, number: int, data: Any, description: Any) -> None:
        specifications = data.get("TagSpecifications") if isinstance(data, dict) else None
        if specifications:
            kept = [s for s in specifications if s.get("ResourceType") != "launch-template"]
            data = {k: v for k, v in data.items() if k != "TagSpecifications"}
            if kept:
                data["TagSpecifications"] = kept
        original(self, template, number, data, description)

    setattr(__init__, _PATCHED_MARK, True)
    version_class.__init__ = __init__


def patch_asg_default_instance_warmup() -> None:
    """Store and return an Auto Scaling group's ``DefaultInstanceWarmup``.

    Why: moto 5.2.1 ignores ``DefaultInstanceWarmup`` on CreateAutoScalingGroup
    and UpdateAutoScalingGroup, so DescribeAutoScalingGroups never returns it and
    every plan shows ``default_instance_warmup = 0 -> N`` on each ASG.

    Fix: after moto's handler ran, record the request's value on the stored
    group; moto's response serializer reads ``default_instance_warmup`` by name.
    """
    name = "asg-default-instance-warmup"
    from moto.autoscaling import models as autoscaling_models
    from moto.autoscaling import responses as autoscaling_responses

    response_class = _lookup(autoscaling_responses, "AutoScalingResponse", name)
    _lookup(autoscaling_models.AutoScalingBackend, "describe_auto_scaling_groups", name)
    for action in ("create_auto_scaling_group", "update_auto_scaling_group"):
        original = _lookup(response_class, action, name)
        if getattr(original, _PATCHED_MARK, False):
            continue

        def handler(self: Any, _original: Callable[[Any], Any] = original) -> Any:
            result = _original(self)
            warmup = self._get_int_param("DefaultInstanceWarmup")
            if warmup is not None:
                group_name = self._get_param("AutoScalingGroupName")
                group = self.autoscaling_backend.autoscaling_groups.get(group_name)
                if group is None:
                    raise MotoPatchError(
                        f"moto patch {name!r}: the group {group_name!r} is not in "
                        f"AutoScalingBackend.autoscaling_groups (moto {_moto_version()})"
                    )
                group.default_instance_warmup = warmup
            return result

        setattr(handler, _PATCHED_MARK, True)
        setattr(response_class, action, handler)


def patch_lifecycle_hook_shape() -> None:
    """Return a lifecycle hook as it was put: no invented role or target, AWS's GlobalTimeout.

    Why: moto 5.2.1's ``LifecycleHook`` hard-codes a ``RoleARN`` and a
    ``NotificationTargetARN`` (a role and a queue that do not exist) and a
    ``GlobalTimeout`` of 172800 whatever the heartbeat timeout. The aws provider
    5.100.0 reads both ARNs back into ``aws_autoscaling_lifecycle_hook``, and
    every plan shows an update removing them.

    Fix: after moto's PutLifecycleHook handler has stored the hook, set the two
    ARNs and the notification metadata from the request (None when absent; the
    serializer skips None) and ``GlobalTimeout`` to min(172800, 100 x heartbeat).
    """
    name = "lifecycle-hook-shape"
    from moto.autoscaling import models as autoscaling_models
    from moto.autoscaling import responses as autoscaling_responses

    response_class = _lookup(autoscaling_responses, "AutoScalingResponse", name)
    original = _lookup(response_class, "put_lifecycle_hook", name)
    if getattr(original, _PATCHED_MARK, False):
        return
    hook_class = _lookup(autoscaling_models, "LifecycleHook", name)
    _require(
        list(inspect.signature(hook_class).parameters)
        == ["name", "as_name", "transition", "timeout", "result"],
        name,
        "LifecycleHook no longer takes (name, as_name, transition, timeout, result)",
    )

    def put_lifecycle_hook(self: Any) -> Any:
        result = original(self)
        group = self._get_param("AutoScalingGroupName")
        hook_name = self._get_param("LifecycleHookName")
        hook = self.autoscaling_backend.lifecycle_hooks.get(f"{group}_{hook_name}")
        if hook is None:
            raise MotoPatchError(
                f"moto patch {name!r}: PutLifecycleHook did not store {group}_{hook_name} in "
                f"AutoScalingBackend.lifecycle_hooks (moto {_moto_version()})"
            )
        hook.role_arn = self._get_param("RoleARN")
        hook.notification_target_arn = self._get_param("NotificationTargetARN")
        hook.notification_metadata = self._get_param("NotificationMetadata")
        hook.global_timeout = min(
            LIFECYCLE_HOOK_MAX_GLOBAL_TIMEOUT_SECONDS, 100 * int(hook.heartbeat_timeout)
        )
        return result

    setattr(put_lifecycle_hook, _PATCHED_MARK, True)
    response_class.put_lifecycle_hook = put_lifecycle_hook


TERMINATING_WAIT = "Terminating:Wait"


def patch_termination_lifecycle_actions() -> None:
    """Honour termination lifecycle hooks on scale-in, and implement their two calls.

    Why: moto 5.2.1 stores lifecycle hooks but never runs them: lowering desired
    capacity terminates instances at once, busy or not, and
    ``RecordLifecycleActionHeartbeat`` and ``CompleteLifecycleAction`` are not
    implemented. A drain agent cannot be tried against it.

    Fix, as AWS documents it: when a group with an ``EC2_INSTANCE_TERMINATING``
    hook scales in, the instances it picks (unprotected, in service, oldest
    first as moto picks them) go to ``Terminating:Wait`` instead of being
    terminated; they leave the in-service count at once, so no replacement is
    launched. ``CompleteLifecycleAction`` (``CONTINUE`` or ``ABANDON``, by
    instance id) terminates a waiting instance and removes it from the group;
    ``RecordLifecycleActionHeartbeat`` counts a heartbeat on it. Both answer
    AWS's ``ValidationError`` for an instance with no waiting action. Clearing an
    instance's scale-in protection in a group above its desired capacity lets
    the group scale in again, as on AWS (moto would wait for the next change of
    desired capacity). Deleting the last termination hook of a group completes
    its waiting actions with ``CONTINUE`` first, as AWS's DeleteLifecycleHook
    does (else a destroy would wait forever for them). Not modelled: the
    heartbeat timeout (the local AWS has no clock; nothing expires), lifecycle
    action tokens, and other terminations (health replacement,
    TerminateInstanceInAutoScalingGroup) going through the hook.
    """
    name = "termination-lifecycle-actions"
    from moto.autoscaling import exceptions as autoscaling_exceptions
    from moto.autoscaling import models as autoscaling_models
    from moto.autoscaling import responses as autoscaling_responses
    from moto.core.responses import EmptyResult

    group_class = _lookup(autoscaling_models, "FakeAutoScalingGroup", name)
    original = _lookup(group_class, "set_desired_capacity", name)
    if getattr(original, _PATCHED_MARK, False):
        return
    _lookup(group_class, "active_instances", name)
    response_class = _lookup(autoscaling_responses, "AutoScalingResponse", name)
    _require(
        not hasattr(response_class, "complete_lifecycle_action"),
        name,
        "moto now implements CompleteLifecycleAction itself",
    )
    validation_error = _lookup(autoscaling_exceptions, "ValidationError", name)

    def terminating_hooks(group: Any) -> list[Any]:
        hooks = group.autoscaling_backend.lifecycle_hooks.values()
        return [
            hook
            for hook in hooks
            if hook.auto_scaling_group_name == group.name
            and hook.lifecycle_transition == TERMINATING_TRANSITION
        ]

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        if not terminating_hooks(self):
            original(self, new_capacity)
            return
        target = (self.min_size if new_capacity is None else new_capacity) or 0
        active = self.active_instances()
        excess = len(active) - target
        for state in [s for s in active if not s.protected_from_scale_in][: max(excess, 0)]:
            state.lifecycle_state = TERMINATING_WAIT
            state.lifecycle_heartbeats = 0
        # moto's own scale-in picks from every instance, waiting ones included: hide them.
        waiting = [s for s in self.instance_states if s.lifecycle_state == TERMINATING_WAIT]
        self.instance_states = [s for s in self.instance_states if s not in waiting]
        try:
            original(self, new_capacity)
        finally:
            self.instance_states = self.instance_states + waiting

    def waiting_instance(response: Any) -> tuple[Any, Any]:
        group_name = response._get_param("AutoScalingGroupName")
        hook_name = response._get_param("LifecycleHookName")
        instance_id = response._get_param("InstanceId")
        backend = response.autoscaling_backend
        group = backend.autoscaling_groups.get(group_name)
        if group is None or f"{group_name}_{hook_name}" not in backend.lifecycle_hooks:
            raise validation_error(
                f"No Lifecycle Hook found with name {hook_name} for group {group_name}"
            )
        for state in group.instance_states:
            if state.instance.id == instance_id and state.lifecycle_state == TERMINATING_WAIT:
                return group, state
        raise validation_error(f"No active Lifecycle Action found with instance ID {instance_id}")

    def complete_lifecycle_action(self: Any) -> Any:
        result = self._get_param("LifecycleActionResult")
        if result not in ("CONTINUE", "ABANDON"):
            raise validation_error(f"LifecycleActionResult {result!r}: CONTINUE or ABANDON")
        group, state = waiting_instance(self)
        group.instance_states = [s for s in group.instance_states if s is not state]
        self.autoscaling_backend.ec2_backend.terminate_instances([state.instance.id])
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        _group, state = waiting_instance(self)
        state.lifecycle_heartbeats = getattr(state, "lifecycle_heartbeats", 0) + 1
        return EmptyResult()

    backend_class = _lookup(autoscaling_models, "AutoScalingBackend", name)
    original_protection = _lookup(backend_class, "set_instance_protection", name)

    def set_instance_protection(
        self: Any, group_name: str, instance_ids: list[str], protected: bool | None
    ) -> None:
        original_protection(self, group_name, instance_ids, protected)
        group = self.autoscaling_groups[group_name]
        if not protected and len(group.active_instances()) > (group.desired_capacity or 0):
            group.set_desired_capacity(group.desired_capacity)

    original_delete_hook = _lookup(backend_class, "delete_lifecycle_hook", name)

    def delete_lifecycle_hook(self: Any, as_name: str, hook_name: str) -> None:
        original_delete_hook(self, as_name, hook_name)
        group = self.autoscaling_groups.get(as_name)
        if group is None or terminating_hooks(group):
            return
        waiting = [s for s in group.instance_states if s.lifecycle_state == TERMINATING_WAIT]
        if waiting:
            group.instance_states = [s for s in group.instance_states if s not in waiting]
            self.ec2_backend.terminate_instances([s.instance.id for s in waiting])

    for function in (set_desired_capacity, complete_lifecycle_action):
        setattr(function, _PATCHED_MARK, True)
    group_class.set_desired_capacity = set_desired_capacity
    backend_class.set_instance_protection = set_instance_protection
    backend_class.delete_lifecycle_hook = delete_lifecycle_hook
    response_class.complete_lifecycle_action = complete_lifecycle_action
    response_class.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat


def patch_instance_refresh() -> None:
    """Accept instance refreshes: StartInstanceRefresh, DescribeInstanceRefreshes, Cancel.

    Why: moto 5.2.1 does not implement them. The ASG names its launch template's
    latest version, so a new agent (new user data) makes the aws provider start an
    instance refresh on apply; against moto that call fails and the provider
    retries until the apply times out, so a second ``make deploy ENV=local``
    after a change to the agent hangs.

    Fix: StartInstanceRefresh records a refresh that has already succeeded (the
    local AWS's instances run nothing, so there is nothing to replace) and
    returns its id; DescribeInstanceRefreshes lists a group's refreshes, newest
    first; CancelInstanceRefresh answers ``ActiveInstanceRefreshNotFound``, as AWS
    does when none is in progress.
    """
    name = "instance-refresh"
    import uuid
    from datetime import UTC, datetime

    from moto.autoscaling import exceptions as autoscaling_exceptions
    from moto.autoscaling import responses as autoscaling_responses
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult

    response_class = _lookup(autoscaling_responses, "AutoScalingResponse", name)
    existing = getattr(response_class, "start_instance_refresh", None)
    if getattr(existing, _PATCHED_MARK, False):
        return
    _require(
        existing is None,
        name,
        "moto now implements StartInstanceRefresh itself",
    )
    validation_error = _lookup(autoscaling_exceptions, "ValidationError", name)

    class ActiveInstanceRefreshNotFound(ServiceException):
        code = "ActiveInstanceRefreshNotFound"

    def group_of(response: Any) -> Any:
        group_name = response._get_param("AutoScalingGroupName")
        group = response.autoscaling_backend.autoscaling_groups.get(group_name)
        if group is None:
            raise validation_error(f"AutoScalingGroup name not found - {group_name}")
        return group

    def start_instance_refresh(self: Any) -> Any:
        group = group_of(self)
        now = datetime.now(UTC)
        refresh = {
            "InstanceRefreshId": str(uuid.uuid4()),
            "AutoScalingGroupName": group.name,
            "Status": "Successful",
            "StatusReason": "local AWS: nothing to replace",
            "StartTime": now,
            "EndTime": now,
            "PercentageComplete": 100,
            "InstancesToUpdate": 0,
            "Strategy": self._get_param("Strategy") or "Rolling",
        }
        refreshes = getattr(group, "instance_refreshes", [])
        group.instance_refreshes = [refresh, *refreshes]
        return ActionResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def describe_instance_refreshes(self: Any) -> Any:
        group = group_of(self)
        wanted = set(self._get_param("InstanceRefreshIds", []) or [])
        refreshes = [
            r
            for r in getattr(group, "instance_refreshes", [])
            if not wanted or r["InstanceRefreshId"] in wanted
        ]
        return ActionResult({"InstanceRefreshes": refreshes})

    def cancel_instance_refresh(self: Any) -> Any:
        group = group_of(self)
        raise ActiveInstanceRefreshNotFound(
            f"No in progress or pending Instance Refresh found for Auto Scaling group {group.name}"
        )

    setattr(start_instance_refresh, _PATCHED_MARK, True)
    response_class.start_instance_refresh = start_instance_refresh
    response_class.describe_instance_refreshes = describe_instance_refreshes
    response_class.cancel_instance_refresh = cancel_instance_refresh


MOTO_PATCHES: tuple[Callable[[], None], ...] = (
    patch_describe_policies_shape,
    patch_delete_marker_dispose,
    patch_sqs_redrive_policy_compact,
    patch_launch_template_own_tags,
    patch_asg_default_instance_warmup,
    patch_lifecycle_hook_shape,
    patch_termination_lifecycle_actions,
    patch_instance_refresh,
)


def apply_moto_patches() -> None:
    """Apply every patch (idempotent); raise MotoPatchError naming the first that fails."""
    for patch in MOTO_PATCHES:
        patch()
