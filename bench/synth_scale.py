"""Scale case: synth time of a generated stack with many fleets, and its validation.

Settings allow one fleet per ``WorkerType``, so the stack is built here
directly from the constructs: for fleet ``i``, ``QUEUES_PER_FLEET`` (4)
``WorkerQueue``s, a ``WorkerFleet`` whose settings are the ``local``
environment's fleet of the ``i``-th worker type in turn (AI, Video, Messaging,
AI, ...) with those queues, and a ``BacklogTargetTracking`` for the AI and
Messaging fleets; names are made unique with the prefix ``scale-fNN``. One
``TerraformStack`` with the provider of ``modules/provider.py``; local state.

Each synth is its own process (fresh jsii runtime). Two times per run: the
process wall time, and inside it build + ``app.synth()`` (without the import
and jsii start-up, which do not depend on the size). Linearity: a least-squares
line through (fleets, build + synth median) gives the time per fleet and R²;
the marginal time per fleet of the largest step is compared with the smallest
step's. The 50-fleet / 200-queue output is then checked with ``terraform init
-backend=false`` + ``terraform validate``, and its resources counted.

Usage: python bench/synth_scale.py [--runs 5] [--sizes 5 10 25 50] [--json PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _measure import (
    ROOT,
    VENV_PYTHON,
    log,
    machine,
    run_checked,
    stats,
    stats_dict,
    toolchain_env,
    write_json,
)

QUEUES_PER_FLEET = 4
STACK = "workers-scale"
DEFAULT_SIZES = (5, 10, 25, 50)
GOAL_LINEARITY = 1.5
"""Largest-step marginal time per fleet at most 1.5x the smallest step's."""


def build_and_synth(fleets: int, outdir: Path) -> dict[str, float]:
    """In this process: build the ``fleets``-fleet stack and synthesize it to ``outdir``."""
    started = time.perf_counter()
    sys.path[:0] = [str(ROOT), str(ROOT / "lambda" / "queue_depth")]
    from cdktf import App, TerraformStack

    from modules.backlog_target_tracking import BacklogTargetTracking
    from modules.provider import aws_provider
    from modules.settings import QueueSettings, load_environment
    from modules.worker_fleet import WorkerFleet
    from modules.worker_queue import WorkerQueue
    from worker_metrics.contract import TARGET_TRACKED_TYPES

    imported = time.perf_counter()
    env = load_environment("local")
    templates = list(env.fleets)
    app = App(outdir=str(outdir))
    stack = TerraformStack(app, STACK)
    aws_provider(stack, env)
    for index in range(fleets):
        prefix = f"scale-f{index:02d}"
        queues = [
            WorkerQueue(
                stack,
                f"f{index:02d}-queue-{number}",
                settings=QueueSettings(name=f"{prefix}-queue-{number}"),
            )
            for number in range(QUEUES_PER_FLEET)
        ]
        settings = dataclasses.replace(
            templates[index % len(templates)], queues=tuple(q.settings for q in queues)
        )
        fleet = WorkerFleet(
            stack,
            f"f{index:02d}-fleet",
            settings=settings,
            queues=queues,
            name_prefix=prefix,
            region=env.region,
            tags=env.tags,
        )
        if fleet.worker_type in TARGET_TRACKED_TYPES:
            BacklogTargetTracking(stack, f"f{index:02d}-target-tracking", fleet=fleet)
    built = time.perf_counter()
    app.synth()
    done = time.perf_counter()
    return {
        "import_s": imported - started,
        "build_s": built - imported,
        "synth_s": done - built,
        "build_and_synth_s": done - imported,
    }


