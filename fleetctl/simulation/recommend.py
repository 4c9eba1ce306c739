"""``fleetctl simulate --recommend``: the cheapest target that meets a wait SLO.

An SLO is ``TYPE:METRIC<=LIMIT``, e.g. ``ai:p95_wait<=120s``: METRIC is one of
``p50_wait``, ``p95_wait``, ``p99_wait``, ``max_wait``; LIMIT is seconds (``120``,
``120s``) or minutes (``2min``). The search varies the fleet's
``target_messages_per_instance`` under the ``current`` policy on the chosen
scenario or trace:

1. it starts from AWS's formula, target = acceptable latency / processing time
   per message, i.e. ``LIMIT / (mean_job_seconds / jobs_per_instance)``;
2. it doubles a target that meets the SLO (or halves one that does not) until
   the answer flips, then bisects (geometrically) between the two, at most
   ``MAX_RUNS`` runs in all;
3. it answers with the cheapest target that met the SLO (ties: the lower target).

An SLO that even ``max_size`` instances from the start cannot meet (the
``static`` fleet at the group's maximum) is impossible: one line, exit 2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from fleetctl.simulation.errors import InputError
from fleetctl.simulation.faults import Faults
from fleetctl.simulation.policies import Current, Policy, Static
from fleetctl.simulation.results import FleetResult, render_table
from fleetctl.simulation.run import run_policy, traffic
from fleetctl.simulation.scenarios import Workload
from modules.settings import EnvironmentSettings
from worker_metrics.contract import WorkerType

MAX_RUNS = 14
"""Simulations one search may run (the feasibility check included)."""
LOWEST_TARGET = 0.05
HIGHEST_TARGET = 100_000.0
_SLO = re.compile(
    r"^(?P<type>[A-Za-z]+):(?P<metric>p50_wait|p95_wait|p99_wait|max_wait)\s*<=\s*"
    r"(?P<value>\d+(\.\d+)?)\s*(?P<unit>s|min)?$"
)


class SloError(InputError):
    """A malformed or impossible SLO."""


@dataclass(frozen=True)
class Slo:
    """``metric`` (a ``FleetResult`` field, ``wait_p95``) of ``worker_type`` at most
    ``limit_seconds``."""

    worker_type: WorkerType
    metric: str
    limit_seconds: float
    text: str

    @classmethod
    def parse(cls, text: str) -> Slo:
        """Parse ``ai:p95_wait<=120s``. Raises ``SloError`` naming the problem."""
        match = _SLO.match(text.strip())
        if match is None:
            raise SloError(
                f"--slo {text!r}: expected TYPE:METRIC<=LIMIT like 'ai:p95_wait<=120s' "
                "(METRIC: p50_wait, p95_wait, p99_wait, max_wait; LIMIT in s or min)"
            )
        try:
            worker_type = WorkerType.parse(match["type"])
        except ValueError as error:
            raise SloError(f"--slo {text!r}: {error}") from None
        limit = float(match["value"]) * (60 if match["unit"] == "min" else 1)
        if limit <= 0:
            raise SloError(f"--slo {text!r}: a wait of at most 0 s cannot be met")
        quantile, _ = match["metric"].split("_")
        return cls(worker_type, f"wait_{quantile}", limit, text.strip())

    def value(self, result: FleetResult) -> float:
        return float(getattr(result, self.metric))


@dataclass(frozen=True)
class Candidate:
    """One target tried, and what it gave."""

    target: float
    wait: float
    instance_hours: float
    cost_usd: float | None

    def meets(self, slo: Slo) -> bool:
        return self.wait <= slo.limit_seconds


@dataclass(frozen=True)
class Recommendation:
    """The search's trail and its answer (``best`` is ``None`` if no target met the SLO)."""

    slo: Slo
    start: float
    today: Candidate
    tried: tuple[Candidate, ...]
    best: Candidate | None


def _cost(candidate: Candidate) -> float:
    return candidate.cost_usd if candidate.cost_usd is not None else candidate.instance_hours


