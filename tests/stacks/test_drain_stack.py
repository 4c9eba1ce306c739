"""Synth tests: every fleet's termination hook, the instance role's drain grants, the rollout."""

from __future__ import annotations

import gzip
import json
import re
from typing import Any

import pytest

from modules.agent_bundle import build_agent_bundle
from modules.settings import available_environments, load_environment
from modules.worker_launch_template import USER_DATA_LIMIT_BYTES
from tests.conftest import Synthesized

pytestmark = pytest.mark.synth

ENVIRONMENTS = available_environments()


def _resources(doc: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return dict(doc.get("resource", {}).get(kind, {}))


def _fleet_keys(doc: dict[str, Any]) -> dict[str, str]:
    """ASG resource key -> fleet key (``ai``, ``video``, ``messaging``)."""
    return {k: k.split("-fleet", 1)[0] for k in _resources(doc, "aws_autoscaling_group")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_fleet_has_a_termination_hook_from_its_settings(
    synthesized: Synthesized, env: str
) -> None:
    # GIVEN the synthesized stack and its settings
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    hooks = list(_resources(doc, "aws_autoscaling_lifecycle_hook").values())
    # THEN one EC2_INSTANCE_TERMINATING hook per fleet, on its own ASG, as the settings say
    assert len(hooks) == len(settings.fleets) == 3
    by_group = {h["autoscaling_group_name"]: h for h in hooks}
    for asg_key, fleet_key in _fleet_keys(doc).items():
        hook = by_group[f"${{aws_autoscaling_group.{asg_key}.name}}"]
        plan = next(f for f in settings.fleets if f.key == fleet_key).drain_plan
        assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
        assert hook["heartbeat_timeout"] == plan.heartbeat_timeout_seconds
        assert hook["default_result"] == plan.default_result == "CONTINUE"
        assert hook["name"] == f"{settings.name_prefix}-{fleet_key}-workers-drain"
        # no notification target or role: the agent on the instance polls IMDS
        assert "notification_target_arn" not in hook and "role_arn" not in hook


def _instance_statements(doc: dict[str, Any], fleet_key: str) -> dict[str, dict[str, Any]]:
    documents = doc["data"]["aws_iam_policy_document"]
    (document,) = [
        v for k, v in documents.items() if k.startswith(f"{fleet_key}-fleet_instance-policy")
    ]
    return {s["sid"]: s for s in document["statement"]}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_instance_role_gets_exactly_the_drain_calls_on_its_own_asg(
    synthesized: Synthesized, env: str
) -> None:
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    for asg_key, fleet_key in _fleet_keys(doc).items():
        statements = _instance_statements(doc, fleet_key)
        own_asg = [f"${{aws_autoscaling_group.{asg_key}.arn}}"]
        fleet = next(f for f in settings.fleets if f.key == fleet_key)
        # heartbeat + complete on its own ASG, nothing more
        drain = statements["DrainOwnTermination"]
        assert drain["actions"] == [
            "autoscaling:RecordLifecycleActionHeartbeat",
            "autoscaling:CompleteLifecycleAction",
        ]
        assert drain["resources"] == own_asg
        # protection only where the fleet protects from scale-in, on its own ASG
        if fleet.protect_from_scale_in:
            protection = statements["ManageOwnScaleInProtection"]
            assert protection["actions"] == ["autoscaling:SetInstanceProtection"]
            assert protection["resources"] == own_asg
        else:
            assert "ManageOwnScaleInProtection" not in statements
        # the Spot path gives messages back: ChangeMessageVisibility on its own queues only
        consume = statements["ConsumeMessages"]
        assert "sqs:ChangeMessageVisibility" in consume["actions"]
        assert len(consume["resources"]) == len(fleet.queues)
        # and no other statement, no other Auto Scaling action
        expected = {"ConsumeMessages", "DrainOwnTermination"} | (
            {"ManageOwnScaleInProtection"} if fleet.protect_from_scale_in else set()
        )
        assert set(statements) == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_asgs_follow_the_template_version_so_a_new_agent_refreshes_instances(
    synthesized: Synthesized, env: str
) -> None:
    doc = synthesized.json(f"workers-{env}")
    for group in _resources(doc, "aws_autoscaling_group").values():
        spec = (
            group.get("launch_template")
            or group["mixed_instances_policy"]["launch_template"]["launch_template_specification"]
        )
        template = spec.get("id") or spec["launch_template_id"]
        # THEN the version is the template's latest version number, never "$Latest"
        assert spec["version"] == template.replace(".id}", ".latest_version}")
        assert group["instance_refresh"]["strategy"] == "Rolling"


_HCL_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.\-]*)')


def _user_data_parts(expression: str) -> list[str]:
    """The pieces of ``${base64gzip(join("", [...]))}``: text, or ``<ref>`` for a reference."""
    match = re.fullmatch(r'\$\{base64gzip\(join\("", \[(.*)\]\)\)\}', expression, re.S)
    assert match, expression[:200]
    parts = []
    for literal, reference in _HCL_STRING.findall(match.group(1)):
        if reference:
            parts.append(f"<{reference}>")
        else:
            text = json.loads(f'"{literal}"')
            parts.append(text.replace("$${", "${").replace("%%{", "%{"))
    return parts


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_user_data_installs_this_agent_and_fits_ec2s_limit(
    synthesized: Synthesized, env: str
) -> None:
    doc = synthesized.json(f"workers-{env}")
    bundle = build_agent_bundle()
    for template in _resources(doc, "aws_launch_template").values():
        parts = _user_data_parts(template["user_data"])
        references = [p for p in parts if p.startswith("<aws_") or p.startswith("<data.")]
        script = "".join(p for p in parts if p not in references)
        # THEN queue URLs are references, the agent is this checkout's, byte for byte
        assert references and all(r.endswith(".url>") for r in references)
        for item in bundle.files:
            assert f"<<'__WORKER_AGENT_SOURCE__'\n{item.text}__WORKER_AGENT_SOURCE__\n" in script
            assert f"{item.sha256}  {item.path}" in script
        # ...and gzipped with 160-character queue URLs it is within 16 KB
        worst = "".join("q" * 160 if p in references else p for p in parts)
        assert len(gzip.compress(worst.encode(), 6)) <= USER_DATA_LIMIT_BYTES
