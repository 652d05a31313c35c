"""The directed graphs `pol check` walks: declarations (an edge A -> B when B
reads A) and files (an edge when one imports the other).

What checking needs of a graph, written here rather than imported from
networkx, whose import took more than a third of a `pol check` of the
telecom library (the pol graph command still hands networkx's DiGraph to
its writers, compiler/frontend/graph.py):

    DiGraph                                   nodes in insertion order, edges
    strongly_connected_components(g)          -> each component, a set of nodes
    topological_order(g, key)                 -> nodes after what they follow; ties by key
"""
from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any


class DiGraph:
    def __init__(self) -> None:
        self._succ: dict[Hashable, dict[Hashable, None]] = {}
        self._pred: dict[Hashable, dict[Hashable, None]] = {}

    def add_node(self, n: Hashable) -> None:
        if n not in self._succ:
            self._succ[n] = {}
            self._pred[n] = {}

    def add_edge(self, a: Hashable, b: Hashable) -> None:
        self.add_node(a)
        self.add_node(b)
        self._succ[a][b] = None
        self._pred[b][a] = None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._succ)

    def __contains__(self, n: object) -> bool:
        return n in self._succ

    def __len__(self) -> int:
        return len(self._succ)

    def successors(self, n: Hashable) -> Iterator[Any]:
        return iter(self._succ[n])

    def predecessors(self, n: Hashable) -> Iterator[Any]:
        return iter(self._pred[n])

    def has_edge(self, a: Hashable, b: Hashable) -> bool:
        return b in self._succ.get(a, {})

    def subgraph(self, nodes: Iterable[Hashable]) -> DiGraph:
        """The nodes given (that are in the graph), in the graph's order, and the edges between them."""
        keep = {n for n in nodes if n in self._succ}
        g = DiGraph()
        for n in self._succ:
            if n in keep:
                g.add_node(n)
        for n in g:
            for m in self._succ[n]:
                if m in keep:
                    g.add_edge(n, m)
        return g


def strongly_connected_components(g: DiGraph) -> list[set[Any]]:
    """Tarjan's algorithm on an explicit stack: a chain of thousands of
    declarations must not reach Python's recursion limit."""
    index: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    on_stack: set[Hashable] = set()
    stack: list[Hashable] = []
    out: list[set[Any]] = []
    for root in g:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, g.successors(root))]
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, g.successors(child)))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = set()
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.add(m)
                        if m == node:
                            break
                    out.append(comp)
    return out


def topological_order(g: DiGraph, key: Callable[[Any], Any]) -> list[Any]:
    """Every node after each node with an edge to it; of the nodes ready at
    once, the one with the smallest key first. ValueError on a cycle."""
    waiting = {n: len(g._pred[n]) for n in g}
    ready = [(key(n), k, n) for k, n in enumerate(g) if waiting[n] == 0]
    heapq.heapify(ready)
    order = {n: k for k, n in enumerate(g)}
    out = []
    while ready:
        _, _, n = heapq.heappop(ready)
        out.append(n)
        for m in g.successors(n):
            waiting[m] -= 1
            if waiting[m] == 0:
                heapq.heappush(ready, (key(m), order[m], m))
    if len(out) != len(g):
        raise ValueError("the graph has a cycle")
    return out
