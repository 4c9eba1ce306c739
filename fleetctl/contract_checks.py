"""What the metric contract says a deployed publisher emits and reads.

Shared by ``report`` (on synthesized Terraform, where values may be
``${...}`` tokens) and ``verify`` (on the live function's environment). Pure:
no AWS, no cdktf.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker_metrics import contract

# The Lambda's own readers of one variable each (``PublisherConfig.from_env`` needs
# every variable resolved, which a synthesized stack's ``${...}`` queue URLs are not).
from worker_metrics.config import ConfigError, sample_seconds_from_env, tracking_from_env
from worker_metrics.contract import EnvVar, WorkerType

Dimensions = frozenset[tuple[str, str]]
"""A metric's dimensions as ``{(name, value)}``: order does not matter to CloudWatch."""


def dimension_set(pairs: Iterable[tuple[str, str]]) -> Dimensions:
    """``pairs`` as a ``Dimensions`` value."""
    return frozenset((str(name), str(value)) for name, value in pairs)


def show_dimensions(dimensions: Dimensions) -> str:
    """``WorkerType=AI,Stage=read_queue`` (sorted by name), or ``(none)``."""
    return ",".join(f"{name}={value}" for name, value in sorted(dimensions)) or "(none)"


def contract_variable_names() -> frozenset[str]:
    """Every environment variable the contract defines (``EnvVar`` and the per-type names)."""
    fixed = {
        value for name, value in vars(EnvVar).items() if name.isupper() and isinstance(value, str)
    }
    for worker_type in WorkerType:
        fixed.update(EnvVar.per_type_names(worker_type))
    return frozenset(fixed)


def lambda_sample_seconds(environment: Mapping[str, str]) -> int | None:
    """``SAMPLE_SECONDS`` as the Lambda reads it (unset or empty: the contract's
    default), or ``None`` when the Lambda would reject the value."""
    try:
        return sample_seconds_from_env(environment)
    except ConfigError:
        return None


def lambda_activation_backlog(
    environment: Mapping[str, str], worker_type: WorkerType
) -> int | None:
    """``<TYPE>_ACTIVATION_BACKLOG`` as the Lambda reads it (unset: the contract's
    default, 1, for a target-tracked type; always 0 for Video), or ``None`` when the
    Lambda would reject one of that type's tracking variables."""
    try:
        return tracking_from_env(environment, worker_type).activation_backlog
    except ConfigError:
        return None


API_DEFAULT_PERIOD_SECONDS = 60
"""The metric period of a target-tracking policy that sets none."""


def api_policy_period(policy: Mapping[str, Any]) -> int:
    """The period a target-tracking policy (a ``DescribePolicies`` item) reads its
    metric at: its ``CustomizedMetricSpecification.Period``, or the API's default."""
    config = policy.get("TargetTrackingConfiguration") or {}
    spec = config.get("CustomizedMetricSpecification") or {}
    return int(spec.get("Period") or API_DEFAULT_PERIOD_SECONDS)


def period_problem(period: int, sampled: int | None, *, why: bool = False) -> str | None:
    """What goes wrong when a target-tracking policy reads the tracked series every
    ``period`` s while the Lambda samples it every ``sampled`` s (``SAMPLE_SECONDS``);
    ``None`` when they agree or ``sampled`` is unknown. ``why``: also say why the
    periods without a datapoint matter."""
    if sampled is None or period == sampled:
        return None
    if period > sampled:
        return "it reacts later than the samples allow"
    problem = "most of its periods have no datapoint"
    if why:
        problem += ", and target tracking does not act on missing data"
    return problem


METRIC_NAME_VARIABLES: Mapping[str, str] = {
    EnvVar.METRIC_NAMESPACE: contract.DEFAULT_NAMESPACE,
    EnvVar.METRIC_NAME: contract.DEFAULT_METRIC_NAME,
    EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME: contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME,
}
"""The variables that name the published series, with the contract's value."""


def effective(environment: Mapping[str, str], name: str) -> str:
    """The value the Lambda uses: the variable, or the contract's default when unset."""
    return (environment.get(name) or "").strip() or METRIC_NAME_VARIABLES.get(name, "")


