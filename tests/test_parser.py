"""The grammar and the AST builder: every construct of LANGUAGE.md parses into
the tree it means, precedence and section 9's fine points included, and
syntax errors come back as diagnostics in words."""
from __future__ import annotations

from pathlib import Path

import pytest

from pol.dsl import ast
from pol.dsl.parser import closest, parse
from pol.dsl.source import Source

N = ast.Name


def parse_ok(text: str) -> ast.File:
    f, problems = parse(Source("t.pol", text))
    assert not problems, [p.message for p in problems]
    return f


def expr(text: str):
    return parse_ok(f"let x = {text}").items[0].expr


def errors(text: str):
    f, problems = parse(Source("t.pol", text))
    assert problems, "expected a syntax error"
    return problems


# ---------------------------------------------------------------- precedence

@pytest.mark.parametrize("text, tree", [
    ("a or b and c", ast.Binary("or", N("a"), ast.Binary("and", N("b"), N("c")))),
    ("not a and b", ast.Binary("and", ast.Unary("not", N("a")), N("b"))),
    ("not a == b", ast.Unary("not", ast.Compare("==", N("a"), N("b")))),
    ("a + b * c", ast.Binary("+", N("a"), ast.Binary("*", N("b"), N("c")))),
    ("a / b * c", ast.Binary("*", ast.Binary("/", N("a"), N("b")), N("c"))),
    ("a - b - c", ast.Binary("-", ast.Binary("-", N("a"), N("b")), N("c"))),
    ("-a * b", ast.Binary("*", ast.Unary("-", N("a")), N("b"))),
    ("- -a", ast.Unary("-", ast.Unary("-", N("a")))),
    ("not not a", ast.Unary("not", ast.Unary("not", N("a")))),
    ("a + b > c", ast.Compare(">", ast.Binary("+", N("a"), N("b")), N("c"))),
    ("x between a and b and c",
     ast.Binary("and", ast.Between(N("x"), N("a"), N("b")), N("c"))),
    ("x between a + 1 and b * 2",
     ast.Between(N("x"), ast.Binary("+", N("a"), ast.Number("1")), ast.Binary("*", N("b"), ast.Number("2")))),
    ("x is not null or y is null", ast.Binary("or", ast.IsNull(N("x"), True), ast.IsNull(N("y"), False))),
    ("x not in (1, -2)", ast.InList(N("x"), (ast.Number("1"), ast.Number("-2")), True)),
    ("(a + b) * c", ast.Binary("*", ast.Binary("+", N("a"), N("b")), N("c"))),
    ("1 + (if c then 2 else 3)", ast.Binary("+", ast.Number("1"),
                                            ast.If(N("c"), ast.Number("2"), ast.Number("3")))),
    ("if a then b else if c then d else e", ast.If(N("a"), N("b"), ast.If(N("c"), N("d"), N("e")))),
    ("max(a, b, 3)", ast.Call("max", (N("a"), N("b"), ast.Number("3")))),
    ("today - last_active", ast.Binary("-", ast.Today(), N("last_active"))),
])
def test_precedence(text, tree):
    assert expr(text) == tree


def test_comparisons_do_not_chain():
    (d,) = errors("let x = a < b < c")
    assert d.code == "E-SYNTAX-009"
    assert (d.span.line, d.span.col) == (1, 15)


def test_if_needs_parentheses_as_an_operand():
    (d,) = errors("let x = 1 + if c then 2 else 3")
    assert d.code == "E-SYNTAX-011"


# ---------------------------------------------------------------- literals

def test_percent_literal_only_when_glued_to_the_number():
    assert expr("80%") == ast.Number("80%")
    assert expr("80%").value == 0.8
    assert expr("100%").value == 1.0
    assert expr("12.5%").value == 0.125
    assert expr("10 % 3") == ast.Binary("%", ast.Number("10"), ast.Number("3"))
    assert expr("a % 3") == ast.Binary("%", N("a"), ast.Number("3"))
    assert expr("a%3") == ast.Binary("%", N("a"), ast.Number("3"))
    assert expr("40% * a") == ast.Binary("*", ast.Number("40%"), N("a"))


