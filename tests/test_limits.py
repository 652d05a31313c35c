"""Policy size and limits (docs/GUARANTEES.md): whatever `pol check` accepts
runs on every evaluator, and what is over a limit is refused by the checker
with its code, where it goes over.

Long and deep structures used to pass the checker and then raise
RecursionError in the code generator or the evaluators. Each limit is tested
just under (it runs: reference `decide`, vectorized and, for one policy,
kernel `evaluate`, all agreeing) and just over (refused, with the code and
the position).
"""
import datetime as dt
import math

import pyarrow as pa
import pytest

import pol
from pol.compiler.frontend import check_text
from pol.dsl import limits
from pol.dsl.diagnostics import render_all

AS_OF = dt.date(2026, 11, 1)
HEAD = """input customer key id {
    id: int
    a: int?
    x: float?
    b: bool?
    brand: string?
}
channel sms
"""
RECORDS = [
    {"id": 1, "a": 3, "x": 1.5, "b": True, "brand": "全球通"},
    {"id": 2, "a": None, "x": None, "b": None, "brand": None},
    {"id": 3, "a": 250, "x": -2.25, "b": False, "brand": "神州行"},
    {"id": 4, "a": -7, "x": 0.0, "b": True, "brand": ""},
]
OFFER = "offer o1 {\n    eligible when true\n    channels sms\n}\n"


def table() -> pa.Table:
    return pa.table({k: [r[k] for r in RECORDS] for k in RECORDS[0]},
                    schema=pa.schema([("id", pa.int64()), ("a", pa.int64()), ("x", pa.float64()),
                                      ("b", pa.bool_()), ("brand", pa.string())]))


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def runs_everywhere(text: str, engines=("vector",)) -> dict:
    """Check the policy, decide every record on the reference evaluator and
    evaluate the table on `engines`: every output column must agree."""
    policy = pol.loads(text, name="limits.pol")
    decisions = [policy.decide(r, as_of=AS_OF, engine="reference") for r in RECORDS]
    reference = {}
    for d in decisions:
        for group in (d.segments, d.classifications, d.scores):
            for name, value in group.items():
                reference.setdefault(name, []).append(value)
        reference.setdefault("offers", []).append(d.offer_names)
    for engine in engines:
        got = policy.evaluate(table(), as_of=AS_OF, engine=engine).customers
        for name, values in reference.items():
            column = got.column(name).to_pylist()
            assert all(same(a, b) for a, b in zip(column, values)), (engine, name, column, values)
    return reference


def refused(text: str, code: str):
    out = check_text(text, name="limits.pol")
    assert not out.ok
    found = [d for d in out.diagnostics.errors if d.code == code]
    assert found, [d.code for d in out.diagnostics.errors]
    render_all(out.diagnostics.items, out.diagnostics.sources)      # renders without trouble
    return found[0]


# ---------------------------------------------------------------- long, not deep: no limit

def test_long_chains_and_lists_run_everywhere():
    """Chains of and/or, coalesce, min/max, `in` lists and classifications
    of a thousand: one level each, whatever their length."""
    n = 1000
    text = HEAD + "\n".join([
        "segment all_b = " + " and ".join(["b"] * n),
        "segment any_a = " + " or ".join(f"a == {k}" for k in range(n)),
        "let first = coalesce(" + ", ".join(["a"] * (n - 1)) + ", -1)",
        "let low = min(" + ", ".join(f"x * {k}" for k in range(n)) + ")",
        "segment listed = a in (" + ", ".join(str(k) for k in range(0, 3 * n, 3)) + ")",
        "classify band {\n" + "\n".join(f'    when a > {n - k} => "b{n - k}"' for k in range(n)) + "\n}",
        "score s = first + low",
    ]) + "\n" + OFFER
    values = runs_everywhere(text)
    assert values["all_b"] == [True, False, False, True]
    assert values["any_a"] == [True, False, True, False]
    assert values["band"] == ["b2", None, "b249", None] and values["listed"] == [True, False, False, False]
    assert values["s"] == [3 + 0.0, None, 250 - 2.25 * (n - 1), -7 + 0.0]