def _fit(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares ``y = slope * x + intercept``; returns slope, intercept, R²."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in points)
    ss_tot = sum((y - mean_y) ** 2 for _, y in points)
    return slope, intercept, 1 - ss_res / ss_tot if ss_tot else 1.0


def _resource_counts(stack_json: Path) -> dict[str, int]:
    document = json.loads(stack_json.read_text())
    return {kind: len(items) for kind, items in sorted(document.get("resource", {}).items())}


def _validate(directory: Path) -> dict[str, Any]:
    env = toolchain_env()
    init = run_checked(
        ["terraform", f"-chdir={directory}", "init", "-backend=false", "-input=false", "-no-color"],
        env=env,
        what="terraform init",
    )
    validate = run_checked(
        ["terraform", f"-chdir={directory}", "validate", "-json", "-no-color"],
        env=env,
        what="terraform validate",
    )
    report = json.loads(validate.output[validate.output.index("{") :])
    return {
        "valid": bool(report["valid"]),
        "errors": report["error_count"],
        "warnings": report["warning_count"],
        "init_s": init.wall_s,
        "validate_s": validate.wall_s,
    }


def measure(sizes: list[int], runs: int) -> dict[str, Any]:
    per_size: dict[int, dict[str, list[float]]] = {
        size: {"wall_s": [], "build_and_synth_s": [], "peak_rss_mb": []} for size in sizes
    }
    largest = max(sizes)
    result: dict[str, Any] = {"benchmark": "synth_scale", "runs": runs}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for index in range(runs):
            for size in sizes:  # sizes interleaved, so machine load hits each alike
                outdir = Path(tmp) / f"{size}-{index}"
                report = Path(tmp) / f"{size}-{index}.json"
                run = run_checked(
                    [str(VENV_PYTHON), __file__, "--child", str(size), str(outdir), str(report)],
                    env=toolchain_env(),
                    what=f"synth of {size} fleets",
                )
                timings = json.loads(report.read_text())
                per_size[size]["wall_s"].append(run.wall_s)
                per_size[size]["peak_rss_mb"].append(run.peak_rss_mb)
                per_size[size]["build_and_synth_s"].append(timings["build_and_synth_s"])
                log(
                    f"scale {size} fleets #{index + 1}: {run.wall_s:.2f} s wall,"
                    f" {timings['build_and_synth_s']:.2f} s build+synth, {run.peak_rss_mb:.0f} MB"
                )
        stack_dir = Path(tmp) / f"{largest}-0" / "stacks" / STACK
        counts = _resource_counts(stack_dir / "cdk.tf.json")
        log(f"terraform validate of the {largest}-fleet stack")
        result["validate_largest"] = _validate(stack_dir)
    medians = {size: stats(v["build_and_synth_s"]).median for size, v in per_size.items()}
    slope, intercept, r_squared = _fit([(float(s), m) for s, m in medians.items()])
    ordered = sorted(medians)
    first_step = (medians[ordered[1]] - medians[ordered[0]]) / (ordered[1] - ordered[0])
    last_step = (medians[ordered[-1]] - medians[ordered[-2]]) / (ordered[-1] - ordered[-2])
    result.update(
        {
            "queues_per_fleet": QUEUES_PER_FLEET,
            "sizes": {
                str(size): {key: stats_dict(values) for key, values in v.items()}
                for size, v in per_size.items()
            },
            "largest": {
                "fleets": largest,
                "queues": largest * QUEUES_PER_FLEET,
                "asgs": counts.get("aws_autoscaling_group", 0),
                "sqs_queues_incl_dlq": counts.get("aws_sqs_queue", 0),
                "scaling_policies": counts.get("aws_autoscaling_policy", 0),
                "resources": sum(counts.values()),
            },
            "fit": {
                "seconds_per_fleet": round(slope, 4),
                "intercept_s": round(intercept, 3),
                "r_squared": round(r_squared, 4),
                "marginal_s_per_fleet_first_step": round(first_step, 4),
                "marginal_s_per_fleet_last_step": round(last_step, 4),
                "last_over_first_step": round(last_step / first_step, 2),
            },
        }
    )
    result["goals"] = {
        "validates": result["validate_largest"]["valid"],
        "linear": last_step / first_step <= GOAL_LINEARITY,
    }
    return result


def markdown(result: dict[str, Any]) -> str:
    def text(values: dict[str, float], unit: str, digits: int = 2) -> str:
        return (
            f"{values['median']:.{digits}f} {unit} "
            f"({values['min']:.{digits}f}-{values['max']:.{digits}f})"
        )

    lines = [
        f"Generated stack: N fleets x {result['queues_per_fleet']} queues, {result['runs']} runs"
        " per size (one process each), median (min-max).",
        "",
        "| Fleets | Queues | Process wall | Build + synth | Build + synth per fleet | Peak RSS |",
        "|---|---|---|---|---|---|",
    ]
    for size, values in result["sizes"].items():
        fleets = int(size)
        per_fleet = values["build_and_synth_s"]["median"] / fleets
        lines.append(
            f"| {fleets} | {fleets * result['queues_per_fleet']} | {text(values['wall_s'], 's')} |"
            f" {text(values['build_and_synth_s'], 's')} | {per_fleet * 1000:.0f} ms |"
            f" {text(values['peak_rss_mb'], 'MB', 0)} |"
        )
    fit, largest, valid = result["fit"], result["largest"], result["validate_largest"]
    lines += [
        "",
        f"Linear fit of build + synth: {fit['seconds_per_fleet'] * 1000:.0f} ms per fleet"
        f" + {fit['intercept_s']:.2f} s, R² = {fit['r_squared']:.4f}. Marginal time per fleet,"
        f" smallest step {fit['marginal_s_per_fleet_first_step'] * 1000:.0f} ms, largest step"
        f" {fit['marginal_s_per_fleet_last_step'] * 1000:.0f} ms"
        f" (ratio {fit['last_over_first_step']:.2f}).",
        "",
        f"{largest['fleets']}-fleet stack: {largest['resources']} resources"
        f" ({largest['asgs']} ASGs, {largest['sqs_queues_incl_dlq']} SQS queues incl. DLQs,"
        f" {largest['scaling_policies']} scaling policies); `terraform validate`:"
        f" {'valid' if valid['valid'] else 'INVALID'} ({valid['errors']} errors,"
        f" {valid['warnings']} warnings; init {valid['init_s']:.1f} s,"
        f" validate {valid['validate_s']:.1f} s).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--child"]:
        _, fleets, outdir, report = args_list
        timings = build_and_synth(int(fleets), Path(outdir))
        Path(report).write_text(json.dumps(timings))
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="synths per size (>= 5)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(args_list)
    if args.runs < 5:
        parser.error("--runs must be at least 5")
    if len(set(args.sizes)) < 3:
        parser.error("--sizes needs at least 3 different sizes for a linearity check")
    result = {"machine": machine(), **measure(sorted(set(args.sizes)), args.runs)}
    print(markdown(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
