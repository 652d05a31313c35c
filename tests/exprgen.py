"""Hypothesis strategies: random well-typed expressions of the language, as
source text, over a fixed input block; and random Arrow batches for it.

Used by the differential tests, which compile the expressions into a policy
and check that the fused kernel, the vectorized evaluator and the reference
evaluator agree on every value and every null.
"""
from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import strategies as st

I64_MIN = -(2 ** 63)
I64_MAX = 2 ** 63 - 1

FIELDS = {
    "int": ["i1", "i2", "n1"],        # n1 is non-nullable
    "float": ["f1", "f2", "g1"],      # g1 is non-nullable
    "bool": ["b1", "b2"],
    "string": ["s1", "s2"],
    "date": ["d1", "d2"],
    "timestamp": ["t1"],
}
NON_NULL = {"id", "n1", "g1"}
LIST_PARAMS = {"int": ["li1", "li2"], "string": ["ls1", "ls2"]}
STRINGS = ["", "a", "全球通", "动感地带", "ab", "A", "a\"b", "x y", " Ab\u3000", "straße", "ΣΑΣ"]

INPUT_BLOCK = """input t key id {
    id: int
    i1: int?
    i2: int?
    n1: int
    f1: float?
    f2: float?
    g1: float
    b1: bool?
    b2: bool?
    s1: string?
    s2: string?
    d1: date?
    d2: date?
    t1: timestamp?
}
"""


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def int_lit():
    return st.sampled_from(["0", "1", "2", "3", "7", "10", "100", "1_000_000", "4611686018427387904",
                            "9223372036854775807", "3037000500"])


def float_lit():
    return st.sampled_from(["0.0", "1.5", "2.5", "0.1", "1e6", "1e300", "2.675", "80%", "0.5",
                            "3.0", "1e-300", "100%"])


def date_lit():
    return st.sampled_from(["2026-11-01", "2024-02-29", "1970-01-01", "0001-01-01", "9999-12-31",
                            "2000-03-01"])


def ts_lit():
    return st.sampled_from(["2026-11-01T22:00", "2026-11-01T07:59:59.999999", "1969-12-31T23:59:59",
                            "0001-01-01T00:00", "9999-12-31T23:59:59.999999", "2024-02-29T12:30:05.5"])


