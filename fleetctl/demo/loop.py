"""Step 5 of the demo: the tick loop, one simulated minute per tick.

Each tick the simulated workers consume the queues, the handler from the built
zip runs on the tick's scheduled event, and the target-tracking model scales AI
and Messaging from the ``BacklogPerInstance`` datapoint the handler published.
One table row per tick: queue depth, messages in flight and desired/in-service
of each fleet, with a note line for each decision worth reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetctl.demo.aws import (
    deployed_policy,
    describe_groups,
    handler_environment,
    read_datapoint,
    scheduled_event,
)
from fleetctl.demo.context import RunContext
from fleetctl.demo.output import say
from fleetctl.local_aws import LocalAws
from fleetctl.simulation.target_tracking import ScalingDecision, TargetTrackingModel
from fleetctl.worker_simulator import SimulatedFleet, WorkerSimulator
from fleetctl.zip_handler import ZipHandler
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType


@dataclass
class FleetTrace:
    """Per-fleet totals for the summary."""

    peak_desired: int = 0
    final_desired: int = 0
    final_in_service: int = 0
    enqueued: int = 0
    completed: int = 0
    scale_outs: int = 0
    scale_ins: int = 0


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def run_loop(
    context: RunContext, aws: LocalAws, clients: Mapping[str, Any]
) -> dict[WorkerType, FleetTrace]:
    """Step 5: tick the simulated minute ``context.ticks`` times."""
    outputs = context.outputs
    assert outputs is not None  # set by deploy()
    autoscaling, cloudwatch = clients["autoscaling"], clients["cloudwatch"]
    names = {t: f.asg_name for t, f in outputs.fleets.items()}
    scenario = context.scenario
    simulator = WorkerSimulator(
        clients["sqs"],
        {
            t: SimulatedFleet(t, f.queue_urls, scenario.messages_per_instance[t])
            for t, f in outputs.fleets.items()
        },
    )
    models = {
        t: TargetTrackingModel(
            deployed_policy(autoscaling, names[t], outputs.fleets[t].scaling_policy)
        )
        for t in TARGET_TRACKED_TYPES
    }
    for worker_type, model in models.items():
        policy = model.policy
        say(
            f"  model {worker_type.value}: {outputs.backlog_per_instance_metric_name} target "
            f"{policy.target_value:g}, warmup {policy.instance_warmup_seconds:g} s, "
            f"size {policy.min_size}..{policy.max_size}"
        )
    traces = {t: FleetTrace() for t in WorkerType}
    for worker_type in WorkerType:
        traces[worker_type].enqueued = simulator.enqueue(
            worker_type, scenario.burst_per_queue[worker_type]
        )
    say(
        "  burst: "
        + ", ".join(f"{t.value} {traces[t].enqueued}" for t in WorkerType)
        + " messages; workers take "
        + ", ".join(f"{t.value} {scenario.messages_per_instance[t]}" for t in WorkerType)
        + " per instance per minute"
    )
    environment = handler_environment(clients["lambda"], outputs.function_name, aws)
    log_path = context.run_dir / "lambda.log"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    clock_start = now - timedelta(minutes=context.clock_offset_minutes)
    say(
        f"  handler: lambda_function.lambda_handler from {context.zip_path.name}, "
        f"{len(environment)} variables from GetFunctionConfiguration + local AWS; log {log_path}"
    )
    say(f"  simulated clock: 1 tick = 1 minute from {clock_start:%H:%M}Z\n")
    header = "  tick  time  " + "".join(f"| {t.value:<19}" for t in WorkerType)
    say(header)
    say("              " + "| depth  fly  des/in  " * len(WorkerType))
    last_kind: dict[WorkerType, str] = {}
    with ZipHandler(context.zip_path, environment, log_path=log_path) as handler:
        groups = describe_groups(autoscaling, names)
        for tick in range(1, context.ticks + 1):
            when = clock_start + timedelta(minutes=tick)
            steps = simulator.step({t: g.in_service for t, g in groups.items()})
            for worker_type, step in steps.items():
                traces[worker_type].completed += step.completed
            invocation = handler.invoke(
                scheduled_event(when, outputs.region, outputs.schedule_rule_name)
            )
            record = invocation.result or {}
            notes: list[str] = []
            if not invocation.ok:
                context.problems.append(f"tick {tick}: the handler failed: {invocation.error}")
                notes.append(f"handler FAILED: {invocation.error}")
            video = record.get("video") or {}
            if video.get("action") not in (None, "unchanged", "skipped"):
                notes.append(f"Video: Lambda {video['action']}: {video.get('reason', '')}")
            groups = describe_groups(autoscaling, names)
            for worker_type, model in models.items():
                metric = read_datapoint(
                    cloudwatch,
                    outputs.metric_namespace,
                    outputs.backlog_per_instance_metric_name,
                    worker_type,
                    when,
                )
                decision: ScalingDecision = model.evaluate(
                    tick * 60.0, metric, groups[worker_type].in_service
                )
                if decision.desired is not None:
                    autoscaling.set_desired_capacity(
                        AutoScalingGroupName=names[worker_type],
                        DesiredCapacity=decision.desired,
                        HonorCooldown=False,
                    )
                if decision.changed or _reason_kind(decision.reason) != last_kind.get(worker_type):
                    notes.append(f"{worker_type.value}: {decision.reason}")
                last_kind[worker_type] = _reason_kind(decision.reason)
            groups = describe_groups(autoscaling, names)
            depth = record.get("queue_depth") or {}
            cells = []
            for worker_type in WorkerType:
                group, trace = groups[worker_type], traces[worker_type]
                previous = trace.final_desired
                if group.desired > previous:
                    trace.scale_outs += 1
                elif group.desired < previous:
                    trace.scale_ins += 1
                trace.peak_desired = max(trace.peak_desired, group.desired)
                trace.final_desired, trace.final_in_service = group.desired, group.in_service
                cells.append(
                    f"| {depth.get(worker_type.value, '-')!s:>5} {steps[worker_type].in_flight:>4}"
                    f"  {group.desired:>2}/{group.in_service:<2}  "
                )
            say(f"  {tick:>4}  {when:%H:%M} " + "".join(cells))
            for note in notes:
                say(f"               ↳ {note}")
        context.clock_end = clock_start + timedelta(minutes=context.ticks + 1)
    return traces
