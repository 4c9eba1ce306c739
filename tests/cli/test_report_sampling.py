"""``fleetctl report`` and the sampling: the policies' period against the Lambda's
``SAMPLE_SECONDS`` (drift ``period``), and the monthly cost computed from settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetctl.report import DriftKind, build_report
from fleetctl.report.cost import comparison, invocation_seconds, sampling_cost
from modules.settings import load_environment
from tests.conftest import Synthesized

from .test_report_drift import Document, altered, environment, policy

pytestmark = pytest.mark.synth


def test_the_prod_report_prices_its_sampling_and_shows_each_period(
    synthesized: Synthesized,
) -> None:
    # GIVEN the synthesized prod stack (10 s sampling, 256 MB arm64)
    # WHEN its report is built
    report = build_report(load_environment("prod"), synthesized.outdir)
    # THEN it has no drift, reads the policies' 10 s period, and prices the chosen sampling
    assert report.drift == [] and report.sample_seconds == 10
    assert {p.period for f in report.fleets for p in f.policies} == {"10"}
    assert report.cost is not None and report.cost.sample_seconds == 10
    assert [c.sample_seconds for c in report.cost_comparison] == [10, 30, 60]
    assert report.cost.total == pytest.approx(sampling_cost(10, 256, "arm64", 2).total)


@pytest.mark.parametrize("period", [60, None])
def test_a_policy_slower_than_the_sampling_is_period_drift(
    synthesized: Synthesized, tmp_path: Path, period: int | None
) -> None:
    # GIVEN the AI policy reads BacklogPerInstance every 60 s (or with no period at all)
    def change(document: Document) -> None:
        spec = policy(document, "ai")["target_tracking_configuration"][
            "customized_metric_specification"
        ]
        if period is None:
            del spec["period"]
        else:
            spec["period"] = period

    # WHEN the report is built
    report = build_report(load_environment("prod"), altered(synthesized, tmp_path, change))
    # THEN exactly that is drift, naming the policy, both periods and the variable
    assert [(d.kind, d.message) for d in report.drift] == [
        (
            DriftKind.PERIOD,
            "policy academy-prod-ai-workers-backlog-per-instance reads BacklogPerInstance "
            "every 60 s, but the Lambda samples it every 10 s (SAMPLE_SECONDS): it "
            "reacts later than the samples allow",
        )
    ]


def test_a_lambda_sampling_slower_than_the_policies_is_period_drift(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN the Lambda was set to sample once a minute, the policies still read 10 s
    def change(document: Document) -> None:
        environment(document)["SAMPLE_SECONDS"] = "60"

    # WHEN the report is built  THEN both policies are drift: their periods lack data
    report = build_report(load_environment("prod"), altered(synthesized, tmp_path, change))
    assert [d.kind for d in report.drift] == [DriftKind.PERIOD, DriftKind.PERIOD]
    assert "most of its periods have no datapoint" in report.drift[0].message


def test_the_markdown_report_has_the_cost_section_and_the_period_column(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN / WHEN the markdown report of prod
    from fleetctl.cli import main

    out = tmp_path / "report.md"
    code = main(
        ["report", "--env", "prod", "--synth-dir", str(synthesized.outdir), "--out", str(out)]
    )
    text = out.read_text()
    # THEN the chosen sampling's total, the three choices and the policies' period are there
    assert code == 0
    total = sampling_cost(10, 256, "arm64", 2).total
    assert f"Every 10 s: **${total:.2f} a month**" in text
    assert "| 60 s | " in text and "| 10 s (chosen) | " in text
    assert "| Statistic | Period (s) | Target |" in text
    assert "--period 10" in text  # the verification command reads the tracked series at 10 s


def test_cost_arithmetic() -> None:
    # GIVEN 256 MB arm64 and 2 target-tracking policies
    ten, thirty, sixty = comparison(256, "arm64", 2)
    # THEN an invocation lasts until its last sample: 50.2, 30.2, 0.2 s
    assert [invocation_seconds(s) for s in (10, 30, 60)] == pytest.approx([50.2, 30.2, 0.2])
    # AND Lambda duration = 0.25 GB x 50.2 s x 43,800 x $0.0000133334
    assert ten.lines[0].usd == pytest.approx(0.25 * 50.2 * 43_800 * 0.0000133334)
    # AND PutMetricData: 6, 2, 1 requests a minute at $0.01 per 1,000
    assert [c.lines[2].usd for c in (ten, thirty, sixty)] == pytest.approx(
        [6 * 43.8 * 0.01, 2 * 43.8 * 0.01, 43.8 * 0.01]
    )
    # AND 6 alarms (2 target tracking + 1 ours, per policy): high resolution below 60 s
    assert [c.lines[3].usd for c in (ten, thirty, sixty)] == pytest.approx([1.8, 1.8, 0.6])
    # AND x86 costs more per GB-second; an unknown architecture is named
    assert sampling_cost(10, 256, "x86_64", 2).total > ten.total
    with pytest.raises(ValueError, match="architecture = 'sparc'"):
        sampling_cost(10, 256, "sparc", 2)


def test_the_readme_cost_table_is_what_the_cost_module_computes() -> None:
    # GIVEN the README's cost table (prod's 256 MB arm64 publisher, 2 policies)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    # WHEN the cost module prices each choice  THEN the README shows exactly its figures
    for cost in comparison(256, "arm64", 2):
        lambda_usd = cost.lines[0].usd + cost.lines[1].usd
        row = (
            f"| {cost.sample_seconds} s | ${lambda_usd:.2f} | ${cost.lines[2].usd:.2f} |"
            f" ${cost.lines[3].usd:.2f} | ${cost.total:.2f} |"
        )
        assert row in readme, row