def test_numbers():
    assert expr("1_000_000").value == 1_000_000
    assert expr("3.5").value == 3.5 and expr("1e6").value == 1e6 and expr("1e6").kind == "float"
    assert expr("42").kind == "int"


def test_dates_are_literals_not_subtractions():
    assert expr("2026-11-01") == ast.DateLit("2026-11-01")
    assert ast.DateLit("2026-02-30").parse() is None
    assert ast.DateLit("2024-02-29").parse() is not None
    # spaces make it arithmetic
    assert expr("2026 - 11 - 1") == ast.Binary("-", ast.Binary("-", ast.Number("2026"), ast.Number("11")),
                                               ast.Number("1"))


def test_strings_with_escapes_and_unicode():
    assert expr(r'"全球通 \"A\" \\ \n \t \u4e2d"') == ast.String('全球通 "A" \\ \n \t 中')


def test_unknown_escape_is_an_error():
    f, problems = parse(Source("t.pol", r'let x = "a\qb"'))
    assert [p.code for p in problems] == ["E-SYNTAX-010"]


def test_unicode_identifiers():
    f = parse_ok("let 月均消费 = arpu_m1 + ρ")
    assert f.items[0].name == "月均消费"
    assert f.items[0].expr == ast.Binary("+", N("arpu_m1"), N("ρ"))


def test_comments_and_free_layout():
    f = parse_ok("# top\nlet a = 1 # trailing\n  let\n b =\n 2")
    assert [d.name for d in f.items] == ["a", "b"]


# ---------------------------------------------------------------- keywords

def test_contextual_keywords_are_names_elsewhere():
    f = parse_ok("""
input t key key {
    key: int
    category: string
    priority: float
    max: int
    offer: bool
    channels: int
}
let m = max(priority, max)
segment s = category == "x" and offer
""")
    inp = f.items[0]
    assert [x.name for x in inp.fields] == ["key", "category", "priority", "max", "offer", "channels"]
    assert f.items[1].expr == ast.Call("max", (N("priority"), N("max")))


@pytest.mark.parametrize("text", ["let and = 1", "input t key id { id: int  null: int }",
                                  "segment if = true", "let x = today + then"])
def test_reserved_words_cannot_be_names(text):
    codes = [d.code for d in errors(text)]
    assert codes and codes[0] in ("E-NAME-003", "E-SYNTAX-001", "E-SYNTAX-013")
    if text.startswith(("let and", "segment if", "input")):
        assert codes == ["E-NAME-003"]


# ---------------------------------------------------------------- declarations

def test_every_declaration():
    f = parse_ok('''
policy retention version "2026.11"
import "common.pol"
input customer key id { id: int  age: int?  last: date }
param churn_days: int = -30
let arpu = 1
segment churn "离网" = age > churn_days
classify tier "星级" { when arpu >= 100 => "金卡" else => "普通" }
score risk = arpu * 2
channel sms "短信" when not churn
channel store
offer pack "权益" {
    category traffic
    eligible when churn
    priority 40 + arpu
    channels sms, store
    capacity 100
    valid from 2026-01-01 to 2026-12-31
    holdout 5%
}
offer later { eligible when true  channels sms  valid to 2026-06-30 }
arbitrate { max 2 per customer  one per category  exclusive pack, later }
test "t" {
    as of 2026-11-01
    with churn_days = 45
    with churn_days = 46
    given { age: 18, last: 2026-01-01, }
    expect offer pack via sms rank 1
    expect not offer later
    expect no offer
    expect tier == "金卡"
    expect risk between 0.2 and 0.3
}
''')
    kinds = [type(d).__name__ for d in f.items]
    assert kinds == ["Header", "Import", "Input", "Param", "Let", "Segment", "Classify", "Score", "Channel",
                     "Channel", "Offer", "Offer", "Arbitrate", "Test"]
    header, imp, inp, param = f.items[:4]
    assert (header.name, header.version) == ("retention", "2026.11")
    assert imp.path == "common.pol"
    assert inp.key == "id" and inp.fields[1] == ast.Field("age", "int", True)
    assert param.default == ast.Number("-30")
    classify = f.items[6]
    assert classify.label == "星级" and classify.default == "普通" and classify.whens[0].value == "金卡"
    assert f.items[9] == ast.Channel("store", None, None)
    offer = f.items[10]
    assert [type(p).__name__ for p in offer.props] == [
        "Category", "Eligible", "Priority", "Channels", "Capacity", "Valid", "Holdout"]
    assert offer.props[3].names == ("sms", "store")
    assert offer.props[5] == ast.Valid(ast.DateLit("2026-01-01"), ast.DateLit("2026-12-31"))
    assert f.items[11].props[2] == ast.Valid(None, ast.DateLit("2026-06-30"))
    arb = f.items[12]
    assert arb.rules == (ast.MaxRule(ast.Number("2")), ast.OnePerCategory(), ast.Exclusive(("pack", "later")))
    test = f.items[13]
    assert [type(i).__name__ for i in test.items] == [
        "AsOf", "With", "With", "Given", "ExpectOffer", "ExpectOffer", "ExpectNoOffer", "ExpectExpr", "ExpectExpr"]
    assert test.items[4] == ast.ExpectOffer("pack", "sms", ast.Number("1"), False)
    assert test.items[5] == ast.ExpectOffer("later", None, None, True)
    assert [g.name for g in test.items[3].fields] == ["age", "last"]


