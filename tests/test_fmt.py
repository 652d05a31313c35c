"""`pol fmt` and dsl/fmt.py: one canonical layout that keeps every comment.

Property tests (hypothesis) over random programs of every construct
(test_roundtrip's generator) and random expressions (exprgen), with comments
and line breaks scattered between their tokens, and over the telecom
library and the bench policy: formatting twice changes nothing, the tree
after formatting equals the tree before and the program checks to the same
IR, and every comment is still there, in order. Then the layout rules one
by one, and the command as a user runs it."""
from __future__ import annotations

import os
import random
import re
import stat
from pathlib import Path

import pytest
from exprgen import policy_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_roundtrip import programs

from pol.cli.main import main
from pol.compiler import ir
from pol.compiler.frontend import check_text
from pol.dsl.comments import scan
from pol.dsl.fmt import WIDTH, format_text, width
from pol.dsl.parser import _LEXER, parse
from pol.dsl.printer import print_file
from pol.dsl.source import Source

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted((ROOT / "policies").rglob("*.pol"))
BENCH = ROOT / "benchmarks" / "data" / "retention_bench.pol"


def fmt(text: str) -> str:
    out = format_text(text, "t.pol")
    assert out.text is not None, [d.message for d in out.problems]
    return out.text


def tree(text: str):
    t, problems = parse(Source("t.pol", text))
    assert not problems, [p.message for p in problems]
    return t


def comments(text: str) -> list[str]:
    return [c.text for c in scan(text).comments]


def meaning(text: str, base_dir=None) -> ir.Program:
    """The checked program: IR nodes compare without their spans, so two texts
    that mean the same give equal programs wherever their parts are written."""
    out = check_text(text, "t.pol", base_dir=base_dir)
    assert out.ok, [d.message for d in out.diagnostics.errors]
    assert out.program is not None
    return out.program


def assert_formatting_keeps(text: str, base_dir=None) -> str:
    out = fmt(text)
    assert tree(out) == tree(text), out
    assert comments(out) == comments(text), out
    assert fmt(out) == out, "not idempotent:\n" + out
    assert meaning(out, base_dir) == meaning(text, base_dir)
    return out


def test_meaning_is_what_a_text_says_not_where():
    base = "input c key id { id: int age: int }\nsegment s = age > 30 and age < 60\n"
    moved = "input c key id {\n  id: int\n  age: int\n}\n\n\nsegment s =\n    age > 30\n    and age < 60\n"
    assert meaning(moved) == meaning(base)
    assert meaning(base.replace("> 30", ">= 30")) != meaning(base)
    assert meaning(base.replace("age < 60", "(age < 60)")) == meaning(base)
    assert meaning(base.replace("segment s", "segment s \"S\"")) != meaning(base)


# ---------------------------------------------------------------- scattering comments and line breaks

_WORDS = ["c", "注释 中文", "x == 1 # not code", '"not a string"', "", "   spaced", "TODO: { }"]


def scatter(text: str, rnd: random.Random, share: float = 0.25) -> str:
    """The text with comments (own-line and end-of-line) and line breaks
    between some of its tokens; a comment's text says where it was put."""
    out, last, k = [], 0, 0
    for tok in _LEXER.tokens(text):
        out.append(text[last:tok.start_pos])
        last = tok.start_pos
        r = rnd.random()
        if r < share / 3:
            out.append(f"\n# c{k} {rnd.choice(_WORDS)}\n")
        elif r < 2 * share / 3:
            out.append(f"  # c{k} {rnd.choice(_WORDS)}\n")
        elif r < share:
            out.append("\n" + " " * rnd.randrange(0, 9))
        k += 1
    out.append(text[last:])
    return "".join(out)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.randoms(use_true_random=False))
def test_random_programs_with_comments(program, rnd):
    text = scatter(print_file(program), rnd)
    assert_formatting_keeps(text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_text(count=4), st.randoms(use_true_random=False))
def test_random_expressions_with_comments(text, rnd):
    assert_formatting_keeps(scatter(text, rnd))


@pytest.mark.parametrize("path", LIBRARY + [BENCH], ids=lambda p: p.name)
def test_real_policies(path):
    text = path.read_text(encoding="utf-8")
    assert_formatting_keeps(text, base_dir=path.parent)
    for seed in range(3):
        assert_formatting_keeps(scatter(text, random.Random(seed), 0.1), base_dir=path.parent)