def environment_problems(environment: Mapping[str, str]) -> list[str]:
    """Where ``environment`` (the Lambda's variables) disagrees with the contract.

    * a per-type ``<TYPE>_QUEUE_URLS`` / ``<TYPE>_ASG_NAME`` is missing or empty
      (``worker_metrics.config`` would fail every invocation);
    * ``METRIC_NAMESPACE``/``METRIC_NAME``/``BACKLOG_PER_INSTANCE_METRIC_NAME``
      differ from the contract's value (unset means the contract's default);
    * a variable the contract does not define (``AWS_*`` variables, read by the
      SDK, are allowed), which the Lambda would silently ignore.

    Returns one message per problem, naming the variable; empty when it agrees.
    """
    problems: list[str] = []
    for worker_type in WorkerType:
        for name in (EnvVar.queue_urls(worker_type), EnvVar.asg_name(worker_type)):
            if not (environment.get(name) or "").strip():
                problems.append(
                    f"{name} is missing: the contract requires it for {worker_type.value}"
                )
    for name, expected in METRIC_NAME_VARIABLES.items():
        actual = effective(environment, name)
        if actual != expected:
            problems.append(f"{name} = {actual!r}, but the contract says {expected!r}")
    known = contract_variable_names()
    for name in sorted(set(environment) - known):
        if not name.startswith("AWS_"):
            problems.append(
                f"{name} is not a variable of the contract (worker_metrics.contract.EnvVar); "
                "the Lambda ignores it"
            )
    return problems


@dataclass(frozen=True)
class Series:
    """One published CloudWatch series (namespace, metric name, dimensions)."""

    namespace: str
    metric_name: str
    dimensions: Dimensions

    def show(self) -> str:
        return f"{self.namespace} {self.metric_name} {show_dimensions(self.dimensions)}"


@dataclass(frozen=True)
class PublishedSchema:
    """What the Lambda publishes, given its environment and the contract.

    ``worker_types``: the types with queues configured (one datum each per tick).
    ``tenant_backlog``: the optional ``VideoBacklog`` source is on.
    """

    namespace: str
    metric_name: str
    backlog_per_instance_metric_name: str
    worker_types: tuple[WorkerType, ...]
    tenant_backlog: bool

    @classmethod
    def from_environment(
        cls, environment: Mapping[str, str], *, tenant_backlog: bool | None = None
    ) -> PublishedSchema:
        """The schema a function with ``environment`` publishes.

        ``tenant_backlog``: default: on when ``BACKLOG_DB_SECRET_ARN`` is set.
        """
        if tenant_backlog is None:
            tenant_backlog = bool((environment.get(EnvVar.BACKLOG_DB_SECRET_ARN) or "").strip())
        return cls(
            namespace=effective(environment, EnvVar.METRIC_NAMESPACE),
            metric_name=effective(environment, EnvVar.METRIC_NAME),
            backlog_per_instance_metric_name=effective(
                environment, EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME
            ),
            worker_types=tuple(
                t for t in WorkerType if (environment.get(EnvVar.queue_urls(t)) or "").strip()
            ),
            tenant_backlog=tenant_backlog,
        )

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every metric name published, in the contract's order."""
        names = [
            self.metric_name,
            self.backlog_per_instance_metric_name,
            contract.ERROR_METRIC_NAME,
        ]
        if self.tenant_backlog:
            names.append(contract.VIDEO_BACKLOG_METRIC_NAME)
        return tuple(names)

    def emits(self, namespace: str, metric_name: str, dimensions: Dimensions) -> bool:
        """True if a series with exactly these dimensions is published.

        ``PublisherErrors`` (``WorkerType`` + ``Stage``) and the per-tenant
        ``VideoBacklog`` (``WorkerType`` + ``TenantId``) have open second
        dimension values; any value matches.
        """
        if namespace != self.namespace:
            return False
        names = dict(dimensions)
        if len(names) != len(dimensions):
            return False  # the same dimension name twice
        worker = names.get(contract.DIMENSION_NAME)
        if worker not in {t.value for t in self.worker_types}:
            return False
        others = set(names) - {contract.DIMENSION_NAME}
        if metric_name in (self.metric_name, self.backlog_per_instance_metric_name):
            return not others
        if metric_name == contract.ERROR_METRIC_NAME:
            return others == {contract.STAGE_DIMENSION_NAME}
        if self.tenant_backlog and metric_name == contract.VIDEO_BACKLOG_METRIC_NAME:
            return worker == WorkerType.VIDEO.value and others <= {contract.TENANT_DIMENSION_NAME}
        return False

    def tracked_series(self, worker_type: WorkerType) -> Series:
        """The series target tracking must consume for ``worker_type``."""
        return Series(
            self.namespace,
            self.backlog_per_instance_metric_name,
            dimension_set([(contract.DIMENSION_NAME, worker_type.value)]),
        )
