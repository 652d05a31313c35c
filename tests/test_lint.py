"""The checker's warnings about what silently matches nobody
(compiler/frontend/lint.py, compiler/frontend/regions.py): each fires where it
should and nowhere else, never blocks a run, and `pol check --strict` makes it
an error. A hypothesis test checks the interval reasoning against the
reference evaluator: a `when` reported unreachable is never the one a
customer matches, an offer reported never eligible is never eligible."""
from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pol.cli.main import main
from pol.compiler.frontend import check_path, check_text, compile_text
from pol.reference.interp import evaluate_row

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"

INPUT = """input c key id {
    id: int
    n: int?
    m: int?
    x: float?
    d: date?
    s: string?
    b: bool?
    flag: bool
}
"""


def warnings(body: str, name: str = "t.pol", base_dir=None) -> list[tuple[str, int, int]]:
    out = check_text(INPUT + body, name=name, base_dir=base_dir)
    assert out.ok, [d.message for d in out.diagnostics.errors]
    return [(d.code, d.line - INPUT.count("\n"), d.column) for d in out.diagnostics.warnings]


def codes(body: str) -> list[str]:
    return [c for c, _, _ in warnings(body)]


def classify(*whens: str, other: str = "") -> str:
    rules = "\n".join(f'    when {w} => "v{k}"' for k, w in enumerate(whens))
    return f'classify k "K" {{\n{rules}\n    else => "rest"\n}}\n{other}'


# ---------------------------------------------------------------- W-WHEN-001 / W-WHEN-002

@pytest.mark.parametrize("whens, unreachable", [
    (["n >= 80", "n >= 130"], [1]),                                  # the brief's example
    (["n <= 10", "n between 1 and 5"], [1]),
    (["x >= 80", "x >= 80.5"], [1]),
    (["n > 5", "n >= 6"], [1]),                                      # ints step by one
    (["n >= 6", "n > 5"], [1]),
    (["n < 3 or n > 10", "n > 12", "n between 0 and 2"], [1, 2]),    # union on one operand
    (["n > 0 and n < 10", "n between 2 and 8"], [1]),                # intersection
    (["n <= 3", "n between 4 and 9", "n between 1 and 9"], [2]),     # covered by two together
    (["n in (1, 2, 3)", "n == 2", "n not in (1, 2, 3)", "n == 7"], [1, 3]),
    (["not (n < 5)", "n >= 7"], [1]),
    (["d >= 2026-01-01", "d > 2025-12-31 and flag"], [1]),           # dates step by a day
    (['s in ("a", "b")', 's == "a"'], [1]),
    (['s != "a"', 's == "b"'], [1]),
    (["flag", "flag and n > 3"], [1]),                               # any bool expression is an atom
    (["starts_with(s, \"x\")", "n > 1 and starts_with(s, \"x\")"], [1]),
    (["n > 5 and n < 3"], [0]),                                      # never true at all
    (["n == null"], [0]),
    (["1 > 2"], [0]),
])
def test_unreachable_whens(whens, unreachable):
    found = [line for code, line, _ in warnings(classify(*whens)) if code in ("W-WHEN-001", "W-NULL-001")
             and code == "W-WHEN-001"]
    assert found == [1 + 1 + k for k in unreachable]        # line 1 is `classify`, the whens follow


@pytest.mark.parametrize("whens", [
    ["n >= 130", "n >= 80"],                        # the narrower first: both reachable
    ["x > 5", "x >= 5"],                            # floats do not step
    ["n > 5", "m > 5"],                             # another operand
    ["n > 5 and flag", "n > 5"],
    ["n < 3", "n > 3", "n == 3 or n is null"],      # a null takes the last
    ["n > 5", "n + 0 > 6"],                         # another expression: not compared
    ["flag", "not flag", "b"],
    ["n between 1 and 5", "n between 5 and 6"],
    ['s == "a"', 's == "A"'],
])
def test_reachable_whens_are_not_reported(whens):
    assert codes(classify(*whens)) == []


def test_a_param_in_the_operand_is_not_reasoned_about_but_a_repeat_is_a_duplicate():
    body = "param p: int = 3\n" + classify("n - p >= 80", "n - p >= 130", "n - p >= 80")
    assert [(c, line) for c, line, _ in warnings(body)] == [("W-WHEN-002", 5)]


