"""``terraform plan`` of ``workers-local`` against the local AWS (moto on 127.0.0.1).

Set-up (untimed): ``make synth``; a copy of ``cdktf.out/stacks/workers-local``
in a temporary directory; ``fleetctl.local_aws.LocalAws`` started; the state
bucket created with boto3 (what the ``tfstate-local`` stack would make), and
``terraform init`` with the stack's real S3 backend (state and
``use_lockfile`` lock in the local AWS; the endpoint comes from
``AWS_ENDPOINT_URL`` of ``LocalAws.env()``). No backend is overridden.

Timed: ``--runs`` plans of the empty state (every resource to add), one
``terraform apply``, then ``--runs`` plans of the deployed stack (each
refreshes every resource from the local AWS). Every plan takes and releases
the S3 lock.

Usage: python bench/plan_local.py [--runs 5] [--json PATH]
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _measure import (
    ROOT,
    bench_arguments,
    log,
    machine,
    run_checked,
    stats_dict,
    stats_text,
    toolchain_env,
    write_json,
)

sys.path.insert(0, str(ROOT))

import tomllib

import boto3

from fleetctl.local_aws import LocalAws

STACK = "workers-local"
PLAN_SUMMARY = re.compile(r"Plan: \d+ to add, \d+ to change, \d+ to destroy\.|No changes\.")


def _plan(directory: Path, env: dict[str, str]) -> tuple[float, str]:
    result = run_checked(
        ["terraform", f"-chdir={directory}", "plan", "-input=false", "-no-color"],
        env=env,
        what="terraform plan",
    )
    summary = PLAN_SUMMARY.search(result.output)
    return result.wall_s, summary.group(0) if summary else "no plan summary"


def measure(runs: int) -> dict[str, Any]:
    log("make synth")
    subprocess.run(
        ["make", "synth"], cwd=ROOT, env=toolchain_env(), check=True, capture_output=True
    )
    settings = tomllib.loads((ROOT / "config" / "local.toml").read_text())
    bucket, region = settings["backend"]["bucket"], settings["region"]
    result: dict[str, Any] = {"benchmark": "plan_local", "stack": STACK, "runs": runs}
    with (
        tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp,
        LocalAws.start(region=region) as aws,
    ):
        directory = Path(tmp) / STACK
        shutil.copytree(
            ROOT / "cdktf.out" / "stacks" / STACK,
            directory,
            ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl"),
        )
        env = toolchain_env(**aws.env())
        s3 = boto3.client(
            "s3",
            endpoint_url=aws.endpoint,
            region_name=region,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        log(f"terraform init ({STACK}, S3 backend in the local AWS at {aws.endpoint})")
        init = run_checked(
            ["terraform", f"-chdir={directory}", "init", "-input=false", "-no-color"],
            env=env,
            what="terraform init",
        )
        result["init_s"] = init.wall_s
        empty: list[float] = []
        for index in range(runs):
            seconds, summary = _plan(directory, env)
            empty.append(seconds)
            result["empty_state_plan"] = summary
            log(f"plan (empty state) #{index + 1}: {seconds:.2f} s, {summary}")
        result["plan_empty_state_s"] = stats_dict(empty)
        log("terraform apply")
        apply = run_checked(
            [
                "terraform",
                f"-chdir={directory}",
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
            ],
            env=env,
            what="terraform apply",
        )
        result["apply_s"] = apply.wall_s
        deployed: list[float] = []
        for index in range(runs):
            seconds, summary = _plan(directory, env)
            deployed.append(seconds)
            result["deployed_plan"] = summary
            log(f"plan (deployed) #{index + 1}: {seconds:.2f} s, {summary}")
        result["plan_deployed_s"] = stats_dict(deployed)
    return result


def markdown(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"`{result['stack']}` against moto on 127.0.0.1, real S3 backend (state + lock"
            " in the local AWS).",
            "",
            "| Step | Time, median (min-max) | Plan |",
            "|---|---|---|",
            f"| `terraform init` (once) | {result['init_s']:.2f} s | |",
            f"| `terraform plan`, empty state | {stats_text(result['plan_empty_state_s'])} |"
            f" {result['empty_state_plan']} |",
            f"| `terraform apply` (once) | {result['apply_s']:.2f} s | |",
            f"| `terraform plan`, deployed (refresh) | {stats_text(result['plan_deployed_s'])} |"
            f" {result['deployed_plan']} |",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = bench_arguments(__doc__, "timed plans per state", argv)
    result = {"machine": machine(), **measure(args.runs)}
    print(markdown(result))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
