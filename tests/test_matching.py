"""Offer matching in plain Python (engine/reference/matching.py) and single-customer
decisions (engine/api/decision.py): the per-customer walk, the run-wide walk
with capacities, holdouts, the reasons candidates lose, and the funnel."""
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pol.api.decision import Assignment, Decision, decide
from pol.compiler.frontend import compile_path, compile_text
from pol.reference.interp import evaluate_row
from pol.reference.matching import FUNNEL, fnv1a64, is_control, key_text, match_all, match_customer

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "retention_bench.pol"
AS_OF = dt.date(2026, 11, 1)


# ---------------------------------------------------------------- holdouts

def test_fnv1a64_reference_vectors():
    # the published FNV-1a 64-bit test vectors
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_key_text():
    assert key_text(42) == "42" and key_text(-9223372036854775808) == "-9223372036854775808"
    assert key_text("张三") == "张三"
    with pytest.raises(TypeError):
        key_text(True)


def test_compiled_key_hash_is_fnv1a64_of_the_key_text():
    import numpy as np

    from pol.compiler.backend.runtime import FNV_OFFSET, hash_key
    ints = np.array([0, 7, 10, 99, 1007, -1, -10, 10**18, 2**63 - 1, -2**63], np.int64)
    none_i, none_b = np.zeros(1, np.int64), np.zeros(1, np.uint8)
    for j, v in enumerate(ints):
        assert int(hash_key(FNV_OFFSET, j, True, ints, none_i, none_b)) == fnv1a64(str(int(v)).encode())
    text = ["", "a", "张三", "1007"]
    data = "".join(text).encode("utf-8")
    offsets = np.cumsum([0] + [len(t.encode("utf-8")) for t in text]).astype(np.int64)
    for j, t in enumerate(text):
        got = hash_key(FNV_OFFSET, j, False, none_i, offsets, np.frombuffer(data, np.uint8))
        assert int(got) == fnv1a64(t.encode("utf-8"))


def test_is_control_is_the_hash_below_the_share():
    h = fnv1a64(b"retention_pack:1007") % 10000
    assert not is_control("retention_pack", 1007, h)          # strictly below
    assert is_control("retention_pack", 1007, h + 1)
    assert is_control("retention_pack", "1007", h + 1)         # an int key hashes as its decimal text
    assert not is_control("retention_pack", 1007, None) and not is_control("retention_pack", 1007, 0)
    assert not is_control("retention_pack", None, 10000)       # no key, nothing stable to hash
    assert all(is_control("o", k, 10000) for k in range(50))   # 100%: everyone
    share = sum(is_control("o", k, 500) for k in range(20000)) / 20000
    assert 0.04 < share < 0.06                                  # 5% of customers, give or take


# ---------------------------------------------------------------- one customer

RULES = compile_text("""
input t key id { id: int  a: bool?  p: float?  ok: bool? }
channel app "APP" when ok
channel sms
offer t1 "流量1" { category traffic eligible when a channels app, sms priority 50 }
offer t2 { category traffic eligible when true channels app priority 60 }
offer v1 { category voice eligible when true channels sms priority p }
offer x1 { eligible when true channels sms priority 40 }
offer x2 { eligible when true channels sms priority 40 }
offer n1 { eligible when true channels sms priority 1 }
offer n2 { eligible when true channels sms priority 0.5 }
arbitrate { max 4 per customer  one per category  exclusive x1, x2 }
""", name="rules.pol")


def test_per_customer_walk_and_reasons():
    row = evaluate_row(RULES, {"id": 1, "a": True, "p": 45.0, "ok": True}, AS_OF)
    m = match_customer(RULES, row)
    assert [(a.offer, a.rank, a.channel, a.priority) for a in m.accepted] == [
        ("t2", 1, "app", 60.0), ("v1", 2, "sms", 45.0), ("x1", 3, "sms", 40.0), ("n1", 4, "sms", 1.0)]
    lost = m.lost_by_offer()
    assert (lost["t1"].reason, lost["t1"].to, lost["t1"].rule) == ("category", ("t2",), ("traffic",))
    # x2 ties x1 at 40: declaration order puts x1 first, and they exclude each other
    assert (lost["x2"].reason, lost["x2"].to, lost["x2"].rule) == ("exclusive", ("x1",), ("x1", "x2"))
    assert (lost["n2"].reason, lost["n2"].to) == ("max", ("t2", "v1", "x1", "n1"))
    assert m.offers == ["t2", "v1", "x1", "n1"]


