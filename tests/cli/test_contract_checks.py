"""The rules ``report`` and ``verify`` share (``fleetctl.contract_checks``), one copy each."""

from __future__ import annotations

import pytest

from fleetctl.contract_checks import api_policy_period, period_problem


@pytest.mark.parametrize(
    ("spec", "period"),
    [({"Period": 10}, 10), ({"Period": 30}, 30), ({}, 60), (None, 60)],
)
def test_a_policys_period_is_its_own_or_the_apis_default(
    spec: dict[str, int] | None, period: int
) -> None:
    # GIVEN a DescribePolicies item whose metric sets a period, or none
    policy = {"TargetTrackingConfiguration": {"CustomizedMetricSpecification": spec}}
    # WHEN its period is read  THEN it is the one set, else 60 s (the API's default)
    assert api_policy_period(policy) == period


def test_a_policy_without_target_tracking_reads_the_apis_default() -> None:
    # GIVEN / WHEN a policy with no TargetTrackingConfiguration  THEN 60 s
    assert api_policy_period({"PolicyType": "SimpleScaling"}) == 60


@pytest.mark.parametrize(("period", "sampled"), [(10, 10), (60, 60), (10, None), (60, None)])
def test_a_period_at_the_sampling_or_an_unknown_sampling_is_no_problem(
    period: int, sampled: int | None
) -> None:
    # GIVEN a policy period equal to SAMPLE_SECONDS, or SAMPLE_SECONDS unreadable
    # WHEN the rule is applied  THEN there is nothing to say
    assert period_problem(period, sampled) is None


def test_a_period_shorter_than_the_sampling_lacks_datapoints() -> None:
    # GIVEN a policy reading every 10 s a series sampled every 60 s
    # WHEN the rule is applied (verify's words, then report's with the reason)
    # THEN most of its periods have no datapoint
    assert period_problem(10, 60) == "most of its periods have no datapoint"
    assert period_problem(10, 60, why=True) == (
        "most of its periods have no datapoint, and target tracking does not act on missing data"
    )


@pytest.mark.parametrize("why", [False, True])
def test_a_period_longer_than_the_sampling_reacts_late(why: bool) -> None:
    # GIVEN a policy reading every 60 s a series sampled every 10 s
    # WHEN the rule is applied  THEN it reacts later than the samples allow
    assert period_problem(60, 10, why=why) == "it reacts later than the samples allow"
