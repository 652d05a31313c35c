"""String functions on the host (engine/evaluation/strings.py): the batch's
string table grown by each function's results, the same values on the
kernels, the vectorized evaluator and the reference, dictionary and plain
columns, single records with strings no literal holds."""
import datetime as dt

import pyarrow as pa
import pytest

import pol
from pol.reference.interp import evaluate_row

AS_OF = dt.date(2026, 11, 1)
TEXT = """
input t key id { id: int  s: string?  u: string? }
let a = trim(s)
let b = upper(a)
let c = concat("<", lower(b), ">")
segment same = b == u
segment marked = c == "<vip>"
score n = length(substring(c, 2, 3))
"""


def reference(policy, records):
    out = []
    for r in records:
        v = evaluate_row(policy.program, r, AS_OF, {}).values
        out.append({"same": v["same"], "marked": v["marked"], "n": None if v["n"] is None else float(v["n"])})
    return out


@pytest.mark.parametrize("dictionary", [False, True])
def test_nested_string_functions_agree_on_every_evaluator(dictionary):
    policy = pol.loads(TEXT, name="text.pol")
    records = [{"id": 1, "s": " vip ", "u": "VIP"}, {"id": 2, "s": "Vip", "u": "vip"}, {"id": 3, "s": None, "u": "X"},
               {"id": 4, "s": "straße\u3000", "u": "STRASSE"}, {"id": 5, "s": "", "u": None}]
    records += [{"id": 10 + k, "s": f" v{k} ", "u": f"V{k}"} for k in range(300)]
    table = pa.Table.from_pylist(records, schema=pa.schema([("id", pa.int64()), ("s", pa.string()),
                                                            ("u", pa.string())]))
    if dictionary:
        table = table.set_column(1, "s", table.column("s").dictionary_encode())
    want = reference(policy, records)
    assert want[:5] == [{"same": True, "marked": True, "n": 3.0}, {"same": False, "marked": True, "n": 3.0},
                        {"same": False, "marked": False, "n": None}, {"same": True, "marked": False, "n": 3.0},
                        {"same": False, "marked": False, "n": 1.0}]
    for engine in ("vector", "kernel"):
        got = policy.evaluate(table, as_of=AS_OF, engine=engine).customers.to_pylist()
        assert [{k: r[k] for k in ("same", "marked", "n")} for r in got] == want, engine


def test_a_record_whose_strings_no_literal_holds():
    # no string literal at all: the row kernel's table is the record's own strings
    policy = pol.loads("input t key id { id: int  s: string? }\nsegment long = length(s) > 2\n"
                       "score n = length(upper(s))\n", name="plain.pol")
    for record in ({"id": 1, "s": "straße"}, {"id": 2}, {"id": 3, "s": ""}, {"id": 4, "s": "ab"}):
        k = policy.decide(record, as_of=AS_OF, engine="kernel")
        r = policy.decide(record, as_of=AS_OF, engine="reference")
        assert (k.segments, k.scores) == (r.segments, r.scores), record