def test_a_refused_candidate_leaves_room_for_the_next():
    # app closed: t2 (app only) is no candidate, t1 takes traffic via sms; v1 has no priority
    row = evaluate_row(RULES, {"id": 1, "a": True, "p": None, "ok": None}, AS_OF)
    m = match_customer(RULES, row)
    assert [(a.offer, a.channel) for a in m.accepted] == [("t1", "sms"), ("x1", "sms"), ("n1", "sms"), ("n2", "sms")]
    assert [(x.offer, x.reason) for x in m.lost] == [("x2", "exclusive")]


def test_match_customer_uses_the_row_key_for_holdouts():
    p = compile_text("""input t key id { id: int }
        channel c
        offer h { eligible when true channels c holdout 50% }""", name="h.pol")
    for key in range(1, 30):
        m = match_customer(p, evaluate_row(p, {"id": key}, AS_OF))
        assert m.accepted[0].control == is_control("h", key, 5000)
        assert match_customer(p, evaluate_row(p, {"id": key}, AS_OF), key=None).accepted[0].control is False


# ---------------------------------------------------------------- the whole run

@pytest.fixture(scope="module")
def bench_rows():
    from benchmarks.data.bench_customers import generate
    table = generate(400, seed=3, as_of=AS_OF)
    program = compile_path(BENCH)
    return program, [evaluate_row(program, r, AS_OF, {}, trace=False) for r in table.to_pylist()]


def test_without_capacities_the_run_walk_is_the_per_customer_walk(bench_rows):
    program, rows = bench_rows
    run = match_all(program, rows)
    assert run.matches == [match_customer(program, r) for r in rows]
    assert sum(len(m.accepted) for m in run.matches) > 100


def test_funnel_adds_up(bench_rows):
    program, rows = bench_rows
    run = match_all(program, rows)
    for o in program.offers:
        f = run.funnel[o.name]
        assert list(f) == list(FUNNEL)
        assert f["eligible"] >= f["deliverable"] >= f["candidates"]
        assert f["candidates"] == (f["accepted"] + f["lost_to_max"] + f["lost_to_category"]
                                   + f["lost_to_exclusive"] + f["lost_to_capacity"])
        assert f["accepted"] == sum(a.offer == o.name for m in run.matches for a in m.accepted)
        assert f["eligible"] == sum(r.offers[o.name].in_window and r.offers[o.name].eligible is True for r in rows)
    assert sum(f["lost_to_max"] for f in run.funnel.values()) > 0
    assert sum(f["lost_to_category"] for f in run.funnel.values()) > 0


CAPACITY = compile_text("""
input t key id { id: int  p: float? }
channel c
offer a { eligible when true priority p capacity 2 channels c }
offer b { eligible when true priority 1 channels c }
offer z { eligible when p == 100 priority 200 channels c }
""", name="cap.pol")


def test_capacity_walk_order_and_reasons():
    ps = [5.0, 9.0, 7.0, 9.0, None, 100.0, 8.0]
    rows = [evaluate_row(CAPACITY, {"id": i + 1, "p": p}, AS_OF) for i, p in enumerate(ps)]
    run = match_all(CAPACITY, rows)
    assert [m.offers for m in run.matches] == [["b"], ["a"], ["b"], ["a"], ["b"], ["z"], ["b"]]
    assert [x.reason for x in run.matches[0].lost] == ["capacity"]
    # the customer whose a-pair (priority 100) lost under max used no capacity
    assert [(x.offer, x.reason) for x in run.matches[5].lost] == [("a", "max"), ("b", "max")]
    assert run.funnel["a"]["accepted"] == 2 and run.funnel["a"]["lost_to_capacity"] == 3
    assert run.assignments([r.key for r in rows])[:2] == [(1, "b", 1, "c", 1.0, False), (2, "a", 1, "c", 9.0, False)]


@st.composite
def programs_and_rows(draw):
    k = draw(st.integers(1, 5))
    cats = draw(st.lists(st.sampled_from([None, "x", "y"]), min_size=k, max_size=k))
    caps = draw(st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=k, max_size=k))
    lines = [] if k < 2 else draw(st.lists(
        st.lists(st.integers(0, k - 1), min_size=2, max_size=min(3, k), unique=True), max_size=2))
    max_n = draw(st.integers(1, 3))
    one = draw(st.booleans())
    offers = "".join(
        f"offer o{j} {{ {'category ' + cats[j] if cats[j] else ''} eligible when e{j} "
        f"priority p{j} channels c {'capacity ' + str(caps[j]) if caps[j] is not None else ''} }}\n"
        for j in range(k))
    rules = f"max {max_n} per customer {'one per category' if one else ''} " + " ".join(
        "exclusive " + ", ".join(f"o{j}" for j in line) for line in lines)
    fields = " ".join(f"e{j}: bool? p{j}: float?" for j in range(k))
    program = compile_text(f"input t key id {{ id: int {fields} }}\nchannel c\n{offers}arbitrate {{ {rules} }}",
                           name="gen.pol")
    n = draw(st.integers(0, 12))
    records = [{"id": i, **{f"e{j}": draw(st.one_of(st.none(), st.booleans())) for j in range(k)},
                **{f"p{j}": draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 2.0, 3.0]))) for j in range(k)}}
               for i in range(n)]
    return program, records


