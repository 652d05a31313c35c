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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from exprgen import policy_text, rows, to_table
from pol.interp import evaluate_row

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


def check_agreement(text: str, records: list, dictionary: bool) -> None:
    policy = pol.loads(text, name="random.pol")
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
