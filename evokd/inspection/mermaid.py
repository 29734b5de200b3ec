"""graph.mmd (LangGraph's ``draw_mermaid`` output) drawn as inline SVG, offline.

Only what ``draw_mermaid`` writes is understood: node lines ``id(label)`` / ``id([label])``
and edges ``a --> b`` (plain) or ``a -.-> b`` (conditional), optionally labelled. Layout:
nodes in layers by longest path from the start (back edges of loops ignored), one column;
edges between adjacent layers go straight down, longer forward edges run in lanes on the right,
loop-back edges in lanes on the left.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

NODE_W, NODE_H, GAP_X, GAP_Y, LANE, MARGIN = 132, 30, 24, 22, 14, 16

_NODE = re.compile(r"^([A-Za-z_][\w.:-]*)\s*[(\[{]+(.*?)[)\]}]+(?::::[\w-]+)?\s*;?$")
_EDGE = re.compile(
    r"^([A-Za-z_][\w.:-]*)\s+(-->|-\.->|==>|-\.\s*(.+?)\s*\.->|--\s*(.+?)\s*-->)\s+"
    r"([A-Za-z_][\w.:-]*)\s*;?$"
)
_TAG = re.compile(r"<[^>]*>")
_SKIP = ("graph ", "flowchart ", "classDef ", "class ", "style ", "linkStyle ", "subgraph ",
         "end", "%%", "---", "config:", "flowchart:", "curve:")


@dataclass(frozen=True)
class Edge:
    """One edge; ``conditional`` edges are drawn dashed."""

    source: str
    target: str
    conditional: bool = False
    label: str = ""


@dataclass
class Diagram:
    """Nodes (in declaration order, with display labels) and edges of a mermaid flowchart."""

    nodes: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def add_node(self, name: str, label: str = "") -> None:
        """Declare ``name`` (first declaration wins; a later label fills an empty one)."""
        if name not in self.labels:
            self.nodes.append(name)
            self.labels[name] = label or name
        elif label and self.labels[name] == name:
            self.labels[name] = label


def _clean(label: str) -> str:
    return html.unescape(_TAG.sub("", label)).replace("\u00a0", " ").strip()


def parse_mermaid(text: str) -> Diagram:
    """The nodes and edges of a ``draw_mermaid`` flowchart; other lines are ignored."""
    diagram = Diagram()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(_SKIP):
            continue
        edge = _EDGE.match(line)
        if edge:
            source, arrow, dotted_label, plain_label, target = edge.groups()
            diagram.add_node(source)
            diagram.add_node(target)
            diagram.edges.append(Edge(source, target, arrow.startswith("-."),
                                      _clean(dotted_label or plain_label or "")))
            continue
        node = _NODE.match(line)
        if node:
            diagram.add_node(node.group(1), _clean(node.group(2)))
    return diagram


def _dfs(diagram: Diagram) -> tuple[list[str], set[Edge]]:
    """Discovery order from the start node(s) and the edges that close a loop."""
    out: dict[str, list[Edge]] = {n: [] for n in diagram.nodes}
    for edge in diagram.edges:
        out[edge.source].append(edge)
    has_in = {e.target for e in diagram.edges}
    roots = [n for n in diagram.nodes if n == "__start__"] + [
        n for n in diagram.nodes if n not in has_in and n != "__start__"] + diagram.nodes
    order: list[str] = []
    back: set[Edge] = set()
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in roots:
        if root in state:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        order.append(root)
        while stack:
            name, index = stack[-1]
            if index == len(out[name]):
                state[name] = 2
                stack.pop()
                continue
            stack[-1] = (name, index + 1)
            edge = out[name][index]
            if state.get(edge.target) == 1:
                back.add(edge)
            elif edge.target not in state:
                state[edge.target] = 1
                order.append(edge.target)
                stack.append((edge.target, 0))
    return order, back


def _ranks(diagram: Diagram, order: list[str], back: set[Edge]) -> dict[str, int]:
    """Longest-path layer of each node over the forward (non-loop) edges."""
    forward = [e for e in diagram.edges if e not in back]
    indegree = {n: 0 for n in diagram.nodes}
    for edge in forward:
        indegree[edge.target] += 1
    rank = {n: 0 for n in diagram.nodes}
    ready = [n for n in order if indegree[n] == 0]
    while ready:
        name = ready.pop(0)
        for edge in forward:
            if edge.source == name:
                rank[edge.target] = max(rank[edge.target], rank[name] + 1)
                indegree[edge.target] -= 1
                if indegree[edge.target] == 0:
                    ready.append(edge.target)
    return rank


@dataclass(frozen=True)
class Box:
    """A node's rectangle (top-left corner)."""

    x: float
    y: float

    @property
    def cx(self) -> float:
        return self.x + NODE_W / 2

    @property
    def cy(self) -> float:
        return self.y + NODE_H / 2


