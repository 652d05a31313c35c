"""Two evaluators, one meaning: random well-typed expressions over every
operator and function, on random batches with nulls, zeros, NaN, int64
extremes, empty and one-row batches, plain and dictionary strings and
Unicode. The fused kernel, the vectorized evaluator and the reference
evaluator must agree value by value and null by null.

Each example compiles one policy holding many expressions, so the kernel's
compile cost is paid once per example. `-m slow` runs many more examples.
"""
import datetime as dt
import math
import os

import pytest
from exprgen import policy_text, rows, to_table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.reference.interp import evaluate_row

AS_OF = dt.date(2026, 11, 1)
FAST = settings(max_examples=int(os.environ.get("POL_DIFF_EXAMPLES", "12")), deadline=None,
                suppress_health_check=list(HealthCheck), derandomize=True)
SLOW = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def reference_columns(policy, records):
    """The reference evaluator's value of every output column, row by row."""
    program = policy.program
    cols = {name: [] for name in program.outputs}
    for r in records:
        row = evaluate_row(program, r, AS_OF, {p.name: p.default for p in program.params})
        for name in program.outputs:
            cols[name].append(row.values[name])
    return cols


def check_agreement(text: str, records: list, dictionary: bool, table=None) -> None:
    policy = pol.loads(text, name="random.pol")
    if table is None:
        table = to_table(records, dictionary_strings=dictionary)
    kernel = policy.evaluate(table, as_of=AS_OF, engine="kernel").customers
    vector = policy.evaluate(table, as_of=AS_OF, engine="vector").customers
    ref = reference_columns(policy, records)
    for name in policy.program.outputs:
        k = kernel.column(name).to_pylist()
        v = vector.column(name).to_pylist()
        for i, (a, b, c) in enumerate(zip(k, v, ref[name])):
            assert same(a, c), f"kernel != reference for {name} at row {i}: {a!r} vs {c!r}\n{records[i]}\n{text}"
            assert same(b, c), f"vector != reference for {name} at row {i}: {b!r} vs {c!r}\n{records[i]}\n{text}"


@FAST
@given(policy_text(count=14), rows(max_size=30), st.booleans())
def test_kernel_vector_and_reference_agree(text, records, dictionary):
    check_agreement(text, records, dictionary)


@pytest.mark.slow
@SLOW
@given(policy_text(count=20), rows(max_size=60), st.booleans())
def test_kernel_vector_and_reference_agree_many(text, records, dictionary):
    check_agreement(text, records, dictionary)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(policy_text(count=10), rows(max_size=20), st.booleans())
def test_vector_and_reference_agree(text, records, dictionary):
    """The vectorized evaluator needs no compilation: many more examples."""
    policy = pol.loads(text, name="random.pol")
    table = to_table(records, dictionary_strings=dictionary)
    vector = policy.evaluate(table, as_of=AS_OF, engine="vector").customers
    ref = reference_columns(policy, records)
    for name in policy.program.outputs:
        for i, (b, c) in enumerate(zip(vector.column(name).to_pylist(), ref[name])):
            assert same(b, c), f"vector != reference for {name} at row {i}: {b!r} vs {c!r}\n{records[i]}\n{text}"


def decision_values(decision) -> dict:
    return {**decision.segments, **decision.classifications, **decision.scores}


@settings(max_examples=int(os.environ.get("POL_DIFF_ROW_EXAMPLES", "4")), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(policy_text(count=14), rows(max_size=20))
def test_row_kernel_and_reference_agree(text, records):
    """`decide` on the compiled row kernel: the record packed by the host,
    every output as the reference evaluator gives it."""
    policy = pol.loads(text, name="random.pol")
    ref = reference_columns(policy, records)
    for i, r in enumerate(records):
        got = decision_values(policy.decide(r, as_of=AS_OF, engine="kernel"))
        for name in policy.program.outputs:
            assert same(got[name], ref[name][i]), \
                f"row kernel != reference for {name}: {got[name]!r} vs {ref[name][i]!r}\n{r}\n{text}"


# The kernel checks a float's finiteness once per tree of +, -, *, unary
# minus, abs and dividends (compiler/backend/emitter.py, `check_finite`); an intermediate
# that overflows must still make the whole result null, wherever the tree
# ends: in a divisor, a comparison, coalesce, if, min, a let or a score.
OVERFLOW = """
input t key id { id: int  x: float  y: float? }
let big = x * x
score sq = big
score back = big / x
score gone = 1 / (x * x)
score nan = x * x - x * x
score zero = (x * x) * 0
score neg = abs(-(x * x)) + 1
score rescued = coalesce(x * x * y, -1)
score chosen = if x * x > 0 then 1 else 2
score smaller = min(x * x, 3.0)
score ratio = (x * 10) / (y * 10)
segment huge = x * x * 2 >= 0
"""


def test_overflow_inside_an_expression_makes_it_null_in_every_evaluator():
    values = [0.0, -0.0, 1.5, -3.0, 1e154, -1e155, 1e200, 1e308, -1e308, 5e-324]
    records = [{"id": i, "x": x, "y": y} for i, (x, y) in
               enumerate((x, y) for x in values for y in (None, 0.0, 2.0, 1e300, -1e-300))]
    check_agreement(OVERFLOW, records, False, table=to_table_of(records))
    got = pol.loads(OVERFLOW).evaluate(to_table_of(records), as_of=AS_OF, engine="kernel").customers
    rows = {r["id"]: r for r in got.to_pylist()}
    at = {(r["x"], r["y"]): rows[r["id"]] for r in records}
    assert at[(1e200, 2.0)]["sq"] is None and at[(1e200, 2.0)]["gone"] is None
    assert at[(1e200, 2.0)]["rescued"] == -1 and at[(1e200, 2.0)]["chosen"] == 2
    assert at[(1e200, 2.0)]["huge"] is False and at[(1.5, 2.0)]["huge"] is True
    assert at[(1.5, 2.0)]["gone"] == 1 / 2.25 and at[(1e154, None)]["back"] == 1e154


def to_table_of(records):
    import pyarrow as pa
    return pa.table({"id": [r["id"] for r in records], "x": [r["x"] for r in records],
                     "y": pa.array([r["y"] for r in records], pa.float64())})
