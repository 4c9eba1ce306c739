"""The queue-depth Lambda's environment from the settings, pure (no cdktf import).

``QueueDepthPublisher`` writes it into the function with Terraform references
for the queue URLs and ASG names; the workload simulator (``fleetctl
simulate``) builds it with synthetic names and reads it back with
``worker_metrics.config.PublisherConfig.from_env``, so the simulated Lambda is
configured exactly as the deployed one, and follows every setting that feeds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modules.settings import FleetSettings, PublisherSettings
from worker_metrics import contract
from worker_metrics.contract import WorkerType


def publisher_environment(
    publisher: PublisherSettings,
    fleets: Mapping[WorkerType, FleetSettings],
    *,
    queue_urls: Mapping[WorkerType, Sequence[str]],
    asg_names: Mapping[WorkerType, str],
    namespace: str = contract.DEFAULT_NAMESPACE,
    metric_name: str = contract.DEFAULT_METRIC_NAME,
    backlog_per_instance_metric_name: str = contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
) -> dict[str, str]:
    """The Lambda's environment variables, written by the contract's
    ``lambda_environment`` (the same definition ``worker_metrics.config`` reads).

    ``fleets``: the settings of every worker type. ``queue_urls`` / ``asg_names``:
    per type, in the order of the fleet's queues (Terraform tokens in the stack,
    plain strings in the simulator). Raises ``ValueError`` naming a missing type.
    """
    video = fleets[WorkerType.VIDEO]
    env = contract.lambda_environment(
        queue_urls=queue_urls,
        asg_names=asg_names,
        namespace=namespace,
        metric_name=metric_name,
        backlog_per_instance_metric_name=backlog_per_instance_metric_name,
        video_messages_per_instance=float(video.target_messages_per_instance),
        video_jobs_per_instance=video.jobs_per_instance,
        video_scale_in_step=publisher.video_scale_in_step,
        tracking={t: fleet.tracking for t, fleet in fleets.items()},
        sample_seconds=publisher.sample_seconds,
    )
    tenant = publisher.tenant_backlog
    if tenant is not None:
        # Only the secret's ARN: the credentials stay in Secrets Manager.
        env[contract.EnvVar.BACKLOG_DB_SECRET_ARN] = tenant.secret_arn
        env[contract.EnvVar.BACKLOG_TOP_TENANTS] = str(tenant.top_tenants)
        env[contract.EnvVar.BACKLOG_STATEMENT_TIMEOUT_MS] = str(tenant.statement_timeout_ms)
    return env