@st.composite
def expr(draw, t: str, depth: int = 3):
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(leaf(t))
    d = depth - 1
    if t == "int":
        forms = [
            lambda: f"({draw(expr('int', d))} {draw(st.sampled_from(['+', '-', '*', '%']))} {draw(expr('int', d))})",
            lambda: f"(-{draw(expr('int', d))})",
            lambda: f"{draw(st.sampled_from(['abs', 'floor', 'ceil']))}({draw(expr('int', d))})",
            lambda: f"round({draw(expr('int', d))}, {draw(st.integers(-15, 3))})",
            lambda: f"{draw(st.sampled_from(['min', 'max']))}({draw(expr('int', d))}, {draw(expr('int', d))})",
            lambda: f"clamp({draw(expr('int', d))}, {draw(expr('int', d))}, {draw(expr('int', d))})",
            lambda: f"coalesce({draw(expr('int', d))}, {draw(expr('int', d))})",
            lambda: f"(if {draw(expr('bool', d))} then {draw(expr('int', d))} else {draw(expr('int', d))})",
            lambda: f"{draw(st.sampled_from(['year', 'month', 'day']))}({draw(expr('date', d))})",
            lambda: f"({_not_null(draw(expr('date', d)), 'd1')} - {_not_null(draw(expr('date', d)), 'd2')})",
            lambda: f"length({draw(expr('string', d))})",
            lambda: f"days_between({draw(expr('date', d))}, {draw(expr('date', d))})",
            lambda: f"{draw(st.sampled_from(['weekday', 'day_of_year', 'days_to_anniversary']))}({draw(expr('date', d))})",
            lambda: f"{draw(st.sampled_from(['hour', 'minute']))}({draw(expr('timestamp', d))})",
        ]
    elif t == "float":
        forms = [
            lambda: f"({draw(expr('float', d))} {draw(st.sampled_from(['+', '-', '*', '/', '%']))} {draw(expr(draw(st.sampled_from(['float', 'int'])), d))})",
            lambda: f"({draw(expr('int', d))} / {draw(expr('int', d))})",
            lambda: f"(-{draw(expr('float', d))})",
            lambda: f"{draw(st.sampled_from(['abs', 'floor', 'ceil', 'sqrt', 'exp', 'log']))}({draw(expr('float', d))})",
            lambda: f"round({draw(expr('float', d))}, {draw(st.integers(-3, 4))})",
            lambda: f"round({draw(expr('float', d))})",
            lambda: f"pow({draw(expr('float', d))}, {draw(expr('float', d))})",
            lambda: f"{draw(st.sampled_from(['min', 'max']))}({draw(expr('float', d))}, {draw(expr('int', d))})",
            lambda: f"clamp({draw(expr('float', d))}, {draw(expr('float', d))}, {draw(expr('float', d))})",
            lambda: f"coalesce({draw(expr('float', d))}, {draw(expr('float', d))}, {draw(expr('int', d))})",
            lambda: f"(if {draw(expr('bool', d))} then {draw(expr('float', d))} else {draw(expr('int', d))})",
        ]
    elif t == "bool":
        num = draw(st.sampled_from(["int", "float"]))
        forms = [
            lambda: f"({draw(expr(num, d))} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {draw(expr(draw(st.sampled_from(['int', 'float'])), d))})",
            lambda: f"({draw(expr('string', d))} {draw(st.sampled_from(['==', '!=']))} {draw(expr('string', d))})",
            lambda: f"({draw(expr('date', d))} {draw(st.sampled_from(['<', '>=', '==']))} {draw(expr('date', d))})",
            lambda: f"({draw(expr('timestamp', d))} {draw(st.sampled_from(['<', '>=', '==', '!=']))} "
                    f"{draw(expr('timestamp', d))})",
            lambda: f"({draw(expr('bool', d))} {draw(st.sampled_from(['and', 'or']))} {draw(expr('bool', d))})",
            lambda: f"(not {draw(expr('bool', d))})",
            lambda: f"({draw(expr('int', d))} {draw(st.sampled_from(['in', 'not in']))} ({', '.join(draw(st.lists(int_lit(), min_size=1, max_size=3)))}))",
            lambda: f"({draw(expr('string', d))} {draw(st.sampled_from(['in', 'not in']))} ({', '.join(quote(s) for s in draw(st.lists(st.sampled_from(STRINGS), min_size=1, max_size=3)))}))",
            lambda: f"({draw(expr(num, d))} between {draw(expr(num, d))} and {draw(expr(num, d))})",
            lambda: f"({draw(expr(draw(st.sampled_from(list(FIELDS))), d))} {draw(st.sampled_from(['is null', 'is not null']))})",
            lambda: f"{draw(st.sampled_from(['starts_with', 'ends_with', 'contains']))}({draw(expr('string', d))}, {quote(draw(st.sampled_from(STRINGS)))})",
            # the list params policy_text declares
            lambda: f"({draw(expr('int', d))} {draw(st.sampled_from(['in', 'not in']))} {draw(st.sampled_from(LIST_PARAMS['int']))})",
            lambda: f"({draw(expr('string', d))} {draw(st.sampled_from(['in', 'not in']))} {draw(st.sampled_from(LIST_PARAMS['string']))})",
        ]
    elif t == "string":
        forms = [
            lambda: f"coalesce({draw(expr('string', d))}, {draw(expr('string', d))})",
            lambda: f"(if {draw(expr('bool', d))} then {draw(expr('string', d))} else {draw(expr('string', d))})",
            lambda: f"{draw(st.sampled_from(['upper', 'lower', 'trim']))}({draw(expr('string', d))})",
            lambda: f"substring({draw(expr('string', d))}, {draw(st.sampled_from(['1', '2', '0', '-1', '5']))}"
                    f"{draw(st.sampled_from(['', ', 1', ', 2', ', 0', ', -2', ', 9223372036854775807']))})",
            # the literal `null` is refused in concat (E-TYPE-007)
            lambda: f"concat({_not_null(draw(expr('string', d)), 's1')}, {quote(draw(st.sampled_from(STRINGS)))})",
            lambda: f"concat({quote(draw(st.sampled_from(STRINGS)))}, {_not_null(draw(expr('string', d)), 's2')}, "
                    f"{quote(draw(st.sampled_from(STRINGS)))})",
        ]
    elif t == "timestamp":
        forms = [
            lambda: f"coalesce({draw(expr('timestamp', d))}, {draw(expr('timestamp', d))})",
            lambda: f"(if {draw(expr('bool', d))} then {draw(expr('timestamp', d))} else {draw(expr('timestamp', d))})",
        ]
    else:
        forms = [
            # a null on the left would read as an int: `null + i1` is int
            lambda: f"({_not_null(draw(expr('date', d)), 'd1')} {draw(st.sampled_from(['+', '-']))} {draw(expr('int', d))})",
            lambda: f"{draw(st.sampled_from(['min', 'max']))}({draw(expr('date', d))}, {draw(expr('date', d))})",
            lambda: f"coalesce({draw(expr('date', d))}, {draw(expr('date', d))})",
            lambda: f"(if {draw(expr('bool', d))} then {draw(expr('date', d))} else {draw(expr('date', d))})",
            lambda: f"add_days({draw(expr('date', d))}, {draw(expr('int', d))})",
            lambda: f"add_months({draw(expr('date', d))}, {draw(st.sampled_from(['-13', '-1', '0', '1', '12', '119987']))})",
            lambda: f"add_months({draw(expr('date', d))}, {draw(expr('int', d))})",
            # mostly real days: a year, a month and a day from small ranges (or any int)
            lambda: f"date({draw(expr('timestamp', d))})",
            lambda: f"date({draw(st.sampled_from(['2024', '2026', '1', '9999', '0', 'i1']))}, "
                    f"{draw(st.sampled_from(['1', '2', '12', '13', 'n1']))}, {draw(st.sampled_from(['1', '28', '29', '31', 'i2']))})",
        ]
    choice = draw(st.integers(0, len(forms) - 1))
    return forms[choice]()