def test_spans_are_one_based_code_points():
    f = parse_ok('segment 高价值 "标签" = 消费 > 100')
    seg = f.items[0]
    assert (seg.span.line, seg.span.col, seg.span.end_col) == (1, 9, 12)
    cmp = seg.expr
    assert (cmp.op_span.col, cmp.left.span.col) == (23, 20)


def test_header_must_come_first():
    f, problems = parse(Source("t.pol", 'let a = 1\npolicy p'))
    assert [p.code for p in problems] == ["E-DECL-005"]


# ---------------------------------------------------------------- syntax errors

@pytest.mark.parametrize("text, code, line, col", [
    ('classify t { when x > 3 "gold" }', "E-SYNTAX-005", 1, 25),
    ("segment a = x = 3", "E-SYNTAX-004", 1, 15),
    ("segment a = (x + 3\nsegment b = y", "E-SYNTAX-006", 1, 19),
    ("offer o { eligible when x  channels a, b, }", "E-SYNTAX-007", 1, 41),
    ("segmnt a = x", "E-SYNTAX-008", 1, 1),
    ('let x = "abc', "E-SYNTAX-003", 1, 9),
    ("let x = max(a， b)", "E-SYNTAX-002", 1, 14),
    ("let s = “abc”", "E-SYNTAX-002", 1, 9),
    ("let x = 10%3", "E-SYNTAX-001", 1, 9),
    ("offer o { eligible when x\noffer p { eligible when y }", "E-SYNTAX-012", 2, 1),
    ("let x = 5 +", "E-SYNTAX-013", 1, 12),
])
def test_syntax_errors_say_what_is_wrong(text, code, line, col):
    d = errors(text)[0]
    assert (d.code, d.span.line, d.span.col) == (code, line, col)
    # words, never the parser's token names
    for word in ("RPAR", "LPAR", "NAME", "__ANON", "$END", "CMP_OP", "ARROW"):
        assert word not in d.message and word not in (d.hint or "")


def test_full_width_comma_hint():
    (d,) = errors("let x = max(a， b)")
    assert d.hint == "this is a full-width comma; use ','"


def test_one_error_per_broken_declaration():
    ds = errors("segment a = x >\nlet b = 1\nlet c = (2\nlet d = 3\nsegment e = y ==")
    assert [(d.code, d.span.line) for d in ds] == [("E-SYNTAX-013", 1), ("E-SYNTAX-006", 3),
                                                   ("E-SYNTAX-013", 5)]


def test_closest_word():
    assert closest("segmnt", ["segment", "score"]) == "segment"
    assert closest("adn", ["and", "or"]) == "and"
    assert closest("xyz", ["segment"]) is None


# ---------------------------------------------------------------- digits and names