@settings(max_examples=60, deadline=None)
@given(programs_and_rows())
def test_run_walk_keeps_every_rule(case):
    program, records = case
    rows = [evaluate_row(program, r, AS_OF, trace=False) for r in records]
    run = match_all(program, rows)
    a = program.arbitrate
    offers = {o.name: o for o in program.offers}
    for row, m in zip(rows, run.matches):
        held = m.offers
        assert len(held) <= a.max_per_customer
        assert [x.rank for x in m.accepted] == list(range(1, len(held) + 1))
        assert [x.priority for x in m.accepted] == sorted((x.priority for x in m.accepted), reverse=True)
        if a.one_per_category:
            cats = [offers[h].category for h in held if offers[h].category]
            assert len(cats) == len(set(cats))
        for line in a.exclusive:
            assert len(set(line) & set(held)) <= 1
        # every candidate is either accepted or lost, once
        assert sorted(held + [x.offer for x in m.lost]) == sorted(s.name for s in row.candidates())
        for x in m.lost:
            if x.reason == "max":
                assert len(held) == a.max_per_customer
    for o in program.offers:
        given_ = run.funnel[o.name]["accepted"]
        if o.capacity is not None:
            assert given_ <= o.capacity
            if run.funnel[o.name]["lost_to_capacity"]:
                assert given_ == o.capacity
    if all(o.capacity is None for o in program.offers):
        assert run.matches == [match_customer(program, r) for r in rows]


# ---------------------------------------------------------------- decisions

def test_decide_builds_the_decision():
    d = decide(RULES, {"id": 5, "a": True, "p": 45.0, "ok": True}, AS_OF, {})
    assert isinstance(d, Decision)
    assert d.key == 5
    assert d.offers[:2] == [Assignment(offer="t2", rank=1, channel="app", priority=60.0, control=False),
                            Assignment(offer="v1", rank=2, channel="sms", priority=45.0, control=False)]
    assert d.offer_names == ["t2", "v1", "x1", "n1"]
    assert d.segments == {} and d.classifications == {} and d.scores == {}
    assert Decision.model_validate_json(d.model_dump_json()) == d


def test_decide_ignores_capacities_and_keeps_controls():
    p = compile_text("""input t key name { name: string  s: int? }
        segment big "大" = s > 10
        classify size { when big => "big" }
        score sc = s
        channel c
        offer h { eligible when true channels c capacity 0 holdout 100% priority 2 }""", name="d.pol")
    d = decide(p, {"name": "张三", "s": 20}, AS_OF)
    assert d.key == "张三"
    assert d.segments == {"big": True} and d.classifications == {"size": "big"} and d.scores == {"sc": 20.0}
    assert [(a.offer, a.control) for a in d.offers] == [("h", True)]
    d = decide(p, {"name": "李四"}, AS_OF)
    assert d.segments == {"big": False} and d.classifications == {"size": None} and d.scores == {"sc": None}


def test_compiled_decide_is_the_reference_decide(bench_rows):
    import pol
    program, rows = bench_rows
    policy = pol.load(BENCH)
    records = [row.fields for row in rows]
    # and records with fields left out: missing means null, even non-nullable ones
    records += [{"id": 1}, {k: v for k, v in rows[0].fields.items() if k not in ("brand", "arpu_m3", "last_active")}]
    for r in records:
        assert policy.decide(r, as_of=AS_OF, engine="kernel") == policy.decide(r, as_of=AS_OF, engine="reference")
    overrides = {"churn_days": 5, "high_voice_min": 1.5}
    for r in records[:50]:
        assert policy.decide(r, as_of=AS_OF, params=overrides, engine="kernel") == \
            policy.decide(r, as_of=AS_OF, params=overrides, engine="reference")


def test_decide_on_the_bench_policy_agrees_with_matching(bench_rows):
    program, rows = bench_rows
    for row in rows[:50]:
        d = decide(program, row.fields, AS_OF, {})
        assert [(a.offer, a.channel, a.priority) for a in d.offers] == [
            (a.offer, a.channel, a.priority) for a in match_customer(program, row).accepted]
        assert d.scores == {s.name: row.values[s.name] for s in program.scores}