def _not_null(text: str, instead: str) -> str:
    """An operand that is not the bare literal `null` (refused by concat) and,
    for a date, reads as a date: a bare `null`, or an expression of
    nulls alone such as `(if b1 then null else null)`, would read as an int."""
    if text == "null":
        return instead
    if "(" in text:
        return f"(if false then {instead} else {text})"
    return text


@st.composite
def leaf(draw, t: str):
    k = draw(st.integers(0, 5))
    if k <= 2:
        return draw(st.sampled_from(FIELDS[t]))
    if k == 3:
        return "null"
    if t == "int":
        return draw(int_lit())
    if t == "float":
        return draw(float_lit())
    if t == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if t == "string":
        return quote(draw(st.sampled_from(STRINGS)))
    if t == "timestamp":
        return draw(ts_lit())
    return draw(st.one_of(date_lit(), st.just("today")))


def observe(name: str, t: str, text: str) -> str:
    """Declarations that expose an expression's exact value and nullness."""
    if text == "null":      # a bare null takes its type from context; a let has none
        text = f"(if false then {FIELDS[t][0]} else null)"
    if t == "bool":
        return (f'classify {name} {{ when {text} => "t" when not ({text}) => "f" else => "n" }}\n')
    if t == "float":
        return f"score {name} = {text}\n"
    if t == "int":
        return (f"let {name}_v = {text}\n"
                f"score {name} = {name}_v\n"
                f"score {name}_lo = {name}_v % 1000000007\n")
    if t == "date":
        return f"score {name} = ({text}) - 2000-01-01\n"
    # a let has no context: an expression of nulls alone (coalesce(null, null))
    # would read as an int, so the string type is given by an untaken branch
    cases = " ".join(f"when {name}_v == {quote(s)} => {quote(s)}" for s in STRINGS)
    return (f"let {name}_v = (if false then {FIELDS['string'][0]} else {text})\n"
            f"classify {name} {{ {cases} when {name}_v is null => \"<null>\" else => \"<other>\" }}\n"
            f"score {name}_len = length({name}_v)\n")


