"""Synth tests: the Terraform each environment produces, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modules.iam import UNSCOPABLE_ACTIONS
from modules.settings import available_environments, load_environment
from tests.conftest import ROOT, Synthesized
from worker_metrics import contract
from worker_metrics.contract import WorkerType

pytestmark = pytest.mark.synth

ENVIRONMENTS = available_environments()


def _resources(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(doc.get("resource", {}).get(kind, {}).values())


def _policies_by_type(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for policy in _resources(doc, "aws_autoscaling_policy"):
        spec = policy["target_tracking_configuration"]["customized_metric_specification"]
        (dimension,) = spec["metric_dimension"]
        out[dimension["value"]] = policy
    return out


def _lambda_env(doc: dict[str, Any]) -> dict[str, str]:
    (function,) = _resources(doc, "aws_lambda_function")
    return function["environment"]["variables"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_target_tracking_consumes_exactly_what_the_lambda_publishes(
    synthesized: Synthesized, env: str
) -> None:
    # GIVEN the synthesized worker stack
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    # WHEN we read the policies and the Lambda's environment
    policies = _policies_by_type(doc)
    published = _lambda_env(doc)
    # THEN AI and Messaging each track the contract's metric for their own WorkerType
    assert set(policies) == {t.value for t in contract.TARGET_TRACKED_TYPES}
    for worker_type in contract.TARGET_TRACKED_TYPES:
        policy = policies[worker_type.value]
        spec = policy["target_tracking_configuration"]["customized_metric_specification"]
        assert policy["policy_type"] == "TargetTrackingScaling"
        assert spec["namespace"] == contract.DEFAULT_NAMESPACE
        assert spec["metric_name"] == contract.DEFAULT_BACKLOG_PER_INSTANCE_METRIC_NAME
        assert spec["metric_dimension"] == [
            {"name": contract.DIMENSION_NAME, "value": worker_type.value}
        ]
        assert spec["statistic"] == "Average"
        fleet = settings.fleet(worker_type)
        assert (
            policy["target_tracking_configuration"]["target_value"]
            == fleet.target_messages_per_instance
        )
        assert policy["estimated_instance_warmup"] == fleet.instance_warmup_seconds
        # no cooldown fields: EC2 target tracking ignores them (the old script's mistake)
        assert "cooldown" not in json.dumps(policy)
        # ...and the Lambda publishes exactly that namespace and metric name
        assert published[contract.EnvVar.METRIC_NAMESPACE] == spec["namespace"]
        assert published[contract.EnvVar.BACKLOG_PER_INSTANCE_METRIC_NAME] == spec["metric_name"]
    assert published[contract.EnvVar.METRIC_NAME] == contract.DEFAULT_METRIC_NAME


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_video_has_no_scaling_policy_and_is_driven_by_the_lambda(
    synthesized: Synthesized, env: str
) -> None:
    doc = synthesized.json(f"workers-{env}")
    policies = _policies_by_type(doc)
    assert WorkerType.VIDEO.value not in policies
    # the Lambda knows the Video ASG by reference, not by a literal name
    video_asg = _lambda_env(doc)[contract.EnvVar.asg_name(WorkerType.VIDEO)]
    assert video_asg.startswith("${aws_autoscaling_group.video-fleet_asg")
    assert not doc["resource"].get("aws_appautoscaling_policy")
    assert not doc["resource"].get("aws_appautoscaling_target")


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for document in doc["data"]["aws_iam_policy_document"].values():
        for statement in document["statement"]:
            if statement.get("effect") == "Allow" and "principals" not in statement:
                out.append(statement)
    return out


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_iam_statement_is_resource_scoped_except_documented_calls(
    synthesized: Synthesized, env: str
) -> None:
    statements = _statements(synthesized.json(f"workers-{env}"))
    assert statements
    for statement in statements:
        for action in statement["actions"]:
            assert "*" not in action, statement
        if "*" in statement["resources"]:
            assert set(statement["actions"]) <= set(UNSCOPABLE_ACTIONS), statement
        else:
            for resource in statement["resources"]:
                assert resource.startswith("${"), (
                    f"literal resource {resource!r} in {statement['sid']}"
                )


def test_publisher_grants(synthesized: Synthesized) -> None:
    doc = synthesized.json("workers-prod")
    by_sid = {s["sid"]: s for s in _statements(doc)}
    # PutMetricData only into the contract's namespace
    put = by_sid["PutMetricDataInOwnNamespace"]
    assert put["actions"] == ["cloudwatch:PutMetricData"]
    assert put["condition"] == [
        {
            "test": "StringEquals",
            "variable": "cloudwatch:namespace",
            "values": [contract.DEFAULT_NAMESPACE],
        }
    ]
    # SetDesiredCapacity on the Video ASG only
    assert by_sid["SetDesiredCapacity"]["resources"] == [
        "${aws_autoscaling_group.video-fleet_asg_792D0BD4.arn}"
    ]
    # GetQueueAttributes on exactly the 4 prod queues (imported by name)
    read = by_sid["ReadQueueAttributes"]["resources"]
    assert len(read) == 4 and all(r.startswith("${data.aws_sqs_queue.") for r in read)
    # logs on its own log group only
    assert by_sid["WriteOwnLogs"]["resources"] == [
        "${aws_cloudwatch_log_group.queue-depth_log-group_655BFCB6.arn}:*"
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_schedule_target_and_permission(synthesized: Synthesized, env: str) -> None:
    doc = synthesized.json(f"workers-{env}")
    (rule,) = _resources(doc, "aws_cloudwatch_event_rule")
    (target,) = _resources(doc, "aws_cloudwatch_event_target")
    (permission,) = _resources(doc, "aws_lambda_permission")
    (function,) = _resources(doc, "aws_lambda_function")
    assert rule["schedule_expression"] == "rate(1 minute)"
    assert target["arn"].startswith("${aws_lambda_function.queue-depth_function")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"].startswith("${aws_cloudwatch_event_rule.queue-depth_schedule")
    assert function["reserved_concurrent_executions"] == 1
    assert function["handler"] == "lambda_function.lambda_handler"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_asgs_leave_desired_capacity_to_the_scaler(synthesized: Synthesized, env: str) -> None:
    asgs = _resources(synthesized.json(f"workers-{env}"), "aws_autoscaling_group")
    assert len(asgs) == 3
    for asg in asgs:
        assert asg["lifecycle"]["ignore_changes"] == ["desired_capacity"]
        assert "GroupInServiceInstances" in asg["enabled_metrics"]
        assert asg["instance_refresh"]["strategy"] == "Rolling"
        assert all(tag["propagate_at_launch"] for tag in asg["tag"])


def test_video_protection_follows_settings(synthesized: Synthesized) -> None:
    asgs = {
        a["name"]: a for a in _resources(synthesized.json("workers-prod"), "aws_autoscaling_group")
    }
    assert asgs["academy-prod-video-workers"]["protect_from_scale_in"] is True
    assert asgs["academy-prod-ai-workers"]["protect_from_scale_in"] is False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_launch_templates_require_imdsv2_and_encrypt_ebs(
    synthesized: Synthesized, env: str
) -> None:
    for template in _resources(synthesized.json(f"workers-{env}"), "aws_launch_template"):
        assert template["metadata_options"]["http_tokens"] == "required"
        (mapping,) = template["block_device_mappings"]
        assert mapping["ebs"]["encrypted"] == "true"
        assert template["user_data"].startswith("${base64gzip(")


def test_created_queues_are_encrypted_with_a_dead_letter_queue(synthesized: Synthesized) -> None:
    queues = _resources(synthesized.json("workers-local"), "aws_sqs_queue")
    main_queues = [q for q in queues if not q["name"].endswith("-dlq")]
    assert len(main_queues) == 4 and len(queues) == 8
    for queue in queues:
        assert queue["sqs_managed_sse_enabled"] is True
    for queue in main_queues:
        assert "deadLetterTargetArn" in queue["redrive_policy"]


def test_prod_backend_is_s3_with_native_locking(synthesized: Synthesized) -> None:
    backend = synthesized.json("workers-prod")["terraform"]["backend"]
    assert backend == {
        "s3": {
            "bucket": "academy-prod-tfstate",
            "key": "workers/prod.tfstate",
            "region": "ap-northeast-2",
            "encrypt": True,
            "use_lockfile": True,
        }
    }
    assert "dynamodb_table" not in json.dumps(backend)


def test_provider_is_pinned_exactly(synthesized: Synthesized) -> None:
    required = synthesized.json("workers-prod")["terraform"]["required_providers"]["aws"]
    assert required["version"] == "5.100.0"


def test_local_provider_targets_an_emulated_aws(synthesized: Synthesized) -> None:
    (provider,) = synthesized.json("workers-local")["provider"]["aws"]
    assert provider["access_key"] == "test"
    assert provider["skip_credentials_validation"] is True
    assert provider["s3_use_path_style"] is True
    (prod,) = synthesized.json("workers-prod")["provider"]["aws"]
    assert "access_key" not in prod and prod["region"] == "ap-northeast-2"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarms_on_errors_and_missing_data(synthesized: Synthesized, env: str) -> None:
    alarms = {
        a["alarm_name"]: a
        for a in _resources(synthesized.json(f"workers-{env}"), "aws_cloudwatch_metric_alarm")
    }
    prefix = load_environment(env).name_prefix
    assert alarms[f"{prefix}-queue-depth-errors"]["metric_name"] == "Errors"
    for worker_type in WorkerType:
        missing = alarms[f"{prefix}-queue-depth-missing-{worker_type.name.lower()}"]
        assert missing["treat_missing_data"] == "breaching"
        assert missing["namespace"] == contract.DEFAULT_NAMESPACE
        assert missing["dimensions"] == {contract.DIMENSION_NAME: worker_type.value}


def test_state_bucket_is_hardened(synthesized: Synthesized) -> None:
    doc = synthesized.json("tfstate-prod")
    (versioning,) = _resources(doc, "aws_s3_bucket_versioning")
    (block,) = _resources(doc, "aws_s3_bucket_public_access_block")
    (sse,) = _resources(doc, "aws_s3_bucket_server_side_encryption_configuration")
    assert versioning["versioning_configuration"]["status"] == "Enabled"
    assert all(
        block[k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "aws:kms"
    (tls,) = doc["data"]["aws_iam_policy_document"].values()
    assert tls["statement"][0]["condition"][0]["variable"] == "aws:SecureTransport"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_output_has_no_build_machine_paths(synthesized: Synthesized, env: str) -> None:
    text = synthesized.text(f"workers-{env}")
    assert str(ROOT) not in text
    assert str(synthesized.outdir) not in text
    (function,) = _resources(json.loads(text), "aws_lambda_function")
    assert function["filename"].startswith("assets/")
    assert (synthesized.stack_dir(f"workers-{env}") / function["filename"]).is_file()


def test_cdktf_testing_matchers_agree(synthesized: Synthesized) -> None:
    from cdktf import Testing

    text = synthesized.text("workers-prod")
    assert Testing.to_have_resource_with_properties(
        text, "aws_autoscaling_policy", {"name": "academy-prod-ai-workers-backlog-per-instance"}
    )
    assert not Testing.to_have_resource_with_properties(
        text, "aws_autoscaling_policy", {"name": "academy-prod-video-workers-backlog-per-instance"}
    )


def test_lambda_environment_carries_the_video_knobs_from_settings(synthesized: Synthesized) -> None:
    # GIVEN prod's settings WHEN the Lambda's environment is synthesized
    env = _lambda_env(synthesized.json("workers-prod"))
    settings = load_environment("prod")
    video = settings.fleet(WorkerType.VIDEO)
    # THEN the Video decision uses the settings' numbers, and every type has queues + ASG
    assert (
        float(env[contract.EnvVar.VIDEO_MESSAGES_PER_INSTANCE])
        == video.target_messages_per_instance
    )
    assert int(env[contract.EnvVar.VIDEO_SCALE_IN_STEP]) == settings.publisher.video_scale_in_step
    assert (
        int(env[contract.EnvVar.VIDEO_JOBS_PER_INSTANCE])
        == settings.fleet(WorkerType.VIDEO).jobs_per_instance
    )
    for worker_type in WorkerType:
        assert env[contract.EnvVar.queue_urls(worker_type)]
        assert env[contract.EnvVar.asg_name(worker_type)].startswith("${aws_autoscaling_group.")
    # no database credentials in the environment, ever
    assert not any("PASSWORD" in key for key in env)


def test_scale_in_marker_tag_is_writable_only_for_its_key_and_ignored_by_terraform(
    synthesized: Synthesized,
) -> None:
    doc = synthesized.json("workers-prod")
    by_sid = {s["sid"]: s for s in _statements(doc)}
    tag = by_sid["WriteScaleInMarkerTag"]
    assert tag["actions"] == ["autoscaling:CreateOrUpdateTags"]
    assert tag["resources"] == by_sid["SetDesiredCapacity"]["resources"]
    assert tag["condition"] == [
        {
            "test": "ForAllValues:StringEquals",
            "variable": "aws:TagKeys",
            "values": [contract.VIDEO_SCALE_IN_MARKER_TAG],
        }
    ]
    (provider,) = doc["provider"]["aws"]
    assert provider["ignore_tags"] == [{"keys": [contract.VIDEO_SCALE_IN_MARKER_TAG]}]


def test_failed_ticks_are_not_retried(synthesized: Synthesized) -> None:
    (config,) = _resources(
        synthesized.json("workers-prod"), "aws_lambda_function_event_invoke_config"
    )
    assert config["maximum_retry_attempts"] == 0


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_activation_is_granted_on_exactly_the_fleets_it_starts(
    synthesized: Synthesized, env: str
) -> None:
    # GIVEN an environment's settings WHEN its stack is synthesized
    doc = synthesized.json(f"workers-{env}")
    settings = load_environment(env)
    asg_arn = {
        group["name"]: f"${{aws_autoscaling_group.{address}.arn}}"
        for address, group in doc["resource"]["aws_autoscaling_group"].items()
    }
    expected = [
        asg_arn[f"{settings.name_prefix}-{fleet.key}-workers"]
        for fleet in settings.fleets
        if fleet.worker_type in contract.TARGET_TRACKED_TYPES and fleet.min_size == 0
    ]
    by_sid = {s["sid"]: s for s in _statements(doc)}
    # THEN SetDesiredCapacity for activation covers exactly the tracked fleets at min 0
    activation = by_sid.get("ActivateTrackedFleetFromZero")
    assert (activation["resources"] if activation else []) == expected
    if activation:
        assert activation["actions"] == ["autoscaling:SetDesiredCapacity"]
    # AND the Lambda's environment turns activation on for exactly those fleets
    variables = _lambda_env(doc)
    for fleet in settings.fleets:
        if fleet.worker_type not in contract.TARGET_TRACKED_TYPES:
            continue
        threshold = int(variables[contract.EnvVar.activation_backlog(fleet.worker_type)])
        assert (threshold > 0) == (fleet.min_size == 0), fleet.key
        assert float(
            variables[contract.EnvVar.target_backlog_per_instance(fleet.worker_type)]
        ) == float(fleet.target_messages_per_instance)
        assert variables[contract.EnvVar.backlog_divisor(fleet.worker_type)] == (
            fleet.tracking.divisor.value
        )
        assert variables[contract.EnvVar.track_in_flight(fleet.worker_type)] == (
            "true" if fleet.tracking.track_in_flight else "false"
        )
