"""Step 6, the operator's view: the deployed dashboard and alarms read back from the AWS.

The dashboard body returned by ``GetDashboard`` must be the synthesized one; only
the alarm-status widget differs in form (Terraform references in the synthesized
body, alarm ARNs in the deployed one), so both sides are compared by alarm name.
Each synthesized alarm must exist (``DescribeAlarms``) with its threshold and
its description, which names its runbook section.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fleetctl.report.stack import SynthesizedStack

Check = tuple[str, bool, str]

DESCRIBE_ALARMS_MAX_NAMES = 100
"""``DescribeAlarms`` takes at most 100 names per call."""


def operator_view_checks(stack: SynthesizedStack, cloudwatch: Any) -> list[Check]:
    """The dashboards and alarms of ``stack``, as deployed where ``cloudwatch`` points."""
    alarms = {
        address: block for address, block in stack.blocks("aws_cloudwatch_metric_alarm").items()
    }
    checks = [_alarms_check(list(alarms.values()), cloudwatch)]
    names_by_address = {address: str(block["alarm_name"]) for address, block in alarms.items()}
    for block in stack.blocks("aws_cloudwatch_dashboard").values():
        checks.append(_dashboard_check(stack, block, names_by_address, cloudwatch))
    return checks


def _alarms_check(expected: list[Mapping[str, Any]], cloudwatch: Any) -> Check:
    names = [str(block["alarm_name"]) for block in expected]
    deployed: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(names), DESCRIBE_ALARMS_MAX_NAMES):
        chunk = names[start : start + DESCRIBE_ALARMS_MAX_NAMES]
        for alarm in cloudwatch.describe_alarms(AlarmNames=chunk)["MetricAlarms"]:
            deployed[alarm["AlarmName"]] = alarm
    problems = [f"{name} missing" for name in names if name not in deployed]
    for block in expected:
        alarm = deployed.get(str(block["alarm_name"]))
        if alarm is None:
            continue
        if float(alarm["Threshold"]) != float(block["threshold"]):
            problems.append(f"{alarm['AlarmName']} threshold {alarm['Threshold']}")
        if alarm.get("AlarmDescription") != block.get("alarm_description"):
            problems.append(f"{alarm['AlarmName']} description differs")
    detail = (
        f"{len(deployed)}/{len(names)} with their thresholds and runbook sections"
        if not problems
        else "; ".join(problems)
    )
    return ("alarms deployed", not problems, detail)


def _dashboard_check(
    stack: SynthesizedStack,
    block: Mapping[str, Any],
    names_by_address: Mapping[str, str],
    cloudwatch: Any,
) -> Check:
    name = str(block["dashboard_name"])
    title = f"dashboard {name} read back"
    try:
        response = cloudwatch.get_dashboard(DashboardName=name)
    except cloudwatch.exceptions.ResourceNotFound:
        return (title, False, "GetDashboard: not found")
    deployed = _by_alarm_name(json.loads(response["DashboardBody"]), _name_of_arn)

    def name_of_reference(reference: str) -> str:
        ((address, _attr),) = stack.references(reference)
        return names_by_address.get(address, reference)

    expected = _by_alarm_name(json.loads(str(block["dashboard_body"])), name_of_reference)
    graphs = sum(1 for w in expected["widgets"] if w["type"] == "metric")
    if deployed != expected:
        return (title, False, "GetDashboard returned another body than the synthesized one")
    return (title, True, f"{graphs} graphs, body as synthesized")


def _by_alarm_name(body: dict[str, Any], name_of: Callable[[str], str]) -> dict[str, Any]:
    """``body`` with each alarm widget's entries replaced by alarm names."""
    for widget in body.get("widgets", []):
        if widget.get("type") == "alarm":
            properties = widget["properties"]
            properties["alarms"] = [name_of(entry) for entry in properties.get("alarms", [])]
    return body


def _name_of_arn(arn: str) -> str:
    """``arn:aws:cloudwatch:<region>:<account>:alarm:<name>`` -> ``<name>``."""
    return arn.partition(":alarm:")[2] or arn