@pytest.mark.parametrize("text, column, hint", [
    ("let x = １２３ + 1", 9, "these are full-width digits; use 0-9: 123"),
    ("let x = 1２", 10, "this is a full-width digit; use 0-9: 12"),
    ("let x = ٣ + 1", 9, "this is a digit of another script (arabic-indic digit three); use 0-9: 3"),
    ("let d = ２０２６-01-01", 9, "these are full-width digits; use 0-9: 2026"),
])
def test_only_ascii_digits_make_numbers(text, column, hint):
    """Python's \\d and int() take any script's digits; the language reads 0-9."""
    (d,) = errors(text)
    assert (d.code, d.span.line, d.span.col, d.hint) == ("E-SYNTAX-002", 1, column, hint)


def test_digits_of_any_script_may_be_part_of_a_name():
    """A name starts with a letter or '_' and goes on with letters, digits and
    '_' of any script (as in Python): `x１` is a name, another than `x1`."""
    f = parse_ok("let x１ = 1\nlet 客户２ = x１\nlet a٣b = 1")
    assert [d.name for d in f.items] == ["x１", "客户２", "a٣b"]
    from pol.compiler.frontend import check_text
    out = check_text("input c key id { id: int }\nlet x１ = 1\nlet y = x1 + 1\n")
    (d,) = out.diagnostics.errors
    assert d.code == "E-NAME-001" and d.hint.startswith("did you mean 'x１'? (the two are written with different")


# ---------------------------------------------------------------- the fast loop

def test_the_fast_loop_builds_what_larks_parser_builds():
    """dsl/lalr.py runs Lark's tables with Lark's callbacks: the same AST,
    spans and problems for every policy in the repository."""
    from pathlib import Path

    from pol.dsl import parser as p
    root = Path(__file__).resolve().parents[1]
    files = [f for f in root.rglob("*.pol") if ".venv" not in f.parts]
    assert len(files) > 50
    for f in files:
        text = f.read_text(encoding="utf-8")
        results = []
        for run in (p._FAST.parse, p.PARSER.parse):
            p._BUILDER.begin(str(f))
            try:
                results.append((repr(run(text)), list(p._BUILDER.problems)))
            except Exception as e:          # both refuse a file that does not parse
                results.append(type(e).__name__ in ("NotFast", "UnexpectedToken", "UnexpectedCharacters",
                                                    "UnexpectedEOF"))
        assert results[0] == results[1], f


def test_the_loops_tables_read_back_from_the_cache_folder_are_larks(tmp_path, monkeypatch):
    """dsl/tables.py saves the loop's tables in a file of their own: read
    back, they are the tables of Lark's parser, and the loop they make
    parses as the one made from Lark's parser does; a file damaged or
    planted with a state the loop would index out of its tables is not read."""
    import json

    from pol.dsl import parser as p
    from pol.dsl import tables
    from pol.dsl.lalr import FastParser
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    made, lark = tables.fast(p._GRAMMAR, p.PolLexer, p._BUILDER, **p._OPTIONS)
    read, none = tables.fast(p._GRAMMAR, p.PolLexer, p._BUILDER, **p._OPTIONS)
    assert lark is not None and none is None
    assert read == made == tables.plain(lark)
    text = (Path(__file__).resolve().parents[1] / "policies" / "telecom" / "retention.pol").read_text("utf-8")
    trees = []
    for t in (made, read):
        loop = FastParser(t, t.lexer(), p._BUILDER, **p._OPTIONS)
        p._BUILDER.begin("t.pol")
        trees.append(repr(loop.parse(text)))
    assert trees[0] == trees[1] == repr(parse_ok(text))
    (saved,) = (tmp_path / "cache").glob("grammar-*.fast.json")
    data = json.loads(saved.read_text("utf-8"))
    state, row = data["actions"][0]
    row[next(iter(row))] = 10 ** 6                  # a shift to a state that is not there
    saved.write_text(json.dumps(data), "utf-8")
    again, rebuilt = tables.fast(p._GRAMMAR, p.PolLexer, p._BUILDER, **p._OPTIONS)
    assert rebuilt is not None and again == made
    saved.write_text(saved.read_text("utf-8")[:1000], "utf-8")      # truncated
    assert tables.fast(p._GRAMMAR, p.PolLexer, p._BUILDER, **p._OPTIONS)[1] is not None
    assert json.loads(saved.read_text("utf-8"))["grammar"] == data["grammar"]


