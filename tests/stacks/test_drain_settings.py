"""The ``drain`` table of a fleet: defaults derived from the queues, and a hook that could
expire before the longest job is refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.settings import load_environment
from modules.settings.drain import DrainSettings
from tests.conftest import run_synth
from tests.stacks.test_settings import _base, _error, _write
from worker_metrics.contract import WorkerType


def test_defaults_follow_the_longest_visibility_timeout() -> None:
    # GIVEN prod: Video's queue hides a message 3600 s, the others 900 s (the default)
    prod = load_environment("prod")
    # WHEN the drain settings are resolved
    video = prod.fleet(WorkerType.VIDEO).drain_plan
    ai = prod.fleet(WorkerType.AI).drain_plan
    # THEN the longest job is the visibility timeout, and the heartbeat timeout covers it
    assert (video.max_job_seconds, video.heartbeat_timeout_seconds) == (3600, 3600)
    assert (ai.max_job_seconds, ai.heartbeat_timeout_seconds) == (900, 900)
    assert video.default_result == "CONTINUE" and video.poll_seconds == 2
    # ...with a heartbeat every third of it, and AWS's global timeout
    assert video.heartbeat_interval_seconds == 1200
    assert (video.global_timeout_seconds, ai.global_timeout_seconds) == (172_800, 90_000)


@pytest.mark.parametrize(("visibility", "heartbeat"), [(10, 30), (900, 900), (43_200, 7200)])
def test_heartbeat_default_stays_within_aws_bounds(visibility: int, heartbeat: int) -> None:
    assert DrainSettings().resolve([visibility]).heartbeat_timeout_seconds == heartbeat


def test_heartbeats_cover_a_job_longer_than_the_heartbeat_timeout() -> None:
    # GIVEN a 20 h job and a 15 min heartbeat timeout: the hook holds up to 25 h with heartbeats
    plan = DrainSettings(max_job_seconds=72_000, heartbeat_timeout_seconds=900).resolve([900])
    assert plan.global_timeout_seconds == 90_000 > plan.max_job_seconds


def test_a_hook_that_expires_before_the_longest_job_is_refused(tmp_path: Path) -> None:
    # GIVEN a 25 h job with a 15 min heartbeat timeout (the hook holds at most 90000 s)
    doc = _base()
    doc["fleets"]["video"]["drain"] = {"max_job_seconds": 90_000, "heartbeat_timeout_seconds": 900}
    # WHEN it is loaded THEN one line names the file, the setting, the value and the fix
    message = _error(tmp_path, doc)
    assert "bad.toml: fleets.video.drain.max_job_seconds = 90000: the lifecycle hook" in message
    assert "min(48 h, 100 x heartbeat_timeout_seconds = 900) = 90000 s" in message
    assert "raise drain.heartbeat_timeout_seconds to at least 901" in message
    assert "\n" not in message


def test_a_job_longer_than_any_hook_says_so(tmp_path: Path) -> None:
    doc = _base()
    doc["fleets"]["ai"]["drain"] = {"max_job_seconds": 172_800}
    assert "no hook can hold a job this long (AWS's limit is 48 h)" in _error(tmp_path, doc)


@pytest.mark.parametrize(
    ("drain", "expected"),
    [
        (
            {"heartbeat_timeout_seconds": 20},
            "drain.heartbeat_timeout_seconds = 20: must be 30..7200",
        ),
        ({"heartbeat_timeout_seconds": 7201}, "heartbeat_timeout_seconds = 7201: must be 30..7200"),
        ({"default_result": "STOP"}, "drain.default_result = 'STOP': must be one of"),
        ({"max_job_seconds": 0}, "drain.max_job_seconds = 0: must be 1..172800"),
        ({"max_job_seconds": 1.5}, "drain.max_job_seconds = 1.5: must be a whole number"),
        (
            {"heartbeat_timeout_seconds": 60, "poll_seconds": 30},
            "drain.poll_seconds = 30: must be at most a third of drain.heartbeat_timeout_seconds",
        ),
        ({"heartbeats": False}, "drain.heartbeats: unknown setting"),
    ],
)
def test_bad_drain_settings_name_themselves(
    tmp_path: Path, drain: dict[str, object], expected: str
) -> None:
    doc = _base()
    doc["fleets"]["messaging"]["drain"] = drain
    assert expected in _error(tmp_path, doc)


def test_synth_refuses_the_hook_with_one_line_and_exit_2(tmp_path: Path) -> None:
    # GIVEN an environment whose Video hook cannot outlast its jobs
    doc = _base()
    doc["fleets"]["video"]["drain"] = {"max_job_seconds": 5000, "heartbeat_timeout_seconds": 30}
    config = tmp_path / "config"
    config.mkdir()
    _write(config, doc)
    # WHEN the app is synthesized
    result = run_synth(tmp_path / "out", WORKER_CONFIG_DIR=str(config))
    # THEN exit 2, one line, no traceback, nothing written
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(
        "synth: config/bad.toml: fleets.video.drain.max_job_seconds = 5000: the lifecycle hook"
    )
    assert not (tmp_path / "out" / "stacks").exists()
