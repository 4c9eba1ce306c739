"""The PR check's plan summary (``scripts/plan_file.py``), on plan documents in
Terraform's JSON format. The whole step against a real plan is in
``tests/e2e/test_users_path.py``."""

from __future__ import annotations

from typing import Any

import pytest

from scripts import plan_file


def _change(address: str, *actions: str) -> dict[str, Any]:
    return {"address": address, "change": {"actions": list(actions)}}


@pytest.mark.parametrize(
    ("actions", "word"),
    [
        (["delete", "create"], "replace"),
        (["create", "delete"], "replace"),
        (["update"], "update"),
        (["no-op"], "no-op"),
    ],
)
def test_actions_read_as_one_word(actions: list[str], word: str) -> None:
    assert plan_file.action_of(actions) == word


def test_summary_lists_changes_replacements_last_and_leaves_out_reads_and_no_ops() -> None:
    # GIVEN a plan with every kind of action
    plan = {
        "resource_changes": [
            _change("aws_sqs_queue.b", "delete", "create"),
            _change("aws_sqs_queue.a", "create"),
            _change("data.aws_iam_policy_document.p", "read"),
            _change("aws_lambda_function.f", "update"),
            _change("aws_iam_role.r", "no-op"),
            _change("aws_s3_bucket.old", "delete"),
        ],
        "output_changes": {"fleets": {"actions": ["update"]}, "region": {"actions": ["no-op"]}},
    }
    # WHEN it is summarized
    summary = plan_file.summarize(plan)
    # THEN the rows go create, update, replace, delete; reads and no-ops are not changes
    assert summary.changes == (
        ("create", "aws_sqs_queue.a"),
        ("update", "aws_lambda_function.f"),
        ("replace", "aws_sqs_queue.b"),
        ("delete", "aws_s3_bucket.old"),
    )
    assert summary.outputs == ("fleets",)
    assert plan_file.headline(summary) == "1 to create, 1 to update, 1 to replace, 1 to delete"
    # AND the Markdown carries a row per change and the plan text, folded
    markdown = plan_file.render_markdown(summary, "workers-prod", "Plan: ...\n", ["p.tfplan"])
    assert markdown.startswith("## terraform plan: workers-prod\n")
    assert "| replace | `aws_sqs_queue.b` |" in markdown
    assert "<details><summary>terraform show (1 lines)</summary>" in markdown


def test_an_empty_plan_says_no_changes() -> None:
    summary = plan_file.summarize({"resource_changes": [_change("aws_iam_role.r", "no-op")]})
    assert not summary.has_changes
    assert plan_file.headline(summary) == "No changes."


def test_a_huge_plan_text_is_cut_in_the_summary_only() -> None:
    text = "x" * (plan_file.MAX_SUMMARY_TEXT_CHARS + 10)
    markdown = plan_file.render_markdown(plan_file.PlanSummary(), "s", text, [])
    assert "(cut; the whole plan is in the .txt file)" in markdown
    assert len(markdown) < plan_file.MAX_SUMMARY_TEXT_CHARS + 1000


def test_a_missing_stack_is_one_line_and_exit_2(tmp_path: Any, capsys: Any) -> None:
    code = plan_file.main(["--stack-dir", str(tmp_path / "nope"), "--out", str(tmp_path / "p")])
    assert code == 2
    assert capsys.readouterr().err.strip().endswith("cdk.tf.json is missing: run make synth")