def test_the_reported_crashes_run_on_the_reference_and_vector_evaluators():
    """The structures of the report (200 ands, coalesce of 200, classify of
    1,000 rules) and, within the depth limit, a 201-term sum and 199 nested
    ifs: each passed pol check, then raised RecursionError."""
    text = HEAD + "\n".join([
        "segment ands = " + " and ".join(["b"] * 200),
        "let co = coalesce(" + ", ".join(["a"] * 199) + ", 0)",
        "classify k {\n" + "\n".join(f'    when a > {k} => "c{k}"' for k in range(1000)) + '\n    else => "none"\n}',
        "score total = " + " + ".join(["x"] * 201),
        "let nested = " + "(if a > 1 then " * 199 + "x" + " else 0.5)" * 199,
        "score both = nested + co",
    ]) + "\n" + OFFER
    values = runs_everywhere(text)
    assert values["k"] == ["c0", "none", "c0", "none"]
    assert values["total"] == [1.5 * 201, None, -2.25 * 201, 0.0]
    assert values["both"] == [4.5, 0.5, 247.75, -6.5]


def test_what_check_accepts_compiles_and_runs_on_the_kernel():
    """Kernels have no branches in expression code and no deep nesting
    (each step a statement): Python compiles them, and so does Numba."""
    text = HEAD + "\n".join([
        "segment all_b = " + " and ".join(["b"] * 220),
        "let first = coalesce(" + ", ".join(["a"] * 219) + ", 0)",
        "segment deep = " + "not " * 200 + "b",
        "score s = first * 2",
    ]) + "\n" + OFFER
    values = runs_everywhere(text, engines=("vector", "kernel"))
    assert values["all_b"] == [True, False, False, True] and values["deep"] == [True, False, False, True]


@pytest.mark.slow
def test_large_structures_compile_and_run_on_the_kernel():
    text = HEAD + "\n".join([
        "segment all_of = " + " and ".join(f"(a > {k % 7} or b)" for k in range(600)),
        "let first = coalesce(" + ", ".join(f"a + {k}" for k in range(599)) + ", 0)",
        "classify band {\n" + "\n".join(f'    when a > {600 - k} => "b{600 - k}"' for k in range(600)) + "\n}",
        "score total = " + " + ".join(f"x * {k % 5}" for k in range(200)),
        "let nested = " + "(if a > 1 then " * 150 + "x" + " else 0.5)" * 150,
        "segment ifs = " + "if a > 3 then true else " * 199 + "false",
        "score s = total + nested + first",
    ]) + "\n" + OFFER
    runs_everywhere(text, engines=("vector", "kernel"))


# ---------------------------------------------------------------- depth

DEEP = {
    "not": lambda k: "segment s = " + "not " * k + "b",
    "minus": lambda k: "let v = " + "-" * k + "a",
    "calls": lambda k: "let v = " + "abs(" * k + "a" + ")" * k,
    "parentheses": lambda k: "let v = " + "(a + " * k + "a" + ")" * k,
    "then": lambda k: "let v = " + "(if b then " * k + "1" + " else 0)" * k,
    "else if": lambda k: "let v = " + "if b then 1 else " * k + "0",
    "sum": lambda k: "score v = " + " + ".join(["x"] * (k + 1)),
    "product": lambda k: "score v = " + " * ".join(["x"] * (k + 1)),
}


@pytest.mark.parametrize("form", sorted(DEEP))
def test_at_the_depth_limit_it_runs_and_one_level_deeper_is_refused_there(form):
    runs_everywhere(HEAD + DEEP[form](limits.MAX_DEPTH) + "\n" + OFFER)
    text = HEAD + DEEP[form](limits.MAX_DEPTH + 1) + "\n" + OFFER
    d = refused(text, "E-LIMIT-002")
    line = text.splitlines().index(DEEP[form](limits.MAX_DEPTH + 1)) + 1
    assert d.line == line and "let" in d.hint and str(limits.MAX_DEPTH) in d.message
    if form in ("sum", "product"):
        assert d.column == len("score v = x ") + 1          # the chain's first operator
    elif form != "else if":
        # at the level one too deep: after MAX_DEPTH repetitions of the prefix
        prefix = DEEP[form](1).split(" = ")[1][:{"not": 4, "minus": 1, "calls": 4, "parentheses": 5, "then": 11}[form]]
        at = len(DEEP[form](1).split(" = ")[0]) + 3 + len(prefix) * limits.MAX_DEPTH
        assert d.column == at + 1 + prefix.startswith("(")