def test_duplicate_when_points_at_the_first():
    out = check_text(INPUT + classify("days_since(d) > 30", "flag", "days_since(d) > 30"), name="t.pol")
    (w,) = out.diagnostics.warnings
    assert w.code == "W-WHEN-002" and w.line == INPUT.count("\n") + 4 and w.column == 10
    assert w.related[0][0].line == INPUT.count("\n") + 2
    assert "line " + str(INPUT.count("\n") + 2) in w.message


def test_duplicates_compare_meaning_not_text():
    # the same IR whatever the spelling: spaces, parentheses, an int for a float
    assert codes(classify("x >= 80", "(x>=80.0)")) == ["W-WHEN-002"]


# ---------------------------------------------------------------- soundness against the reference evaluator

_ATOMS = st.sampled_from(["n > 2", "n >= 4", "n < 1", "n <= 3", "n == 2", "n != 3", "m > 1", "m == 0",
                          "n between 1 and 3", "m between 0 and 2", "n in (0, 4)", "n not in (1, 2)",
                          "flag", "b", "n is null", "n > m", "n == null", "true", "false"])


@st.composite
def conditions(draw, depth: int = 2):
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(_ATOMS)
    form = draw(st.sampled_from(["and", "or", "not"]))
    if form == "not":
        return f"not ({draw(conditions(depth - 1))})"
    return f"({draw(conditions(depth - 1))}) {form} ({draw(conditions(depth - 1))})"


_VALUES = [None, 0, 1, 2, 3, 4, 5]
ROWS = [{"id": 1, "n": n, "m": m, "b": b, "flag": f}
        for n, m, b, f in itertools.product(_VALUES, [None, 0, 1, 2, 3], [None, True, False], [True, False])]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(conditions(), min_size=1, max_size=5), conditions())
def test_what_is_reported_unreachable_is_never_reached(whens, eligible):
    body = classify(*whens) + f"channel ch\noffer o {{ eligible when {eligible} channels ch }}\n"
    out = check_text(INPUT + body, name="t.pol")
    assert out.ok
    base = INPUT.count("\n") + 2
    never = {d.line - base for d in out.diagnostics.warnings if d.code in ("W-WHEN-001", "W-WHEN-002")}
    never_eligible = any(d.code == "W-OFFER-002" for d in out.diagnostics.warnings)
    program = out.program
    for row in ROWS:
        r = evaluate_row(program, row, dt.date(2026, 11, 1), trace=True)
        assert r.trace.whens["k"] not in never, (whens, row)
        assert not (never_eligible and r.offers["o"].eligible is True), (eligible, row)


def test_the_reasoning_finds_what_it_should_in_the_soundness_domain():
    """The soundness test above would pass if nothing were ever reported."""
    assert codes(classify("n > 2 or m > 1", "(n >= 4 and m == 0) or (m between 2 and 3)")) == ["W-WHEN-001"]


# ---------------------------------------------------------------- W-STR-001, W-CLASS-001

def test_strings_with_spaces_compared_with_a_field_a_let_or_a_classification():
    body = classify("n > 1") + """let t = s
segment a "A" = s == "金卡 "
segment b2 "B" = " x" != t
segment c "C" = s in ("ok", "  both  ")
segment e "E" = k == "v0 "
"""
    ws = warnings(body)
    assert [(c, line) for c, line, _ in ws] == [("W-STR-001", 6), ("W-STR-001", 7), ("W-STR-001", 8),
                                                ("W-STR-001", 9)]
    out = check_text(INPUT + body, name="t.pol")
    texts = {d.line - INPUT.count("\n"): (d.message, d.hint, d.column) for d in out.diagnostics.warnings}
    assert texts[6] == ('the string "金卡 " has spaces at its end',
                        'strings are compared as they are, spaces included: write "金卡"', 22)
    assert texts[8][0] == 'the string "  both  " has spaces at its start and end' and texts[8][2] == 29
    assert texts[9][1].endswith('write "v0"')


def test_strings_without_spaces_or_between_literals_are_fine():
    assert codes('segment a "A" = s == "金卡" or " a" == " a" or contains(s, " ")\n') == []


