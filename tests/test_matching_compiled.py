"""The compiled matching path (evaluators' candidate matrices -> engine/
arbitrate.py, per row or run-wide with capacities) against the plain Python
matcher (engine/reference/matching.py) over the reference evaluator, on random offer
catalogues and customers: same assignments, same `offers` lists, same
funnel, and the same whatever the batching (1, 7 or 1000 batches)."""
from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.compiler.backend import walk
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_all, match_customer

AS_OF = dt.date(2026, 11, 1)
WINDOWS = ["", "valid from 2026-11-01", "valid to 2026-10-31", "valid from 2026-01-01 to 2026-12-31"]


@st.composite
def catalogues(draw, with_capacity: bool, constraints: bool = False, optimal: bool = False):
    """(policy text, records): up to five offers over two channels, with
    categories, exclusive lines, holdouts, valid windows and (optionally)
    capacities, a fallback offer, the arbitrate block's run-wide constraints
    (channel capacities, quotas, a budget over costs whose decimals add up
    exactly only in exact arithmetic) and `maximize priority`; channel
    orders by the customer's `ch` (`channels by ch then ...`); customers
    with nulls and tied priorities."""
    k = draw(st.integers(1, 5))
    offers = []
    for j in range(k):
        props = [f"eligible when e{j}", f"priority p{j}",
                 "channels " + draw(st.sampled_from(["app", "sms", "app, sms", "sms, app", "by ch then app, sms",
                                                     "by ch then sms, app", "by ch then sms"]))]
        cat = draw(st.sampled_from([None, "x", "y"]))
        if cat:
            props.append(f"category {cat}")
        if with_capacity and draw(st.booleans()):
            props.append(f"capacity {draw(st.integers(0, 6))}")
        hold = draw(st.sampled_from([None, 0, 30, 50, 100]))
        if hold is not None:
            props.append(f"holdout {hold}%")
        props.append(draw(st.sampled_from(WINDOWS)))
        if constraints and draw(st.booleans()):
            props.append(f"attributes {{ cost: {draw(st.sampled_from(['0', '0.1', '0.2', '0.3', '1', '2.5']))} }}")
        offers.append(f"offer o{j} {{ {' '.join(props)} }}")
    lines = [] if k < 2 else draw(st.lists(
        st.lists(st.integers(0, k - 1), min_size=2, max_size=min(3, k), unique=True), max_size=2))
    rules = (f"max {draw(st.integers(1, 3))} per customer "
             + ("one per category " if draw(st.booleans()) else "")
             + " ".join("exclusive " + ", ".join(f"o{j}" for j in line) for line in lines)
             + (" maximize priority" if optimal else ""))
    if draw(st.booleans()):
        rules += f" fallback o{draw(st.integers(0, k - 1))}"
    if constraints:
        rules += "".join(f" capacity {c} {draw(st.integers(0, 4))}" for c in ("app", "sms") if draw(st.booleans()))
        used = {c for c in ("x", "y") if f"category {c}" in " ".join(offers)}
        rules += "".join(f" quota {c} {draw(st.integers(0, 4))}" for c in sorted(used) if draw(st.booleans()))
        if "cost:" in " ".join(offers) and draw(st.booleans()):
            rules += f" budget {draw(st.sampled_from(['0', '0.3', '0.6', '1', '2.5', '4']))} cost offer.cost"
    fields = " ".join(f"e{j}: bool? p{j}: float?" for j in range(k))
    text = (f"input t key id {{ id: int a: bool? ch: string? {fields} }}\n"
            "channel app when a\nchannel sms\n" + "\n".join(offers) + f"\narbitrate {{ {rules} }}\n")
    return text, draw(customers(k))


@st.composite
def customers(draw, k: int):
    """Records for a catalogue of k offers: nulls, ±0.0 and tied priorities."""
    n = draw(st.integers(0, 40))
    ids = draw(st.lists(st.integers(-10**12, 10**12), min_size=n, max_size=n, unique=True))
    return [{"id": i, "a": draw(st.one_of(st.none(), st.booleans())),
             "ch": draw(st.sampled_from([None, "app", "sms", "sms", "fax"])),
             **{f"e{j}": draw(st.one_of(st.none(), st.booleans(), st.just(True))) for j in range(k)},
             **{f"p{j}": draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 2.0, 3.0, -0.0, 0.0])))
                for j in range(k)}}
            for i in ids]


