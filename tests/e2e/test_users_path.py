"""Our users' own commands, end to end on the local AWS, offline.

The stack was bootstrapped and ``cdktf deploy``-ed by the ``deployed`` fixture
(steps 1 and 2). In file order, with the real cdktf CLI, Terraform and AWS CLI:

3. a second ``cdktf diff`` shows no changes;
4. ``terraform plan -detailed-exitcode`` in the synthesized stack folder returns 0;
   the PR check's saved plan (``scripts/plan_file.py``) and the plain-HCL export
   (``make hcl``) are checked against the same state here too, and the seed's
   verification commands run verbatim after the demo's loop;
5. a state lock held by another Terraform process makes a second deploy fail,
   naming the holder;
6. ``cdktf destroy``, then the state bucket's stack: nothing is left.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fleetctl.demo.aws import empty_bucket
from fleetctl.demo.context import RunContext
from fleetctl.demo.loop import run_loop
from fleetctl.report import build_report
from fleetctl.terraform import PLAN_NO_CHANGES, Terraform, copy_stack
from modules.provider_lock import PROJECT_LOCK
from scripts import export_hcl, plan_file
from tests.conftest import ROOT
from tests.e2e.conftest import CDKTF, Deployed
from worker_metrics.contract import TARGET_TRACKED_TYPES, WorkerType

pytestmark = [pytest.mark.e2e, pytest.mark.terraform]

AWS_CLI = ROOT / ".venv-awscli" / "bin" / "aws"
DEMO_TICKS = 4
LOCK_WAIT_SECONDS = 60


def _timed(deployed: Deployed, step: str, started: float) -> None:
    deployed.timings[step] = time.monotonic() - started


def test_cdktf_deploy_ran_offline_with_the_committed_provider_lock(deployed: Deployed) -> None:
    # GIVEN the deploy the fixture ran (`cdktf deploy`, no registry reachable)
    run = deployed.deploy_run

    # THEN cdktf initialized the provider from the committed lock file and applied
    assert "Reusing previous version of hashicorp/aws from the dependency lock file" in run.output
    assert "Apply complete!" in run.output
    # AND the lock in the stack folder is still the committed one (no re-locking)
    assert (deployed.stack_dir / ".terraform.lock.hcl").read_text() == PROJECT_LOCK.read_text()
    # AND the state lives in the state bucket in the local AWS
    backend = deployed.settings.backend
    head = deployed.clients["s3"].head_object(Bucket=backend.bucket, Key=backend.key)
    assert head["ContentLength"] > 0


def test_second_cdktf_diff_shows_no_changes(deployed: Deployed) -> None:
    # GIVEN the deployed stack
    # WHEN `cdktf diff` runs (what `make plan ENV=local` runs)
    diff = deployed.cdktf("diff")
    deployed.timings["3 cdktf diff (second, no changes)"] = diff.seconds

    # THEN it succeeds and finds nothing to change
    assert diff.returncode == 0, diff.output[-4000:]
    assert "No changes. Your infrastructure matches the configuration." in diff.output


def test_terraform_plan_in_the_stack_folder_exits_0(deployed: Deployed) -> None:
    # GIVEN the folder cdktf deployed from
    # WHEN plain `terraform plan -detailed-exitcode` runs there
    code, plan = deployed.workers.plan_exit_code()
    deployed.timings["4 terraform plan -detailed-exitcode"] = plan.seconds

    # THEN it exits 0: no changes (2 would list them)
    changed = [line for line in plan.stdout.splitlines() if line.lstrip().startswith("# ")]
    assert code == PLAN_NO_CHANGES, "\n".join(changed) or plan.stdout[-3000:]


def test_pr_check_plan_file_keeps_plan_json_and_a_summary_of_the_changes(
    deployed: Deployed, tmp_path: Path
) -> None:
    # GIVEN a change a PR might bring (the errors alarm waits longer), in a copy of the stack
    stack = copy_stack(deployed.stack_dir, tmp_path / deployed.settings.stack_name)
    document = json.loads((stack / "cdk.tf.json").read_text())
    alarms = document["resource"]["aws_cloudwatch_metric_alarm"]
    name = next(n for n in sorted(alarms) if n.startswith("queue-depth_errors-alarm"))
    address = f"aws_cloudwatch_metric_alarm.{name}"
    alarms[name]["evaluation_periods"] += 2
    (stack / "cdk.tf.json").write_text(json.dumps(document))
    started = time.monotonic()

    # WHEN the PR check's plan step runs on it (`make plan-file` runs this script)
    files, summary = plan_file.make_plan_files(stack, tmp_path / "plan-local", env=deployed.env)
    _timed(deployed, "4b PR check plan file (init, plan -out, show, show -json)", started)

    # THEN the saved plan is a real plan file: Terraform reads it back
    shown = Terraform(stack, deployed.env).run("show", "-json", str(files.plan))
    assert json.loads(shown.stdout)["resource_changes"]
    # AND its JSON is beside it, with exactly that update and nothing else
    plan = json.loads(files.json.read_text())
    changed = {
        r["address"]: r["change"]["actions"]
        for r in plan["resource_changes"]
        if r["change"]["actions"] != ["no-op"]
    }
    assert changed == {address: ["update"]}
    # AND the summary says so, for the job summary, as Terraform's own text does
    assert summary.changes == (("update", address),)
    markdown = files.summary.read_text()
    assert "**0 to create, 1 to update, 0 to replace, 0 to delete**" in markdown
    assert f"| update | `{address}` |" in markdown
    text = files.text.read_text()
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in text
    assert "evaluation_periods" in text and text.strip() in markdown


def test_plain_hcl_export_validates_and_plans_no_changes_on_the_cdktf_state(
    deployed: Deployed, tmp_path: Path
) -> None:
    # GIVEN the environment exported as plain HCL (what `make hcl ENV=local` runs)
    started = time.monotonic()
    written = export_hcl.export_environment(
        "local",
        tmp_path / "hcl-synth",
        tmp_path / "hcl",
        json_dir=deployed.cdktf_out,
        cdktf=str(CDKTF),
    )
    _timed(deployed, "4c make hcl (cdktf synth --hcl, rewrite)", started)
    workers_dir = tmp_path / "hcl" / deployed.settings.stack_name
    assert sorted(p.parent.name for p in written) == sorted(
        [deployed.settings.stack_name, deployed.settings.bootstrap_stack_name]
    )
    main_tf = (workers_dir / "main.tf").read_text()
    # AND it is plain HCL beside its Lambda zip and lock file, no cdktf JSON left over
    assert not list((tmp_path / "hcl").rglob("cdk.tf*"))
    assert list(workers_dir.glob("assets/*/*/queue_depth_lambda.zip"))
    assert (workers_dir / ".terraform.lock.hcl").read_text() == PROJECT_LOCK.read_text()
    assert "#checkov:skip=CKV_AWS_116:" in main_tf
    assert not re.search(r'"\$\{[A-Za-z_][\w-]*(\.[\w-]+|\[\d+\])+\}"', main_tf)

    # WHEN each stack is validated, and the worker stack is planned against the state
    # `cdktf deploy` wrote (same S3 backend and key)
    started = time.monotonic()
    for stack_dir in (p.parent for p in written):
        offline = Terraform(stack_dir, deployed.env)
        offline.run("init", "-backend=false", "-input=false", "-no-color")
        validated = offline.run("validate", "-no-color")
        assert "Success! The configuration is valid." in validated.stdout
        assert "Warning" not in validated.stdout + validated.stderr
    hcl = Terraform(workers_dir, deployed.env)
    hcl.init()
    code, plan = hcl.plan_exit_code()
    _timed(deployed, "4d terraform plan of the HCL on the cdktf state", started)

    # THEN there is nothing to change: every address and attribute matches
    changed = [line for line in plan.stdout.splitlines() if line.lstrip().startswith("# ")]
    assert code == PLAN_NO_CHANGES, "\n".join(changed) or plan.stdout[-3000:]
    declared = re.findall(r'^resource "([^"]+)" "([^"]+)"', main_tf, re.MULTILINE)
    managed = {a for a in hcl.state_addresses() if not a.startswith("data.")}
    assert {f"{t}.{n}" for t, n in declared} == managed


def _json_documents(text: str) -> tuple[list[Any], str]:
    """The JSON documents the AWS CLI printed one after another, and the text after them."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        try:
            document, index = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            break
        documents.append(document)
    return documents, text[index:]