def recommend(
    load: Callable[[float | None], EnvironmentSettings],
    workload: Workload,
    slo: Slo,
    seed: int,
    extra_faults: Faults | None = None,
) -> Recommendation:
    """Search ``slo``'s fleet's target. ``load(target)`` is the environment with that
    target set (``None``: as configured). Every run meets the workload's own faults
    plus ``extra_faults`` (the command line's). Raises ``SloError`` for an impossible
    SLO."""
    base = load(None)
    fleet = base.fleet(slo.worker_type)
    jobs = traffic(base, workload, seed)

    def measure(environment: EnvironmentSettings, policy: Policy, target: float) -> Candidate:
        _, results = run_policy(environment, workload, jobs, policy, seed, extra_faults)
        result = results[slo.worker_type]
        return Candidate(target, slo.value(result), result.instance_hours, result.cost_usd)

    best_case = measure(base, Static(fleet.max_size), math.nan)
    if not best_case.meets(slo):
        raise SloError(
            f"--slo {slo.text!r} is impossible on {workload.name}: even {fleet.max_size} "
            f"instances (max_size) from the start give {best_case.wait:g} s"
        )
    today = measure(base, Current(), float(fleet.target_messages_per_instance))
    per_message = fleet.workload.mean_job_seconds / fleet.jobs_per_instance
    start = _clamp(slo.limit_seconds / per_message)
    tried: dict[float, Candidate] = {}

    def attempt(target: float) -> Candidate:
        target = _clamp(float(f"{target:.3g}"))
        if target not in tried:
            tried[target] = measure(load(target), Current(), target)
        return tried[target]

    _search(attempt, start, slo, budget=MAX_RUNS - 2)
    meeting = [c for c in tried.values() if c.meets(slo)]
    best = min(meeting, key=lambda c: (_cost(c), c.target)) if meeting else None
    return Recommendation(
        slo, start, today, tuple(sorted(tried.values(), key=lambda c: c.target)), best
    )


def _clamp(target: float) -> float:
    return min(max(target, LOWEST_TARGET), HIGHEST_TARGET)


def _search(attempt: Callable[[float], Candidate], start: float, slo: Slo, budget: int) -> None:
    """Bracket the largest target that meets ``slo``, then bisect it geometrically."""
    runs = 1
    first = attempt(start)
    good, bad = (start, None) if first.meets(slo) else (None, start)
    while runs < budget and (good is None or bad is None):
        if good is None:
            assert bad is not None
            if bad <= LOWEST_TARGET:
                return
            candidate = _clamp(bad / 2)
            if attempt(candidate).meets(slo):
                good = candidate
            else:
                bad = candidate
        else:
            if good >= HIGHEST_TARGET:
                return
            candidate = _clamp(good * 2)
            if attempt(candidate).meets(slo):
                good = candidate
            else:
                bad = candidate
        runs += 1
    while runs < budget and good is not None and bad is not None and bad / good > 1.1:
        middle = math.sqrt(good * bad)
        if attempt(middle).meets(slo):
            good = middle
        else:
            bad = middle
        runs += 1


def render(recommendation: Recommendation, workload: Workload, environment: str) -> str:
    """The search's trail and its answer, as text."""
    slo = recommendation.slo
    key = slo.worker_type.name.lower()
    unit = slo.metric.replace("wait_", "") + " wait"

    def row(c: Candidate) -> list[str]:
        cost = "n/a" if c.cost_usd is None else f"{c.cost_usd:.2f}"
        verdict = "yes" if c.meets(slo) else "no"
        return [f"{c.target:g}", f"{c.wait:g} s", f"{c.instance_hours:.2f}", cost, verdict]

    lines = [
        f"recommend fleets.{key}.target_messages_per_instance for {slo.text} on "
        f"{workload.name} ({environment}), policy current",
        f"start: AWS's formula, {slo.limit_seconds:g} s / processing time per message "
        f"= {recommendation.start:g}",
        "",
        render_table(
            ["target", unit, "inst-h", "cost $", "meets"], [row(c) for c in recommendation.tried]
        ),
        "",
        f"today: {recommendation.today.target:g} gives {recommendation.today.wait:g} s, "
        f"{recommendation.today.instance_hours:.2f} instance-hours",
    ]
    best = recommendation.best
    if best is None:
        lines.append(
            "no target meets the SLO with target tracking; a larger max_size or a "
            "shorter boot would"
        )
    else:
        cost = "" if best.cost_usd is None else f", ${best.cost_usd:.2f}"
        lines.append(
            f"cheapest that meets it: --set fleets.{key}.target_messages_per_instance="
            f"{best.target:g} ({unit} {best.wait:g} s, {best.instance_hours:.2f} instance-hours"
            f"{cost})"
        )
    return "\n".join(lines)
