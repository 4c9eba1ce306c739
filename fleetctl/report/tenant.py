"""The report's tenant backlog section: the JOIN, the SQL and its index."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path

from fleetctl import code_map
from fleetctl.report.model import TenantBacklogSection
from modules.settings import EnvironmentSettings
from worker_metrics import contract


def tenant_section(
    environment: Mapping[str, str], settings: EnvironmentSettings
) -> TenantBacklogSection | None:
    """The tenant backlog section, once ``worker_metrics.tenant_backlog`` exists."""
    if importlib.util.find_spec("worker_metrics.tenant_backlog") is None:
        return None
    from worker_metrics import tenant_backlog

    configured = settings.publisher.tenant_backlog
    config = tenant_backlog.TenantBacklogConfig.from_env(environment)
    enabled = config is not None or configured is not None
    if config is None:
        # Not in the function's environment: the SQL the schema defaults (or the
        # settings' secret) would give; the secret only switches the source on.
        secret = (
            configured.secret_arn if configured else f"arn:aws:secretsmanager:{settings.region}"
        )
        config = tenant_backlog.TenantBacklogConfig(
            secret_arn=secret,
            top_tenants=configured.top_tenants
            if configured
            else contract.DEFAULT_BACKLOG_TOP_TENANTS,
        )
    schema = config.schema
    join_path = (
        f"{schema.video_table}.{schema.video_session_column} -> "
        f"{schema.session_table}.{schema.session_id_column}, "
        f"{schema.session_table}.{schema.session_lecture_column} -> "
        f"{schema.lecture_table}.{schema.lecture_id_column}, "
        f"{schema.lecture_table}.{schema.lecture_tenant_column} = tenant"
    )
    index = code_map.PROJECT_ROOT / "sql" / "001_video_backlog_indexes.sql"
    return TenantBacklogSection(
        enabled=enabled,
        join_path=join_path,
        metric=contract.VIDEO_BACKLOG_METRIC_NAME,
        dimensions=f"{contract.DIMENSION_NAME}=Video (total); {contract.DIMENSION_NAME}=Video,"
        f"{contract.TENANT_DIMENSION_NAME}=<tenant> (top {config.top_tenants})",
        statuses=", ".join(config.statuses),
        top_tenants=config.top_tenants,
        sql=tenant_backlog.backlog_sql(config),
        index_file=str(index.relative_to(code_map.PROJECT_ROOT)) if index.is_file() else "",
        module=code_map._display(Path(tenant_backlog.__file__).resolve()),
        error_stages=", ".join(contract.BACKLOG_ERROR_STAGES),
    )
