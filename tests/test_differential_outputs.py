"""The assignments' extra columns against the reference evaluator, on random
batches: per accepted offer its campaign, its attributes (null where the
offer has none) and the carried input fields, with and without capacities
(which send the carried columns through the run-wide walk), for rows with
nulls, repeated keys of priority and Unicode strings. The vectorized
evaluator runs here (no compilation); the columns are made by the same
host code for every batch evaluator (engine/evaluation/assignment_columns.py),
and the conformance cases run them on the fused kernel too."""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pol.api.policy import Policy
from pol.compiler.frontend import compile_path
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_all

AS_OF = dt.date(2026, 11, 1)
LIB = """policy lib
channel sms
offer gift { eligible when i > 3 channels sms attributes { code: "G", cost: 1.5, since: 2026-01-01 }
             priority 10 - offer.cost CAPACITY }
"""
ROOT = """policy root
input t key id { id: int  i: int?  s: string?  x: float? }
import "lib.pol" as lib
carry s, x
channel app
offer a { eligible when i > 0 channels app attributes { code: "A", n: 7 } priority i }
offer b { eligible when x > 0.5 channels app priority x }
arbitrate { max 2 per customer }
"""
ROWS = st.lists(st.fixed_dictionaries({
    "i": st.one_of(st.none(), st.integers(-2, 9)),
    "s": st.one_of(st.none(), st.sampled_from(["", "甲", "a b", "x"])),
    "x": st.one_of(st.none(), st.floats(-1, 2, allow_nan=False)),
}), min_size=0, max_size=30)


def build(tmp_path, capacity: bool):
    (tmp_path / "lib.pol").write_text(LIB.replace("CAPACITY", "capacity 3" if capacity else ""), encoding="utf-8")
    (tmp_path / "root.pol").write_text(ROOT, encoding="utf-8")
    return compile_path(tmp_path / "root.pol")


def expected(program, rows):
    results = [evaluate_row(program, r, AS_OF, {}, trace=False) for r in rows]
    offers = {o.name: o for o in program.offers}
    out = []
    for r, m in zip(rows, match_all(program, results).matches):
        for a in m.accepted:
            o = offers[a.offer]
            attrs = dict(o.attributes)
            out.append({"id": r["id"], "offer": a.offer, "campaign": o.campaign, "code": attrs.get("code"),
                        "cost": attrs.get("cost"), "since": attrs.get("since"), "n": attrs.get("n"),
                        "s": r["s"], "x": r["x"]})
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=ROWS, capacity=st.booleans(), chunk=st.integers(1, 7))
def test_extra_columns_agree_with_the_reference(tmp_path_factory, rows, capacity, chunk):
    program = build(tmp_path_factory.mktemp("p"), capacity)
    rows = [dict(r, id=k) for k, r in enumerate(rows, start=1)]
    table = pa.Table.from_pylist(rows, schema=pa.schema([("id", pa.int64()), ("i", pa.int64()),
                                                         ("s", pa.string()), ("x", pa.float64())]))
    result = Policy(program).evaluate(pa.Table.from_batches(table.to_batches(max_chunksize=chunk),
                                                            schema=table.schema), as_of=AS_OF, engine="vector")
    got = [{k: r[k] for k in ("id", "offer", "campaign", "code", "cost", "since", "n", "s", "x")}
           for r in result.assignments.to_pylist()]
    assert got == expected(program, rows)
    assert result.assignments.column_names[6:] == ["campaign", "code", "cost", "since", "n", "s", "x"]