def test_a_classification_compared_with_a_value_it_never_takes():
    body = """classify tier "T" {
    when n > 1 => "gold"
    when n > 0 => "silver"
    else => "rest"
}
segment a "A" = tier == "glod"
segment b2 "B" = tier in ("gold", "slver", "rest")
segment c "C" = tier != "other"
segment ok "OK" = tier == "rest" or tier == "silver"
"""
    out = check_text(INPUT + body, name="t.pol")
    ws = [(d.code, d.line - INPUT.count("\n"), d.column, d.hint) for d in out.diagnostics.warnings]
    assert ws == [("W-CLASS-001", 6, 25, 'did you mean "gold"?'), ("W-CLASS-001", 7, 35, 'did you mean "silver"?'),
                  ("W-CLASS-001", 8, 25, 'its values are "gold", "silver", "rest"')]


# ---------------------------------------------------------------- W-OFFER-002

@pytest.mark.parametrize("cond, warned", [
    ("false", True), ("null", True), ("1 > 2", True), ("flag and false", True), ("n > 3 and n < 2", True),
    ("not true", True), ("true", False), ("flag or false", False), ("n > 3 and n < 5", False),
    ("n > 3 or true", False),
])
def test_an_offer_that_can_never_be_eligible(cond, warned):
    body = f"channel ch\noffer o {{\n    eligible when {cond}\n    channels ch\n}}\n"
    assert codes(body) == (["W-OFFER-002"] if warned else [])


# ---------------------------------------------------------------- W-UNUSED

def test_unused_declarations():
    body = """param p1: int = 1
param p2: int = 2
param p3: int = 3
let l1 = n + p1
let l2 = n * 2
let l3 = m
segment s1 = l1 > 3
segment s2 "S2" = l1 > 4
segment s3 = l3 > 0
channel a
channel unused_ch "未用"
offer o { eligible when s3 channels a }
test "t" {
    with p2 = 5
    given { id: 1 }
    expect p3 > 0
}
"""
    assert [(c, line) for c, line, _ in warnings(body)] == [
        ("W-UNUSED-001", 2), ("W-UNUSED-002", 5), ("W-UNUSED-004", 7), ("W-UNUSED-003", 11)]


def test_channels_of_a_program_without_offers_are_declared_for_importers():
    assert codes('channel app "APP" when flag\nchannel sms\n') == []


def test_tests_reading_a_let_use_it():
    body = 'let ratio = n / 2\ntest "t" { given { id: 1, n: 4 } expect ratio == 2 }\n'
    assert codes(body) == []


def test_only_the_root_files_own_declarations_are_judged(tmp_path):
    (tmp_path / "lib.pol").write_text(INPUT + "let helper = n + 1\nparam knob: int = 3\n", encoding="utf-8")
    (tmp_path / "main.pol").write_text('import "lib.pol"\nsegment big "大" = n > 3\n', encoding="utf-8")
    assert check_path(tmp_path / "main.pol").diagnostics.warnings == []
    lib = check_path(tmp_path / "lib.pol").diagnostics.warnings
    assert [(d.code, Path(d.file).name) for d in lib] == [("W-UNUSED-002", "lib.pol"), ("W-UNUSED-001", "lib.pol")]


def test_warnings_of_imported_files_are_reported_in_them(tmp_path):
    (tmp_path / "lib.pol").write_text(INPUT + classify("n >= 1", "n >= 2"), encoding="utf-8")
    (tmp_path / "main.pol").write_text('import "lib.pol"\nsegment big "大" = k == "v1"\n', encoding="utf-8")
    (w,) = check_path(tmp_path / "main.pol").diagnostics.warnings
    assert (w.code, Path(w.file).name) == ("W-WHEN-001", "lib.pol")


# ---------------------------------------------------------------- the commands

