"""The aggregation scan specialized for a history's aggregates
(engine/evaluation/history_scan.py): its source holds numbers and the
engine's own names only, whatever the policy calls its fields or compares
them with, and it is used from SPECIALIZE_FROM events, or below once it is
compiled. That it gives the generic scan's values is tests/test_history.py's
differential tests, run on both scans."""
from __future__ import annotations

import ast
import datetime as dt

import pyarrow as pa

import pol
from pol.evaluation import history_scan
from pol.evaluation.history_kernel import CALLS

AS_OF = dt.date(2026, 11, 1)

# Field names and literals that would be code if they ever became source.
HOSTILE = '''
input customer key id { id: int }
history __import__ key exec at eval {
    exec: int
    eval: date
    compile: string
    globals: float?
}
let a = count(__import__ where compile == "'); import os; os.system('x') #" within 7 days)
let b = sum(__import__.globals where compile != "\\"\\"\\"")
let c = last(__import__.compile)
segment s = a > 0 and b > 1.5 and c == "x"
'''


def _names_of(text: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name)}


def test_the_source_holds_numbers_and_the_engines_names_only(monkeypatch):
    made: list[str] = []
    real = history_scan.source
    monkeypatch.setattr(history_scan, "source", lambda *a: made.append(real(*a)) or made[-1])
    monkeypatch.setattr(history_scan, "SPECIALIZE_FROM", 0)
    policy = pol.loads(HOSTILE)
    events = pa.table({"exec": [1, 1, 2], "eval": pa.array([AS_OF, AS_OF, AS_OF], pa.date32()),
                       "compile": ["x", "'); import os; os.system('x') #", "y"], "globals": [1.0, 2.0, None]})
    out = policy.evaluate(pa.table({"id": [1, 2, 3]}), as_of=AS_OF, history={"__import__": events}, engine="kernel")
    assert out.customers.column("s").to_pylist() == [False, False, False]     # c is the last: "'); ..."
    assert len(made) == 1
    text = made[0]
    tree = ast.parse(text)
    docstrings = {id(ast.get_docstring(n, clean=False) and n.body[0].value)
                  for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in docstrings:
            assert isinstance(node.value, int), node.value
    helpers = {c.split("(")[0] for c in CALLS.values()}
    allowed = helpers | {"njit", "scan", "_ix", "_hit", "_update", "_BLOCK", "_ahead", "_select", "_skipped", "_within", "min",
                         "range", "gid", "day", "today", "spec", "offset", "codes", "terms", "tables", "starts",
                         "ivals", "ivalid", "fvals", "acc", "accf", "lo", "hi", "mine", "hit", "n", "width", "flat",
                         "flatf", "undated", "future", "start", "k", "j", "e", "d", "s", "gw"}
    generated = {n for n in _names_of(text) if n[0] in "wrhcs" and n[1:].replace("_", "").isdigit()
                 or n.startswith("st") and n[2:].isdigit()}
    assert _names_of(text) - generated <= allowed
    for word in ("__import__", "exec", "eval", "compile", "globals", "os"):
        assert word not in _names_of(text)


def test_a_small_history_waits_for_the_scan_to_be_compiled(tmp_path, monkeypatch):
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "kernels"))      # nothing compiled in it yet
    # a shape of aggregates no other test compiles (a window is a number, not a shape)
    policy = pol.loads(HOSTILE + "let z = max(__import__.eval)\nsegment t = z is not null\n")
    spec, terms = _shape(policy)
    generic = history_scan.scan_for(spec, terms, history_scan.SPECIALIZE_FROM - 1)
    scan = history_scan.scan_for(spec, terms, history_scan.SPECIALIZE_FROM)
    assert scan is not generic
    # compiled once (here: loaded in this process), any size gets it
    assert history_scan.scan_for(spec, terms, 10) is scan


def _shape(policy):
    """The spec and filter terms the batch path makes for the policy's aggregates."""
    import numpy as np

    from pol.evaluation import history
    seen = {}
    real = history.aggregate

    def spy(gid, day, today, spec, filters, *rest):
        seen["shape"] = spec.copy(), np.array(filters.terms)
        return real(gid, day, today, spec, filters, *rest)

    history.aggregate = spy
    try:
        events = pa.table({"exec": [1], "eval": pa.array([AS_OF], pa.date32()), "compile": ["x"], "globals": [1.0]})
        policy.evaluate(pa.table({"id": [1]}), as_of=AS_OF, history={"__import__": events}, engine="vector")
    finally:
        history.aggregate = real
    return seen["shape"]
