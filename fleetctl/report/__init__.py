"""``fleetctl report``: the metric schema report, rebuilt from synthesized Terraform.

The seed was a hand-written "metric schema extraction report" (publisher,
consumers per ASG, the Video fleet, the tenant backlog JOIN, verification
commands). This package rebuilds it from evidence only:

* ``cdktf.out/stacks/workers-<env>/cdk.tf.json`` (what ``make synth`` wrote):
  the Lambda's environment, handler and IAM policy document, the EventBridge
  rule, the ASGs and their scaling policies;
* the metric contract (``worker_metrics.contract``) and the Lambda's source
  (``fleetctl.code_map``) for where datums are built and published;
* the environment's settings (``config/<env>.toml``) for the region.

``build_report`` returns a ``Report`` including its ``drift``: every place where
a consumer and the publisher disagree (see ``DriftKind``). ``render`` turns it
into Markdown or HTML with the jinja2 templates in ``fleetctl/report/templates``.

Modules, along the seams of that pipeline:

* ``stack``: ``SynthesizedStack``, the ``cdk.tf.json`` reader with reference resolution;
* ``extract``: the publisher (function, environment, IAM statements, schedule),
  the fleets' ASGs and the scaling policies with the series they consume;
* ``observers``: the dashboards' graphs and the alarms, and the AWS resources
  their ``AWS/*`` series come from;
* ``drift``: the checks, one function per concern, each returning ``Drift``;
* ``tenant``: the tenant backlog section;
* ``model``: the report's dataclasses and ``DriftKind``;
* ``build``: ``build_report``, which puts them together;
* ``render``: Markdown, HTML and the verification commands;
* ``command``: the subcommand's arguments and exit codes (the ``fleetctl.cli`` interface).
"""

from fleetctl.report.build import build_report
from fleetctl.report.command import DESCRIPTION, EPILOG, HELP, add_arguments, run
from fleetctl.report.model import DEFAULT_VERIFY_MINUTES, Drift, DriftKind, Report
from fleetctl.report.render import FORMATS, render
from fleetctl.report.stack import ReportError, SynthesizedStack

__all__ = [
    "DEFAULT_VERIFY_MINUTES",
    "DESCRIPTION",
    "EPILOG",
    "FORMATS",
    "HELP",
    "Drift",
    "DriftKind",
    "Report",
    "ReportError",
    "SynthesizedStack",
    "add_arguments",
    "build_report",
    "render",
    "run",
]
