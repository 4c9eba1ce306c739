"""``fleetctl diagram``: the architecture graph comes from the synthesized stack's
references, the picture is reproducible, and the committed one is current."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fleetctl.cli import main
from fleetctl.diagram import draw
from fleetctl.diagram.graph import Architecture, EdgeKind, NodeKind, architecture
from fleetctl.report.stack import SynthesizedStack
from tests.conftest import ROOT, Synthesized

pytestmark = pytest.mark.synth

COMMITTED = ROOT / "docs" / "architecture-prod.svg"


def graph_of(synth_dir: Path, env: str) -> Architecture:
    stack = f"workers-{env}"
    return architecture(SynthesizedStack.load(synth_dir, stack), stack)


def labelled(graph: Architecture, kind: EdgeKind) -> set[tuple[str, str]]:
    """``(source name, target name)`` of the edges of ``kind``, by each node's second line."""
    name = {n.id: n.lines[1] for n in graph.nodes.values()}
    return {(name[e.source], name[e.target]) for e in graph.edges if e.kind is kind}


def test_the_prod_graph_follows_the_stack(synthesized: Synthesized) -> None:
    # GIVEN the synthesized prod stack
    # WHEN its architecture graph is read
    graph = graph_of(synthesized.outdir, "prod")

    # THEN the schedule invokes the Lambda, which reads every queue and publishes the contract
    assert labelled(graph, EdgeKind.INVOKES) == {
        ("academy-prod-queue-depth", "academy-prod-queue-depth")
    }
    queues = {
        "academy-ai-inference",
        "academy-ai-embedding",
        "academy-video-encode",
        "academy-messaging",
    }
    assert {q for _, q in labelled(graph, EdgeKind.READS)} == queues
    assert {m for _, m in labelled(graph, EdgeKind.PUBLISHES)} == {
        "QueueDepth",
        "BacklogPerInstance",
        "PublisherErrors",
    }
    # target tracking on BacklogPerInstance scales AI and Messaging; the Lambda sets Video
    assert labelled(graph, EdgeKind.TRACKS) == {
        ("BacklogPerInstance", "academy-prod-ai-workers-backlog-per-instance"),
        ("BacklogPerInstance", "academy-prod-messaging-workers-backlog-per-instance"),
    }
    assert labelled(graph, EdgeKind.SCALES) == {
        ("academy-prod-ai-workers-backlog-per-instance", "academy-prod-ai-workers"),
        ("academy-prod-messaging-workers-backlog-per-instance", "academy-prod-messaging-workers"),
    }
    # (and starts AI, at min_size 0, from zero: activation)
    assert labelled(graph, EdgeKind.SETS_DESIRED) == {
        ("academy-prod-queue-depth", "academy-prod-video-workers"),
        ("academy-prod-queue-depth", "academy-prod-ai-workers"),
    }
    # each fleet's instances consume its own queues (through their instance role)
    assert labelled(graph, EdgeKind.CONSUMES) == {
        ("academy-prod-ai-workers", "academy-ai-inference"),
        ("academy-prod-ai-workers", "academy-ai-embedding"),
        ("academy-prod-video-workers", "academy-video-encode"),
        ("academy-prod-messaging-workers", "academy-messaging"),
    }
    # the state bucket, alarms grouped by runbook section, the dashboard
    (state,) = [n for n in graph.nodes.values() if n.kind is NodeKind.STATE]
    assert state.lines[1:] == ("academy-prod-tfstate", "workers/prod.tfstate, lockfile")
    alarms = [n for n in graph.nodes.values() if n.kind is NodeKind.ALARMS]
    total = sum(int(n.lines[1].split()[0]) for n in alarms)
    assert total == len(synthesized.json("workers-prod")["resource"]["aws_cloudwatch_metric_alarm"])
    shows = {e.source for e in graph.edges if e.kind is EdgeKind.SHOWS}
    assert shows == {n.id for n in alarms}


def test_created_queues_redrive_to_their_dead_letter_queues(synthesized: Synthesized) -> None:
    # GIVEN the local stack, whose queues the stack creates
    # WHEN its graph is read THEN every queue points at its DLQ through its redrive policy
    graph = graph_of(synthesized.outdir, "local")
    redrives = labelled(graph, EdgeKind.REDRIVES)
    assert len(redrives) == 4
    assert all(dlq == f"{queue}-dlq" for queue, dlq in redrives)


def test_an_edge_the_stack_loses_leaves_the_picture(
    synthesized: Synthesized, tmp_path: Path
) -> None:
    # GIVEN prod without the Lambda's SetDesiredCapacity grant
    document = copy.deepcopy(synthesized.json("workers-prod"))
    for block in document["data"]["aws_iam_policy_document"].values():
        block["statement"] = [
            s for s in block["statement"] if "autoscaling:SetDesiredCapacity" not in s["actions"]
        ]
    stack_dir = tmp_path / "stacks" / "workers-prod"
    stack_dir.mkdir(parents=True)
    (stack_dir / "cdk.tf.json").write_text(json.dumps(document))

    # WHEN its graph is read THEN nothing sets the Video fleet's capacity any more
    assert labelled(graph_of(tmp_path, "prod"), EdgeKind.SETS_DESIRED) == set()


def test_the_committed_picture_is_current(synthesized: Synthesized, tmp_path: Path) -> None:
    # GIVEN the prod stack synthesized from this checkout
    # WHEN the picture is drawn again
    svg, png = draw("prod", synthesized.outdir, tmp_path / "architecture-prod")

    # THEN it is byte for byte the committed one, and a PNG was written beside it
    assert svg.read_text() == COMMITTED.read_text(), (
        "docs/architecture-prod.svg is stale: run `make diagram` and commit it"
    )
    assert png.read_bytes().startswith(b"\x89PNG")


def test_without_a_synthesized_stack_it_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an empty synth directory WHEN the diagram is asked for
    code = main(["diagram", "--env", "prod", "--synth-dir", str(tmp_path)])
    # THEN exit 2 and one line naming `make synth`
    assert code == 2
    assert "run `make synth`" in capsys.readouterr().err
