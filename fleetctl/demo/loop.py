"""Step 5 of the demo: the tick loop, one simulated minute per tick.

Each tick the simulated workers (``fleetctl.demo.workers``: the simulator's
worker model) consume the queues, each instance's drain agent (``fleetctl.demo.drain``:
the real ``worker_agent.core``) answers the termination hook, the handler from the built
zip runs on the tick's scheduled event, and the target-tracking model scales AI
and Messaging from the ``BacklogPerInstance`` datapoint the handler published.
One table row per tick: queue depth, messages in flight and desired/in-service
of each fleet, with a note line for each decision worth reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleetctl.demo.aws import (
    GroupState,
    deployed_policy,
    describe_groups,
    handler_environment,
    read_datapoint,
    scheduled_event,
)
from fleetctl.demo.context import Arrival, RunContext
from fleetctl.demo.drain import DemoDrain
from fleetctl.demo.output import say
from fleetctl.demo.workers import SqsWorkers, StepResult
from fleetctl.local_aws import LocalAws
from fleetctl.simulation.target_tracking import ScalingDecision, TargetTrackingModel
from fleetctl.stack_outputs import StackOutputs
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
    killed: int = 0
    drained: int = 0
    """Instances released by their drain agent (``StepResult.drained``)."""
    held_busy: int = 0
    """Of them, those picked for termination while jobs ran (``StepResult.held_busy``)."""


@dataclass
class LoopState:
    """What the ticks share, built once by ``set_up_loop``.

    ``asg_names``: each fleet's ASG. ``models``: one per target-tracked fleet.
    ``clock_start``: the simulated minute before tick 1 (``clock_start_for``).
    ``last_kind``: the kind of each model's last decision (a note is printed when it
    changes).
    """

    context: RunContext
    outputs: StackOutputs
    autoscaling: Any
    cloudwatch: Any
    asg_names: dict[WorkerType, str]
    simulator: SqsWorkers
    drain: DemoDrain
    models: dict[WorkerType, TargetTrackingModel]
    traces: dict[WorkerType, FleetTrace]
    handler_environment: dict[str, str]
    handler_log: Path
    clock_start: datetime
    last_kind: dict[WorkerType, str] = field(default_factory=dict)


def _reason_kind(reason: str) -> str:
    return reason.split(":", 1)[0]


def run_loop(
    context: RunContext, aws: LocalAws, clients: Mapping[str, Any]
) -> dict[WorkerType, FleetTrace]:
    """Step 5: tick the simulated minute ``context.ticks`` times."""
    loop = set_up_loop(context, aws, clients)
    print_table_header()
    with ZipHandler(
        context.zip_path, loop.handler_environment, log_path=loop.handler_log
    ) as handler:
        groups = describe_groups(loop.autoscaling, loop.asg_names)
        for tick in range(1, context.ticks + 1):
            groups = run_tick(loop, handler, tick, groups)
        context.clock_end = loop.clock_start + timedelta(minutes=context.ticks + 1)
    return loop.traces


# --------------------------------------------------------------------------- set-up


def clock_start_for(now: datetime, ticks: int) -> datetime:
    """The simulated minute before tick 1, chosen so that the last tick is ``now``'s minute.

    Tick ``k`` (1..``ticks``) is ``clock_start + k`` minutes: one scheduled event per
    simulated minute, and the simulated minutes end at the present. The ticks run
    faster than real minutes, so every tick is in the past when its datapoints are
    published: CloudWatch takes them (it accepts up to two weeks back; ``--ticks`` is
    at most 240), and the seed's ``get-metric-statistics --start-time "30 minutes
    ago" --end-time now`` finds them right after the demo. (Starting at the present
    instead would put the later ticks in the future, which CloudWatch accepts up to
    2 h ahead but a query ending now never shows.)
    """
    floored = now.astimezone(UTC).replace(second=0, microsecond=0)
    return floored - timedelta(minutes=ticks)


def set_up_loop(context: RunContext, aws: LocalAws, clients: Mapping[str, Any]) -> LoopState:
    """The models from the deployed policies, the burst in the queues, the handler's
    environment and the simulated clock; prints each."""
    outputs = context.outputs
    assert outputs is not None  # set by deploy()
    autoscaling = clients["autoscaling"]
    asg_names = {t: f.asg_name for t, f in outputs.fleets.items()}
    simulator = SqsWorkers(
        clients["sqs"], {t: f.queue_urls for t, f in outputs.fleets.items()}, context.settings
    )
    models = _deployed_models(autoscaling, outputs, asg_names)
    drain = DemoDrain(autoscaling, context.settings, asg_names)
    say(
        "  drain agents: worker_agent.core on every instance, through each fleet's hook ("
        + ", ".join(f"{t.value} {f.hook_name}" for t, f in drain.fleets.items())
        + ")"
    )
    traces = _enqueue_burst(simulator, context)
    environment = handler_environment(clients["lambda"], outputs.function_name, aws)
    log_path = context.run_dir / "lambda.log"
    clock_start = clock_start_for(datetime.now(UTC), context.ticks)
    say(
        f"  handler: lambda_function.lambda_handler from {context.zip_path.name}, "
        f"{len(environment)} variables from GetFunctionConfiguration + local AWS; log {log_path}"
    )
    say(
        f"  simulated clock: 1 tick = 1 minute, {clock_start + timedelta(minutes=1):%H:%M}Z "
        f"to {clock_start + timedelta(minutes=context.ticks):%H:%M}Z (now)\n"
    )
    return LoopState(
        context=context,
        outputs=outputs,
        autoscaling=autoscaling,
        cloudwatch=clients["cloudwatch"],
        asg_names=asg_names,
        simulator=simulator,
        drain=drain,
        models=models,
        traces=traces,
        handler_environment=environment,
        handler_log=log_path,
        clock_start=clock_start,
    )


def _deployed_models(
    autoscaling: Any, outputs: StackOutputs, asg_names: Mapping[WorkerType, str]
) -> dict[WorkerType, TargetTrackingModel]:
    """A target-tracking model per target-tracked fleet, from its deployed policy."""
    models = {
        t: TargetTrackingModel(
            deployed_policy(autoscaling, asg_names[t], outputs.fleets[t].scaling_policy)
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
    return models


def _enqueue_burst(simulator: SqsWorkers, context: RunContext) -> dict[WorkerType, FleetTrace]:
    """The scenario's burst sent to every fleet's queues; a trace per fleet with it."""
    traces = {t: FleetTrace() for t in WorkerType}
    for worker_type in WorkerType:
        traces[worker_type].enqueued = simulator.enqueue(
            worker_type, context.scenario.per_queue(context.settings, worker_type)
        )
    workers = []
    for worker_type in WorkerType:
        fleet = context.settings.fleet(worker_type)
        workload = fleet.workload
        workers.append(
            f"{worker_type.value} {workload.job_duration} {workload.mean_job_seconds:g} s x "
            f"{fleet.jobs_per_instance} per instance"
        )
    boots = ", ".join(
        f"{t.value} {context.settings.fleet(t).workload.boot_seconds} s" for t in WorkerType
    )
    say(
        "  burst: "
        + ", ".join(f"{t.value} {traces[t].enqueued}" for t in WorkerType)
        + f" messages; jobs: {', '.join(workers)}; boot: {boots}"
    )
    return traces


# --------------------------------------------------------------------------- one tick


def run_tick(
    loop: LoopState, handler: ZipHandler, tick: int, groups: Mapping[WorkerType, GroupState]
) -> dict[WorkerType, GroupState]:
    """Tick ``tick``: the workers take messages from the queues (as many as ``groups``
    have in service), the handler samples the minute, and between its samples the
    scenario's arrivals land and the models scale on each datapoint; prints the row.
    Returns the groups after scaling, which the next tick's workers start from."""
    when = loop.clock_start + timedelta(minutes=tick)
    # The workers run up to the start of this tick's minute (seconds from the clock start),
    # every instance's drain agent polling before and after them.
    steps = loop.simulator.step(
        tick * 60.0,
        {t: g.instance_ids for t, g in groups.items()},
        {t: g.terminating_ids for t, g in groups.items()},
        loop.drain,
    )
    minute = _Minute(loop, tick, when)
    for worker_type, step in steps.items():
        trace = loop.traces[worker_type]
        trace.completed += step.completed
        trace.killed += step.killed
        trace.drained += len(step.drained)
        trace.held_busy += step.held_busy
        if step.drained:
            minute.note(
                when,
                f"{worker_type.value}: drain agent released {len(step.drained)} instance(s) "
                "with no job left (CompleteLifecycleAction CONTINUE)",
            )
    record = _invoke_handler(loop, handler, minute)
    minute.advance(when + timedelta(minutes=1))
    scaled = describe_groups(loop.autoscaling, loop.asg_names)
    _update_traces(loop.traces, scaled)
    samples = record.get("samples") or [{}]
    print_row(tick, when, scaled, steps, samples[0].get("queue_depth") or {}, minute.sorted_notes())
    return scaled