def table_of(policy: pol.Policy, records: list[dict]) -> pa.Table:
    schema = pa.schema([pa.field(f.name, {"int": pa.int64(), "bool": pa.bool_(), "float": pa.float64(),
                                          "string": pa.string()}
                                 [f.type.value]) for f in policy.program.input.fields])
    return pa.Table.from_pylist(records, schema=schema)


def expected(policy: pol.Policy, records: list[dict]):
    rows = [evaluate_row(policy.program, r, AS_OF, trace=False) for r in records]
    run = match_all(policy.program, rows)
    return run.assignments([r["id"] for r in records]), [m.offers for m in run.matches], run.funnel, run.allocation


def check(text: str, records: list[dict], engine: str) -> None:
    policy = pol.loads(text, name="catalogue.pol")
    assignments, offers, funnel, allocation = expected(policy, records)
    table = table_of(policy, records)
    n = len(records)
    results = []
    for parts in (1, 7, 1000):
        size = max(1, math.ceil(n / parts))
        data = table.to_batches(max_chunksize=size) if n else table
        results.append(policy.evaluate(data, as_of=AS_OF, engine=engine))
    first = results[0]
    got = [tuple(r.values())[:6] for r in first.assignments.to_pylist()]     # attributes follow
    assert got == assignments
    assert first.customers.column("offers").to_pylist() == offers
    assert {o: {f: v for f, v in c.items() if f in funnel[o]} for o, c in first.summary["offers"].items()} == funnel
    if allocation is None:
        assert "allocation" not in first.summary
    else:       # totals summed in another order: equal to the last bits
        got_alloc = first.summary["allocation"]
        assert {k: v for k, v in got_alloc.items() if k not in ("value", "greedy_value", "dual_bound", "gap")} == \
            {k: v for k, v in allocation.items() if k not in ("value", "greedy_value", "dual_bound", "gap")}
        for k in ("value", "greedy_value", "dual_bound", "gap"):
            assert got_alloc[k] == pytest.approx(allocation[k], rel=1e-9, abs=1e-9)
        assert got_alloc["value"] >= got_alloc["greedy_value"] - 1e-9
        assert got_alloc["value"] <= got_alloc["dual_bound"] + 1e-9
    for other in results[1:]:
        assert other.customers.equals(first.customers)
        assert other.assignments.equals(first.assignments)
        assert other.summary == first.summary


SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=150, **SETTINGS)
@given(catalogues(with_capacity=False))
def test_per_customer_walk_agrees_with_the_plain_matcher(case):
    check(*case, engine="vector")


@settings(max_examples=150, **SETTINGS)
@given(catalogues(with_capacity=True))
def test_run_wide_walk_with_capacities_agrees_with_the_plain_matcher(case):
    check(*case, engine="vector")


@settings(max_examples=200, **SETTINGS)
@given(catalogues(with_capacity=True, constraints=True))
def test_run_wide_walk_with_constraints_agrees_with_the_plain_matcher(case):
    """Channel capacities, quotas and a budget (LANGUAGE.md 6.4), with
    offer capacities: the compiled run-wide walk is the oracle's, funnel
    reasons included, whatever the batching."""
    check(*case, engine="vector")


@settings(max_examples=60, **SETTINGS)
@given(catalogues(with_capacity=True, constraints=True, optimal=True))
def test_optimal_allocation_agrees_with_the_plain_python_algorithm(case):
    check(*case, engine="vector")


@settings(max_examples=60, **SETTINGS)
@given(catalogues(with_capacity=False), st.booleans())
def test_the_walk_run_as_python_agrees_with_the_plain_matcher(case, string_keys):
    """While match_range is neither compiled nor in Numba's cache, the
    vectorized path walks a small batch with its Python body
    (compiler/backend/plain.py): the same walk, holdout hashes of int and
    string keys included."""
    text, records = case
    if string_keys:
        text = text.replace("key id { id: int", "key id { id: string", 1)
        records = [{**r, "id": f"c{r['id']}"} for r in records]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(walk, "_compiled", lambda dispatcher: False)
        assert walk.match_range_for(1000) is not walk.matcher().match_range
        check(text, records, engine="vector")