def _timestamp(value: str | float) -> datetime:
    """A datapoint's time as the AWS CLI prints it: ISO 8601, or epoch seconds (AWS CLI v1
    prints CloudWatch's timestamps raw, and its current protocol sends numbers)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.fromtimestamp(value, UTC)


@pytest.fixture
def demo_minutes(deployed: Deployed, tmp_path: Path) -> list[datetime]:
    """The demo's loop (its own code and clock) for ``DEMO_TICKS`` simulated minutes."""
    context = RunContext(
        settings=deployed.settings,
        run_dir=tmp_path / "demo",
        synth_dir=deployed.cdktf_out,
        zip_path=deployed.lambda_zip,
        ticks=DEMO_TICKS,
        keep=True,
    )
    context.run_dir.mkdir()
    context.outputs = deployed.outputs
    started = time.monotonic()
    run_loop(context, deployed.aws, deployed.clients)
    _timed(deployed, f"4e demo loop ({DEMO_TICKS} ticks)", started)
    assert context.clock_end is not None
    return [context.clock_end - timedelta(minutes=m) for m in range(DEMO_TICKS, 0, -1)]


def test_seed_verification_commands_run_verbatim_with_the_aws_cli_and_show_the_demo_data(
    deployed: Deployed, demo_minutes: list[datetime], tmp_path: Path
) -> None:
    # GIVEN the AWS CLI from PyPI (`make setup`), no profile or config of this machine
    assert AWS_CLI.is_file(), f"{AWS_CLI} is missing: run `make setup`"
    # AND the commands as `fleetctl report` renders them for bash, written to a file as is
    report = build_report(deployed.settings, deployed.cdktf_out, verify_minutes=30)
    script = tmp_path / "commands.sh"
    script.write_text(report.bash_commands)
    environment = {
        **os.environ,
        **deployed.env,
        "PATH": f"{AWS_CLI.parent}:{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }
    started = time.monotonic()

    # WHEN bash runs them, stopping at the first failure, in a folder whose cdktf.out is
    # the deployed stack (where `fleetctl verify` reads the stack's outputs)
    done = subprocess.run(
        ["bash", "-e", str(script)],
        cwd=deployed.workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    _timed(deployed, "4f the seed's verification commands (AWS CLI)", started)

    # THEN every AWS CLI command printed its answer, in order, and `fleetctl verify` ran
    # last (exit 1 allowed: between test runs the pipeline is not live, so it finds gaps)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    documents, verify_text = _json_documents(done.stdout)
    types, tracked = len(WorkerType), len(TARGET_TRACKED_TYPES)
    assert len(documents) == 1 + types + tracked + types + 3, done.stderr[-3000:]
    listed, rest = documents[0], documents[1:]
    queue_depth, rest = rest[:types], rest[types:]
    backlog, rest = rest[:tracked], rest[tracked:]
    policies, (rule, targets, variables) = rest[:types], rest[types:]
    outputs = deployed.outputs
    # AND 1) lists both metrics of every worker type
    series = {(m["MetricName"], m["Dimensions"][0]["Value"]) for m in listed["Metrics"]}
    for worker_type in WorkerType:
        assert (outputs.metric_name, worker_type.value) in series
        assert (outputs.backlog_per_instance_metric_name, worker_type.value) in series
    # AND 2) "30 minutes ago" to now finds every demo minute, the last one the present,
    # and tick 1's QueueDepth is the whole burst, still waiting
    first, last = demo_minutes[0], demo_minutes[-1]
    assert datetime.now(first.tzinfo) - last < timedelta(minutes=5)
    burst = {WorkerType.AI: 2 * 60, WorkerType.VIDEO: 12, WorkerType.MESSAGING: 80}
    assert [d["Label"] for d in queue_depth] == [outputs.metric_name] * types
    for worker_type, document in zip(WorkerType, queue_depth, strict=True):
        sums = {_timestamp(p["Timestamp"]): p["Sum"] for p in document["Datapoints"]}
        assert set(demo_minutes) <= set(sums), (worker_type, sorted(sums))
        assert sums[first] == burst[worker_type]
    # AND 3) BacklogPerInstance of the target-tracked fleets over the same minutes
    for document in backlog:
        assert document["Label"] == outputs.backlog_per_instance_metric_name
        stamps = {_timestamp(p["Timestamp"]) for p in document["Datapoints"]}
        assert set(demo_minutes) <= stamps
    # AND 4) AI and Messaging have their target-tracking policy, Video none
    by_group = {outputs.fleets[t].asg_name: t for t in WorkerType}
    found = [p for d in policies for p in d["ScalingPolicies"]]
    assert len(found) == len(TARGET_TRACKED_TYPES)
    assert {by_group[p["AutoScalingGroupName"]] for p in found} == set(TARGET_TRACKED_TYPES)
    # AND 5) the schedule targets the function, whose environment names the metrics
    assert rule["Name"] == outputs.schedule_rule_name
    assert targets["Targets"][0]["Arn"].endswith(f":function:{outputs.function_name}")
    assert variables["METRIC_NAMESPACE"] == outputs.metric_namespace
    # AND 6) verify found the metrics listed and the policies on the contract
    for check in ("metrics listed", "scaling policies"):
        row = next(line for line in verify_text.splitlines() if check in line)
        assert "PASS" in row, verify_text


def test_held_state_lock_makes_a_second_deploy_fail_naming_the_holder(deployed: Deployed) -> None:
    # GIVEN another Terraform process holding the state lock (a console keeps it while open)
    s3 = deployed.clients["s3"]
    backend = deployed.settings.backend
    lock_key = f"{backend.key}.tflock"
    holder = subprocess.Popen(
        ["terraform", f"-chdir={deployed.stack_dir}", "console", "-no-color"],
        env={**os.environ, **deployed.env},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        lock: dict[str, Any] = {}
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not lock and time.monotonic() < deadline:
            try:
                body = s3.get_object(Bucket=backend.bucket, Key=lock_key)["Body"].read()
                lock = json.loads(body)
            except s3.exceptions.NoSuchKey:
                time.sleep(0.2)
        assert lock, f"no {lock_key} after {LOCK_WAIT_SECONDS} s"

        # WHEN a second deploy runs
        second = deployed.cdktf("deploy", "--auto-approve")
        deployed.timings["5 cdktf deploy against a held lock (fails)"] = second.seconds
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)

    # THEN it fails, saying the lock is held, by whom, and which lock
    assert second.returncode != 0
    assert "Error acquiring the state lock" in second.output
    assert "PreconditionFailed" in second.output  # S3's 412 on the conditional write
    assert re.search(rf"Who:\s+{re.escape(lock['Who'])}", second.output), second.output[-3000:]
    assert "@" in lock["Who"]
    assert re.search(rf"ID:\s+{re.escape(lock['ID'])}", second.output)
    # AND the holder's lock is released when it ends, so deploys go on
    assert s3.list_objects_v2(Bucket=backend.bucket, Prefix=lock_key).get("KeyCount") == 0


def test_cdktf_destroy_then_the_state_bucket_stack_leave_nothing(deployed: Deployed) -> None:
    # GIVEN the deployed stacks (every test above has run)
    clients = deployed.clients
    # WHEN the worker stack is destroyed with cdktf
    destroy = deployed.cdktf("destroy", "--auto-approve")
    deployed.timings["6 cdktf destroy"] = destroy.seconds
    assert destroy.returncode == 0, destroy.output[-4000:]
    worker_state = deployed.workers.state_addresses()
    # AND the state bucket is emptied and its stack destroyed (the demo's code)
    started = time.monotonic()
    empty_bucket(clients["s3"], deployed.settings.backend.bucket)
    deployed.bootstrap.destroy()
    _timed(deployed, "6b destroy the state bucket stack", started)

    # THEN no resource is left in either state, nor in the local AWS
    assert worker_state == []
    assert clients["autoscaling"].describe_auto_scaling_groups()["AutoScalingGroups"] == []
    assert clients["sqs"].list_queues().get("QueueUrls", []) == []
    assert clients["lambda"].list_functions()["Functions"] == []
    assert clients["cloudwatch"].list_dashboards()["DashboardEntries"] == []
    assert deployed.bootstrap.state_addresses() == []
    buckets = {b["Name"] for b in clients["s3"].list_buckets()["Buckets"]}
    assert deployed.settings.backend.bucket not in buckets
