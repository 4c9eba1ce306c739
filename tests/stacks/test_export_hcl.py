"""``make hcl``'s rewrite of ``cdktf synth --hcl`` output (``scripts/export_hcl.py``).

That the exported HCL validates and plans no changes against the state
``cdktf deploy`` wrote is proven end to end in ``tests/e2e/test_users_path.py``.
"""

from __future__ import annotations

import pytest

from scripts import export_hcl

CDKTF_HCL = """\
resource "aws_sqs_queue" "q_1" {
  name = "q"
}
resource "aws_sqs_queue" "r_2" {
  redrive_policy = "${jsonencode({ "deadLetterTargetArn" = aws_sqs_queue.q_1.arn })}"
  tags           = "${var.tags}"
  url            = "${aws_sqs_queue.q_1.url}"
  arn            = "prefix-${aws_sqs_queue.q_1.arn}"
  first          = "${aws_subnet.s[0].id}"
}
resource "aws_autoscaling_group" "g_3" {
  lifecycle {
    ignore_changes = [
      "desired_capacity",
    ]
  }
  depends_on = [
    "aws_sqs_queue.q_1",
  ]
}
"""


def test_references_are_written_as_references_and_the_rest_is_untouched() -> None:
    # WHEN cdktf's HCL is rewritten
    out = export_hcl.rewrite(CDKTF_HCL, {})
    # THEN interpolation-only references are bare, quoted list entries unquoted
    assert "  url            = aws_sqs_queue.q_1.url\n" in out
    assert "  tags           = var.tags\n" in out
    assert "  first          = aws_subnet.s[0].id\n" in out
    assert "      desired_capacity,\n" in out
    assert "    aws_sqs_queue.q_1,\n" in out
    # AND templates and function calls stay as they were
    assert '"${jsonencode({ "deadLetterTargetArn" = aws_sqs_queue.q_1.arn })}"' in out
    assert '"prefix-${aws_sqs_queue.q_1.arn}"' in out


def test_checkov_skips_become_checkovs_own_inline_comments() -> None:
    # GIVEN the synthesized JSON's skips for one resource
    stack_json = {
        "resource": {
            "aws_sqs_queue": {
                "q_1": {"//": {"checkov": {"skip": [{"id": "CKV_AWS_27", "comment": "why\n  so"}]}}}
            }
        }
    }
    skips = export_hcl.checkov_skips(stack_json)
    assert skips == {("resource", "aws_sqs_queue.q_1"): [("CKV_AWS_27", "why so")]}
    # WHEN the HCL is rewritten THEN the skip sits first inside that block
    out = export_hcl.rewrite(CDKTF_HCL, skips)
    assert 'resource "aws_sqs_queue" "q_1" {\n  #checkov:skip=CKV_AWS_27:why so\n' in out


def test_a_skip_whose_block_is_missing_is_an_error() -> None:
    skips = {("resource", "aws_sqs_queue.gone"): [("CKV_AWS_27", "why")]}
    with pytest.raises(export_hcl.ExportError, match=r"aws_sqs_queue\.gone"):
        export_hcl.rewrite(CDKTF_HCL, skips)


def test_an_unknown_environment_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert export_hcl.main(["--env", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no such environment 'nope'" in err


def test_a_string_with_quotes_is_quoted_again_with_the_same_value() -> None:
    # GIVEN a JSON string template with quotes, a backslash sequence, a newline,
    # an interpolation (with quotes of its own) and an escaped literal `$${`
    value = '{"a": "${aws_x.y.arn}", "m": "line\\nnext"}\n${jsonencode({ "k" = 1 })} $${literal}'
    # WHEN it is written as an HCL quoted template
    quoted = export_hcl.hcl_string(value)
    # THEN only the literal text is escaped; interpolations and `$${` stay as they are
    assert quoted == (
        '"{\\"a\\": \\"${aws_x.y.arn}\\", \\"m\\": \\"line\\\\nnext\\"}\\n'
        '${jsonencode({ "k" = 1 })} $${literal}"'
    )
    assert export_hcl.literal_text(value) == '{"a": "", "m": "line\\nnext"}\n $${literal}'


def test_cdktfs_unescaped_string_line_is_replaced_from_the_json() -> None:
    # GIVEN cdktf's HCL with a body it did not escape, and the stack's JSON
    stack_json = {
        "resource": {
            "aws_cloudwatch_dashboard": {
                "d_1": {"dashboard_name": "n", "dashboard_body": '{"w": ["${aws_a.b.arn}"]}'}
            }
        }
    }
    hcl = (
        'resource "aws_cloudwatch_dashboard" "d_1" {\n'
        '  dashboard_body = "{"w": [" $ { aws_a.b.arn } "]}"\n'
        '  dashboard_name = "n"\n'
        "}\n"
    )
    body = '{"w": ["${aws_a.b.arn}"]}'
    strings = export_hcl.strings_to_requote(stack_json)
    assert strings == {("resource", "aws_cloudwatch_dashboard.d_1"): {"dashboard_body": body}}
    # WHEN it is rewritten THEN that line carries the JSON's value, escaped
    out = export_hcl.rewrite(hcl, {}, strings)
    assert '  dashboard_body = "{\\"w\\": [\\"${aws_a.b.arn}\\"]}"\n' in out
    assert '  dashboard_name = "n"\n' in out
    # AND an attribute the HCL lacks is an error, not a silent skip
    with pytest.raises(export_hcl.ExportError, match=r"aws_cloudwatch_dashboard\.d_1\.other"):
        export_hcl.rewrite(hcl, {}, {("resource", "aws_cloudwatch_dashboard.d_1"): {"other": "x"}})