def test_a_process_walking_many_small_batches_compiles_the_walk_in_the_end(monkeypatch):
    """Small batches are walked as Python only until the process has spent
    about half a compile that way: then match_range is compiled, so a long
    run of small batches does not stay twenty times slower."""
    monkeypatch.setattr(walk, "_compiled", lambda dispatcher: False)
    monkeypatch.setattr(walk, "_plain_cells", 0)
    compiled = walk.matcher().match_range
    assert walk.match_range_for(walk.PLAIN_CELLS) is not compiled
    assert walk.match_range_for(walk.PLAIN_CELLS + 1) is compiled       # a batch too large: compiled at once
    walks = [walk.match_range_for(walk.PLAIN_CELLS) for _ in range(walk.PLAIN_BUDGET // walk.PLAIN_CELLS)]
    assert all(w is not compiled for w in walks[:-1])
    assert walks[-1] is compiled and walk.match_range_for(1) is compiled


# The fused kernel costs a compilation per random policy: a few examples here,
# many more under -m slow. The evaluators agree on every candidate
# (tests/test_differential.py); these check the kernel's calling convention
# into matching.
@pytest.mark.parametrize("with_capacity", [False, True])
@settings(max_examples=3, **SETTINGS)
@given(data=st.data())
def test_the_kernel_path_agrees_with_the_plain_matcher(with_capacity, data):
    check(*data.draw(catalogues(with_capacity, constraints=with_capacity)), engine="kernel")


# A kernel without capacities matches in its own pass (compiler/backend/codegen.py,
# `fused`), calling the compiled walk (compiler/backend/walk.py) per row:
# fixed catalogues that use every rule, compiled once each, against many
# random customers.
FIXED = [
    # categories, an exclusive line, holdouts of 0, 50 and 100%, max 2
    ("offer o0 { eligible when e0 priority p0 channels app, sms category x holdout 50% }\n"
     "offer o1 { eligible when e1 priority p1 channels sms category x }\n"
     "offer o2 { eligible when e2 priority p2 channels app category y holdout 100% }\n"
     "offer o3 { eligible when e3 priority p3 channels sms, app holdout 0% }\n"
     "offer o4 { eligible when e4 priority p4 channels app valid to 2026-10-31 }\n"
     "arbitrate { max 2 per customer one per category exclusive o0, o3 exclusive o2, o4 }\n", 5),
    # max 1, no categories, two overlapping exclusive lines
    ("offer o0 { eligible when e0 priority p0 channels app }\n"
     "offer o1 { eligible when e1 priority p1 channels app, sms holdout 30% }\n"
     "offer o2 { eligible when e2 priority p2 channels sms }\n"
     "arbitrate { max 1 per customer exclusive o0, o1 exclusive o1, o2 }\n", 3),
    # max 3 with categories ignored (no one-per-category), valid windows
    ("offer o0 { eligible when e0 priority p0 channels app category x valid from 2026-11-01 }\n"
     "offer o1 { eligible when e1 priority p1 channels sms category x }\n"
     "offer o2 { eligible when e2 priority p2 channels sms, app category x "
     "valid from 2026-01-01 to 2026-12-31 }\n"
     "offer o3 { eligible when e3 priority p3 channels app holdout 50% }\n"
     "arbitrate { max 3 per customer }\n", 4),
    # a fallback: last, and only to a customer with nothing else; the customer's channel first
    ("offer o0 { eligible when e0 priority p0 channels by ch then app, sms holdout 50% }\n"
     "offer o1 { eligible when e1 priority p1 channels sms category x }\n"
     "offer o2 { eligible when e2 priority p2 channels app category x }\n"
     "arbitrate { max 2 per customer one per category fallback o0 }\n", 3),
]


def fixed_text(offers: str, k: int) -> str:
    fields = " ".join(f"e{j}: bool? p{j}: float?" for j in range(k))
    return f"input t key id {{ id: int a: bool? ch: string? {fields} }}\nchannel app when a\nchannel sms\n" + offers


@pytest.mark.parametrize("case", range(len(FIXED)))
@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_the_fused_kernel_agrees_with_the_plain_matcher(case, data):
    offers, k = FIXED[case]
    check(fixed_text(offers, k), data.draw(customers(k)), engine="kernel")


@pytest.mark.parametrize("case", range(len(FIXED)))
@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_the_row_kernel_agrees_with_the_plain_matcher(case, data):
    """`decide` on the compiled row kernel goes through the same compiled
    walk (walk.matcher), holdouts included: the same accepted offers, ranks,
    channels, priorities and controls as match_customer, for int and string
    keys."""
    offers, k = FIXED[case]
    text = fixed_text(offers, k)
    as_string = data.draw(st.booleans())
    if as_string:
        text = text.replace("id: int", "id: string")
    policy = pol.loads(text, name="catalogue.pol")
    for r in data.draw(customers(k)):
        if as_string:
            r = dict(r, id=f"客户-{r['id']}")
        row = evaluate_row(policy.program, r, AS_OF, trace=False)
        want = [(a.offer, a.rank, a.channel, a.priority, a.control)
                for a in match_customer(policy.program, row).accepted]
        got = [(a.offer, a.rank, a.channel, a.priority, a.control)
               for a in policy.decide(r, as_of=AS_OF, engine="kernel").offers]
        assert got == want, r


# Capacities, quotas, a channel's capacity and a budget, tight against many
# customers: a fused kernel walks the customers with no candidate of a
# constrained offer itself and hands the others over to the run-wide walk
# (engine/evaluation/executor.py, `handoff`); the vectorized path splits them
# the same way (arbitrate.take_constrained). Both against the oracle's
# run-wide walk of everyone, whatever the batching.
CAPPED = [
    ("offer o0 { eligible when e0 priority p0 channels sms capacity 3 holdout 30% }\n"
     "offer o1 { eligible when e1 priority p1 channels sms, app category x }\n"
     "offer o2 { eligible when e2 priority p2 channels app category y holdout 50% }\n"
     "offer o3 { eligible when e3 priority p3 channels sms attributes { cost: 1.5 } }\n"
     "offer o4 { eligible when e4 priority p4 channels sms category y }\n"
     "offer o5 { eligible when e5 priority p5 channels sms, app }\n"
     "arbitrate { max 2 per customer one per category exclusive o0, o4 exclusive o3, o5 "
     "capacity app 4 quota x 5 budget 6 cost offer.cost }\n", 6),
    # an offer capacity alone, most customers never near it
    ("offer o0 { eligible when e0 and e1 and e2 priority p0 channels sms capacity 2 }\n"
     "offer o1 { eligible when e1 priority p1 channels app, sms holdout 20% }\n"
     "offer o2 { eligible when e2 priority p2 channels sms category x }\n"
     "offer o3 { eligible when e3 priority p3 channels app category x }\n"
     "arbitrate { max 3 per customer one per category exclusive o1, o2 }\n", 4),
]


@st.composite
def many_customers(draw, k: int):
    """Hundreds of customers for k offers, drawn from a seed (hypothesis
    shrinks the seed and the count, not every value): nulls, ties, ±0.0."""
    import random
    n = draw(st.integers(0, 400))
    rnd = random.Random(draw(st.integers(0, 2 ** 32)))
    ids = rnd.sample(range(-10 ** 12, 10 ** 12), n)
    return [{"id": i, "a": rnd.choice([None, True, False]),
             **{f"e{j}": rnd.choice([None, False, True, True]) for j in range(k)},
             **{f"p{j}": rnd.choice([None, 1.0, 2.0, 2.0, 3.0, -0.0, 0.0, 0.5]) for j in range(k)}}
            for i in ids]


@pytest.mark.parametrize("engine", ["kernel", "vector"])
@pytest.mark.parametrize("case", range(len(CAPPED)))
@settings(max_examples=15, **SETTINGS)
@given(data=st.data())
def test_tight_run_wide_constraints_over_many_customers_agree_with_the_plain_matcher(case, engine, data):
    offers, k = CAPPED[case]
    check(fixed_text(offers, k), data.draw(many_customers(k)), engine=engine)


@pytest.mark.slow
@pytest.mark.parametrize("with_capacity", [False, True])
@settings(max_examples=40, **SETTINGS)
@given(data=st.data())
def test_the_kernel_path_agrees_with_the_plain_matcher_slow(with_capacity, data):
    check(*data.draw(catalogues(with_capacity)), engine="kernel")
