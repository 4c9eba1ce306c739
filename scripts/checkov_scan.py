"""checkov on every synthesized stack, with the inline suppressions cdktf cannot express.

    python scripts/checkov_scan.py [--checkov .venv-scan/bin/checkov] [--stacks cdktf.out/stacks]

Runs checkov's ``terraform_json`` framework over ``cdktf.out/stacks`` and applies
the suppressions that constructs record with ``modules.checkov.suppress`` in each
resource's ``"//".checkov.skip`` (checkov 3.x does not read skips in Terraform
JSON: its ``terraform_json`` runner passes none). Exit status:

* 0: no finding without a suppression, every suppression has a reason and still
  matches a finding, and the required checks passed (below);
* 1: an unsuppressed finding, a stale or reasonless suppression, or a required
  check that did not pass;
* 2: checkov did not run or scanned nothing.

Required checks may never be suppressed and must pass wherever they apply:
IMDSv2, SQS encryption, log retention, the state bucket's hardening and no
wildcard IAM actions (``REQUIRED``). checkov has no EBS-encryption check for
launch templates, so this script checks ``block_device_mappings[*].ebs.encrypted``
itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

REQUIRED: dict[str, str] = {
    "CKV_AWS_79": "IMDSv1 disabled (IMDSv2 required) on launch templates",
    "CKV_AWS_341": "metadata hop limit 1 on launch templates",
    "CKV_AWS_27": "SQS queues encrypted (created queues only; imported ones are not ours)",
    "CKV_AWS_66": "log groups have a retention",
    "CKV_AWS_19": "state bucket encrypted at rest",
    "CKV_AWS_145": "state bucket encrypted with KMS",
    "CKV_AWS_21": "state bucket versioned",
    "CKV2_AWS_6": "state bucket has a public access block",
    "CKV_AWS_53": "public access block: block public ACLs",
    "CKV_AWS_54": "public access block: block public policy",
    "CKV_AWS_55": "public access block: ignore public ACLs",
    "CKV_AWS_56": "public access block: restrict public buckets",
    "CKV_AWS_49": "no '*' actions in policy documents",
    "CKV_AWS_63": "no '*' actions in inline policies",
    "CKV_AWS_1": "no '*:*' administrative policy documents",
    "CKV_AWS_62": "no '*:*' administrative inline policies",
    "CKV_AWS_356": "no Resource '*' for restrictable actions",
}
"""Check id -> what it guards. Never suppressed; must pass at least once per stack
that has the resource type it checks."""


@dataclass(frozen=True)
class Finding:
    stack: str
    logical_id: str
    check_id: str
    check_name: str
    passed: bool


def skips_of(doc: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``{logical id: {check id: reason}}`` from the resources' ``"//".checkov.skip``."""
    out: dict[str, dict[str, str]] = {}
    for section in ("resource", "data"):
        for by_id in doc.get(section, {}).values():
            for logical_id, config in by_id.items():
                for skip in config.get("//", {}).get("checkov", {}).get("skip", []):
                    out.setdefault(logical_id, {})[skip["id"]] = str(
                        skip.get("comment", "")
                    ).strip()
    return out


def unencrypted_volumes(stack: str, doc: Mapping[str, Any]) -> Iterator[str]:
    """Launch templates with a volume that is not encrypted (or no volume mapping)."""
    for logical_id, config in doc.get("resource", {}).get("aws_launch_template", {}).items():
        mappings = config.get("block_device_mappings") or []
        if not mappings or any(
            str((m.get("ebs") or {}).get("encrypted", "")).lower() != "true" for m in mappings
        ):
            yield f"{stack}: aws_launch_template.{logical_id}: EBS volume not encrypted"


