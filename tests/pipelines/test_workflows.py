"""The GitHub workflows we ship to users: Make targets only, pinned actions, minimal permissions.

Parsed with PyYAML (no GitHub needed). ``actionlint`` checks their syntax and
expressions in ``make lint``; these tests check our own rules on top.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import plan_file

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
OIDC_ACTION = "aws-actions/configure-aws-credentials"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*\S+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")
# Plumbing a step may do around its `make` call: keep output, write the job summary.
PLUMBING = re.compile(
    r"""^(
        \{ | \} .* | echo\b.* | cat\b.* | tail\b.* | grep\b.* | cmp\b.* | \S.*\\ | "\$RUNNER_TEMP/.*
    )$""",
    re.VERBOSE,
)
# A tool run in command position (start of line, after a pipe, `;`, `&&` or `$(`).
FORBIDDEN = re.compile(
    r"(^|[|;&(]\s*)(python3?|pip3?|npm|npx|node|cdktf|terraform|checkov|pytest|ruff|bash|sh|curl|wget"
    r"|aws|\./\S+|scripts/\S+)(\s|$)"
)


def _load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    doc["on"] = doc.pop(True, doc.get("on"))
    return doc  # type: ignore[no-any-return]


def _steps(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(name, job, step) for name, job in doc["jobs"].items() for step in job.get("steps", [])]


def _make_targets() -> set[str]:
    """Targets the Makefile declares: rules and `.PHONY` names (targets other issues build)."""
    text = (ROOT / "Makefile").read_text()
    rules = set(re.findall(r"^([a-z][a-z0-9-]*):", text, re.MULTILINE))
    phony = set(" ".join(re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE)).split())
    return rules | phony


def test_the_two_workflows_exist() -> None:
    # GIVEN the shipped workflows THEN there is a PR check and a deploy
    assert {p.name for p in WORKFLOWS} == {"pr-check.yml", "deploy.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_run_steps_call_make_targets_not_scripts(path: Path) -> None:
    # GIVEN every `run:` step of the workflow
    targets = _make_targets()
    runs = [(job_name, step["run"]) for job_name, _, step in _steps(_load(path)) if "run" in step]
    assert runs, f"{path.name}: no run steps"
    for job_name, script in runs:
        lines = [line.strip() for line in script.strip().splitlines() if line.strip()]
        # THEN each either starts with `make <target>` of our Makefile ...
        first = re.match(r"^make ([a-z][a-z0-9-]*)(\s+[A-Z_]+=\S+)*(\s*\|\s*tee \S+)?$", lines[0])
        if first:
            assert first.group(1) in targets, f"{path.name}: make {first.group(1)}: no such target"
            lines = lines[1:]
        # ... AND the rest is only plumbing (summary, tee, compare), never a tool or script
        for line in lines:
            assert not line.startswith("make ") or re.match(r"^make ([a-z-]+)", line)
            assert PLUMBING.match(line), f"{path.name}/{job_name}: ad-hoc command {line!r}"
            assert not FORBIDDEN.search(line), f"{path.name}/{job_name}: ad-hoc tool: {line!r}"
    # AND every job that runs commands runs a Make target
    doc = _load(path)
    for job_name, job in doc["jobs"].items():
        scripts = [step["run"] for step in job["steps"] if "run" in step]
        assert any(s.lstrip().startswith("make ") for s in scripts), f"{path.name}/{job_name}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_sha_with_its_version(path: Path) -> None:
    # GIVEN every `uses:` of the workflow
    steps = [step for _, _, step in _steps(_load(path)) if "uses" in step]
    assert steps
    for step in steps:
        # THEN it names a commit by its full 40-hex SHA
        assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']!r} is not pinned to a SHA"
    # AND the line carries the release it is, as a comment
    for line in path.read_text().splitlines():
        if "uses:" in line:
            assert VERSION_COMMENT.search(line), f"{path.name}: no `# vX.Y.Z`: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_permissions_are_minimal_and_oidc_only_where_used(path: Path) -> None:
    doc = _load(path)
    # GIVEN the top level THEN it grants read access to the contents only
    assert doc["permissions"] == {"contents": "read"}, path.name
    for name, job in doc["jobs"].items():
        steps = job.get("steps", [])
        uses_oidc = any(step.get("uses", "").startswith(OIDC_ACTION) for step in steps)
        permissions = job.get("permissions", {})
        # THEN a job may mint an OIDC token only when it assumes an AWS role with it
        assert (permissions.get("id-token") == "write") == uses_oidc, f"{path.name}/{name}"
        # AND no job gets more than contents: read besides that token
        assert set(permissions) <= {"contents", "id-token"}, f"{path.name}/{name}: {permissions}"
        assert permissions.get("contents", "read") == "read", f"{path.name}/{name}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_aws_access_is_oidc_with_a_role_from_repository_variables(path: Path) -> None:
    text = path.read_text()
    # GIVEN the workflow THEN no long-lived key is ever read
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    for _, _, step in _steps(_load(path)):
        if step.get("uses", "").startswith(OIDC_ACTION):
            # AND the role comes from a repository variable
            role = step["with"]["role-to-assume"]
            assert re.fullmatch(r"\$\{\{ vars\.AWS_[A-Z_]+_ROLE_ARN \}\}", role), role


def test_pr_check_runs_lint_test_synth_plan_and_report() -> None:
    # GIVEN the PR check
    doc = _load(ROOT / ".github" / "workflows" / "pr-check.yml")
    runs = " ".join(step["run"] for _, _, step in _steps(doc) if "run" in step)
    # THEN it runs the checks, the prod plan into the job summary, and the drift report
    for call in (
        "make setup",
        "make lint",
        "make test",
        "make synth",
        "make plan-file ENV=prod",
        "make report ENV=prod",
    ):
        assert call in runs, call
    assert "$GITHUB_STEP_SUMMARY" in runs
    cached = " ".join(str(step.get("with", {}).get("path", "")) for _, _, step in _steps(doc))
    for folder in (".cache/pip", ".cache/npm", ".cache/jsii"):
        assert folder in cached, folder


def test_pr_check_saves_the_plan_file_its_json_and_a_summary_of_the_changes() -> None:
    # GIVEN the PR check's plan job and the Makefile target its plan step runs
    doc = _load(ROOT / ".github" / "workflows" / "pr-check.yml")
    steps = doc["jobs"]["plan"]["steps"]
    plan_steps = [s for s in steps if s.get("run", "").startswith("make plan-file ENV=prod")]
    assert len(plan_steps) == 1
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^plan-file:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert recipe, "Makefile: no plan-file target"
    # THEN the target writes the saved plan under out/plan-<env> with scripts/plan_file.py,
    # which runs `terraform plan -out` and `terraform show -json` on it
    assert "scripts/plan_file.py --stack-dir cdktf.out/stacks/$(STACK) --out out/plan-$(ENV)" in (
        recipe.group(1)
    )
    script = (ROOT / "scripts" / "plan_file.py").read_text()
    assert '"plan", "-input=false", "-no-color", f"-out={files.plan}"' in script
    assert '"show", "-json", str(files.plan)' in script
    files = plan_file.PlanFiles.at(Path("out/plan-prod"))
    # AND the step puts the summary of the changes into the job summary
    assert f'cat {files.summary} >> "$GITHUB_STEP_SUMMARY"' in plan_steps[0]["run"]
    # AND, after it, the plan file and its JSON are uploaded as an artifact, even on failure
    index = steps.index(plan_steps[0])
    uploads = [s for s in steps[index:] if "upload-artifact" in s.get("uses", "")]
    assert len(uploads) == 1 and uploads[0].get("if") == "always()"
    uploaded = uploads[0]["with"]["path"].split()
    for path in (files.plan, files.json, files.summary):
        assert str(path) in uploaded, path


def test_deploy_is_approved_serialized_and_uses_the_planned_configuration() -> None:
    # GIVEN the deploy workflow
    doc = _load(ROOT / ".github" / "workflows" / "deploy.yml")
    # THEN it runs on main, two deploys never overlap and a running one is never cancelled
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["concurrency"] == {"group": "deploy-prod", "cancel-in-progress": False}
    deploy = doc["jobs"]["deploy"]
    # AND the deploy job waits for approval on the protected environment
    assert deploy["environment"] == "production"
    assert deploy["needs"] == "plan"
    runs = [step["run"] for step in deploy["steps"] if "run" in step]
    assert any(r.startswith("make deploy ENV=prod") for r in runs)
    # AND it deploys only the Terraform JSON that was planned (the plan job's artifact)
    downloads = [s for s in deploy["steps"] if "download-artifact" in s.get("uses", "")]
    assert downloads and any("cmp " in r for r in runs)
    assert deploy.get("env", {}).get("CDKTF_AUTO_APPROVE") == "true" or any(
        step.get("env", {}).get("CDKTF_AUTO_APPROVE") == "true" for step in deploy["steps"]
    )
