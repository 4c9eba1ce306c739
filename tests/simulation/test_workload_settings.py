"""``[fleets.<type>.workload]`` and ``--set``: defaults, validation, the lognormal fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fleetctl.simulation.jobs import sample_durations
from modules.settings import SettingsError, WorkloadSettings, load_environment
from modules.settings.overrides import Override, OverrideError
from tests.simulation.conftest import environment


def test_every_environment_loads_with_per_fleet_workloads() -> None:
    # GIVEN / WHEN the three environments load
    prod = load_environment("prod")

    # THEN prod's GPU fleet boots slower than its small-instance fleets
    boots = {f.key: f.workload.boot_seconds for f in prod.fleets}
    assert boots["ai"] > boots["messaging"]
    for name in ("local", "dev"):
        assert load_environment(name).fleets


def test_lognormal_durations_have_the_configured_mean_and_p95() -> None:
    # GIVEN a lognormal of mean 20 s and p95 50 s
    workload = WorkloadSettings(mean_job_seconds=20, p95_job_seconds=50)

    # WHEN a million durations are drawn
    durations = sample_durations(workload, 1_000_000, np.random.default_rng(3))

    # THEN their mean and 95th percentile match within 1 %
    assert durations.mean() == pytest.approx(20, rel=0.01)
    assert np.percentile(durations, 95) == pytest.approx(50, rel=0.01)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("boot_seconds=4000", "boot_seconds = 4000: must be 0..3600"),
        ("job_duration='gamma'", "job_duration = 'gamma': must be one of"),
        ("mean_job_seconds=nan", "must be a finite number"),
        ("p95_job_seconds=10", "p95_job_seconds = 10: must be above mean_job_seconds = 20"),
        ("rate_per_minute=-1", "rate_per_minute = -1: must be a finite number >= 0"),
        ("diurnal_amplitude=1.5", "diurnal_amplitude = 1.5: must be 0..1"),
        ("count_lag_seconds=2.5", "count_lag_seconds = 2.5: must be a whole number"),
    ],
)
def test_a_bad_workload_setting_is_one_line_naming_file_setting_and_value(
    setting: str, message: str
) -> None:
    # GIVEN / WHEN a bad value reaches the dev environment's AI workload (lognormal)
    with pytest.raises(SettingsError) as error:
        environment("dev", f"fleets.ai.workload.{setting}")

    # THEN the error names the file, the setting and the value, on one line
    text = str(error.value)
    assert text.startswith("config/dev.toml with --set: fleets.ai.workload.")
    assert message in text
    assert "\n" not in text


def test_set_parses_toml_values_and_bare_words() -> None:
    # GIVEN / WHEN overrides are parsed
    parsed = [Override.parse(t) for t in ("a.b=3", "a.c=0.5", "a.d=fixed", 'a.e=["x"]')]

    # THEN numbers stay numbers and a bare word is a string
    assert [o.value for o in parsed] == [3, 0.5, "fixed", ["x"]]
    with pytest.raises(OverrideError, match="not a setting name"):
        Override.parse("a..b=1")


def test_the_lognormal_sigma_solves_mean_and_p95() -> None:
    # GIVEN a mean and p95 / WHEN sigma is solved / THEN exp(mu + z sigma) is the p95
    workload = WorkloadSettings(mean_job_seconds=600, p95_job_seconds=1500)
    sigma = workload.lognormal_sigma
    mu = math.log(600) - sigma**2 / 2
    assert math.exp(mu + 1.6448536269514722 * sigma) == pytest.approx(1500)
