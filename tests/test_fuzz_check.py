"""The checker on garbage: random bytes and text, and the repository's own
policies mutated token by token (deleted, duplicated, swapped, characters
inserted, cut short).

Whatever comes in, `check_text` returns: a program, or diagnostics that each
have a code, a span inside the text and a rendering; it never raises. The
fast parsing loop and Lark's parser agree on every text. A mutated policy
that still checks decides a record on the reference evaluator, raising
nothing but pol's own errors. `-m slow` runs many more examples.
"""
import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pol.compiler.frontend import check_text
from pol.dsl import parser
from pol.dsl.diagnostics import render_all
from pol.dsl.lalr import NotFast
from pol.errors import DataError, ParamError, PolicyError

ROOT = Path(__file__).resolve().parents[1]
TELECOM = ROOT / "policies" / "telecom"
POLICIES = sorted(TELECOM.glob("*.pol")) + [ROOT / "benchmarks" / "data" / "retention_bench.pol"]
TEXTS = {p: p.read_text(encoding="utf-8") for p in POLICIES}
TOKENS = {p: list(parser._LEXER.tokens(t)) for p, t in TEXTS.items()}
AS_OF = dt.date(2026, 11, 1)
CODE = re.compile(r"[EW]-[A-Z]+-\d{3}")

FAST = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))

# Characters worth inserting: the language's own, the ones it refuses with a
# hint (full-width punctuation and digits, other scripts' digits), quotes and
# escapes, line ends, control characters and a surrogate-free astral one.
NOISE = st.sampled_from(list("(){}\",=<>!+-*/%?:#\\\n\t\r\f 0189_.eE") +
                        ["，", "（", "）", "＝", "１", "٣", "\u3000", "全", "\x00", "\x7f", "\U0001F600", "'", ";"])


@st.composite
def mutated(draw):
    """A policy of the repository with one to four edits at token boundaries."""
    path = draw(st.sampled_from(POLICIES))
    text, tokens = TEXTS[path], TOKENS[path]
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "truncate", "replace"]))
        k = draw(st.integers(0, len(tokens) - 1))
        t = tokens[k]
        a, b = t.start_pos, t.end_pos
        if kind == "delete":
            text = text[:a] + text[b:]
        elif kind == "duplicate":
            text = text[:b] + " " + text[a:b] + text[b:]
        elif kind == "swap":
            u = tokens[draw(st.integers(0, len(tokens) - 1))]
            if u.start_pos > b:
                text = text[:a] + text[u.start_pos:u.end_pos] + text[b:u.start_pos] + text[a:b] + text[u.end_pos:]
        elif kind == "insert":
            text = text[:a] + "".join(draw(st.lists(NOISE, min_size=1, max_size=4))) + text[a:]
        elif kind == "replace":
            text = text[:a] + str(draw(st.sampled_from(tokens)).value) + text[b:]
        else:
            text = text[:draw(st.integers(0, len(text)))]
        tokens = list(parser._LEXER.tokens(text))
        if not tokens:
            break
    return path, text


def well_formed(out, text: str, name: str) -> None:
    """What check_text returns: a program without errors, or errors that each
    have a code, a span inside their file, and a rendering."""
    diags = out.diagnostics
    if out.program is not None:
        assert not diags.errors
    else:
        assert diags.errors, "no program and no error"
    lines = text.split("\n")
    for d in diags.items:
        assert CODE.fullmatch(d.code), d
        if d.span.path == name:
            assert 1 <= d.span.line <= len(lines), d
            assert 1 <= d.span.col <= len(lines[d.span.line - 1]) + 2, d
            assert (d.span.end_line, d.span.end_col) >= (d.span.line, d.span.col), d
    render_all(diags.items, diags.sources)


def same_parse(text: str) -> None:
    """The fast loop and Lark's parser build the same thing, or both refuse."""
    results = []
    for run in (parser._FAST.parse, parser.PARSER.parse):
        parser._BUILDER.begin("fuzz.pol")
        try:
            results.append(repr(run(text)))
        except NotFast:
            results.append("refused")
        except Exception as e:
            assert type(e).__module__ == "lark.exceptions", e
            results.append("refused")
    assert results[0] == results[1], text


def record_for(program) -> dict:
    value = {"int": 7, "float": 2.5, "bool": True, "string": "全球通", "date": dt.date(2026, 1, 31),
             "timestamp": dt.datetime(2026, 1, 31, 3, 30)}
    return {f.name: value[f.type.value] for f in program.input.fields}


def checks_and_decides(path: Path, text: str) -> None:
    name = str(path.relative_to(ROOT))
    out = check_text(text, name=name, base_dir=path.parent)
    well_formed(out, text, name)
    if out.program is None:
        return
    import pol
    policy = pol.Policy(out.program, name)
    try:
        policy.decide(record_for(out.program), as_of=AS_OF, engine="reference")
    except (PolicyError, DataError, ParamError):
        pass


@FAST
@given(mutated())
def test_mutated_policies(case):
    path, text = case
    same_parse(text)
    checks_and_decides(path, text)


def garbage(size: int):
    """Random bytes read as UTF-8 (bad sequences replaced) and raw (one
    character per byte), and random Unicode text."""
    return st.one_of(st.binary(max_size=size).map(lambda b: b.decode("utf-8", errors="replace")),
                     st.binary(max_size=size).map(lambda b: b.decode("latin-1")),
                     st.text(max_size=size))


@FAST
@given(garbage(400))
def test_random_text(text):
    same_parse(text)
    out = check_text(text, name="fuzz.pol", base_dir=TELECOM)
    well_formed(out, text, "fuzz.pol")


@pytest.mark.slow
@SLOW
@given(mutated())
def test_mutated_policies_many(case):
    path, text = case
    same_parse(text)
    checks_and_decides(path, text)


@pytest.mark.slow
@SLOW
@given(garbage(2000))
def test_random_text_many(text):
    same_parse(text)
    well_formed(check_text(text, name="fuzz.pol", base_dir=TELECOM), text, "fuzz.pol")
