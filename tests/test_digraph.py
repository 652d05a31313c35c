"""compiler/frontend/digraph.py against networkx on random graphs: the same
strongly connected components, and an order that is topological and takes
the smallest key among the nodes ready, as networkx's lexicographical sort."""
from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from pol.compiler.frontend.digraph import DiGraph, strongly_connected_components, topological_order

edges = st.lists(st.tuples(st.integers(0, 15), st.integers(0, 15)), max_size=40)


def _both(n_nodes: int, es: list[tuple[int, int]], acyclic: bool = False):
    if acyclic:
        es = [(a, b) for a, b in es if a < b]
    ours, theirs = DiGraph(), nx.DiGraph()
    for k in range(n_nodes):
        ours.add_node(k)
        theirs.add_node(k)
    for a, b in es:
        ours.add_edge(a, b)
        theirs.add_edge(a, b)
    return ours, theirs


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 16), edges)
def test_components_are_networkx_components(n, es):
    ours, theirs = _both(n, es)
    got = sorted(sorted(c) for c in strongly_connected_components(ours))
    assert got == sorted(sorted(c) for c in nx.strongly_connected_components(theirs))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 16), edges, st.permutations(list(range(16))))
def test_topological_order_is_networkx_lexicographical_order(n, es, keys):
    ours, theirs = _both(n, es, acyclic=True)
    key = {k: keys[k] for k in range(16)}.__getitem__
    assert topological_order(ours, key) == list(nx.lexicographical_topological_sort(theirs, key=key))


def test_a_cycle_has_no_order_and_a_long_chain_no_recursion():
    g = DiGraph()
    g.add_edge("a", "b")
    g.add_edge("b", "a")
    try:
        topological_order(g, str)
        raise AssertionError("a cycle was ordered")
    except ValueError:
        pass
    chain = DiGraph()
    for k in range(20_000):
        chain.add_edge(k, k + 1)
    chain.add_edge(20_000, 0)
    assert [len(c) for c in strongly_connected_components(chain)] == [20_001]
    sub = chain.subgraph(range(100))
    assert topological_order(sub, int) == list(range(100)) and sub.has_edge(3, 4) and not sub.has_edge(99, 100)
