"""The CLI surface: help with examples, ``python -m fleetctl``, the subcommand
registry, stack outputs parsing and the gap arithmetic of check 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetctl import cli
from fleetctl.stack_outputs import StackOutputs, StackOutputsError, read_outputs_file
from fleetctl.verify import largest_gap
from worker_metrics.contract import WorkerType

ROOT = Path(__file__).resolve().parents[2]
FLAT = {
    "region": "ap-northeast-2",
    "metric_namespace": "Academy/Workers",
    "metric_name": "QueueDepth",
    "backlog_per_instance_metric_name": "BacklogPerInstance",
    "function_name": "academy-prod-queue-depth",
    "schedule_rule_name": "academy-prod-queue-depth",
    "log_group_name": "/aws/lambda/academy-prod-queue-depth",
    "fleets": {
        t.value: {
            "asg_name": f"asg-{t.value}",
            "queue_urls": [f"url-{t.value}"],
            "scaling_policy": "",
        }
        for t in WorkerType
    },
}


@pytest.mark.parametrize("command", sorted(cli.SUBCOMMANDS))
def test_every_subcommand_help_has_examples(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a registered subcommand
    # WHEN its --help is printed
    with pytest.raises(SystemExit) as stop:
        cli.main([command, "--help"])

    # THEN it exits 0 and shows examples that use it
    out = capsys.readouterr().out
    assert stop.value.code == 0
    assert "examples:" in out
    # (a command with actions, like `trace pull`, puts its action first)
    assert re.search(rf"fleetctl {command} (\w+ )?--env ", out)


def test_python_dash_m_fleetctl_runs_the_cli() -> None:
    # GIVEN / WHEN `python -m fleetctl --help` runs in a fresh interpreter
    result = subprocess.run(
        [sys.executable, "-m", "fleetctl", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    # THEN it lists the subcommands
    assert result.returncode == 0, result.stderr
    assert "report" in result.stdout and "verify" in result.stdout


def test_subcommands_implement_the_registration_interface() -> None:
    # GIVEN the registry the demo subcommand will be added to
    # WHEN each module is loaded
    # THEN it has the documented interface
    for module_name in cli.SUBCOMMANDS.values():
        module = cli._load(module_name)
        assert callable(module.add_arguments) and callable(module.run)
        assert module.HELP and module.EPILOG


@pytest.mark.parametrize(
    "shape",
    [
        FLAT,
        {k: {"sensitive": False, "type": "string", "value": v} for k, v in FLAT.items()},
        {"workers-prod": FLAT},
    ],
    ids=["flat", "terraform-output-json", "cdktf-outputs-file"],
)
def test_stack_outputs_accept_each_shape(shape: dict[str, object], tmp_path: Path) -> None:
    # GIVEN outputs in one of the three shapes
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(shape))

    # WHEN they are read for workers-prod
    outputs = read_outputs_file(path, "workers-prod")

    # THEN the names are the same
    assert outputs.function_name == "academy-prod-queue-depth"
    assert outputs.fleets[WorkerType.VIDEO].asg_name == "asg-Video"
    assert outputs.fleets[WorkerType.AI].queue_urls == ("url-AI",)


def test_stack_outputs_name_what_is_missing() -> None:
    # GIVEN outputs without the function name and without Video
    raw = {k: v for k, v in FLAT.items() if k != "function_name"}

    # WHEN / THEN parsing names the missing output
    with pytest.raises(StackOutputsError, match="stack outputs lack function_name"):
        StackOutputs.from_mapping(raw)
    fleets = {k: v for k, v in FLAT["fleets"].items() if k != "Video"}  # type: ignore[attr-defined]
    with pytest.raises(StackOutputsError, match="output fleets has no entry for Video"):
        StackOutputs.from_mapping({**FLAT, "fleets": fleets})


@pytest.mark.parametrize(
    ("minutes_present", "expected_gap"),
    [
        (list(range(30)), 0),
        ([m for m in range(30) if m not in (10, 11)], 2),
        ([m for m in range(30) if m not in (10, 11, 12)], 3),
        (list(range(4, 30)), 3),  # nothing for the last 4 minutes: the publisher stopped
    ],
)
def test_largest_gap_counts_missing_minutes(minutes_present: list[int], expected_gap: int) -> None:
    # GIVEN one datum per present minute before `end` (the window's end, mid-minute)
    end = datetime(2025, 2, 21, 5, 0, 30, tzinfo=UTC)
    minute = end.replace(second=0)
    stamps = sorted(minute - timedelta(minutes=m) for m in minutes_present)

    # WHEN / THEN the longest run of missing periods is counted
    assert largest_gap(stamps, end) == expected_gap
