"""The local, emulated AWS: moto's server on 127.0.0.1, with fixes (``MOTO_PATCHES``).

``make demo`` and the e2e tests deploy the real stack here (NOTES §2). The server
runs as a child process, never in our own interpreter, so it shares none of our
state (no mocked botocore, no global moto backends) and can be killed as a
process group.

Usage::

    with LocalAws.start() as aws:
        subprocess.run(["terraform", "apply"], env={**os.environ, **aws.env()})

The server is stopped on every exit path: the ``with`` block ending normally or
by an exception (including ``KeyboardInterrupt``), SIGTERM to our process (while
inside the ``with`` block), interpreter exit (``atexit``), and our process dying
hard (the child watches its parent and exits on its own).

From the shell::

    python -m fleetctl.local_aws serve [--port N]          # foreground, Ctrl-C stops
    python -m fleetctl.local_aws start --state-file F      # detached (demo --keep)
    eval "$(python -m fleetctl.local_aws env --state-file F)"
    python -m fleetctl.local_aws stop --state-file F

Every socket is on 127.0.0.1: the server binds it only, the readiness probe
bypasses any HTTP proxy, and ``env()`` adds loopback to ``NO_PROXY``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import inspect
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

LOOPBACK = "127.0.0.1"
# The region of config/local.toml; callers pass their environment's region.
DEFAULT_REGION = "ap-northeast-2"
# moto accepts any credentials; "test" is the convention of moto and LocalStack.
DUMMY_CREDENTIAL = "test"
# The project root, so that the child can import fleetctl without an installed package.
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
_MODULE = "fleetctl.local_aws"
# How often the child checks that its parent is still alive (seconds).
_PARENT_POLL_SECONDS = 0.25

log = logging.getLogger(__name__)


class LocalAwsError(RuntimeError):
    """The local AWS could not be started, reached or stopped."""


class MotoPatchError(LocalAwsError):
    """moto no longer has the shape a patch was written for (raised at startup)."""


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
            f"delete the patch in fleetctl/local_aws.py."
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


LIFECYCLE_HOOK_MAX_GLOBAL_TIMEOUT_SECONDS = 172_800
"""AWS: a lifecycle action waits at most min(48 h, 100 x HeartbeatTimeout)."""


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


TERMINATING_TRANSITION = "autoscaling:EC2_INSTANCE_TERMINATING"
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


# --------------------------------------------------------------------------- child


def _watch_parent(parent_pid: int, use_pdeathsig: bool) -> None:
    """Exit when the process that started us is gone, so no server is orphaned.

    PR_SET_PDEATHSIG delivers SIGTERM the moment the parent dies, but Linux ties it
    to the parent *thread* that forked us; the parent asks for it only when it
    started us from its main thread. The getppid() poll covers everything else
    (other platforms, a parent thread that ended, a parent that died before prctl).
    """
    if use_pdeathsig and sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    if os.getppid() != parent_pid:
        raise SystemExit("local AWS: parent exited before the server started")

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_POLL_SECONDS)
        # Raise SystemExit in the main thread, which runs the serve loop's cleanup.
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, name="watch-parent", daemon=True).start()


def _exit_on_signal(signum: int, frame: types.FrameType | None) -> None:
    raise SystemExit(128 + signum)


def serve(
    port: int = 0,
    *,
    parent_pid: int | None = None,
    use_pdeathsig: bool = False,
    announce_fd: int | None = None,
    verbose: bool = False,
) -> None:
    """Run the patched moto server on 127.0.0.1 in this process until a signal.

    ``port`` 0 lets the kernel pick a free port, with no race between choosing and
    binding it. The bound port is written as one line to ``announce_fd`` (the
    starting parent's pipe), or printed when run by hand.
    """
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    if parent_pid is not None:
        _watch_parent(parent_pid, use_pdeathsig)
    apply_moto_patches()
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    server = make_server(LOOPBACK, port, DomainDispatcherApplication(create_backend_app), True)
    # moto builds some URLs (e.g. for Lambda environments) from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(server.port)
    if announce_fd is not None:
        os.write(announce_fd, f"{server.port}\n".encode())
        os.close(announce_fd)
    else:
        print(f"local AWS listening on http://{LOOPBACK}:{server.port} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


# --------------------------------------------------------------------------- parent


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    return env


def _read_announced_port(
    read_fd: int, process: subprocess.Popen[bytes], deadline: float, log_path: Path
) -> int:
    buffer = b""
    while b"\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LocalAwsError(f"local AWS did not bind a port in time; log: {_tail(log_path)}")
        ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(read_fd, 64)
            if not chunk:
                process.wait(timeout=5)
                raise LocalAwsError(
                    f"local AWS exited during startup (code {process.returncode}): "
                    f"{_tail(log_path)}"
                )
            buffer += chunk
    return int(buffer.split(b"\n", 1)[0])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log at {path}: {error})"


def _wait_ready(endpoint: str, deadline: float, is_alive: Callable[[], bool]) -> None:
    # An empty ProxyHandler: an HTTP(S)_PROXY in the environment must not route
    # the probe off the machine.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if not is_alive():
            raise LocalAwsError("local AWS exited while waiting for it to answer")
        try:
            with opener.open(f"{endpoint}/moto-api/config", timeout=1.0) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError) as error:
            last_error = error
        time.sleep(0.05)
    raise LocalAwsError(f"local AWS at {endpoint} did not answer in time: {last_error}")


def _pid_is_local_aws(pid: int) -> bool:
    """True when ``pid`` runs this module, so a recycled pid is never signalled."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        # No /proc (not Linux): fall back to "the pid exists".
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return _MODULE.encode() in cmdline


@dataclass
class LocalAws:
    """A running local AWS. Create it with ``LocalAws.start()`` or ``LocalAws.attach()``.

    ``endpoint``: ``http://127.0.0.1:PORT``. ``region``: the region ``env()`` sets.
    ``pid``: the server process, which is also its process group. ``log_path``:
    the server's output.
    """

    endpoint: str
    region: str
    pid: int
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_log: bool = field(default=False, repr=False)
    _previous_sigterm: Any = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        *,
        region: str = DEFAULT_REGION,
        port: int = 0,
        startup_timeout: float = 30.0,
        die_with_parent: bool = True,
        log_path: Path | None = None,
        verbose: bool = False,
    ) -> Self:
        """Start the server child and wait until it answers on loopback.

        ``port``: default 0, a free port chosen by the kernel. ``startup_timeout``
        (seconds): default 30. ``die_with_parent``: default true; the server exits
        when this process does, and ``stop()`` is registered with ``atexit``. Pass
        false only to leave it running on purpose (``--keep``). ``log_path``:
        default a temporary file, deleted by ``stop()``.

        Raises LocalAwsError (MotoPatchError when a patch no longer fits moto).
        """
        owns_log = log_path is None
        if log_path is None:
            handle, name = tempfile.mkstemp(prefix="local-aws-", suffix=".log")
            os.close(handle)
            log_path = Path(name)
        read_fd, write_fd = os.pipe()
        command = [
            sys.executable,
            "-m",
            _MODULE,
            "serve",
            "--port",
            str(port),
            "--announce-fd",
            str(write_fd),
        ]
        if verbose:
            command.append("--verbose")
        if die_with_parent:
            command += ["--parent-pid", str(os.getpid())]
            if threading.current_thread() is threading.main_thread():
                command.append("--pdeathsig")
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                # Its own session: terminal Ctrl-C reaches only us, we stop it in
                # order, and stop() can kill its whole process group.
                start_new_session=True,
                env=_child_env(),
                cwd=_PROJECT_ROOT,
            )
        os.close(write_fd)
        deadline = time.monotonic() + startup_timeout
        aws: Self | None = None
        try:
            bound_port = _read_announced_port(read_fd, process, deadline, log_path)
            aws = cls(
                endpoint=f"http://{LOOPBACK}:{bound_port}",
                region=region,
                pid=process.pid,
                log_path=log_path,
                _process=process,
                _owns_log=owns_log,
            )
            if die_with_parent:
                atexit.register(aws.stop)
            _wait_ready(aws.endpoint, deadline, lambda: process.poll() is None)
        except BaseException:
            if aws is not None:
                aws.stop()
            else:
                _terminate_group(process.pid, process)
                if owns_log:
                    log_path.unlink(missing_ok=True)
            raise
        finally:
            os.close(read_fd)
        return aws

    @classmethod
    def attach(cls, state_file: Path) -> Self:
        """A handle on a server left running by ``start --state-file``.

        Raises LocalAwsError when the file is missing or its server is gone.
        """
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as error:
            raise LocalAwsError(f"cannot read local AWS state file {state_file}: {error}") from None
        aws = cls(
            endpoint=str(state["endpoint"]),
            region=str(state["region"]),
            pid=int(state["pid"]),
            log_path=Path(state["log_path"]),
        )
        if not aws.is_running():
            raise LocalAwsError(
                f"the local AWS of {state_file} (pid {aws.pid}) is not running; start it again"
            )
        return aws

    def write_state(self, state_file: Path) -> None:
        """Record endpoint, region, pid and log so that ``attach()`` can find us."""
        state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "endpoint": self.endpoint,
            "region": self.region,
            "pid": self.pid,
            "log_path": str(self.log_path),
        }
        state_file.write_text(json.dumps(state, indent=2) + "\n")

    def env(self) -> dict[str, str]:
        """Environment for boto3, the aws CLI and the Terraform aws provider (5.x).

        Dummy credentials, the region, the endpoint for every service, IMDS lookups
        disabled (no credential probe to 169.254.169.254), and loopback added to
        NO_PROXY so that a configured proxy never sees the traffic.
        """
        no_proxy = ",".join(
            p
            for p in (
                os.environ.get("NO_PROXY") or os.environ.get("no_proxy"),
                LOOPBACK,
                "localhost",
            )
            if p
        )
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    def is_running(self) -> bool:
        if self._process is not None:
            return self._process.poll() is None
        return _pid_is_local_aws(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its process group: SIGTERM, then SIGKILL after ``timeout``.

        Idempotent; safe from ``atexit`` and ``finally``.
        """
        with contextlib.suppress(ValueError):
            atexit.unregister(self.stop)
        if self._process is not None:
            if self._process.poll() is None:
                _terminate_group(self.pid, self._process, timeout)
            # else: already exited and reaped; its pid may belong to someone else now.
        elif _pid_is_local_aws(self.pid):
            _terminate_group(self.pid, None, timeout)
        if self._owns_log:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        # SIGTERM's default action ends Python without unwinding, so no finally or
        # atexit would run. Inside the block it raises SystemExit instead, which
        # unwinds through __exit__. Only from the main thread (signal's rule), and
        # only over the default handler (never over the application's own).
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_signal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
                self._previous_sigterm = None


def _terminate_group(
    pid: int, process: subprocess.Popen[bytes] | None, timeout: float = 10.0
) -> None:
    """SIGTERM the process group ``pid``, wait, then SIGKILL it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            # The group leader left and its id was reused by someone else's group.
            return
        if _wait_gone(pid, process, timeout):
            return
    raise LocalAwsError(f"local AWS (pid {pid}) survived SIGKILL")


def _wait_gone(pid: int, process: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    if process is not None:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_is_local_aws(pid):
            return True
        time.sleep(0.05)
    return False


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fleetctl.local_aws",
        description="The local, emulated AWS (moto on 127.0.0.1 with the NOTES §2 fixes).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run in the foreground until Ctrl-C")
    serve_parser.add_argument("--port", type=int, default=0, help="default: a free port")
    serve_parser.add_argument("--verbose", action="store_true", help="log every request")
    # Internal: set by LocalAws.start() for its child.
    serve_parser.add_argument("--announce-fd", type=int, help=argparse.SUPPRESS)
    serve_parser.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)
    serve_parser.add_argument("--pdeathsig", action="store_true", help=argparse.SUPPRESS)
    start_parser = commands.add_parser("start", help="start detached and record it in a file")
    start_parser.add_argument("--state-file", type=Path, required=True)
    start_parser.add_argument("--port", type=int, default=0, help="default: a free port")
    start_parser.add_argument("--region", default=DEFAULT_REGION)
    start_parser.add_argument("--log", type=Path, help="default: next to the state file")
    for name, text in (
        ("env", "print `export` lines for a running local AWS"),
        ("stop", "stop a local AWS started with `start`"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--state-file", type=Path, required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "serve":
            serve(
                args.port,
                parent_pid=args.parent_pid,
                use_pdeathsig=args.pdeathsig,
                announce_fd=args.announce_fd,
                verbose=args.verbose,
            )
        elif args.command == "start":
            log_path = args.log or args.state_file.with_suffix(".log")
            aws = LocalAws.start(
                region=args.region, port=args.port, die_with_parent=False, log_path=log_path
            )
            aws.write_state(args.state_file)
            print(f"local AWS running at {aws.endpoint} (pid {aws.pid}, log {aws.log_path})")
            print(
                "point tools at it: "
                f'eval "$(python -m {_MODULE} env --state-file {args.state_file})"'
            )
        elif args.command == "env":
            for key, value in LocalAws.attach(args.state_file).env().items():
                print(f"export {key}='{value}'")
        elif args.command == "stop":
            try:
                aws = LocalAws.attach(args.state_file)
            except LocalAwsError as error:
                print(f"nothing to stop: {error}", file=sys.stderr)
            else:
                aws.stop()
                print(f"stopped the local AWS at {aws.endpoint} (pid {aws.pid})")
            args.state_file.unlink(missing_ok=True)
    except LocalAwsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except SystemExit as stop:
        # serve() ends by SIGTERM/SIGINT: a normal stop, not an error.
        if args.command == "serve" and stop.code in (128 + signal.SIGTERM, 128 + signal.SIGINT):
            return 0
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
