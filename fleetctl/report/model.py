"""What the report holds: its rows, its sections and the drift kinds (no logic)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fleetctl.report.cost import PRICES_DATE, SamplingCost

DEFAULT_VERIFY_MINUTES = 30
"""Window of the verification commands (the seed's 30 minutes)."""


class DriftKind(enum.Enum):
    """What disagrees. The value is the short name printed with each mismatch."""

    UNPUBLISHED_METRIC = "unpublished-metric"
    """A policy consumes a namespace, metric or dimension that no publisher emits."""
    WRONG_SERIES = "wrong-series"
    """A policy consumes a published series, but not its own fleet's contract series."""
    UNCONTROLLED_FLEET = "uncontrolled-fleet"
    """A published worker type has neither a scaling policy nor Lambda control."""
    LAMBDA_FLEET_HAS_POLICY = "lambda-fleet-has-policy"
    """A Lambda-controlled fleet (Video) has a scaling policy."""
    ACTIVATION = "activation"
    """A tracked fleet's activation from zero and the Lambda's grant disagree."""
    PERIOD = "period"
    """A policy reads the tracked series at another period than the Lambda samples it
    (``SAMPLE_SECONDS``): faster, most periods have no datapoint; slower, it reacts late."""
    ENVIRONMENT = "environment"
    """The Lambda's environment disagrees with the contract."""
    EMPTY_WIDGET = "empty-widget"
    """A dashboard widget draws nothing (no series, all hidden, an expression over
    undefined ids), or a dashboard body is not readable. A widget's or an alarm's
    series that nobody publishes is an ``unpublished-metric``."""


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    message: str

    def show(self) -> str:
        return f"drift [{self.kind.value}]: {self.message}"


@dataclass(frozen=True)
class MetricRow:
    name: str
    dimensions: str
    unit: str
    meaning: str


@dataclass(frozen=True)
class Consumer:
    """One scaling policy, as the report shows it."""

    name: str
    policy_type: str
    namespace: str
    metric: str
    dimensions: str
    statistic: str
    target: str
    warmup_seconds: str
    disable_scale_in: str
    period: str = "60"


@dataclass(frozen=True)
class FleetRow:
    worker_type: str
    asg_name: str
    asg_address: str
    min_size: str
    max_size: str
    control: str
    policies: tuple[Consumer, ...]
    queues: tuple[str, ...]
    activation: str = "-"
    """How the fleet leaves zero: the Lambda's activation, its Video rule, or nothing."""


@dataclass(frozen=True)
class CallRow:
    action: str
    resources: str
    code: str


@dataclass(frozen=True)
class WidgetRow:
    """One graph of a dashboard and the series it reads."""

    dashboard: str
    title: str
    series: str


@dataclass(frozen=True)
class AlarmRow:
    """One alarm: what it reads, when it fires, and its runbook section."""

    name: str
    reads: str
    condition: str
    runbook: str


@dataclass(frozen=True)
class TenantBacklogSection:
    enabled: bool
    join_path: str
    metric: str
    dimensions: str
    statuses: str
    top_tenants: int
    sql: str
    index_file: str
    module: str
    error_stages: str


@dataclass
class Report:
    """Everything the templates render."""

    env: str
    stack: str
    region: str
    source: str
    contract_file: str
    function_name: str
    handler: str
    handler_file: str
    runtime: str
    namespace: str
    metric_name: str
    backlog_per_instance_metric_name: str
    unit: str
    dimension_name: str
    dimension_values: tuple[str, ...]
    schedule_expression: str
    schedule_rule: str
    metrics: tuple[MetricRow, ...]
    publish_locations: tuple[str, ...]
    datum_locations: tuple[str, ...]
    environment: tuple[tuple[str, str], ...]
    fleets: tuple[FleetRow, ...]
    video_fleets: tuple[FleetRow, ...]
    video_calls: tuple[CallRow, ...]
    tenant_backlog: TenantBacklogSection | None
    verify_minutes: int
    widgets: tuple[WidgetRow, ...] = ()
    alarms: tuple[AlarmRow, ...] = ()
    sample_seconds: int = 60
    cost: SamplingCost | None = None
    cost_comparison: tuple[SamplingCost, ...] = ()
    cost_prices_date: str = PRICES_DATE
    bash_commands: str = ""
    powershell_commands: str = ""
    drift: list[Drift] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
