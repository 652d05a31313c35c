"""decide's one pass over a record (engine/evaluation/row_record.py): a
record of the exact common types is checked and packed into the row
kernel's buffer without the reader's list; any other record goes the
reader's way. The packer must write the bytes the reader's way writes,
take the exact records (or decide gains nothing), leave every other one to
the reader (which decides or refuses it with its own words), and number the
strings a policy does not name so that equal strings stay equal, in one
thread or eight."""
import datetime as dt
import math
import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.api.records import reader
from pol.compiler.backend import layout
from pol.errors import DataError

AS_OF = dt.date(2026, 11, 1)
TODAY = AS_OF.toordinal() - dt.date(1970, 1, 1).toordinal()
# Strings compared with each other, with a param and with literals, and no
# string function: codes of strings the policy does not name last from one
# record to the next. `note` and `big` are declared and never read.
TEXT = """input t key id {
    id: int
    a: string?
    b: string
    n: int?
    x: float?
    ok: bool?
    d: date?
    note: string?
    big: int?
}
param target: string = "gold"
segment same = a == b
segment aimed = a == target
segment metal = b == "gold" or b in ("silver", "bronze")
score sn = n
score sx = x
score sd = d - 2000-01-01
classify k { when ok => "y" when not ok => "n" }
channel c
offer o { eligible when same or aimed channels c priority coalesce(x, 1.0) }
offer p { eligible when metal channels c priority 2 }
"""
# With string functions: codes are numbered per record, as the reader's way numbers them.
LOOKUPS = TEXT + "segment long = length(a) > 2 and starts_with(b, \"金\")\n"
WORDS = ["gold", "silver", "zz", "yy", "", "金卡"]


@pytest.fixture(scope="module", params=["codes", "lookups"])
def policy(request):
    p = pol.loads(TEXT if request.param == "codes" else LOOKUPS, name=f"packer_{request.param}.pol")
    p.decide({"id": 1, "b": "x"}, as_of=AS_OF, engine="kernel")       # the row kernel, built once
    return p


def exact_records():
    """Records of the exact common types, nulls and left-out fields in many patterns."""
    out = []
    for k in range(60):
        r = {"id": k * 7 - 100, "a": WORDS[k % 6], "b": WORDS[(k // 2) % 6], "n": [None, 5, -2 ** 63, 2 ** 63 - 1][k % 4],
             "x": [0.5, None, -1e300, 3.0][k % 4], "ok": [True, False, None][k % 3],
             "d": [dt.date(2026, 1, k % 28 + 1), None][k % 5 == 0], "note": "free text", "big": -k}
        for name in ("a", "n", "note", "big")[: k % 5]:
            del r[name]
        out.append(r)
    return out


def test_the_packer_writes_the_bytes_the_readers_way_writes(policy):
    """Byte for byte, the key's slot and the record (string codes too, where
    both number per record: a policy with string lookups)."""
    ex = policy._row
    read = reader(policy.program)
    packer = ex.packer(read.fields, read.key_index, "error")
    memory = ex._thread().out.memory
    parts = {p.name: p for p in layout.row_parts(ex.plan, 1)}
    end = max(parts[n].offset + parts[n].size for n in layout.RECORD)
    slots = layout.record_slots(tuple(f.type for f in ex.plan.fields))
    strings = {parts["iv"].offset + 8 * k for j, (array, k) in slots.items()
               if array == "iv" and ex.plan.fields[j].type.value == "string"}
    params, active = policy._defaults, policy._active(AS_OF, policy._defaults)
    for record in exact_records():
        memory[:] = 0xEE
        assert packer.pack(record, memory, {}) == record["id"]
        fast = bytes(memory[:end])
        memory[:] = 0xEE
        ex.evaluate(read.values(record), TODAY, params, active, record["id"])
        if ex.plan.luts:
            assert fast == bytes(memory[:end]), record
        else:       # the strings' codes may differ: every other slot may not
            slow = bytes(memory[:end])
            assert [fast[i:i + 8] for i in range(0, end - end % 8, 8) if i not in strings] == \
                [slow[i:i + 8] for i in range(0, end - end % 8, 8) if i not in strings], record


def test_the_packer_takes_exact_records_and_leaves_the_rest_to_the_reader(policy):
    ex = policy._row
    read = reader(policy.program)
    packer = ex.packer(read.fields, read.key_index, "error")
    memory = ex._thread().out.memory
    base = {"id": 1, "b": "gold"}
    assert packer.pack(base, memory, {}) == 1
    assert packer.pack(dict(base, x=2), memory, {}) == 1          # an int where a float goes: its float
    for other in [dict(base, n=2.0), dict(base, x=math.nan), dict(base, x=math.inf), dict(base, n=2 ** 63),
                  dict(base, big=-2 ** 63 - 1), dict(base, d="2026-01-01"), dict(base, ok=1), dict(base, n=True),
                  dict(base, id=None), {"b": "gold"}, dict(base, zz=1), dict(base, a=b"x"),
                  dict(base, d=dt.datetime(2026, 1, 1))]:
        assert packer.pack(other, memory, {}) is None, other
        # ... and the reader decides or refuses it, the same on both engines
        got = [_outcome(lambda e=e, r=other: policy.decide(r, as_of=AS_OF, engine=e)) for e in ("kernel", "reference")]
        assert got[0] == got[1], other
    with pytest.raises(DataError, match="field 'big' is int\\?: expected an int, got -9223372036854775809"):
        policy.decide(dict(base, big=-2 ** 63 - 1), as_of=AS_OF, engine="kernel")


def _outcome(fn):
    try:
        return "ok", fn()
    except DataError as e:
        return "error", str(e)


words = st.one_of(st.sampled_from(WORDS), st.text(max_size=4))
record = st.fixed_dictionaries(
    {"id": st.integers(-2 ** 63, 2 ** 63 - 1), "b": words},
    optional={"a": st.none() | words, "n": st.none() | st.integers(-2 ** 63, 2 ** 63 - 1),
              "x": st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10 ** 6, 10 ** 6),
              "ok": st.none() | st.booleans(), "d": st.none() | st.dates(), "note": st.none() | words,
              "big": st.none() | st.integers(-2 ** 63, 2 ** 63 - 1)})


@settings(max_examples=int(os.environ.get("POL_RECORD_FUZZ_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(record=record, target=st.sampled_from([None, "zz", "gold", "金卡"]))
def test_exact_records_decide_as_on_the_reference_evaluator(policy, record, target):
    """A param's own string ("zz", "金卡": no literal) and the record's equal
    strings get one code."""
    params = None if target is None else {"target": target}
    assert policy.decide(record, as_of=AS_OF, engine="kernel", params=params) == \
        policy.decide(record, as_of=AS_OF, engine="reference", params=params), record


def test_eight_threads_numbering_new_strings_at_once_agree(policy):
    records = [{"id": k, "a": f"w{k % 37}", "b": f"w{k % 41}", "x": k / 4} for k in range(400)]
    alone = [policy.decide(r, as_of=AS_OF, engine="reference") for r in records]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda r: policy.decide(r, as_of=AS_OF, engine="kernel"), records * 3))
    assert together == alone * 3
    assert sum(d.segments["same"] for d in alone) > 5          # equal strings met, and were equal
