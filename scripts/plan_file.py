"""A PR check's plan, kept: the saved plan file, its JSON and a summary of the changes.

    python scripts/plan_file.py --stack-dir cdktf.out/stacks/workers-prod --out out/plan-prod

In the synthesized stack folder (``make plan-file`` synthesizes it first) this runs
``terraform init`` (the stack's backend; the provider checked against the committed
lock file), ``terraform plan -out``, then, from the saved plan, ``terraform show``
and ``terraform show -json``. It writes

* ``<out>.tfplan``: the plan file itself. ``terraform apply <out>.tfplan`` in the same
  folder applies exactly it, as long as the state has not moved since;
* ``<out>.json``: ``terraform show -json`` of it, for reviewers and policy tools
  (``resource_changes``, ``resource_drift``, ``output_changes``, ...);
* ``<out>.txt``: the plan as Terraform prints it;
* ``<out>.md``: the summary for a job summary: counts per action, one row per
  resource that changes, the outputs that change, then the plan text.

Exit 0 when a plan was made (with or without changes), 1 when init, plan or show
failed (the message names the command and quotes its output), 2 on bad arguments.
The plan takes the state lock (``use_lockfile``) like any plan: a held lock fails it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetctl.terraform import Terraform, TerraformError

PLAN_TIMEOUT_SECONDS = 1800.0
"""Bound on init, plan and show each: a prod plan reads every resource once."""

MAX_SUMMARY_TEXT_CHARS = 60_000
"""Plan text kept in the Markdown summary (GitHub caps a job summary at 1 MiB)."""

ACTION_ORDER = ("create", "update", "replace", "delete")
"""Order of the counts and rows (``replace`` and ``delete`` last: read them first)."""

NOT_A_CHANGE = frozenset({"no-op", "read"})
"""Actions left out of the summary, as Terraform's own ``Plan:`` line leaves them out."""


@dataclass(frozen=True)
class PlanSummary:
    """What a plan JSON says will change.

    ``changes``: ``(action, address)`` for every resource to create, update,
    replace (delete and create, in either order) or delete; data sources to read
    are left out.
    ``outputs``: names of outputs whose value changes. (``resource_drift`` is left
    out, as Terraform's own text leaves out drift that changes nothing planned.)
    """

    changes: tuple[tuple[str, str], ...] = ()
    outputs: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.outputs)


def action_of(actions: Sequence[str]) -> str:
    """Terraform's ``change.actions`` list as one word (``["delete", "create"]`` -> replace)."""
    if set(actions) == {"delete", "create"}:
        return "replace"
    if len(actions) == 1:
        return actions[0]
    return "+".join(actions)


def summarize(plan: Mapping[str, Any]) -> PlanSummary:
    """The changes of a ``terraform show -json`` plan document."""
    changes = []
    for resource in plan.get("resource_changes") or []:
        action = action_of((resource.get("change") or {}).get("actions") or ["no-op"])
        if action not in NOT_A_CHANGE:
            changes.append((action, str(resource.get("address", "?"))))
    order = {action: index for index, action in enumerate(ACTION_ORDER)}
    changes.sort(key=lambda change: (order.get(change[0], len(order)), change[1]))
    outputs = sorted(
        name
        for name, change in (plan.get("output_changes") or {}).items()
        if action_of((change or {}).get("actions") or ["no-op"]) != "no-op"
    )
    return PlanSummary(tuple(changes), tuple(outputs), dict(Counter(a for a, _ in changes)))


def headline(summary: PlanSummary) -> str:
    """``2 to create, 1 to update, 0 to replace, 0 to delete``, or ``No changes.``"""
    if not summary.has_changes:
        return "No changes."
    counts = ", ".join(f"{summary.counts.get(action, 0)} to {action}" for action in ACTION_ORDER)
    if summary.outputs and not summary.changes:
        counts += f"; only outputs change ({len(summary.outputs)})"
    return counts


def render_markdown(summary: PlanSummary, stack: str, plan_text: str, files: Sequence[str]) -> str:
    """The job summary: headline, one row per change, outputs, then the plan text folded."""
    lines = [f"## terraform plan: {stack}", "", f"**{headline(summary)}**", ""]
    if summary.changes:
        lines += ["| Action | Resource |", "|---|---|"]
        lines += [f"| {action} | `{address}` |" for action, address in summary.changes]
        lines.append("")
    if summary.outputs:
        lines += [f"Outputs that change: {', '.join(f'`{n}`' for n in summary.outputs)}", ""]
    lines += [f"Kept in the artifact: {', '.join(f'`{name}`' for name in files)}.", ""]
    shown = plan_text
    if len(shown) > MAX_SUMMARY_TEXT_CHARS:
        shown = shown[:MAX_SUMMARY_TEXT_CHARS] + "\n... (cut; the whole plan is in the .txt file)"
    lines += [
        f"<details><summary>terraform show ({len(plan_text.splitlines())} lines)</summary>",
        "",
        "```",
        shown.rstrip("\n"),
        "```",
        "</details>",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class PlanFiles:
    """The four files ``make_plan_files`` writes."""

    plan: Path
    json: Path
    text: Path
    summary: Path

    @classmethod
    def at(cls, out: Path) -> PlanFiles:
        """The files for the prefix ``out`` (``out/plan-prod`` -> ``out/plan-prod.tfplan``, ...)."""
        return cls(
            plan=out.with_name(out.name + ".tfplan"),
            json=out.with_name(out.name + ".json"),
            text=out.with_name(out.name + ".txt"),
            summary=out.with_name(out.name + ".md"),
        )

    def all(self) -> tuple[Path, ...]:
        return (self.plan, self.json, self.text, self.summary)


def make_plan_files(
    stack_dir: Path,
    out: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = PLAN_TIMEOUT_SECONDS,
) -> tuple[PlanFiles, PlanSummary]:
    """Init, plan with ``-out``, show; write the four files next to ``out``.

    Raises ``TerraformError`` when a command fails.
    """
    stack_dir, out = stack_dir.resolve(), out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    files = PlanFiles.at(out)
    for path in files.all():
        path.unlink(missing_ok=True)  # never leave last run's plan beside a failed one
    terraform = Terraform(stack_dir, env or {}, timeout=timeout)
    terraform.run("init", "-input=false", "-no-color")
    terraform.run("plan", "-input=false", "-no-color", f"-out={files.plan}")
    text = terraform.run("show", "-no-color", str(files.plan)).stdout
    document = terraform.run("show", "-json", str(files.plan)).stdout
    try:
        plan = json.loads(document)
    except json.JSONDecodeError as error:
        raise TerraformError(f"`terraform show -json {files.plan}`: not JSON: {error}") from None
    files.json.write_text(document if document.endswith("\n") else document + "\n")
    files.text.write_text(text)
    summary = summarize(plan)
    names = [path.name for path in files.all()]
    files.summary.write_text(render_markdown(summary, stack_dir.name, text, names))
    return files, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--stack-dir", type=Path, required=True, help="a synthesized stack")
    parser.add_argument("--out", type=Path, required=True, help="prefix, e.g. out/plan-prod")
    args = parser.parse_args(argv)
    if not (args.stack_dir / "cdk.tf.json").is_file():
        missing = args.stack_dir / "cdk.tf.json"
        print(f"plan-file: {missing} is missing: run make synth", file=sys.stderr)
        return 2
    try:
        files, summary = make_plan_files(args.stack_dir, args.out)
    except TerraformError as error:
        print(f"plan-file: {error}", file=sys.stderr)
        return 1
    print(f"plan-file: {headline(summary)}")
    for path in files.all():
        print(f"  {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