BAD = INPUT + 'segment gold "金" = s == "金卡 "\nlet unused = 1\n'


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_check_prints_warnings_and_passes(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("w.pol").write_text(BAD, encoding="utf-8")
    status, out, err = run(capsys, "check", "w.pol")
    assert status == 0 and out.startswith("w.pol: ok")
    assert "warning[W-STR-001]" in err and "warning[W-UNUSED-002]" in err and "error" not in err


def test_check_strict_turns_warnings_into_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("w.pol").write_text(BAD, encoding="utf-8")
    status, out, err = run(capsys, "check", "--strict", "w.pol")
    assert status == 1 and out == ""
    assert re.search(r"w\.pol:\d+:\d+: error\[W-STR-001\]", err) and err.rstrip().endswith("2 errors")
    Path("ok.pol").write_text(INPUT + 'segment big "大" = n > 3\n', encoding="utf-8")
    assert run(capsys, "check", "--strict", "ok.pol")[0] == 0


def test_warnings_never_block_a_run(tmp_path, capsys, monkeypatch):
    import pol
    monkeypatch.chdir(tmp_path)
    Path("w.pol").write_text(BAD, encoding="utf-8")
    policy = pol.load("w.pol")
    assert policy.decide({"id": 1, "s": "金卡 ", "flag": True}, as_of="2026-11-01").segments == {"gold": True}
    Path("in.csv").write_text("id,n,m,x,d,s,b,flag\n1,,,,,金卡,,true\n", encoding="utf-8")
    status, _, err = run(capsys, "run", "w.pol", "--input", "in.csv", "--out", "out", "--no-progress",
                         "--as-of", "2026-11-01")
    assert status == 0, err
    assert compile_text(BAD, "w.pol").segments[0].name == "gold"


def test_every_warning_code_has_a_golden_case():
    source = (ROOT / "compiler" / "frontend" / "lint.py").read_text(encoding="utf-8")
    lint_codes = set(re.findall(r'"(W-[A-Z]+-\d{3})"', source))
    assert len(lint_codes) == 11
    expected = "".join(p.read_text(encoding="utf-8") for p in GOLDEN.glob("warn_*.expected"))
    assert all(f"warning[{c}]" in expected for c in lint_codes), \
        sorted(c for c in lint_codes if f"warning[{c}]" not in expected)


# ---------------------------------------------------------------- interval sets

_BOUND = st.one_of(st.none(), st.tuples(st.integers(-6, 6), st.booleans()))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_BOUND, _BOUND), max_size=4), st.lists(st.tuples(_BOUND, _BOUND), max_size=4),
       st.sampled_from(["int", "float"]))
def test_interval_sets_are_sets(a, b, kind):
    """union, intersection, complement and subset agree with sets of points
    (for floats, the points include halves, which separate open and closed bounds)."""
    from pol.compiler.frontend import regions
    from pol.compiler.types import Type
    t = Type.INT if kind == "int" else Type.FLOAT
    points = [k / 2 for k in range(-20, 21)] if kind == "float" else list(range(-10, 11))

    def members(intervals) -> set:
        def inside(v, lo, hi):
            above = lo is None or v > lo[0] or v == lo[0] and lo[1]
            return above and (hi is None or v < hi[0] or v == hi[0] and hi[1])
        return {v for v in points if any(inside(v, lo, hi) for lo, hi in intervals)}

    sa, sb = regions.normalize(a, t), regions.normalize(b, t)
    assert members(sa) == members(a) and members(sb) == members(b)
    assert members(regions.union(sa, sb, t)) == members(a) | members(b)
    assert members(regions.intersect(sa, sb, t)) == members(a) & members(b)
    assert members(regions.complement(sa, t)) == set(points) - members(a)
    assert regions.subset(sa, sb, t) == (members(a) <= members(b))
    assert regions.normalize(list(sa), t) == sa           # normal forms are stable


def test_list_params_warn_of_spaced_strings_and_class_values_never_given():
    body = ('param vip: list<string> = ["v0 ", "v0", "gold"]\n'
            + classify("n > 1", other='segment a "A" = k in vip\nsegment b2 "B" = s in vip\n'))
    found = warnings(body)
    assert ("W-STR-001", 1, 28) in found
    # "v0 " and "gold" are never a class of k; `s in vip` is no classification
    assert [w for w in found if w[0] == "W-CLASS-001"] == [("W-CLASS-001", 6, 17)]
    assert codes('param vip: list<string> = ["a", "b"]\nsegment a "A" = s in vip\n') == []


def test_an_unread_list_param_is_unused():
    assert codes('param vip: list<int> = [1]\nsegment a "A" = n in (1, 2)\n') == ["W-UNUSED-001"]