@dataclass
class _Minute:
    """One tick's simulated minute while the handler samples it: the scenario's
    arrivals land at their second, and each model evaluates every datapoint of its
    period as soon as the period is over (at 10 s, six per minute), the models whose
    periods end together reading their groups with one describe."""

    loop: LoopState
    tick: int
    when: datetime
    notes: list[tuple[float, str]] = field(default_factory=list)
    evaluated: dict[WorkerType, datetime] = field(default_factory=dict)
    arrived: set[int] = field(default_factory=set)

    def advance(self, until: datetime) -> None:
        """Move the minute on to ``until``: arrivals up to it, then the models."""
        for index, arrival in enumerate(self.loop.context.scenario.arrivals):
            at = self.when + timedelta(seconds=arrival.second)
            if arrival.tick == self.tick and at <= until and index not in self.arrived:
                self.arrived.add(index)
                self._arrive(arrival, at)
        due: dict[datetime, list[tuple[WorkerType, datetime]]] = {}
        for worker_type, model in self.loop.models.items():
            period = timedelta(seconds=model.policy.period_seconds)
            start = self.evaluated.get(worker_type, self.when)
            while start + period <= until:
                due.setdefault(start + period, []).append((worker_type, start))
                start += period
            self.evaluated[worker_type] = start
        for end in sorted(due):
            self._evaluate(end, due[end])

    def slept(self, _since: datetime, until: datetime) -> None:
        """The handler's loop sleeps until its next sample: the minute moves on."""
        self.advance(until)

    def note(self, at: datetime, text: str) -> None:
        self.notes.append(((at - self.when).total_seconds(), text))

    def sorted_notes(self) -> list[str]:
        return [
            f":{offset:02.0f} {text}" for offset, text in sorted(self.notes, key=lambda n: n[0])
        ]

    def _arrive(self, arrival: Arrival, at: datetime) -> None:
        sent = []
        for worker_type, count in arrival.per_queue.items():
            offset = (at - self.loop.clock_start).total_seconds()
            total = self.loop.simulator.enqueue(worker_type, count, at=offset)
            self.loop.traces[worker_type].enqueued += total
            sent.append(f"{total} {worker_type.value}")
        self.note(at, f"{', '.join(sent)} messages arrive")

    def _evaluate(self, end: datetime, periods: list[tuple[WorkerType, datetime]]) -> None:
        """At ``end``, each fleet's model on its datapoint of ``[start, end)`` (one
        ``periods`` entry per fleet), its desired capacity set on the group; a note when
        it changes something or its kind. One DescribeAutoScalingGroups for them all."""
        loop = self.loop
        groups = describe_groups(
            loop.autoscaling,
            {worker_type: loop.asg_names[worker_type] for worker_type, _ in periods},
        )
        for worker_type, start in periods:
            model = loop.models[worker_type]
            metric = read_datapoint(
                loop.cloudwatch,
                loop.outputs.metric_namespace,
                loop.outputs.backlog_per_instance_metric_name,
                worker_type,
                start,
                int((end - start).total_seconds()),
            )
            decision: ScalingDecision = model.evaluate(
                (end - loop.clock_start).total_seconds(), metric, groups[worker_type].desired
            )
            if decision.desired is not None:
                loop.autoscaling.set_desired_capacity(
                    AutoScalingGroupName=loop.asg_names[worker_type],
                    DesiredCapacity=decision.desired,
                    HonorCooldown=False,
                )
            kind = _reason_kind(decision.reason)
            if decision.changed or kind != loop.last_kind.get(worker_type):
                self.note(end, f"{worker_type.value}: {decision.reason}")
            loop.last_kind[worker_type] = kind


