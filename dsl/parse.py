"""Parsing: source text -> nodes.File, or a syntax Diagnostic in words a
policy author understands ("missing '=>' after the condition"), never
token names.

One LALR parser with positions; the tree becomes the AST in its own pass
(Lark gives no positions to a transformer passed into the parser).
"""
from __future__ import annotations

import difflib
import re
from decimal import Decimal
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from pol.compiler.diagnostics import Diagnostic
from pol.dsl import nodes as n
from pol.dsl.source import Source, Span

_GRAMMAR = (Path(__file__).with_name("pol.lark")).read_text(encoding="utf-8")
_parser = Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

DECLARATION_WORDS = ("policy", "import", "input", "param", "let", "segment", "classify", "score",
                     "channel", "offer", "arbitrate", "test")
PROPERTY_WORDS = ("eligible", "channels", "priority", "category", "capacity", "valid", "holdout")
KEYWORDS = DECLARATION_WORDS + PROPERTY_WORDS + ("when", "else", "max", "one", "exclusive", "expect",
                                                 "given", "with", "as", "via", "rank")
FULL_WIDTH = {
    "，": ("full-width comma '，'", "use an ASCII comma ','"),
    "“": ("full-width quote '“'", "write strings in ASCII double quotes: \"...\""),
    "”": ("full-width quote '”'", "write strings in ASCII double quotes: \"...\""),
    "‘": ("full-width quote '‘'", "write strings in ASCII double quotes: \"...\""),
    "’": ("full-width quote '’'", "write strings in ASCII double quotes: \"...\""),
    "（": ("full-width parenthesis '（'", "use an ASCII '('"),
    "）": ("full-width parenthesis '）'", "use an ASCII ')'"),
    "：": ("full-width colon '：'", "use an ASCII ':'"),
    "；": ("full-width semicolon '；'", "statements need no separator; remove it"),
    "＝": ("full-width equals sign '＝'", "use an ASCII '=' (or '==' to compare)"),
}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2:i + 6] or ""):
                out.append(chr(int(body[i + 2:i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def number(tok: Token, path: str) -> n.Num:
    text = str(tok)
    clean = text.replace("_", "")
    if tok.type == "PERCENT":
        return n.Num(float(Decimal(clean[:-1]) / 100), text, True, _tok_span(tok, path))
    if tok.type == "FLOAT":
        return n.Num(float(clean), text, True, _tok_span(tok, path))
    return n.Num(int(clean), text, False, _tok_span(tok, path))


def _tok_span(tok: Token, path: str) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


class _Build(Transformer):
    """Lark tree -> nodes, with spans."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _span(self, meta) -> Span:
        return Span(self.path, meta.line, meta.column, meta.end_line, meta.end_column)

    def _ts(self, tok: Token) -> Span:
        return _tok_span(tok, self.path)

    @staticmethod
    def _str(tok) -> str:
        return unescape(str(tok)[1:-1])

    def _label(self, rest):
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            return self._str(rest[0]), rest[1:]
        return None, rest

    # -- file

    @v_args(meta=True)
    def start(self, meta, children):
        header = children[0] if children and isinstance(children[0], n.Header) else None
        items = tuple(c for c in children if not isinstance(c, n.Header))
        return header, items

    @v_args(meta=True)
    def header(self, meta, c):
        return n.Header(str(c[0]), self._str(c[1]) if len(c) > 1 else None, self._span(meta))

    @v_args(meta=True)
    def import_(self, meta, c):
        return n.Import(self._str(c[0]), self._span(meta))

    @v_args(meta=True)
    def input_(self, meta, c):
        return n.Input(str(c[0]), str(c[1]), tuple(c[2:]), self._span(meta), self._ts(c[1]))

    @v_args(meta=True)
    def field(self, meta, c):
        return n.FieldDecl(str(c[0]), str(c[1]), len(c) > 2, self._ts(c[0]), self._ts(c[1]))

    @v_args(meta=True)
    def param(self, meta, c):
        return n.Param(str(c[0]), str(c[1]), c[-1], self._ts(c[0]), self._ts(c[1]))

    @v_args(meta=True)
    def let(self, meta, c):
        return n.Let(str(c[0]), c[1], self._ts(c[0]))

    @v_args(meta=True)
    def segment(self, meta, c):
        label, rest = self._label(c[1:])
        return n.Segment(str(c[0]), label, rest[0], self._ts(c[0]))

    @v_args(meta=True)
    def classify(self, meta, c):
        label, rest = self._label(c[1:])
        whens = tuple(x for x in rest if isinstance(x, n.When))
        default = next((x for x in rest if isinstance(x, str)), None)
        return n.Classify(str(c[0]), label, whens, default, self._ts(c[0]))

    @v_args(meta=True)
    def when(self, meta, c):
        return n.When(c[0], self._str(c[1]), self._span(meta))

    def otherwise(self, c):
        return self._str(c[0])

    @v_args(meta=True)
    def score(self, meta, c):
        label, rest = self._label(c[1:])
        return n.Score(str(c[0]), label, rest[0], self._ts(c[0]))

    @v_args(meta=True)
    def channel(self, meta, c):
        label, rest = self._label(c[1:])
        return n.Channel(str(c[0]), label, rest[0] if rest else None, self._ts(c[0]))

    @v_args(meta=True)
    def offer(self, meta, c):
        label, rest = self._label(c[1:])
        return n.Offer(str(c[0]), label, tuple(rest), self._ts(c[0]))

    @v_args(meta=True)
    def eligible(self, meta, c):
        return n.Prop("eligible", c[0], self._span(meta))

    @v_args(meta=True)
    def channels(self, meta, c):
        return n.Prop("channels", tuple(str(x) for x in c), self._span(meta), tuple(self._ts(x) for x in c))

    @v_args(meta=True)
    def priority(self, meta, c):
        return n.Prop("priority", c[0], self._span(meta))

    @v_args(meta=True)
    def category(self, meta, c):
        return n.Prop("category", str(c[0]), self._span(meta))

    @v_args(meta=True)
    def capacity(self, meta, c):
        return n.Prop("capacity", c[0], self._span(meta))

    @v_args(meta=True)
    def valid(self, meta, c):
        ends = dict(c)
        return n.Prop("valid", (ends.get("from"), ends.get("to")), self._span(meta))

    def valid_from(self, c):
        return ("from", n.DateLit(str(c[0]), self._ts(c[0])))

    def valid_to(self, c):
        return ("to", n.DateLit(str(c[0]), self._ts(c[0])))

    @v_args(meta=True)
    def holdout(self, meta, c):
        return n.Prop("holdout", number(c[0], self.path), self._span(meta))

    @v_args(meta=True)
    def arbitrate(self, meta, c):
        return n.Arbitrate(tuple(c), self._span(meta))

    @v_args(meta=True)
    def max_rule(self, meta, c):
        return n.Rule("max", c[0], self._span(meta))

    @v_args(meta=True)
    def one_rule(self, meta, c):
        return n.Rule("one_per_category", None, self._span(meta))

    @v_args(meta=True)
    def exclusive(self, meta, c):
        return n.Rule("exclusive", tuple(str(x) for x in c), self._span(meta), tuple(self._ts(x) for x in c))

    # -- tests

    @v_args(meta=True)
    def test(self, meta, c):
        return n.Test(self._str(c[0]), tuple(c[1:]), self._span(meta))

    @v_args(meta=True)
    def as_of(self, meta, c):
        return n.TestItem("as_of", n.DateLit(str(c[0]), self._ts(c[0])), self._span(meta))

    @v_args(meta=True)
    def with_(self, meta, c):
        return n.TestItem("with", (str(c[0]), c[1]), self._span(meta))

    @v_args(meta=True)
    def given(self, meta, c):
        return n.TestItem("given", tuple(c), self._span(meta))

    @v_args(meta=True)
    def given_field(self, meta, c):
        return (str(c[0]), c[1], self._ts(c[0]))

    @v_args(meta=True)
    def expect_offer(self, meta, c):
        names = [x for x in c if isinstance(x, Token) and x.type == "NAME"]
        rank = next((x for x in c if isinstance(x, n.Num)), None)
        via = str(names[1]) if len(names) > 1 else None
        return n.TestItem("expect_offer", (str(names[0]), via, rank), self._span(meta))

    @v_args(meta=True)
    def expect_not_offer(self, meta, c):
        return n.TestItem("expect_not_offer", str(c[0]), self._span(meta))

    @v_args(meta=True)
    def expect_no_offer(self, meta, c):
        return n.TestItem("expect_no_offer", None, self._span(meta))

    @v_args(meta=True)
    def expect_expr(self, meta, c):
        return n.TestItem("expect_expr", c[0], self._span(meta))

    # -- literals

    @v_args(meta=True)
    def num_lit(self, meta, c):
        if len(c) == 2:
            num = number(c[1], self.path)
            return n.Num(-num.value, "-" + num.text, num.is_float, self._span(meta))
        return number(c[0], self.path)

    @v_args(meta=True)
    def str_lit(self, meta, c):
        return n.Str(self._str(c[0]), self._span(meta))

    @v_args(meta=True)
    def date_lit(self, meta, c):
        return n.DateLit(str(c[0]), self._span(meta))

    @v_args(meta=True)
    def true_lit(self, meta, c):
        return n.Bool(True, self._span(meta))

    @v_args(meta=True)
    def false_lit(self, meta, c):
        return n.Bool(False, self._span(meta))

    @v_args(meta=True)
    def null_lit(self, meta, c):
        return n.Null(self._span(meta))

    # -- expressions

    @v_args(meta=True)
    def if_expr(self, meta, c):
        return n.If(c[0], c[1], c[2], self._span(meta))

    @v_args(meta=True)
    def or_(self, meta, c):
        return n.Binary("or", c[0], c[1], self._span(meta), self._span(meta))

    @v_args(meta=True)
    def and_(self, meta, c):
        return n.Binary("and", c[0], c[1], self._span(meta), self._span(meta))

    @v_args(meta=True)
    def not_(self, meta, c):
        return n.Unary("not", c[0], self._span(meta))

    @v_args(meta=True)
    def compare(self, meta, c):
        return n.Compare(str(c[1]), c[0], c[2], self._span(meta), self._ts(c[1]))

    @v_args(meta=True)
    def in_(self, meta, c):
        return n.In(c[0], tuple(c[1:]), False, self._span(meta))

    @v_args(meta=True)
    def not_in(self, meta, c):
        return n.In(c[0], tuple(c[1:]), True, self._span(meta))

    @v_args(meta=True)
    def between(self, meta, c):
        return n.Between(c[0], c[1], c[2], self._span(meta))

    @v_args(meta=True)
    def is_null(self, meta, c):
        return n.IsNull(c[0], False, self._span(meta))

    @v_args(meta=True)
    def is_not_null(self, meta, c):
        return n.IsNull(c[0], True, self._span(meta))

    @v_args(meta=True)
    def binary(self, meta, c):
        return n.Binary(str(c[1]), c[0], c[2], self._span(meta), self._ts(c[1]))

    @v_args(meta=True)
    def neg(self, meta, c):
        return n.Unary("-", c[1], self._span(meta))

    def int_(self, c):
        return number(c[0], self.path)

    float_ = percent = int_

    def string(self, c):
        return n.Str(self._str(c[0]), self._ts(c[0]))

    def date(self, c):
        return n.DateLit(str(c[0]), self._ts(c[0]))

    @v_args(meta=True)
    def true_(self, meta, c):
        return n.Bool(True, self._span(meta))

    @v_args(meta=True)
    def false_(self, meta, c):
        return n.Bool(False, self._span(meta))

    @v_args(meta=True)
    def null(self, meta, c):
        return n.Null(self._span(meta))

    @v_args(meta=True)
    def today(self, meta, c):
        return n.Today(self._span(meta))

    @v_args(meta=True)
    def call(self, meta, c):
        return n.Call(str(c[0]), tuple(c[1:]), self._span(meta), self._ts(c[0]))

    def name(self, c):
        return n.Name(str(c[0]), self._ts(c[0]))

    @v_args(meta=True)
    def paren(self, meta, c):
        return n.Paren(c[0], self._span(meta))


def parse(source: Source) -> tuple[n.File | None, Diagnostic | None]:
    try:
        tree = _parser.parse(source.text)
    except UnexpectedInput as e:
        return None, syntax_error(e, source)
    header, items = _Build(source.path).transform(tree)
    return n.File(source.path, header, items), None


# ---------------------------------------------------------------- syntax errors

_WORDS = {"NAME": "a name", "STRING": "a string", "INT": "a number", "FLOAT": "a number",
          "PERCENT": "a percentage", "DATE": "a date", "CMP": "a comparison", "$END": "the end of the file",
          "PLUS": "'+'", "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "PCT": "'%'", "QMARK": "'?'"}


def _describe_terminal(name: str) -> str:
    if name in _WORDS:
        return _WORDS[name]
    try:
        pattern = _parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "STRING":
        return f"the string {tok}"
    if tok.type in ("INT", "FLOAT", "PERCENT"):
        return f"the number {tok}"
    if tok.type == "DATE":
        return f"the date {tok}"
    return f"'{tok}'"


def _expected(e: UnexpectedToken) -> set[str]:
    return {_describe_terminal(t) for t in e.expected}


def syntax_error(e: UnexpectedInput, source: Source) -> Diagnostic:
    code = "E-SYNTAX-001"
    text = source.text
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        span = Span.point(source.path, e.line, e.column)
        if ch in FULL_WIDTH:
            what, hint = FULL_WIDTH[ch]
            return Diagnostic("E-SYNTAX-002", f"{what} is not part of the language", span, hint)
        if ch == '"':
            line = source.line(e.line)
            end = len(line) + 1
            return Diagnostic("E-SYNTAX-003", "unterminated string",
                              Span(source.path, e.line, e.column, e.line, max(end, e.column + 1)),
                              "close the string with '\"' on the same line")
        if ch == "=":
            return Diagnostic(code, "'=' cannot be used here", span,
                              "to compare two values write '=='; a condition and its result are "
                              "separated by '=>'")
        return Diagnostic(code, f"unexpected character '{ch}'", span,
                          "remove it, or put text in double quotes")
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        expected = _expected(e) if isinstance(e, UnexpectedToken) else set()
        lines = text.splitlines() or [""]
        span = Span.point(source.path, len(lines), len(lines[-1]) + 1)
        missing = next((x for x in ("'}'", "')'", "'=>'") if x in expected), None)
        msg = f"the file ends too early: missing {missing}" if missing else "the file ends too early"
        return Diagnostic(code, msg, span, _expected_hint(expected))
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    span = Span(source.path, tok.line, tok.column, tok.end_line or tok.line,
                tok.end_column or tok.column + len(str(tok)))
    expected = _expected(e)
    value = str(tok)
    if value == "=" and ("a comparison" in expected or "'=>'" in expected):
        return Diagnostic("E-SYNTAX-004", "'=' is not a comparison", span,
                          "write '==' to compare two values")
    if "'=>'" in expected:
        return Diagnostic("E-SYNTAX-005", "missing '=>' after the condition", span,
                          "write the result after '=>', e.g. when arpu >= 100 => \"金卡\"")
    if value == "," and "')'" not in expected and "','" not in expected:
        return Diagnostic("E-SYNTAX-006", "unexpected ','", span, "remove the extra comma")
    if value == ")" and "')'" not in expected:
        return Diagnostic("E-SYNTAX-007", "unexpected ')': there is no '(' for it to close", span,
                          "remove it, or add the missing '('")
    if tok.type == "NAME":
        words = [w.strip("'") for w in expected if w.startswith("'")]
        close = difflib.get_close_matches(value, [w for w in words if w.isalpha()], n=1, cutoff=0.6)
        if not close:
            close = difflib.get_close_matches(value, KEYWORDS, n=1, cutoff=0.75)
        if close and close[0] in words:
            return Diagnostic("E-SYNTAX-008", f"unknown word '{value}'", span, f"did you mean '{close[0]}'?")
    if "')'" in expected and ("'+'" in expected or "','" in expected) and tok.type != "NAME":
        return Diagnostic("E-SYNTAX-009", f"missing ')' before {_token_text(tok)}", span,
                          "every '(' needs a matching ')'")
    if "')'" in expected and "','" in expected:
        return Diagnostic("E-SYNTAX-009", f"missing ')' or ',' before {_token_text(tok)}", span,
                          "separate arguments with ',' and close the list with ')'")
    return Diagnostic(code, f"unexpected {_token_text(tok)}", span, _expected_hint(expected))


def _expected_hint(expected: set[str]) -> str | None:
    if not expected:
        return None
    ranked = sorted(expected, key=lambda w: (not w.startswith("'"), w))
    if len(ranked) > 8:
        words = [w for w in ranked if w.startswith("'") and w.strip("'").isalpha()]
        if words and set(w.strip("'") for w in words) & set(DECLARATION_WORDS):
            return "expected a declaration: " + ", ".join(f"'{w}'" for w in DECLARATION_WORDS[1:])
        return "expected an expression or an operator"
    return "expected " + _join(ranked)


def _join(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]
