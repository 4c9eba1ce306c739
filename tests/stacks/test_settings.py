"""Settings validation: every invalid setting fails with the file, the setting and the value."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from modules.settings import (
    CONFIG_DIR,
    SettingsError,
    available_environments,
    load_environment,
)
from tests.conftest import ROOT, run_synth
from worker_metrics.contract import BacklogDivisor, Tracking, WorkerType


def _base() -> dict[str, Any]:
    return tomllib.loads((CONFIG_DIR / "local.toml").read_text())


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "bad") -> Path:
    lines: list[str] = []

    def emit(table: dict[str, Any], prefix: str) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_toml(value)}")
        for key, value in table.items():
            if isinstance(value, dict):
                emit(value, f"{prefix}.{key}" if prefix else key)

    emit(doc, "")
    (tmp_path / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return str(value)


def _error(tmp_path: Path, doc: dict[str, Any]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_environment("bad", _write(tmp_path, doc))
    return str(caught.value)


def test_every_shipped_environment_loads() -> None:
    # GIVEN the settings files in config/
    # WHEN each is loaded
    envs = {name: load_environment(name) for name in available_environments()}
    # THEN local, dev and prod exist, each with one fleet per worker type
    assert {"local", "dev", "prod"} <= set(envs)
    for env in envs.values():
        assert {f.worker_type for f in env.fleets} == set(WorkerType)
    assert envs["prod"].region == "ap-northeast-2"
    assert envs["prod"].fleet(WorkerType.AI).target_messages_per_instance == 20


def test_max_below_min_names_file_setting_and_value(tmp_path: Path) -> None:
    # GIVEN a fleet whose max_size is below its min_size
    doc = _base()
    doc["fleets"]["ai"]["min_size"] = 3
    doc["fleets"]["ai"]["max_size"] = 2
    # WHEN it is loaded THEN the error names the file, the setting and both values
    message = _error(tmp_path, doc)
    assert message.startswith("bad.toml: ") or "bad.toml" in message
    assert "fleets.ai.max_size = 2" in message
    assert "min_size = 3" in message


@pytest.mark.parametrize("target", [0, -5])
def test_target_not_positive(tmp_path: Path, target: int) -> None:
    doc = _base()
    doc["fleets"]["messaging"]["target_messages_per_instance"] = target
    message = _error(tmp_path, doc)
    assert f"fleets.messaging.target_messages_per_instance = {target}" in message
    assert "greater than 0" in message


def test_unknown_worker_type(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["gpu"] = doc["fleets"]["ai"]
    message = _error(tmp_path, doc)
    assert "fleets.gpu" in message and "unknown worker type 'gpu'" in message


def test_empty_queue_list(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["video"]["queues"] = []
    message = _error(tmp_path, doc)
    assert "fleets.video.queues = []" in message and "at least one queue" in message


def test_malformed_region(tmp_path: Path) -> None:
    doc = _base()
    doc["region"] = "seoul"
    message = _error(tmp_path, doc)
    assert "region = 'seoul'" in message


@pytest.mark.parametrize(
    "schedule", ["rate(1 minutes)", "every minute", "rate(0 minutes)", "cron(* * *)"]
)
def test_invalid_schedule(tmp_path: Path, schedule: str) -> None:
    doc = _base()
    doc["publisher"]["schedule"] = schedule
    message = _error(tmp_path, doc)
    assert f"publisher.schedule = {schedule!r}" in message


def test_same_queue_in_two_fleets(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["messaging"]["queues"] = [{"name": "academy-local-ai-inference"}]
    message = _error(tmp_path, doc)
    assert "academy-local-ai-inference" in message and "fleets.ai" in message


def test_missing_worker_type(tmp_path: Path) -> None:
    doc = _base()
    del doc["fleets"]["video"]
    message = _error(tmp_path, doc)
    assert "missing worker type(s): Video" in message


def test_unknown_setting_is_rejected(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["ai"]["scale_in_cooldown"] = 300  # the old script's ignored field
    message = _error(tmp_path, doc)
    assert "fleets.ai.scale_in_cooldown: unknown setting" in message


def test_protection_only_on_lambda_controlled_fleet(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["ai"]["protect_from_scale_in"] = True
    message = _error(tmp_path, doc)
    assert "fleets.ai.protect_from_scale_in = True" in message


def test_unknown_environment_lists_known_ones() -> None:
    with pytest.raises(SettingsError) as caught:
        load_environment("staging")
    assert "no such environment 'staging'" in str(caught.value)
    assert "prod" in str(caught.value)


def test_synth_stops_on_a_bad_setting_before_writing_terraform(tmp_path: Path) -> None:
    # GIVEN a config dir with one invalid environment
    doc = _base()
    doc["fleets"]["ai"]["max_size"] = 0
    doc["fleets"]["ai"]["min_size"] = 0
    config = _write(tmp_path / "config" if (tmp_path / "config").mkdir() is None else tmp_path, doc)
    # WHEN the app is synthesized
    result = run_synth(tmp_path / "out", WORKER_CONFIG_DIR=str(config))
    # THEN it exits 2 with one line naming the file and the setting, and writes nothing
    assert result.returncode == 2
    assert "bad.toml: fleets.ai.max_size = 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "stacks").exists()
    assert ROOT.exists()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_target_is_rejected(tmp_path: Path, bad: float) -> None:
    # GIVEN a target of NaN or infinity (valid TOML: nan, inf)
    doc = _base()
    doc["fleets"]["ai"]["target_messages_per_instance"] = bad
    # WHEN it is loaded THEN the error names the setting and says why
    message = _error(tmp_path, doc)
    assert f"fleets.ai.target_messages_per_instance = {bad!r}" in message
    assert "finite" in message


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("publisher", "video_scale_in_step", 0.5),
        ("fleets.ai", "max_size", 2.5),
        ("fleets.video", "jobs_per_instance", 1.5),
        ("publisher", "timeout_seconds", 30.0),
    ],
)
def test_whole_number_settings_reject_fractions(
    tmp_path: Path, table: str, key: str, value: float
) -> None:
    # GIVEN a fraction where a whole number is needed
    doc = _base()
    target = doc
    for part in table.split("."):
        target = target[part]
    target[key] = value
    # WHEN it is loaded THEN the error names the setting, the value and "whole number"
    message = _error(tmp_path, doc)
    assert f"{table}.{key} = {value!r}: must be a whole number" in message


def test_a_number_given_as_a_string_is_named(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["ai"]["min_size"] = "3"
    message = _error(tmp_path, doc)
    assert "fleets.ai.min_size = '3': must be a whole number" in message


@pytest.mark.parametrize(
    "schedule",
    [
        "rate(5 minutes)",
        "rate(2 minutes)",
        "rate(1 hour)",
        "cron(0/5 * * * ? *)",
        "cron(* 8-18 ? * MON-FRI *)",
    ],
)
def test_a_schedule_that_starves_target_tracking_is_rejected(tmp_path: Path, schedule: str) -> None:
    # GIVEN a valid EventBridge schedule that fires less often than once a minute
    doc = _base()
    doc["publisher"]["schedule"] = schedule
    # WHEN it is loaded THEN synth would stop naming publisher.schedule and the reason
    message = _error(tmp_path, doc)
    assert f"publisher.schedule = {schedule!r}" in message
    assert "target tracking evaluates a datapoint every 60 s" in message


@pytest.mark.parametrize("schedule", ["rate(1 minute)", "cron(* * * * ? *)", "cron(0/1 * * * ? *)"])
def test_every_minute_schedules_are_accepted(tmp_path: Path, schedule: str) -> None:
    doc = _base()
    doc["publisher"]["schedule"] = schedule
    settings = load_environment("bad", _write(tmp_path, doc))
    assert settings.publisher.schedule == schedule


def test_queues_given_as_a_string_says_it_needs_a_list_of_tables(tmp_path: Path) -> None:
    # GIVEN queues = "name" instead of a list of tables
    doc = _base()
    doc["fleets"]["ai"]["queues"] = "academy-local-ai-inference"
    # WHEN it is loaded THEN the error says what shape is needed
    message = _error(tmp_path, doc)
    assert "fleets.ai.queues = 'academy-local-ai-inference': must be a list of tables" in message
    assert "queues[0].a" not in message


def test_a_queue_given_as_a_string_inside_the_list_is_named(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["ai"]["queues"] = ["academy-local-ai-inference"]
    message = _error(tmp_path, doc)
    assert "fleets.ai.queues = ['academy-local-ai-inference']: must be a list of tables" in message


def test_a_moved_setting_says_where_it_went(tmp_path: Path) -> None:
    doc = _base()
    doc["publisher"]["video_jobs_per_instance"] = 1
    message = _error(tmp_path, doc)
    assert (
        "publisher.video_jobs_per_instance: this setting moved to fleets.video.jobs_per_instance"
        in message
    )


def test_synth_with_a_nan_target_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # GIVEN an environment whose target is NaN (it used to crash synth in jsii)
    doc = _base()
    doc["fleets"]["messaging"]["target_messages_per_instance"] = float("nan")
    config = tmp_path / "config"
    config.mkdir()
    _write(config, doc)
    # WHEN the app is synthesized
    result = run_synth(tmp_path / "out", WORKER_CONFIG_DIR=str(config))
    # THEN exit 2, one line naming the file, the setting and the value, no traceback
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [
        "synth: config/bad.toml: fleets.messaging.target_messages_per_instance = nan: "
        "must be a finite number (not NaN or infinity)"
    ]


def test_tracking_settings_reach_the_lambdas_tracking(tmp_path: Path) -> None:
    # GIVEN AI at min 0 with its own divisor and threshold, Messaging at min 1 not counting
    # in-flight messages
    doc = _base()
    doc["fleets"]["ai"].update(backlog_divisor="in_service_and_pending", activation_backlog=5)
    doc["fleets"]["messaging"].update(min_size=1, track_in_flight=False)
    # WHEN loaded
    settings = load_environment("bad", _write(tmp_path, doc))
    ai, messaging = settings.fleet(WorkerType.AI), settings.fleet(WorkerType.MESSAGING)
    # THEN AI is started from zero at 5 messages with its divisor and its target
    assert ai.activates_from_zero
    assert ai.tracking == Tracking(
        target_backlog_per_instance=20.0,
        divisor=BacklogDivisor.IN_SERVICE_AND_PENDING,
        activation_backlog=5,
    )
    # AND Messaging (min 1) is never at zero: activation off, in flight not tracked
    assert not messaging.activates_from_zero
    assert (messaging.tracking.activation_backlog, messaging.tracking.track_in_flight) == (
        0,
        False,
    )
    # AND unset, a tracked fleet gets the defaults: desired, in flight counted, 1 message
    defaults = load_environment("local").fleet(WorkerType.MESSAGING).tracking
    assert (defaults.divisor, defaults.track_in_flight, defaults.activation_backlog) == (
        BacklogDivisor.DESIRED,
        True,
        1,
    )


@pytest.mark.parametrize(
    ("fleet", "key", "value", "says"),
    [
        ("ai", "backlog_divisor", "instances", "must be one of ['in_service', "),
        ("ai", "activation_backlog", 0, "must be 1..1000000"),
        ("messaging", "activation_backlog", 2.5, "must be a whole number"),
        ("messaging", "track_in_flight", "yes", "must be true or false"),
        ("video", "activation_backlog", 3, "only a target-tracked fleet (AI, Messaging)"),
        ("video", "backlog_divisor", "in_service", "only a target-tracked fleet"),
        ("video", "track_in_flight", False, "only a target-tracked fleet"),
    ],
)
def test_bad_tracking_settings_are_named(
    tmp_path: Path, fleet: str, key: str, value: object, says: str
) -> None:
    # GIVEN a bad tracking setting, or one on Video, which has no tracked metric
    doc = _base()
    doc["fleets"][fleet][key] = value
    # WHEN it is loaded THEN one line names the file, the setting, the value and why
    message = _error(tmp_path, doc)
    assert f"bad.toml: fleets.{fleet}.{key} = {value!r}: {says}" in message, message


@pytest.mark.parametrize("bad", [15, 0, 120, 5])
def test_a_sample_period_target_tracking_does_not_accept_is_rejected(
    tmp_path: Path, bad: int
) -> None:
    # GIVEN a sampling period other than 10, 30 or 60 s
    doc = _base()
    doc["publisher"]["sample_seconds"] = bad
    # WHEN it is loaded  THEN one line names the setting, the value and the choices
    message = _error(tmp_path, doc)
    assert f"publisher.sample_seconds = {bad}: must be one of 10, 30, 60" in message
    assert "\n" not in message


@pytest.mark.parametrize(("sample_seconds", "timeout", "needed"), [(10, 50, 55), (30, 30, 35)])
def test_a_sample_period_that_does_not_fit_the_timeout_is_rejected(
    tmp_path: Path, sample_seconds: int, timeout: int, needed: int
) -> None:
    # GIVEN samples whose last one cannot finish within the Lambda timeout
    doc = _base()
    doc["publisher"].update(sample_seconds=sample_seconds, timeout_seconds=timeout)
    # WHEN it is loaded  THEN the error names sample_seconds and the timeout it needs
    message = _error(tmp_path, doc)
    assert (
        f"publisher.sample_seconds = {sample_seconds}: needs timeout_seconds >= {needed}"
    ) in message
    assert f"but timeout_seconds = {timeout}" in message


def test_sampling_defaults_fit_and_one_minute_sampling_keeps_a_short_timeout(
    tmp_path: Path,
) -> None:
    # GIVEN no publisher sampling settings  THEN 10 s with a 55 s timeout
    doc = _base()
    del doc["publisher"]["timeout_seconds"]
    default = load_environment("bad", _write(tmp_path, doc)).publisher
    assert (default.sample_seconds, default.timeout_seconds) == (10, 55)
    # AND one sample a minute still fits a 30 s timeout, as before sampling
    doc["publisher"].update(sample_seconds=60, timeout_seconds=30)
    minute = load_environment("bad", _write(tmp_path, doc)).publisher
    assert (minute.sample_seconds, minute.timeout_seconds) == (60, 30)