def test_an_and_chain_is_one_level_however_long():
    text = HEAD + "segment s = " + "not " * (limits.MAX_DEPTH - 1) + "(" + " and ".join(["b"] * 2000) + ")\n"
    runs_everywhere(text + OFFER)
    assert not check_text(HEAD + "segment s = " + "not " * limits.MAX_DEPTH + "(b and b)\n").ok


# ---------------------------------------------------------------- strings, names, files

def test_a_string_at_the_limit_runs_and_one_longer_is_refused():
    longest = "长" * limits.MAX_STRING
    text = HEAD + f'segment same = brand == "{longest}"\nsegment has = contains("{longest}", "长长")\n' + OFFER
    values = runs_everywhere(text)
    assert values["same"] == [False] * 4 and values["has"] == [True] * 4
    over = HEAD + f'segment same = brand == "{longest}x"\n' + OFFER
    d = refused(over, "E-LIMIT-003")
    assert (d.line, d.column) == (9, len("segment same = brand == ") + 1)
    assert f"{limits.MAX_STRING + 1:,}" in d.message


def test_a_name_at_the_limit_runs_and_one_longer_is_refused():
    name = "n" * limits.MAX_NAME
    values = runs_everywhere(HEAD + f"segment {name} = a > 1\n" + OFFER)
    assert values[name] == [True, False, True, False]
    d = refused(HEAD + f"segment {name}x = a > 1\n" + OFFER, "E-LIMIT-004")
    assert (d.line, d.column) == (9, len("segment ") + 1)


def test_a_file_at_the_limit_checks_and_one_character_more_is_refused():
    body = HEAD + "segment s = a > 1\n" + OFFER + "# "
    text = body + "." * (limits.MAX_FILE - len(body))
    assert len(text) == limits.MAX_FILE and check_text(text).ok
    d = refused(text + ".", "E-LIMIT-005")
    assert d.line == text.count("\n") + 1 and "import" in d.hint


def tokens(text: str) -> int:
    from pol.dsl.parser import _LEXER
    return sum(1 for _ in _LEXER.tokens(text))


def test_a_file_of_too_many_tokens_is_refused_at_the_first_one_over(monkeypatch):
    monkeypatch.setattr("pol.dsl.parser.MAX_TOKENS", 1000)
    text = HEAD + "segment s = a > 1\n" + OFFER
    # `let lK = K` is 4 tokens; one let of 5, 6 or 7 makes up the rest
    rest = (1000 - tokens(text)) % 4
    text += ["", "let p = -1\n", "let p = 1 + 1\n", "let p = 1 + -1\n"][rest]
    text += "".join(f"let l{k} = {k}\n" for k in range((1000 - tokens(text)) // 4))
    assert tokens(text) == 1000 and check_text(text).ok
    d = refused(text + "let over = 1\n", "E-LIMIT-005")
    assert (d.line, d.column) == (text.count("\n") + 1, 1)
    assert "1,000 tokens" in d.message


@pytest.mark.slow
def test_a_file_at_the_real_token_limit_checks():
    text = "input c key id {\n id: int\n a: int?\n}\n"
    text += "".join(f"let l{k} = a + {k}\n" for k in range((limits.MAX_TOKENS - tokens(text)) // 6))
    assert limits.MAX_TOKENS - 6 < tokens(text) <= limits.MAX_TOKENS and check_text(text).ok
    over = text + "".join(f"let q{k} = 1\n" for k in range(2))
    assert tokens(over) > limits.MAX_TOKENS and refused(over, "E-LIMIT-005")


def test_a_ten_megabyte_literal_is_refused_without_lexing_it_into_memory():
    # lexed with a repeat that kept state per character, this took 5.3 GB
    text = HEAD + 'segment s = brand == "' + "x" * 10_000_000 + '"\n'
    refused(text, "E-LIMIT-003")


def test_over_the_limits_pol_check_prints_the_diagnostic_and_exits_1(tmp_path):
    import subprocess
    import sys
    path = tmp_path / "deep.pol"
    path.write_text(HEAD + DEEP["sum"](limits.MAX_DEPTH + 5) + "\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pol", "check", str(path)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and "error[E-LIMIT-002]" in r.stderr and "Traceback" not in r.stderr
    assert "^" in r.stderr and "hint: add it up in parts" in r.stderr
