"""Random records against every path that reads one (docs/GUARANTEES.md,
"Records"): field names right, nearly right and wrong; values of every JSON
type, Python dates and datetimes, NaN and infinities, huge ints, nested
lists and objects; sometimes no mapping at all. Each path either decides or
refuses with pol's own error, never another exception, and the reference
evaluator and the compiled row kernel give the same Decision or the same
message. POL_RECORD_FUZZ_EXAMPLES sets how many records (default 300)."""
import datetime as dt
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pol
from pol.errors import ArgumentError, DataError

AS_OF = dt.date(2026, 11, 1)
TEXT = """input t key id {
    id: int
    n: int?  m: int
    x: float?  f: float
    ok: bool?
    s: string?
    d: date?
}
let days = d - 2000-01-01
segment a = starts_with(s, "a") or ok
classify size { when n > 100 => "big" when n > 0 => "small" else => "none" }
score sn = n
score sx = x * f + m
score sd = days
score ss = length(s)
channel c when ok
channel web
offer o1 { eligible when a channels c, web priority coalesce(x, 1) }
offer o2 { eligible when f > 0 channels web priority f }
offer o3 { eligible when n is not null channels web priority n valid to 2026-12-31 }
"""
NAMES = ["id", "n", "m", "x", "f", "ok", "s", "d"]


def near_misses(name: str) -> list[str]:
    return [name.upper(), name + "_", name[:-1] or "_", " " + name, name + "\n", name.replace("d", "D")]


keys = st.one_of(st.sampled_from(NAMES), st.sampled_from([m for n in NAMES for m in near_misses(n)]),
                 st.text(max_size=8))
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(), st.integers(min_value=-2 ** 64, max_value=2 ** 64),
    st.sampled_from([2 ** 63 - 1, -2 ** 63, 2 ** 63, -2 ** 63 - 1, 10 ** 400, -10 ** 400, 0, -1]),
    st.floats(), st.sampled_from([float("nan"), float("inf"), -float("inf"), 2.0 ** 63, -2.0 ** 63, 3.0, -0.0,
                                  1e308, 5e-324]),
    st.text(max_size=12), st.sampled_from(["2026-10-01", "2026-13-01", "20261001", "2026-10-01T00:00:00",
                                           "", "nan", "true", "1"]),
    st.dates(), st.datetimes(), st.datetimes(timezones=st.timezones()),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                      max_leaves=6)
# Values each field accepts, in every accepted form, edges included.
ints = st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.integers(-1000, 1000),
                 st.integers(-2 ** 53, 2 ** 53).map(float))
floats = st.one_of(st.floats(), st.integers(-10 ** 20, 10 ** 20), st.floats(-1e3, 1e3))
dates = st.one_of(st.dates(), st.datetimes(), st.datetimes(timezones=st.timezones()),
                  st.dates().map(lambda d: d.isoformat()))
TYPED = {"id": ints, "n": ints, "m": ints, "x": floats, "f": floats, "ok": st.booleans(),
         "s": st.text(max_size=6), "d": dates}
typed = st.fixed_dictionaries({"id": ints}, optional={k: st.one_of(st.none(), v) for k, v in TYPED.items()
                                                      if k != "id"})
records = st.one_of(
    typed,                                                          # well typed: most are decided
    st.builds(lambda r, k, v: {**r, k: v}, typed, keys, values),     # one field anything
    st.builds(lambda key, rest: {"id": key, **rest}, st.one_of(st.integers(-5, 5), values),
              st.dictionaries(keys, values, max_size=8)),
    values,
)


@pytest.fixture(scope="module")
def policy():
    p = pol.loads(TEXT, name="fuzz.pol")
    p.decide({"id": 1}, as_of=AS_OF, engine="kernel")       # the row kernel, built once
    return p


def outcome(fn):
    try:
        return "ok", fn()
    except (DataError, ArgumentError) as e:
        return type(e).__name__, str(e)


@settings(max_examples=int(os.environ.get("POL_RECORD_FUZZ_EXAMPLES", "300")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(record=records, extra=st.sampled_from(["error", "error", "ignore"]))
def test_every_path_decides_or_refuses_alike(policy, record, extra):
    ref = outcome(lambda: policy.decide(record, as_of=AS_OF, engine="reference", extra=extra))
    kernel = outcome(lambda: policy.decide(record, as_of=AS_OF, engine="kernel", extra=extra))
    assert kernel == ref, record
    explained = outcome(lambda: policy.explain(record, as_of=AS_OF, extra=extra))
    if ref[0] == "ok":
        assert explained[0] == "ok" and explained[1].decision == ref[1]
        explained[1].to_json()
        ref[1].model_dump_json()
    else:
        assert explained == ref
