"""Checking costs in proportion to the policy's size, errors included.

Counted, not timed (timings go to benchmarks/bench_check.py): how often the
text is split into lines, how much of it is lexed again to describe syntax
errors, how many edit tables "did you mean" fills. Each was once paid per
diagnostic over the whole file or namespace, which made a large policy with
mistakes quadratic.
"""
import pytest

from pol.compiler.frontend import check_text
from pol.dsl import parser, words
from pol.dsl.diagnostics import render_all

N = 20_000
HEAD = "input customer key id {\n    id: int\n    a: int?\n    brand: string\n}\n"


class Counted(str):
    """The policy text, counting the times it is split into lines."""
    splits = 0

    def splitlines(self, *args, **kwargs):
        Counted.splits += 1
        return super().splitlines(*args, **kwargs)

    def split(self, *args, **kwargs):
        Counted.splits += 1
        return super().split(*args, **kwargs)


@pytest.fixture
def work(monkeypatch):
    """Characters lexed to describe syntax errors; edit tables filled."""
    counts = {"relexed": 0, "tables": 0}
    tokens, edit_distance = parser._LEXER.tokens, words.edit_distance

    def counting_tokens(text, start=0, end=None):
        counts["relexed"] += (len(text) if end is None else end) - start
        return tokens(text, start, end) if start or end is not None else tokens(text)

    def counting_edit_distance(*args, **kwargs):
        counts["tables"] += 1
        return edit_distance(*args, **kwargs)

    monkeypatch.setattr(parser._LEXER, "tokens", counting_tokens)
    monkeypatch.setattr(words, "edit_distance", counting_edit_distance)
    Counted.splits = 0
    return counts


def declarations(n: int) -> list[str]:
    return [f"let value{k:05d} = a + {k}" if k % 2 else f'segment seg{k:05d} = brand == "b{k}" and a > {k}'
            for k in range(n)]


def test_a_large_policy_checks_without_splitting_or_relexing(work):
    # each `expect` keeps its text for reports, which Source.line gives
    tests = [f'test "t{k}" {{\n    given {{ id: {k}, a: {k}, brand: "b{k}" }}\n    expect seg{k:05d}\n}}'
             for k in range(0, N, 100)]
    text = Counted(HEAD + "\n".join(declarations(N) + tests) + "\n")
    out = check_text(text, name="large.pol")
    assert out.ok and len(out.program.lets) + len(out.program.segments) == N
    assert [t.expects[0].text for t in out.program.tests[:2]] == ["seg00000", "seg00100"]
    assert Counted.splits == 0 and work == {"relexed": 0, "tables": 0}


def test_syntax_errors_throughout_a_large_policy_relex_only_what_they_need(work):
    lines = declarations(N)
    for k in range(0, N, N // 20):
        lines[k] = f"let broken{k} = a +"            # 20 declarations missing a value
    text = Counted(HEAD + "\n".join(lines) + "\n")
    out = check_text(text, name="large.pol")
    errors = out.diagnostics.errors
    assert [d.code for d in errors] == ["E-SYNTAX-013"] * 20
    assert [d.line for d in errors] == [6 + k for k in range(0, N, N // 20)]
    report = render_all(out.diagnostics.items, out.diagnostics.sources)
    assert report.count("^") == 20
    # each error is described from the declarations around it, not from the start of the file
    assert work["relexed"] < len(text) // 10
    assert Counted.splits <= 1                      # the recovery's own split, once


def test_misspellings_in_a_large_policy_cost_a_bounded_search(work):
    lines = declarations(N)
    lines += [f"let wrong{k} = value{k:05d}x + 1" for k in range(1, 400, 2)]     # 200 unknown names
    text = Counted(HEAD + "\n".join(lines) + "\n")
    out = check_text(text, name="large.pol")
    errors = out.diagnostics.errors
    assert len(errors) == 100 and {d.code for d in errors} == {"E-NAME-001"}
    assert errors[0].hint == "did you mean 'value00001'?"
    render_all(out.diagnostics.items, out.diagnostics.sources)
    assert Counted.splits == 0
    # a search per diagnostic kept, within the check's budget (never one per name per mistake)
    assert work["tables"] <= 10_000
