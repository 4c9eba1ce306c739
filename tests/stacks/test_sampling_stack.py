"""Synth tests of the sampling period: the Lambda's environment, the policies'
``period``, the alarms' periods and the timeout follow ``publisher.sample_seconds``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from modules.settings import available_environments, load_environment
from tests.conftest import Synthesized
from worker_metrics import contract
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType

pytestmark = pytest.mark.synth


def _resources(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(kind, {}).values())


def _specs(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    specs = {}
    for policy in _resources(doc, "aws_autoscaling_policy"):
        spec = policy["target_tracking_configuration"]["customized_metric_specification"]
        specs[spec["metric_dimension"][0]["value"]] = spec
    return specs


def _alarms(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["alarm_name"]: a for a in _resources(doc, "aws_cloudwatch_metric_alarm")}


def _synth(env: str, **publisher: Any) -> dict[str, Any]:
    """The worker stack of ``env`` with its publisher settings changed, built in-process."""
    from cdktf import App, Testing

    from modules.worker_stack import WorkerAutoscalingStack
    from tests.conftest import ROOT

    settings = load_environment(env)
    changed = dataclasses.replace(
        settings, publisher=dataclasses.replace(settings.publisher, **publisher)
    )
    stack = WorkerAutoscalingStack(
        App(), settings=changed, lambda_zip=ROOT / "dist" / "queue_depth_lambda.zip"
    )
    return dict(json.loads(Testing.synth(stack)))


@pytest.mark.parametrize("env", available_environments())
def test_every_environment_samples_every_10_seconds_end_to_end(
    synthesized: Synthesized, env: str
) -> None:
    # GIVEN the synthesized stack with the default sampling
    doc = synthesized.json(f"workers-{env}")
    prefix = load_environment(env).name_prefix
    (function,) = _resources(doc, "aws_lambda_function")
    # THEN the Lambda samples every 10 s, with a timeout that fits the minute's samples
    assert function["environment"]["variables"][contract.EnvVar.SAMPLE_SECONDS] == "10"
    assert function["timeout"] == 55 and function["reserved_concurrent_executions"] == 1
    # AND the schedule still fires once a minute
    (rule,) = _resources(doc, "aws_cloudwatch_event_rule")
    assert rule["schedule_expression"] == "rate(1 minute)"
    # AND both policies read BacklogPerInstance at a 10 s period
    assert {t: s.get("period") for t, s in _specs(doc).items()} == {
        t.value: 10 for t in TARGET_TRACKED_TYPES
    }
    alarms = _alarms(doc)
    # AND the tracked series' missing-data alarms use that period: 15 of 30 in 5 minutes
    for worker_type in TARGET_TRACKED_TYPES:
        alarm = alarms[f"{prefix}-queue-depth-tracked-missing-{worker_type.name.lower()}"]
        assert alarm["metric_name"] == contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME
        assert alarm["dimensions"] == {contract.DIMENSION_NAME: worker_type.value}
        assert (alarm["period"], alarm["evaluation_periods"], alarm["datapoints_to_alarm"]) == (
            10,
            30,
            15,
        )
        assert (alarm["statistic"], alarm["treat_missing_data"]) == ("SampleCount", "breaching")
    assert f"{prefix}-queue-depth-tracked-missing-video" not in alarms
    # AND QueueDepth's, one datum a minute, keep 60 s
    for worker_type in WorkerType:
        assert alarms[f"{prefix}-queue-depth-missing-{worker_type.name.lower()}"]["period"] == 60


@pytest.mark.parametrize(
    ("sample_seconds", "timeout", "period", "window"),
    [(30, 35, 30, (10, 5)), (60, 30, None, (5, 3))],
)
def test_slower_sampling_sets_the_matching_periods(
    lambda_zip: Any,
    sample_seconds: int,
    timeout: int,
    period: int | None,
    window: tuple[int, int],
) -> None:
    # GIVEN dev sampled every 30 s or every minute
    doc = _synth("dev", sample_seconds=sample_seconds, timeout_seconds=timeout)
    (function,) = _resources(doc, "aws_lambda_function")
    # THEN the Lambda is told, and the policies read the metric at that period
    # (at 60 s, the API's default, the field is left out as before sampling)
    assert function["environment"]["variables"]["SAMPLE_SECONDS"] == str(sample_seconds)
    assert {s.get("period") for s in _specs(doc).values()} == {period}
    # AND the tracked series' alarms watch 5 minutes of its periods
    tracked = [a for name, a in _alarms(doc).items() if "-tracked-missing-" in name]
    assert len(tracked) == len(TARGET_TRACKED_TYPES)
    assert {(a["period"], a["evaluation_periods"], a["datapoints_to_alarm"]) for a in tracked} == {
        (sample_seconds, *window)
    }