def test_the_library_is_formatted(capsys):
    assert main(["fmt", "--check", str(ROOT / "policies")]) == 0
    assert "0 of 11 files would be reformatted" in capsys.readouterr().err


# ---------------------------------------------------------------- the layout

def test_blocks_indentation_and_blank_lines():
    text = ('policy p version "1" import "c.pol"\nparam a: int = 1 param b: int = 2\n\n\n\nparam c: int = 3\n'
            'let x = a let y = b segment s "S" = x > y\n'
            'offer o { eligible when s channels app,sms priority 1 }  offer o2 { eligible when s channels app }\n'
            'test "t" { given { id: 1 } expect s }\n')
    assert fmt(text) == '''policy p version "1"

import "c.pol"

param a: int = 1
param b: int = 2

param c: int = 3

let x = a
let y = b

segment s "S" = x > y

offer o {
    eligible when s
    channels app, sms
    priority 1
}

offer o2 {
    eligible when s
    channels app
}

test "t" {
    given { id: 1 }
    expect s
}
'''


def test_spaces_strings_and_numbers():
    text = ('input c key id{id:int x:float? s:string?}\nlet v=(x*2+1_000)/80%  -  1e3\n'
            'segment q "A\\u4e2d\\tB" = s in ("\\"", "a\\\\b") and v>=-5\n')
    assert fmt(text) == '''input c key id {
    id: int
    x: float?
    s: string?
}

let v = (x * 2 + 1_000) / 80% - 1e3

segment q "A中\\tB" = s in ("\\"", "a\\\\b") and v >= -5
'''


def test_and_inside_or_keeps_its_parentheses():
    assert fmt("segment s = a or b and c or (d and e)\n") == "segment s = a or (b and c) or (d and e)\n"
    assert fmt("segment s = (a or b) and c\n") == "segment s = (a or b) and c\n"


def test_a_long_expression_is_broken_before_its_operators():
    conds = " and ".join(f"field_number_{k} > {k}" for k in range(8))
    out = fmt(f"segment s = {conds}\n")
    lines = out.splitlines()
    assert lines[0] == "segment s = field_number_0 > 0"
    assert lines[1:] == [f"    and field_number_{k} > {k}" for k in range(1, 8)]
    sums = " + ".join(f"weight_{k} * value_{k}" for k in range(8))
    out = fmt(f'classify k {{\n    when clamp({sums}, 0, 1) > 0.5 => "high"\n}}\n')
    assert out.splitlines()[1:4] == ['    when clamp(weight_0 * value_0', "        + weight_1 * value_1",
                                     "        + weight_2 * value_2"]
    assert out.splitlines()[-2] == '        + weight_7 * value_7, 0, 1) > 0.5 => "high"'
    short = "segment s = a and b\n"
    assert fmt(short) == short


def test_a_long_given_is_filled_line_by_line():
    fields = ", ".join(f"field_{k}: {k * 1000}" for k in range(14))
    out = fmt(f'test "t" {{ given {{ {fields} }} }}\n')
    lines = out.splitlines()[1:-1]
    assert lines[0].startswith("    given { field_0: 0, ") and len(lines) > 1
    assert all(line.startswith(" " * 12 + "field_") for line in lines[1:])
    assert all(width(line) <= WIDTH for line in lines)
    assert lines[-1].endswith(" }") and all(line.endswith(",") for line in lines[:-1])


def test_comments_stay_where_they_were():
    text = """# the file

input c key id {  # the record
    id: int   # the key
    # nullable below
    x: float?
    # last inside
}  # after the block
let big = x > 3 # big
let small = x < 1
# about the segment
segment s "S" = big and   # first part
    small
segment t "T" = big # first
    or small
"""
    assert fmt(text) == """# the file

input c key id {  # the record
    id: int       # the key
    # nullable below
    x: float?
    # last inside
}  # after the block

let big = x > 3  # big
let small = x < 1

# about the segment
segment s "S" = big and small  # first part

segment t "T" = big  # first
    or small
"""


def test_end_of_line_comments_of_a_run_are_aligned():
    text = "let a = 1 # one\nlet bbbbbb = 2 # two\nlet c = 3\n\nlet d = 4 # four\n"
    assert fmt(text) == "let a = 1       # one\nlet bbbbbb = 2  # two\nlet c = 3\n\nlet d = 4  # four\n"


def test_a_file_of_comments_only_and_an_empty_file():
    assert fmt("\n\n# only\n\n\n# comments\n\n") == "# only\n\n# comments\n"
    assert fmt("") == "" and fmt("\n \n") == ""