def run_checkov(checkov: str, stacks: Path) -> dict[str, Any]:
    """checkov's JSON report for ``stacks`` (one ``terraform_json`` report)."""
    try:
        result = subprocess.run(
            [
                checkov,
                "--directory",
                str(stacks),
                "--framework",
                "terraform_json",
                "--output",
                "json",
                "--compact",
                "--skip-download",  # no call to the Prisma Cloud platform
                "--no-fail-on-crash",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise RuntimeError(f"could not run {checkov}: {err}") from err
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError as err:
        tail = (result.stderr or result.stdout)[-2000:]
        raise RuntimeError(f"checkov exited {result.returncode} without a report:\n{tail}") from err
    if isinstance(report, list):  # one report per framework; we ask for one
        report = next(r for r in report if r.get("check_type") == "terraform_json")
    if "results" not in report:
        raise RuntimeError("checkov scanned no resource: is cdktf.out/stacks synthesized?")
    if report["summary"].get("parsing_errors"):
        raise RuntimeError(f"checkov could not parse: {report['results'].get('parsing_errors')}")
    return report


def findings(report: Mapping[str, Any]) -> list[Finding]:
    out = []
    for key, passed in (("passed_checks", True), ("failed_checks", False)):
        for record in report["results"].get(key, []):
            out.append(
                Finding(
                    stack=record["file_path"].strip("/").split("/")[0],
                    # Python checks name `resource.<id>`, graph checks `<type>.<id>`.
                    logical_id=record["resource"].rsplit(".", 1)[-1],
                    check_id=record["check_id"],
                    check_name=record["check_name"],
                    passed=passed,
                )
            )
    return out


def evaluate(stacks: Path, report: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(problems, suppressed)``: lines to print; any problem fails the scan."""
    problems: list[str] = []
    suppressed: list[str] = []
    all_findings = findings(report)
    for stack_dir in sorted(p for p in stacks.iterdir() if (p / "cdk.tf.json").is_file()):
        stack = stack_dir.name
        doc = json.loads((stack_dir / "cdk.tf.json").read_text())
        problems.extend(unencrypted_volumes(stack, doc))
        skips = skips_of(doc)
        used: set[tuple[str, str]] = set()
        for finding in (f for f in all_findings if f.stack == stack and not f.passed):
            reason = skips.get(finding.logical_id, {}).get(finding.check_id)
            where = f"{stack}: {finding.logical_id}: {finding.check_id} ({finding.check_name})"
            if finding.check_id in REQUIRED:
                problems.append(f"{where}: required check failed")
            elif reason is None:
                problems.append(f"{where}: FAILED, not suppressed")
            else:
                used.add((finding.logical_id, finding.check_id))
                suppressed.append(f"{where}\n      reason: {reason}")
        for logical_id, by_check in sorted(skips.items()):
            for check_id, reason in sorted(by_check.items()):
                where = f"{stack}: {logical_id}: {check_id}"
                if check_id in REQUIRED:
                    problems.append(f"{where}: a required check may not be suppressed")
                elif not reason:
                    problems.append(f"{where}: suppression without a reason")
                elif (logical_id, check_id) not in used:
                    problems.append(f"{where}: stale suppression (no such finding); remove it")
    evaluated = {f.check_id for f in all_findings if f.passed}
    for check_id, what in REQUIRED.items():
        if check_id not in evaluated:
            problems.append(f"{check_id} ({what}): passed nowhere; is the resource gone?")
    return problems, suppressed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(ROOT / ".venv-scan" / "bin" / "checkov"))
    parser.add_argument("--stacks", type=Path, default=ROOT / "cdktf.out" / "stacks")
    parser.add_argument("--verbose", action="store_true", help="list every suppression")
    args = parser.parse_args(argv)
    try:
        report = run_checkov(args.checkov, args.stacks)
    except RuntimeError as err:
        print(f"checkov: {err}", file=sys.stderr)
        return 2
    problems, suppressed = evaluate(args.stacks, report)
    summary = report["summary"]
    if args.verbose:
        for line in suppressed:
            print(f"  suppressed {line}")
    for line in problems:
        print(f"  {line}", file=sys.stderr)
    print(
        f"checkov {summary.get('checkov_version')}: {summary['passed']} passed, "
        f"{summary['failed'] - len(suppressed)} failed, {len(suppressed)} suppressed inline"
        f"{'' if args.verbose else ' (--verbose lists them)'}; {len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
