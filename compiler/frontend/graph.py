"""The dependency graph as text: networkx.DiGraph (from
compiler.resolve.dependency_graph; nodes carry a `kind`) -> Graphviz dot or
Mermaid source, for `pol graph`. Names are quoted, so Chinese and other
Unicode names come through as they are."""
from __future__ import annotations

import json

import networkx as nx

_SHAPES = {"field": "ellipse", "param": "diamond", "let": "box", "segment": "box", "classify": "box",
           "score": "box", "channel": "hexagon", "offer": "doubleoctagon"}


def to_dot(g: nx.DiGraph) -> str:
    lines = ["digraph policy {", "  rankdir=LR;"]
    for node, data in g.nodes(data=True):
        kind = data.get("kind", "")
        lines.append(f"  {json.dumps(node, ensure_ascii=False)} [shape={_SHAPES.get(kind, 'box')}, "
                     f"tooltip={json.dumps(kind)}];")
    for a, b in g.edges:
        lines.append(f"  {json.dumps(a, ensure_ascii=False)} -> {json.dumps(b, ensure_ascii=False)};")
    lines.append("}")
    return "\n".join(lines)


def to_mermaid(g: nx.DiGraph) -> str:
    ids = {node: f"n{k}" for k, node in enumerate(g.nodes)}
    lines = ["flowchart LR"]
    for node, data in g.nodes(data=True):
        label = f"{node} ({data.get('kind', '')})".replace('"', "'")
        lines.append(f'  {ids[node]}["{label}"]')
    for a, b in g.edges:
        lines.append(f"  {ids[a]} --> {ids[b]}")
    return "\n".join(lines)
