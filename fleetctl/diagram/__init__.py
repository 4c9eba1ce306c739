"""``fleetctl diagram``: the architecture picture, generated from the synthesized stack.

Reads ``cdktf.out/stacks/workers-<env>/cdk.tf.json`` (``graph``), lays the
nodes out in columns (``layout``) and draws SVG and PNG with matplotlib
(``render``). ``make diagram`` writes ``docs/architecture-prod.{svg,png}``; the
SVG is committed and a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "draw the architecture (SVG and PNG) from the synthesized stack"
DESCRIPTION = (
    "Draw the worker stack of one environment: schedule, Lambda, metrics, scaling policies, "
    "fleets, queues and dead-letter queues, alarms, dashboard and state bucket, with the edges "
    "the synthesized Terraform says connect them."
)
EPILOG = """\
examples:
  fleetctl diagram --env prod                         # docs/architecture-prod.svg and .png
  fleetctl diagram --env dev --out out/architecture-dev
  make diagram                                        # synth first, then prod

exit codes: 0 written, 2 no synthesized stack (run `make synth`) or no queue-depth function.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, help="environment name: config/<env>.toml")
    parser.add_argument(
        "--out",
        type=Path,
        help="output path without suffix (default docs/architecture-<env>)",
    )
    parser.add_argument(
        "--synth-dir",
        type=Path,
        default=Path("cdktf.out"),
        help="cdktf output directory (default cdktf.out)",
    )


def draw(env: str, synth_dir: Path, out: Path) -> tuple[Path, Path]:
    """Write ``<out>.svg`` and ``<out>.png`` for ``workers-<env>`` in ``synth_dir``.

    Raises ``fleetctl.report.ReportError`` when the stack is not synthesized.
    """
    from fleetctl.diagram.graph import architecture
    from fleetctl.diagram.layout import layout
    from fleetctl.diagram.render import render
    from fleetctl.report.stack import SynthesizedStack

    stack_name = f"workers-{env}"
    stack = SynthesizedStack.load(synth_dir, stack_name)
    graph = architecture(stack, stack_name)
    return render(graph, layout(graph), f"cdktf.out/stacks/{stack_name}/cdk.tf.json", out)


def run(args: argparse.Namespace) -> int:
    from fleetctl.report.stack import ReportError

    out = args.out or Path("docs") / f"architecture-{args.env}"
    try:
        written = draw(args.env, args.synth_dir, out)
    except ReportError as error:
        print(f"diagram: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"diagram: wrote {path}", file=sys.stderr)
    return 0