def _invoke_handler(loop: LoopState, handler: ZipHandler, minute: _Minute) -> Mapping[str, Any]:
    """The handler on the scheduled event of the minute, the minute moving on while
    it sleeps between samples: its record, and notes for a failure (also a problem
    of the run) and for each sample's Video action, at the sample's second."""
    outputs = loop.outputs
    event = scheduled_event(minute.when, outputs.region, outputs.schedule_rule_name)
    invocation = handler.invoke(event, on_sleep=minute.slept)
    record = invocation.result or {}
    if not invocation.ok:
        loop.context.problems.append(f"tick {minute.tick}: the handler failed: {invocation.error}")
        minute.note(minute.when, f"handler FAILED: {invocation.error}")
    for sample in record.get("samples") or []:
        at = datetime.fromisoformat(sample["timestamp"])
        video = sample.get("video") or {}
        if video.get("action") not in (None, "unchanged", "skipped"):
            minute.note(at, f"Video: Lambda {video['action']}: {video.get('reason', '')}")
        # A tracked fleet the Lambda started from zero (the record lists only those).
        for name, started in (sample.get("activation") or {}).items():
            minute.note(at, f"{name}: Lambda {started.get('reason', '')}")
    return record


def _update_traces(
    traces: Mapping[WorkerType, FleetTrace], groups: Mapping[WorkerType, GroupState]
) -> None:
    """Count a scale-out or scale-in against the last tick, and keep peak and final."""
    for worker_type in WorkerType:
        group, trace = groups[worker_type], traces[worker_type]
        previous = trace.final_desired
        if group.desired > previous:
            trace.scale_outs += 1
        elif group.desired < previous:
            trace.scale_ins += 1
        trace.peak_desired = max(trace.peak_desired, group.desired)
        trace.final_desired, trace.final_in_service = group.desired, group.in_service


# --------------------------------------------------------------------------- the table


def print_table_header() -> None:
    say("  tick  time  " + "".join(f"| {t.value:<19}" for t in WorkerType))
    say("              " + "| depth  fly  des/in  " * len(WorkerType))


def print_row(
    tick: int,
    when: datetime,
    groups: Mapping[WorkerType, GroupState],
    steps: Mapping[WorkerType, StepResult],
    depth: Mapping[str, Any],
    notes: list[str],
) -> None:
    """One tick's row: per fleet the published queue depth, the messages in flight
    and desired/in-service after scaling; then the tick's notes."""
    cells = [
        f"| {depth.get(t.value, '-')!s:>5} {steps[t].in_flight:>4}"
        f"  {groups[t].desired:>2}/{groups[t].in_service:<2}  "
        for t in WorkerType
    ]
    say(f"  {tick:>4}  {when:%H:%M} " + "".join(cells))
    for note in notes:
        say(f"               ↳ {note}")