def test_line_ends_and_byte_order_mark():
    assert fmt("\ufefflet a = 1\r\nlet b = 2\r\n") == "let a = 1\nlet b = 2\n"


# ---------------------------------------------------------------- the command

def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


UGLY = "input c key id { id: int }\nsegment   s   \"S\"=id>3 # why\n"
PRETTY = 'input c key id {\n    id: int\n}\n\nsegment s "S" = id > 3  # why\n'


def test_fmt_rewrites_in_place(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.pol").write_text(UGLY, encoding="utf-8")
    Path("sub").mkdir()
    Path("sub/b.pol").write_text(PRETTY, encoding="utf-8")
    os.chmod("a.pol", 0o640)
    status, out, err = run(capsys, "fmt", ".")
    assert status == 0 and out == "reformatted a.pol\n" and "1 of 2 files reformatted" in err
    assert Path("a.pol").read_text(encoding="utf-8") == PRETTY
    assert stat.S_IMODE(os.stat("a.pol").st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.pol", "b.pol", "sub"]     # no temporary left
    assert run(capsys, "fmt", ".")[1] == ""


def test_fmt_check_lists_what_would_change_and_changes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.pol").write_text(UGLY, encoding="utf-8")
    Path("b.pol").write_text(PRETTY, encoding="utf-8")
    status, out, err = run(capsys, "fmt", "--check", "a.pol", "b.pol")
    assert status == 1 and out == "would reformat a.pol\n"
    assert Path("a.pol").read_text(encoding="utf-8") == UGLY
    assert run(capsys, "fmt", "--check", "b.pol")[0] == 0


def test_fmt_diff_prints_a_unified_diff(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.pol").write_text(UGLY, encoding="utf-8")
    status, out, _ = run(capsys, "fmt", "--diff", "a.pol")
    assert status == 0 and Path("a.pol").read_text(encoding="utf-8") == UGLY
    assert out.startswith("--- a.pol (as it is)\n+++ a.pol (formatted)\n@@")
    assert '-segment   s   "S"=id>3 # why\n' in out and '+segment s "S" = id > 3  # why\n' in out


def test_a_file_that_does_not_parse_is_refused_and_left_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    broken = "input c key id { id: int }\nsegment s = id >\n# keep me\n"
    Path("bad.pol").write_bytes(broken.encode("utf-8"))
    Path("good.pol").write_text(UGLY, encoding="utf-8")
    status, out, err = run(capsys, "fmt", "bad.pol", "good.pol")
    assert status == 1
    assert re.search(r"bad\.pol:\d+:\d+: error\[E-SYNTAX-\d{3}\]", err) and "Traceback" not in err
    assert Path("bad.pol").read_bytes() == broken.encode("utf-8")
    assert Path("good.pol").read_text(encoding="utf-8") == PRETTY       # the others are still formatted


def test_missing_and_unreadable_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("latin.pol").write_bytes("let a = \"\xe9\"\n".encode("latin-1"))
    status, _, err = run(capsys, "fmt", "nope.pol", "latin.pol")
    assert status == 1
    assert "pol: error: cannot format 'nope.pol': no such file or folder" in err
    assert "pol: error: cannot read 'latin.pol': it is not UTF-8 text" in err
    assert run(capsys, "fmt")[0] == 2


def test_list_params_keep_their_comments_and_format_once():
    from pol.dsl.fmt import format_text
    text = ('input t key id { id: int  plan: string? }\n'
            'param vip:list<string>=["全球通","动感地带" , ]   # the VIP plans\n'
            'param none: list<int> = [ ]\n'
            'segment s "S" = plan   not in   vip\n')
    once = format_text(text).text
    assert once is not None
    assert 'param vip: list<string> = ["全球通", "动感地带"]  # the VIP plans\n' in once
    assert "param none: list<int> = []\n" in once and 'segment s "S" = plan not in vip\n' in once
    assert format_text(once).text == once


def test_comments_before_a_history_stay_with_it():
    """A history's span is its name: its keyword, and the comments before
    it, belong to it, not to the declaration above (policies/telecom/contact.pol)."""
    text = ("input c key id { id: int }\n\n"
            "param a: int = 4  # after a\n\n"
            "# the contact log\n"
            "history h key cid at t {\n    cid: int\n    t: date\n}\n\n"
            "let x = count(h within 3 days) + a\n")
    assert fmt(text) == text.replace("input c key id { id: int }", "input c key id {\n    id: int\n}")
