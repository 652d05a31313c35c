"""List fields (LANGUAGE.md 3.3, 4.9): every evaluator agrees on random
lists (null lists, empty lists, null elements, duplicates, unicode), on
every Arrow layout a list column may come in; records, CSV and `pol gen`
say what they do with lists.

The conformance cases (tests/conformance/cases/list_fields.json) pin the
values; here hypothesis draws the data and the four evaluators are compared
with each other: the reference (`decide(engine="reference")`), the
vectorized evaluator, the fused batch kernel and the row kernel.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.dsl.fmt import format_text
from pol.errors import DataError

AS_OF = dt.date(2026, 11, 1)

# Each test's three-valued result as a score: -1 null, 0 false, 1 true
# (a segment would read null as false and hide a disagreement about nulls).
POLICY = """policy lists version "1"
input customer key id {
    id: int
    s: string?
    i: int?
    tags: list<string>?
    codes: list<int>?
}
param vip: list<string> = ["全球通", "5G"]
param cap: int = 3
let has = s in tags
let lacks = s not in tags
let ihas = i in codes
let a_vip = any(tags, it in vip or starts_with(it, "VIP"))
let all_short = all(tags, length(trim(it)) <= 2)
let a_big = any(codes, it > cap)
let all_even = all(codes, it % 2 == 0)
let a_div = all(codes, 12 / it > 1)
score n_tags = coalesce(count(tags), -1)
score n_codes = coalesce(count(codes), -1)
score has_ = if has is null then -1 else if has then 1 else 0
score lacks_ = if lacks is null then -1 else if lacks then 1 else 0
score ihas_ = if ihas is null then -1 else if ihas then 1 else 0
score a_vip_ = if a_vip is null then -1 else if a_vip then 1 else 0
score all_short_ = if all_short is null then -1 else if all_short then 1 else 0
score a_big_ = if a_big is null then -1 else if a_big then 1 else 0
score all_even_ = if all_even is null then -1 else if all_even then 1 else 0
score a_div_ = if a_div is null then -1 else if a_div then 1 else 0
segment tagged = "5G" in tags and count(codes) > 0
channel sms
offer care { eligible when any(tags, it == "全球通") or i in codes channels sms priority count(codes) }
"""
SCORES = ["n_tags", "n_codes", "has_", "lacks_", "ihas_", "a_vip_", "all_short_", "a_big_", "all_even_", "a_div_"]
SCHEMA = pa.schema([("id", pa.int64()), ("s", pa.string()), ("i", pa.int64()),
                    ("tags", pa.list_(pa.string())), ("codes", pa.list_(pa.int64()))])

WORDS = ["5G", "全球通", "VIP金卡", "", " ", "a", "a ", "é", "e\u0301", "🙂"]
word = st.one_of(st.none(), st.sampled_from(WORDS))
number = st.one_of(st.none(), st.sampled_from([0, 1, 2, 3, 4, -6, 12, 2 ** 63 - 1, -2 ** 63]))
row = st.fixed_dictionaries({
    "s": st.one_of(st.none(), st.sampled_from(WORDS)),
    "i": number,
    "tags": st.one_of(st.none(), st.lists(word, max_size=5)),
    "codes": st.one_of(st.none(), st.lists(number, max_size=5)),
})


@pytest.fixture(scope="module")
def policy():
    p = pol.loads(POLICY)
    p.evaluate(pa.Table.from_pylist([], schema=SCHEMA), as_of=AS_OF, engine="kernel")   # compiled once
    return p


def _outputs(result) -> list[dict]:
    c = result.customers.to_pylist()
    offers = {}
    for a in result.assignments.to_pylist():
        offers.setdefault(a["id"], []).append(a["offer"])
    return [{**{k: r[k] for k in SCORES}, "tagged": r["tagged"], "offers": offers.get(r["id"], [])} for r in c]


def _decided(d) -> dict:
    return {**{k: d.scores[k] for k in SCORES}, "tagged": d.segments["tagged"],
            "offers": [o.offer for o in d.offers]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row, min_size=1, max_size=12))
def test_every_evaluator_agrees_on_random_lists(policy, rows):
    rows = [{"id": k, **r} for k, r in enumerate(rows, 1)]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    vector = _outputs(policy.evaluate(table, as_of=AS_OF, engine="vector"))
    kernel = _outputs(policy.evaluate(table, as_of=AS_OF, engine="kernel"))
    reference = [_decided(policy.decide(r, as_of=AS_OF, engine="reference")) for r in rows]
    row_kernel = [_decided(policy.decide(r, as_of=AS_OF, engine="kernel")) for r in rows]
    assert vector == reference
    assert kernel == reference
    assert row_kernel == reference


def test_null_elements_are_dropped_and_duplicates_kept(policy):
    d = policy.decide({"id": 1, "tags": [None, "5G", "5G", None], "codes": [None]}, as_of=AS_OF, engine="reference")
    assert d.scores["n_tags"] == 2.0 and d.scores["n_codes"] == 0.0
    assert d.scores["all_even_"] == 1.0           # all of nothing is true
    assert d.scores["a_big_"] == 0.0              # any of nothing is false
    null = policy.decide({"id": 2}, as_of=AS_OF, engine="reference")
    assert null.scores["n_tags"] == -1.0 and null.scores["a_vip_"] == -1.0 and null.scores["all_even_"] == -1.0


def _same_as_plain(policy, tags: pa.Array, codes: pa.Array) -> None:
    n = len(tags)
    ids = pa.array(range(1, n + 1), pa.int64())
    s = pa.array(["5G"] * n)
    i = pa.array([3] * n, pa.int64())
    plain = pa.table({"id": ids, "s": s, "i": i, "tags": tags.cast(pa.list_(pa.string())) if not
                      pa.types.is_dictionary(tags.type.value_type) else pa.array(tags.to_pylist(), SCHEMA[3].type),
                      "codes": pa.array(codes.to_pylist(), pa.list_(pa.int64()))})
    other = pa.table({"id": ids, "s": s, "i": i, "tags": tags, "codes": codes})
    want = _outputs(policy.evaluate(plain, as_of=AS_OF, engine="vector"))
    for engine in ("vector", "kernel"):
        assert _outputs(policy.evaluate(other, as_of=AS_OF, engine=engine)) == want, engine


def test_arrow_layouts_of_a_list_column(policy):
    """large_list, int32 and uint8 elements, dictionary-encoded strings
    inside the list, and a sliced column (an offset into its buffers)."""
    tags = [["5G", None, "全球通"], None, [], ["VIP金卡", "5G"], ["a"]]
    codes = [[1, 2, 4], [None, 5], None, [], [3, 3]]
    _same_as_plain(policy, pa.array(tags, pa.large_list(pa.large_string())),
                   pa.array(codes, pa.large_list(pa.int32())))
    _same_as_plain(policy, pa.array(tags, pa.list_(pa.string())), pa.array(codes, pa.list_(pa.uint8())))
    values = pa.array(["5G", "全球通", "VIP金卡", "5G"]).dictionary_encode()
    dict_tags = pa.ListArray.from_arrays(pa.array([0, 2, 2, 4], pa.int32()), values)
    _same_as_plain(policy, dict_tags, pa.array([[1], [], [2, 4]], pa.list_(pa.int64())))
    big_tags = pa.array(tags * 3, pa.list_(pa.string())).slice(4, 7)
    big_codes = pa.array(codes * 3, pa.list_(pa.int64())).slice(4, 7)
    _same_as_plain(policy, big_tags, big_codes)


def test_a_column_of_another_type_is_a_data_error_naming_it(policy):
    table = pa.table({"id": [1], "s": ["a"], "i": [1], "tags": pa.array([[1.5]], pa.list_(pa.float64())),
                      "codes": pa.array([[1]], pa.list_(pa.int64()))})
    with pytest.raises(DataError, match="column 'tags' has type list<item: double>.*list<string>") as e:
        policy.evaluate(table, as_of=AS_OF, engine="vector")
    assert e.value.column == "tags"


def test_a_null_list_in_a_field_that_is_not_nullable(tmp_path):
    p = pol.loads("input c key id { id: int  tags: list<string> }\nsegment s = count(tags) > 0")
    table = pa.table({"id": [1, 2], "tags": pa.array([["a"], None], pa.list_(pa.string()))})
    with pytest.raises(DataError, match=r"column 'tags' is a non-nullable field but holds 1 null value \(first at keys 2\)"):
        p.evaluate(table, engine="vector")


@pytest.mark.parametrize("value, message", [
    ("5G", r'field \'tags\' is list<string>\?: expected a list of strings, got "5G" \(a string\); write the values '
           r'in brackets'),
    (["5G", 7], r"field 'tags' is list<string>\?: element 2 should be a string, got 7"),
    ({"a": 1}, r"field 'tags' is list<string>\?: expected a list of strings"),
])
def test_records_name_the_field_and_the_element(policy, value, message):
    with pytest.raises(DataError, match=message) as e:
        policy.decide({"id": 1, "tags": value}, as_of=AS_OF)
    assert e.value.column == "tags"


def test_records_take_tuples_and_drop_null_elements(policy):
    a = policy.decide({"id": 1, "tags": ("5G", None), "codes": (4, None, 4)}, as_of=AS_OF, engine="kernel")
    assert a.scores["n_tags"] == 1.0 and a.scores["n_codes"] == 2.0 and a.segments["tagged"]


def test_csv_refuses_a_list_column_by_name(tmp_path, capsys):
    from pol.cli.run import run_command
    path = tmp_path / "p.pol"
    path.write_text(POLICY, encoding="utf-8")
    data = tmp_path / "c.csv"
    data.write_text('id,s,tags\n1,5G,"[""5G""]"\n', encoding="utf-8")
    assert run_command(str(path), str(data), str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    assert "column 'tags' is list<string>, and a CSV file cannot hold a list" in err
    assert "Parquet or Arrow IPC" in err and "Traceback" not in err
    # a nullable list field left out of the CSV file reads as null
    data.write_text("id,s,i\n1,5G,3\n", encoding="utf-8")
    assert run_command(str(path), str(data), str(tmp_path / "out2")) == 0


def test_gen_draws_list_fields_the_policy_tests(policy):
    from pol.cli.gen import generate
    t = generate(policy.program, 300, seed=3, as_of=AS_OF)
    assert t.schema.field("tags").type == pa.list_(pa.string())
    assert t.schema.field("codes").type == pa.list_(pa.int64())
    flat = [x for xs in t.column("tags").to_pylist() if xs for x in xs]
    assert "5G" in flat and "全球通" in flat              # the values the policy compares with
    lengths = {len(xs) for xs in t.column("codes").to_pylist() if xs is not None}
    assert 0 in lengths and max(lengths) >= 3
    result = policy.evaluate(t, as_of=AS_OF, engine="vector")
    assert 0 < result.customers.column("tagged").to_pylist().count(True) < 300


def test_fmt_keeps_list_fields_and_is_idempotent():
    text = ("input c key id {\n  id: int\n  tags:list<string>?\n  codes: list<int>\n}\n"
            "segment s = any( tags ,it==\"5G\" ) and count(codes)>1\n"
            'test "t" { given { id: 1, tags: ["5G", "x"], codes: [1, 2] }\n expect s }\n')
    once = format_text(text).text
    assert once is not None and "tags: list<string>?" in once and "codes: list<int>" in once
    assert 'any(tags, it == "5G") and count(codes) > 1' in once
    assert format_text(once).text == once
    assert pol.loads(once).program == pol.loads(text).program


def test_a_split_kernel_reads_list_fields_in_every_stage():
    """compiler/backend/split.py: each stage takes the layout's arguments,
    the list fields' elements and offsets and the any/all truths too."""
    from pol.evaluation.executor import KernelExecutor
    p = pol.loads(POLICY)
    rows = [{"id": 1, "s": "5G", "i": 4, "tags": ["5G", "VIP金卡"], "codes": [4, 2]},
            {"id": 2, "s": "a", "tags": [None, "a "], "codes": None},
            {"id": 3, "i": 12, "tags": [], "codes": [12, None, 3]},
            {"id": 4, "s": "全球通", "tags": None, "codes": []}]
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    want = _outputs(p.evaluate(table, as_of=AS_OF, engine="vector"))
    from pol.compiler.backend import split
    assert split.needed(p.lowered.program, 20)
    p._kernel = KernelExecutor(p.lowered.program, p.plan, split_at=20)
    assert _outputs(p.evaluate(table, as_of=AS_OF, engine="kernel")) == want