@st.composite
def policy_text(draw, count: int = 12):
    parts = [INPUT_BLOCK]
    # list params with drawn values, empty lists among them
    for name in LIST_PARAMS["int"]:
        values = draw(st.lists(st.one_of(int_lit(), st.sampled_from(["-1", "-9223372036854775808"])), max_size=4))
        parts.append(f"param {name}: list<int> = [{', '.join(values)}]\n")
    for name in LIST_PARAMS["string"]:
        values = draw(st.lists(st.sampled_from(STRINGS + ["AB", "STRASSE"]), max_size=4))
        parts.append(f"param {name}: list<string> = [{', '.join(quote(v) for v in values)}]\n")
    for k in range(count):
        t = draw(st.sampled_from(["int", "float", "bool", "string", "date"]))
        parts.append(observe(f"e{k}", t, draw(expr(t))))
    return "".join(parts)


_INTS = st.one_of(st.none(), st.sampled_from([0, 1, -1, 2, 7, -7, I64_MAX, I64_MIN, 3037000500, 10 ** 12]),
                  st.integers(-1000, 1000))
_FLOATS = st.one_of(st.none(), st.sampled_from([0.0, -0.0, 1.5, -2.5, 2.675, 0.1, 1e308, -1e308, 1e-310,
                                                 float("nan"), float("inf"), 0.5]),
                    st.floats(-1e6, 1e6, allow_nan=False))
_DATES = st.one_of(st.none(), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
                   st.sampled_from([dt.date(2026, 11, 1), dt.date(2024, 2, 29), dt.date(1970, 1, 1)]))

_TIMESTAMPS = st.one_of(st.none(), st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
                        st.sampled_from([dt.datetime(2026, 11, 1, 22, 0), dt.datetime(1969, 12, 31, 23, 59, 59)]))


@st.composite
def rows(draw, min_size: int = 0, max_size: int = 40):
    n = draw(st.integers(min_size, max_size))
    out = []
    for i in range(n):
        r = {
            "id": i + 1,
            "i1": draw(_INTS), "i2": draw(_INTS), "n1": draw(_INTS.filter(lambda v: v is not None)),
            "f1": draw(_FLOATS), "f2": draw(_FLOATS),
            "g1": draw(st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)),
            "b1": draw(st.one_of(st.none(), st.booleans())), "b2": draw(st.one_of(st.none(), st.booleans())),
            "s1": draw(st.one_of(st.none(), st.sampled_from(STRINGS + ["zz", "全"]))),
            "s2": draw(st.one_of(st.none(), st.sampled_from(STRINGS))),
            "d1": draw(_DATES), "d2": draw(_DATES), "t1": draw(_TIMESTAMPS),
        }
        out.append(r)
    return out


SCHEMA = pa.schema([
    ("id", pa.int64()), ("i1", pa.int64()), ("i2", pa.int64()), ("n1", pa.int64()),
    ("f1", pa.float64()), ("f2", pa.float64()), ("g1", pa.float64()),
    ("b1", pa.bool_()), ("b2", pa.bool_()), ("s1", pa.string()), ("s2", pa.string()),
    ("d1", pa.date32()), ("d2", pa.date32()), ("t1", pa.timestamp("us")),
])


def to_table(records: list[dict], dictionary_strings: bool = False) -> pa.Table:
    t = pa.Table.from_pylist(records, schema=SCHEMA)
    if dictionary_strings:
        for name in ("s1", "s2"):
            i = t.schema.get_field_index(name)
            t = t.set_column(i, name, t.column(name).dictionary_encode())
    return t