# ---------------------------------------------------------------- lines and carets

def test_lines_are_those_the_lexer_counts():
    """A form feed is a space to the lexer and to Source.line (splitlines()
    broke lines there too, so carets below it landed on the wrong line)."""
    text = "let a = 1\f let b = 2\r\nlet c = 1 +\n"
    (d,) = errors(text)
    assert d.span.line == 2
    src = Source("t.pol", text)
    assert [src.line(k) for k in (1, 2, 3)] == ["let a = 1\f let b = 2", "let c = 1 +", ""]


def test_a_long_line_is_shown_around_the_caret():
    from pol.dsl.diagnostics import render
    text = "let a = " + " + ".join(["x"] * 2000) + " + \n"
    (d,) = errors(text)
    shown = render(d, {"t.pol": Source("t.pol", text)}).splitlines()
    assert len(shown[1]) < 200 and shown[1].startswith("   1 | ...")
    caret = shown[2].index("^")
    assert shown[1][caret - 1:caret + 2].strip() == "+"     # the caret under the last '+'


@pytest.mark.parametrize("text", [" ", "\t \t", "let a = 1  ", "input c key id { id: int } \t"])
def test_spaces_at_the_end_of_the_file(text):
    """Found by the fuzz test: the fast loop takes the spaces before a token
    into the token's match, and at the end there is no token."""
    from pol.dsl import parser as p
    p._BUILDER.begin("t.pol")
    assert repr(p._FAST.parse(text)) == repr(parse_ok(text))


# ---------------------------------------------------------------- the parse cache

@pytest.fixture
def counted(monkeypatch):
    """parser's parses that really ran, with an empty cache."""
    from collections import OrderedDict

    from pol.dsl import parser
    monkeypatch.setattr(parser, "_PARSED", OrderedDict())
    monkeypatch.setattr(parser, "_parsed_chars", 0)
    ran: list[str] = []
    real = parser._parse

    def spy(source):
        ran.append(source.path)
        return real(source)
    monkeypatch.setattr(parser, "_parse", spy)
    return ran


def test_a_text_parsed_again_comes_from_the_cache(counted):
    text = 'segment s "S" = a > 1\nlet x = (1'
    first, p1 = parse(Source("t.pol", text))
    p1.clear()                      # the caller's list: not the cache's
    again, p2 = parse(Source("t.pol", text))
    assert counted == ["t.pol"]
    assert again is first or again == first
    assert [d.code for d in p2] == ["E-SYNTAX-006"]
    # another text, or the same text under another path (spans name it), is parsed
    parse(Source("t.pol", text + "\n"))
    _, p3 = parse(Source("u.pol", text))
    assert counted == ["t.pol", "t.pol", "u.pol"]
    assert p3[0].span.path == "u.pol"


def test_checking_a_library_parses_each_file_once(counted):
    from pathlib import Path

    from pol.compiler.frontend import check_path
    files = sorted((Path(__file__).resolve().parent.parent / "policies" / "telecom").glob("*.pol"))
    for f in files:
        assert not check_path(str(f)).diagnostics.errors
    assert sorted(Path(p).name for p in counted) == [f.name for f in files]


def test_the_cache_keeps_a_bounded_total(counted, monkeypatch):
    from pol.dsl import parser
    monkeypatch.setattr(parser, "_PARSED_CHARS", 100)
    for k in range(5):
        parse(Source(f"f{k}.pol", f"let x{k} = {'1 + ' * 10}1"))      # 50 characters each
    assert parser._parsed_chars == 100
    assert [path for path, _ in parser._PARSED] == ["f3.pol", "f4.pol"]
    parse(Source("f0.pol", "let x0 = " + "1 + " * 10 + "1"))
    assert counted[-1] == "f0.pol" and len(counted) == 6