def _boxes(diagram: Diagram, order: list[str], rank: dict[str, int], left: float
           ) -> dict[str, Box]:
    layers: dict[int, list[str]] = {}
    for name in order:
        layers.setdefault(rank[name], []).append(name)
    widest = max((len(v) for v in layers.values()), default=1)
    column = widest * NODE_W + (widest - 1) * GAP_X
    boxes = {}
    for level, names in layers.items():
        width = len(names) * NODE_W + (len(names) - 1) * GAP_X
        x0 = left + (column - width) / 2
        for i, name in enumerate(names):
            boxes[name] = Box(x0 + i * (NODE_W + GAP_X), MARGIN + level * (NODE_H + GAP_Y))
    return boxes


def _path(edge: Edge, boxes: dict[str, Box], lanes: dict[Edge, float]) -> str:
    a, b = boxes[edge.source], boxes[edge.target]
    if edge in lanes:  # around the column: right for long forward edges, left for loops
        x = lanes[edge]
        side_a = a.x + NODE_W if x > a.cx else a.x
        side_b = b.x + NODE_W if x > b.cx else b.x
        return f"M{side_a:.0f},{a.cy:.0f} H{x:.0f} V{b.cy:.0f} H{side_b:.0f}"
    y1, y2 = a.y + NODE_H, b.y
    mid = (y1 + y2) / 2
    return f"M{a.cx:.0f},{y1:.0f} C{a.cx:.0f},{mid:.0f} {b.cx:.0f},{mid:.0f} {b.cx:.0f},{y2:.0f}"


def render_svg(diagram: Diagram, badges: dict[str, str] | None = None,
               classes: dict[str, str] | None = None) -> str:
    """The diagram as an ``<svg>`` element; ``badges`` adds a short note under a node's name
    (e.g. its LLM call count), ``classes`` extra CSS classes per node. Nodes get
    ``id="node-NAME"``. All text is escaped."""
    badges, classes = badges or {}, classes or {}
    order, back = _dfs(diagram)
    rank = _ranks(diagram, order, back)
    long_forward = [e for e in diagram.edges if e not in back and rank[e.target] - rank[e.source]
                    != 1]
    left = MARGIN + LANE * (len(back) + 1)
    boxes = _boxes(diagram, order, rank, left)
    right = max((b.x + NODE_W for b in boxes.values()), default=left)
    lanes: dict[Edge, float] = {e: left - LANE * (i + 1) for i, e in enumerate(sorted(
        back, key=lambda e: rank[e.source] - rank[e.target]))}
    lanes |= {e: right + LANE * (i + 1) for i, e in enumerate(sorted(
        long_forward, key=lambda e: rank[e.target] - rank[e.source]))}
    width = right + LANE * (len(long_forward) + 1) + MARGIN
    height = MARGIN * 2 + (max(rank.values(), default=0) + 1) * (NODE_H + GAP_Y)
    esc = html.escape
    parts = [
        f'<svg class="loop-graph" viewBox="0 0 {width:.0f} '
        f'{height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
        'aria-label="the loop graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
        "</defs>",
    ]
    for edge in diagram.edges:
        kind = "edge conditional" if edge.conditional else "edge"
        title = f"{edge.source} → {edge.target}" + (f" ({edge.label})" if edge.label else "")
        parts.append(f'<path class="{kind}" d="{_path(edge, boxes, lanes)}" '
                     f'marker-end="url(#arrow)"><title>{esc(title)}</title></path>')
    for name in diagram.nodes:
        box, label = boxes[name], diagram.labels[name]
        terminal = " terminal" if name in ("__start__", "__end__") else ""
        extra = f" {esc(classes[name])}" if name in classes else ""
        parts.append(f'<g class="node{terminal}{extra}" id="node-{esc(name)}">'
                     f'<title>{esc(label)}</title>'
                     f'<rect x="{box.x:.0f}" y="{box.y:.0f}" width="{NODE_W}" height="{NODE_H}" '
                     f'rx="{NODE_H / 2 if terminal else 7:.0f}"/>')
        text_y = box.cy - (5 if name in badges else -4)
        parts.append(f'<text x="{box.cx:.0f}" y="{text_y:.0f}">{esc(label)}</text>')
        if name in badges:
            parts.append(f'<text class="badge" x="{box.cx:.0f}" y="{box.cy + 10:.0f}">'
                         f"{esc(badges[name])}</text>")
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
