"""Step 6 of the demo: its own checks (scaled out and in, queues drained, the
handler never failed, the dashboard and alarms read back), then ``fleetctl verify``
and ``fleetctl report``."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleetctl.demo.aws import describe_groups
from fleetctl.demo.context import RunContext
from fleetctl.demo.loop import FleetTrace
from fleetctl.demo.operator_view import operator_view_checks
from fleetctl.report.stack import SynthesizedStack
from modules.settings import CONFIG_DIR
from worker_metrics.contract import WorkerType


def own_checks(
    context: RunContext, clients: Mapping[str, Any], traces: Mapping[WorkerType, FleetTrace]
) -> list[tuple[str, bool, str]]:
    """The demo's own checks: every fleet went out and back in, queues drained,
    the handler never failed, the dashboard and the alarms are deployed as synthesized."""
    outputs = context.outputs
    assert outputs is not None
    checks = []
    for worker_type, trace in traces.items():
        fleet = outputs.fleets[worker_type]
        group = describe_groups(clients["autoscaling"], {worker_type: fleet.asg_name})[worker_type]
        ok = trace.peak_desired > group.min_size and trace.final_desired == group.min_size
        checks.append(
            (
                f"{worker_type.value} scaled out and back in",
                ok,
                f"peak {trace.peak_desired}, final {trace.final_desired} (min {group.min_size})",
            )
        )
        left = 0
        for url in fleet.queue_urls:
            attributes = clients["sqs"].get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"]
            left += sum(int(v) for v in attributes.values())
        checks.append(
            (
                f"{worker_type.value} queues drained",
                left == 0,
                f"{trace.completed}/{trace.enqueued} processed, {left} left",
            )
        )
        checks.append(
            (
                f"{worker_type.value} no job killed by scale-in",
                trace.killed == 0,
                f"{trace.killed} killed; {trace.drained} instances drained by their agent, "
                f"{trace.held_busy} of them picked while jobs ran",
            )
        )
    failures = [p for p in context.problems if "handler failed" in p]
    checks.append(
        (
            "handler ran every tick",
            not failures,
            f"{context.ticks} invocations, {len(failures)} failed",
        )
    )
    stack = SynthesizedStack.load(context.synth_dir, context.settings.stack_name)
    checks += operator_view_checks(stack, clients["cloudwatch"])
    return checks


def run_verify(context: RunContext) -> int:
    """``fleetctl verify`` on the simulated window (its ``now`` is the clock's end)."""
    from fleetctl import verify

    args = argparse.Namespace(
        env=context.settings.name,
        region=None,
        minutes=max(5, min(context.ticks, 1440)),
        json=False,
        outputs=context.outputs_file,
        synth_dir=context.synth_dir,
        config_dir=CONFIG_DIR,
    )
    return verify.run(args, now=context.clock_end)


def run_report(context: RunContext, out_dir: Path) -> int:
    """``fleetctl report`` into ``out/report-<env>.md``."""
    from fleetctl import report

    args = argparse.Namespace(
        env=context.settings.name,
        format="md",
        out=out_dir / f"report-{context.settings.name}.md",
        synth_dir=context.synth_dir,
        minutes=30,
        config_dir=CONFIG_DIR,
    )
    return report.run(args)