def test_a_carried_list_field_and_an_absent_one():
    """`carry tags` writes the list into the assignments; a nullable list
    field absent from the data reads as null and is reported absent."""
    p = pol.loads("""input c key id { id: int  tags: list<string>?  codes: list<int>? }
carry tags
channel sms
offer o { eligible when count(tags) > 0 or tags is null channels sms }
""")
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()),
                      "tags": pa.array([["a", None], [], None], pa.list_(pa.string()))})
    for engine in ("vector", "kernel"):
        r = p.evaluate(table, as_of=AS_OF, engine=engine)
        assert [(a["id"], a["tags"]) for a in r.assignments.to_pylist()] == [(1, ["a", None]), (3, None)]
        assert r.summary["absent_fields"] == ["codes"]


def test_an_aggregate_and_a_list_in_one_condition():
    """compiler/backend/history.py rewrites the aggregates of a condition
    into columns and leaves its any/all as they are."""
    p = pol.loads("""input c key id { id: int  tags: list<string>? }
history orders key id at day { id: int  day: date }
segment s = count(orders) > 0 and any(tags, it == "a")
""")
    table = pa.table({"id": pa.array([1, 2, 3], pa.int64()),
                      "tags": pa.array([["a"], ["a"], ["b"]], pa.list_(pa.string()))})
    orders = pa.table({"id": pa.array([1, 3], pa.int64()), "day": pa.array([AS_OF, AS_OF], pa.date32())})
    for engine in ("vector", "kernel"):
        r = p.evaluate(table, as_of=AS_OF, engine=engine, history={"orders": orders})
        assert r.customers.column("s").to_pylist() == [True, False, False], engine
