"""``--recommend --slo``: the search from AWS's formula and its answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fleetctl import cli
from fleetctl.simulation.faults import Faults
from fleetctl.simulation.policies import Current
from fleetctl.simulation.recommend import Slo, SloError, recommend
from fleetctl.simulation.run import simulate
from fleetctl.simulation.scenarios import scenario
from tests.simulation.conftest import environment
from worker_metrics.contract import WorkerType


def test_recommend_prints_the_cheapest_target_that_meets_the_slo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN three hours of steady AI traffic and a p95 wait SLO of 300 s
    # WHEN the search runs
    code = cli.main(
        [
            "simulate", "--env", "prod", "--scenario", "steady", "--days", "0.125",
            "--recommend", "--slo", "ai:p95_wait<=300s",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out

    # THEN it starts from AWS's formula (300 s / (20 s per message / 1 slot) = 15) ...
    assert code == 0
    assert "AWS's formula, 300 s / processing time per message = 15" in out
    rows = [line.split() for line in out.splitlines() if line.endswith((" yes", " no"))]
    tried = {float(r[0]): (float(r[1]), float(r[3]), r[-1]) for r in rows}
    assert 15.0 in tried and len(tried) >= 3
    # ... and answers with the cheapest target whose p95 wait met the SLO
    meeting = {t: v for t, v in tried.items() if v[2] == "yes"}
    assert all(wait <= 300 for wait, _, _ in meeting.values())
    cheapest = min(meeting, key=lambda t: (meeting[t][1], t))
    assert f"--set fleets.ai.target_messages_per_instance={cheapest:g} " in out
    # and today's 20 does not meet it
    assert tried[15.0][2] == "no"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ai:p97_wait<=5s", "expected TYPE:METRIC<=LIMIT"),
        ("gpu:p95_wait<=5s", "unknown worker type 'gpu'"),
        ("ai:p95_wait<=0s", "at most 0 s cannot be met"),
    ],
)
def test_a_malformed_slo_is_named(text: str, message: str) -> None:
    # GIVEN / WHEN a bad SLO is parsed / THEN its error says why
    with pytest.raises(SloError, match=message):
        Slo.parse(text)


def test_an_slo_parses_minutes_and_the_metric() -> None:
    # GIVEN / WHEN an SLO in minutes is parsed / THEN seconds and the result field
    slo = Slo.parse("video:p99_wait<=2min")
    assert (slo.worker_type, slo.metric, slo.limit_seconds) == (WorkerType.VIDEO, "wait_p99", 120)


def test_an_impossible_slo_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN an AI burst: instances boot for 240 s
    # WHEN asked for a p95 wait of 5 s
    code = cli.main(
        ["simulate", "--env", "prod", "--scenario", "burst", "--recommend", "--slo",
         "ai:p95_wait<=5s"]
    )  # fmt: skip

    # THEN even max_size instances from the start cannot: one line, exit 2
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "is impossible on burst: even 20 instances (max_size) from the start give" in err


def test_recommend_meets_the_scenario_s_own_faults() -> None:
    # GIVEN the publisher-outage scenario: the burst with the publisher down through it
    env = environment("prod")
    workload = scenario("publisher-outage").build(env, seed=1)
    assert workload.faults.outages
    slo = Slo.parse("ai:p95_wait<=1200s")

    # WHEN the search runs with no fault from the command line
    recommendation = recommend(lambda _target: env, workload, slo, seed=1)

    # THEN today's run is the one `simulate` gives on the scenario, outage included ...
    simulated = simulate(env, workload, [Current()], seed=1)
    today = simulated.policies[Current().name][WorkerType.AI]
    assert recommendation.today.wait == today.wait_p95
    # ... which is not what the same burst gives without the outage
    calm = simulate(env, replace(workload, faults=Faults(seed=1)), [Current()], seed=1)
    assert calm.policies[Current().name][WorkerType.AI].wait_p95 != today.wait_p95
