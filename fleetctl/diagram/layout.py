"""A layered layout: one column per node kind, left to right in the order data flows.

Within a column nodes keep their ``order`` (fleets by worker type, their queues
and policies in the same order). The fleets' column is stacked evenly; every
other column, nearest first, places each node at the mean height of its
already-placed neighbours, then pushes nodes apart to keep their order and a
minimum gap. Pure arithmetic: the same graph always gives the same layout.
Units are inches, y grows downwards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from fleetctl.diagram.graph import Architecture, Node, NodeKind

BOX_WIDTH = 1.9
COLUMN_PITCH = 2.55
LINE_HEIGHT = 0.15
BOX_PADDING = 0.12
GAP = 0.22
MARGIN_LEFT = 0.3
MARGIN_TOP = 1.0
"""Room for the title and the column headers."""
MARGIN_BOTTOM = 1.1
"""Room for the legend."""
WRAP = 30
"""Characters per line inside a box (names wrap at ``-`` and ``/``)."""
ANCHOR = NodeKind.FLEET


@dataclass(frozen=True)
class Box:
    node: Node
    lines: tuple[str, ...]
    x: float
    y: float
    height: float

    @property
    def left(self) -> float:
        return self.x - BOX_WIDTH / 2

    @property
    def right(self) -> float:
        return self.x + BOX_WIDTH / 2


@dataclass(frozen=True)
class Layout:
    boxes: Mapping[str, Box]
    width: float
    height: float
    columns: tuple[tuple[float, str], ...]
    """``(x, title)`` of each column used."""


def wrap(text: str) -> list[str]:
    """``text`` in lines of at most ``WRAP`` characters, broken after ``-``, ``/`` or a
    space (a longer unbroken word stays whole)."""
    lines: list[str] = []
    current = ""
    for token in re.split(r"(?<=[-/ ])", text):
        if current and len(current) + len(token.rstrip()) > WRAP:
            lines.append(current.rstrip())
            current = ""
        current += token
    lines.append(current.rstrip())
    return lines


def layout(graph: Architecture) -> Layout:
    """Where every node of ``graph`` goes."""
    used = sorted({n.kind.column for n in graph.nodes.values()})
    index = {column: i for i, column in enumerate(used)}
    members: dict[int, list[Node]] = {c: [] for c in used}
    kind_rank = {kind: i for i, kind in enumerate(NodeKind)}
    for node in sorted(graph.nodes.values(), key=lambda n: (kind_rank[n.kind], n.order, n.id)):
        members[node.kind.column].append(node)
    lines = {n.id: tuple(ln for text in n.lines for ln in wrap(text)) for n in graph.nodes.values()}
    height_of = {i: BOX_PADDING * 2 + LINE_HEIGHT * len(ls) for i, ls in lines.items()}
    stacked = {
        c: sum(height_of[n.id] for n in ns) + GAP * (len(ns) - 1) for c, ns in members.items()
    }
    inner = max(stacked.values())

    centre: dict[str, float] = {}
    neighbours: dict[str, set[str]] = {n: set() for n in graph.nodes}
    for edge in graph.edges:
        neighbours[edge.source].add(edge.target)
        neighbours[edge.target].add(edge.source)
    anchor = ANCHOR.column if ANCHOR.column in members else used[0]
    for column in sorted(used, key=lambda c: (abs(c - anchor), c)):
        nodes = members[column]
        top = (inner - stacked[column]) / 2
        even = []
        for node in nodes:
            even.append(top + height_of[node.id] / 2)
            top += height_of[node.id] + GAP
        wanted = []
        for node, default in zip(nodes, even, strict=True):
            placed = [centre[n] for n in sorted(neighbours[node.id]) if n in centre]
            wanted.append(sum(placed) / len(placed) if placed and column != anchor else default)
        for node, y in zip(nodes, _spread(nodes, wanted, height_of, inner), strict=True):
            centre[node.id] = y

    boxes = {
        n.id: Box(
            n,
            lines[n.id],
            MARGIN_LEFT + BOX_WIDTH / 2 + index[n.kind.column] * COLUMN_PITCH,
            MARGIN_TOP + centre[n.id],
            height_of[n.id],
        )
        for n in graph.nodes.values()
    }
    titles: dict[int, list[str]] = {}
    for kind in NodeKind:
        if kind.column in index and any(n.kind is kind for n in graph.nodes.values()):
            titles.setdefault(kind.column, []).append(kind.title)
    columns = tuple(
        (MARGIN_LEFT + BOX_WIDTH / 2 + index[c] * COLUMN_PITCH, " / ".join(titles[c])) for c in used
    )
    width = MARGIN_LEFT * 2 + BOX_WIDTH + (len(used) - 1) * COLUMN_PITCH
    return Layout(boxes, width, MARGIN_TOP + inner + MARGIN_BOTTOM, columns)


def _spread(
    nodes: list[Node], wanted: list[float], height_of: Mapping[str, float], inner: float
) -> list[float]:
    """Centres as close to ``wanted`` as order and ``GAP`` allow, inside ``[0, inner]``."""
    ys: list[float] = []
    for node, y in zip(nodes, wanted, strict=True):
        half = height_of[node.id] / 2
        if ys:
            previous = nodes[len(ys) - 1]
            y = max(y, ys[-1] + height_of[previous.id] / 2 + GAP + half)
        ys.append(max(y, half))
    # Pushed past the bottom: slide back up, keeping the gaps.
    overflow = ys[-1] + height_of[nodes[-1].id] / 2 - inner if ys else 0.0
    if overflow > 0:
        ys = [y - overflow for y in ys]
        for i in range(len(ys)):
            floor = (
                height_of[nodes[i].id] / 2
                if i == 0
                else (ys[i - 1] + height_of[nodes[i - 1].id] / 2 + GAP + height_of[nodes[i].id] / 2)
            )
            ys[i] = max(ys[i], floor)
    return ys
