"""The local, emulated AWS: moto's server on 127.0.0.1, with fixes (``moto_patches``).

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

Modules: ``server`` (the child process and ``LocalAws``), ``moto_patches`` (the
fixes, applied in the child), ``cli`` (the commands above), ``errors``.
"""

from fleetctl.local_aws.errors import LocalAwsError, MotoPatchError
from fleetctl.local_aws.moto_patches import (
    LIFECYCLE_HOOK_MAX_GLOBAL_TIMEOUT_SECONDS,
    MOTO_PATCHES,
    TERMINATING_TRANSITION,
    TERMINATING_WAIT,
    apply_moto_patches,
    patch_asg_default_instance_warmup,
    patch_delete_marker_dispose,
    patch_describe_policies_shape,
    patch_instance_refresh,
    patch_launch_template_own_tags,
    patch_lifecycle_hook_shape,
    patch_sqs_redrive_policy_compact,
    patch_termination_lifecycle_actions,
)
from fleetctl.local_aws.server import DEFAULT_REGION, DUMMY_CREDENTIAL, LOOPBACK, LocalAws

__all__ = [
    "DEFAULT_REGION",
    "DUMMY_CREDENTIAL",
    "LIFECYCLE_HOOK_MAX_GLOBAL_TIMEOUT_SECONDS",
    "LOOPBACK",
    "MOTO_PATCHES",
    "TERMINATING_TRANSITION",
    "TERMINATING_WAIT",
    "LocalAws",
    "LocalAwsError",
    "MotoPatchError",
    "apply_moto_patches",
    "patch_asg_default_instance_warmup",
    "patch_delete_marker_dispose",
    "patch_describe_policies_shape",
    "patch_instance_refresh",
    "patch_launch_template_own_tags",
    "patch_lifecycle_hook_shape",
    "patch_sqs_redrive_policy_compact",
    "patch_termination_lifecycle_actions",
]
