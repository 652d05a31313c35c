"""Building the syntax tree: the parser's reductions -> ast.File, with spans.

The Builder's methods are Lark's callbacks: dsl/parser.py hands the Builder
to its LALR parser as an inline transformer, so each grammar rule becomes
its AST node as soon as it is reduced, with no intermediate parse tree
(building one and then walking it takes twice as long on a large policy).
Each method takes the rule's children (tokens and finished nodes) and
returns the node. A node's span runs from its first token to its last; the
grammar keeps as named tokens the keywords a span should start at, so no
position needs to be propagated by the parser.

Problems that the grammar lets through but that are still about how a file
is written are reported here, into `problems`:

  E-SYNTAX-010  an unknown escape in a string (`"\\q"`)
  E-DECL-005    a `policy` header that is not the first declaration, or a second one
  E-LIMIT-003   a string literal longer than dsl/limits.MAX_STRING
  E-LIMIT-004   a name longer than dsl/limits.MAX_NAME
"""
from __future__ import annotations

import re

from lark import Token, Transformer

from pol.dsl import ast
from pol.dsl.diagnostics import Diagnostic
from pol.dsl.limits import MAX_NAME, MAX_STRING
from pol.dsl.source import Span

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
# A backslash and what it escapes: \u with four hex digits, or any one
# character (the STRING token never ends on a lone backslash).
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_MAX_PROBLEMS = 100


def _start(x) -> tuple[int, int]:
    if isinstance(x, Token):
        return x.line, x.column
    return x.span.line, x.span.col


def _end(x) -> tuple[int, int]:
    if isinstance(x, Token):
        return x.end_line, x.end_column
    return x.span.end_line, x.span.end_col


class _Part:
    """An intermediate value (a `via`, a `rank`, a valid-window end) with its span."""
    __slots__ = ("kind", "value", "span")

    def __init__(self, kind: str, value, span: Span):
        self.kind, self.value, self.span = kind, value, span


def split_history_name(text: str, span: Span) -> tuple[str, str | None, Span, Span | None]:
    """`contacts.cost` (one QNAME token) -> history, field and their spans;
    `contacts` -> history, None."""
    history, dot, field = text.partition(".")
    if not dot:
        return history, None, span, None
    cut = span.col + len(history)
    return (history, field, Span(span.path, span.line, span.col, span.line, cut),
            Span(span.path, span.line, cut + 1, span.end_line, span.end_col))


class Builder(Transformer):
    """Grammar rules -> AST nodes, for one file at a time (see `begin`)."""

    def __init__(self):
        super().__init__()
        self.path = "<string>"
        self.problems: list[Diagnostic] = []

    def begin(self, path: str) -> None:
        """Start on a new file: spans name `path`, problems start empty."""
        self.path = path
        self.problems = []

    # ------------------------------------------------------------ helpers

    def _span(self, first, last) -> Span:
        return Span(self.path, *_start(first), *_end(last))

    def _tok(self, tok: Token) -> Span:
        """The span of a token; every name passes here, so its length is checked here."""
        span = Span(self.path, tok.line, tok.column, tok.end_line, tok.end_column)
        if len(tok) > MAX_NAME and tok.type in ("NAME", "QNAME"):
            self._report(Diagnostic(
                "E-LIMIT-004", f"a name of {len(tok):,} characters; the most is {MAX_NAME}", span,
                "names become output columns and appear in every message: choose a shorter one"))
        return span

    def _string(self, tok: Token) -> str:
        """The value of a STRING token, escapes resolved (an unknown one is reported)."""
        body = str(tok)[1:-1]
        if len(body) > MAX_STRING:
            self._report(Diagnostic(
                "E-LIMIT-003", f"a string of {len(body):,} characters; the most is {MAX_STRING:,}",
                self._tok(tok), "a policy holds names and labels, not data: read long text from "
                "an input field"))
        if "\\" not in body:
            return body
        return _ESCAPE.sub(lambda m: self._escape(m, tok), body)

    def _escape(self, m: re.Match, tok: Token) -> str:
        code = m.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if len(code) == 5:
            return chr(int(code[1:], 16))
        col = tok.column + 1 + m.start()
        width = 6 if code == "u" else 2
        self._report(Diagnostic(
            "E-SYNTAX-010", f"unknown escape '\\{code}' in a string",
            Span(self.path, tok.line, col, tok.line, col + min(width, tok.end_column - 1 - col)),
            'the escapes are \\" \\\\ \\n \\t and \\u followed by 4 hex digits (\\u4e2d); '
            "write a backslash itself as \\\\"))
        return code

    def _report(self, problem: Diagnostic) -> None:
        # A generated file may repeat one mistake a million times; the
        # first ones say all there is to say.
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(problem)

    def _label(self, rest: list) -> tuple[str | None, list]:
        if rest and isinstance(rest[0], Token) and rest[0].type == "STRING":
            return self._string(rest[0]), rest[1:]
        return None, rest

    # ------------------------------------------------------------ file

    def start(self, items):
        headers = [i for i in items if isinstance(i, ast.Header)]
        for k, h in enumerate(headers):
            if k > 0:
                self._report(Diagnostic(
                    "E-DECL-005", "a second 'policy' header", h.span,
                    "a file has at most one header, before everything else",
                    related=((headers[0].span, "the first header is here"),)))
            elif items[0] is not h:
                self._report(Diagnostic(
                    "E-DECL-005", "the 'policy' header must come first in the file", h.span,
                    "move this line to the top of the file"))
        return ast.File(self.path, tuple(items))

    def header(self, c):
        version = self._string(c[1]) if len(c) > 1 else None
        return ast.Header(str(c[0]), version, self._tok(c[0]))

    def import_decl(self, c):
        qualifier = next((str(t) for t in c[2:] if t.type == "NAME"), None)
        q_span = next((self._tok(t) for t in c[2:] if t.type == "NAME"), None)
        without = any(t.type == "OFFERS" for t in c[2:])
        return ast.Import(self._string(c[1]), self._span(c[0], c[-1]), qualifier, without, q_span)

    def carry_decl(self, c):
        names = c[1:]
        return ast.Carry(tuple(str(t) for t in names), self._tok(c[0]), tuple(self._tok(t) for t in names))

    def population_decl(self, c):
        return ast.Population(c[1], self._tok(c[0]))

    def population_offers(self, c):
        return ast.Population(None, self._tok(c[0]))

    def input_decl(self, c):
        return ast.Input(str(c[0]), str(c[1]), tuple(c[2:]), self._tok(c[0]), self._tok(c[1]))

    def history_decl(self, c):
        fields = tuple(x for x in c[4:] if isinstance(x, ast.Field))
        return ast.History(str(c[1]), str(c[2]), str(c[3]), fields, self._tok(c[1]), self._tok(c[2]),
                           self._tok(c[3]))

    def contact_decl(self, c):
        rules = tuple(x for x in c[2:] if isinstance(x, (ast.Limit, ast.Suppress, ast.Quiet)))
        return ast.Contact(str(c[1]), rules, self._tok(c[0]), self._tok(c[1]))

    def limit_rule(self, c):
        return ast.Limit(str(c[1]), ast.Number(str(c[2]), self._tok(c[2])), c[3].value,
                         self._span(c[0], c[-1]), self._tok(c[1]))

    def suppress_rule(self, c):
        return ast.Suppress(str(c[1]), ast.Number(str(c[2]), self._tok(c[2])), c[3].value,
                            self._span(c[0], c[-1]), self._tok(c[1]))

    def quiet_rule(self, c):
        return ast.Quiet(str(c[1]), str(c[2]), str(c[3]), self._span(c[0], c[-1]), self._tok(c[1]),
                         self._tok(c[2]), self._tok(c[3]))

    def field(self, c):
        return ast.Field(str(c[0]), str(c[1]), len(c) > 2, self._tok(c[0]), self._tok(c[1]))

    def field_list(self, c):
        # NAME ':' NAME '<' NAME '>' '?'?: one type name, `list<string>`, for the checker
        return ast.Field(str(c[0]), f"{c[1]}{c[2]}{c[3]}{c[4]}", len(c) > 5, self._tok(c[0]),
                         self._span(c[1], c[4]))

    def param_decl(self, c):
        arms = tuple(c[3]) if len(c) > 3 else ()
        return ast.Param(str(c[0]), str(c[1]), c[2], self._tok(c[0]), self._tok(c[1]), arms)

    def param_decl_list(self, c):
        # NAME '<' NAME '>': one type name, `list<string>`, for the checker
        arms = tuple(c[6]) if len(c) > 6 else ()
        return ast.Param(str(c[0]), f"{c[1]}{c[2]}{c[3]}{c[4]}", c[5], self._tok(c[0]), self._span(c[1], c[4]), arms)

    def param_decl_ge(self, c):
        # `list<int>= [1]`: the `>=` is the type's `>` and the `=`
        if str(c[4]) != ">=":
            self._report(Diagnostic("E-SYNTAX-001", f"missing '=' before the value of param '{c[0]}'",
                                    self._tok(c[4]), f"write {c[0]}: TYPE = VALUE"))
        arms = tuple(c[6]) if len(c) > 6 else ()
        return ast.Param(str(c[0]), f"{c[1]}{c[2]}{c[3]}>", c[5], self._tok(c[0]), self._span(c[1], c[4]), arms)

    def list_literal(self, c):
        return ast.ListLit(tuple(c[1:-1]), self._span(c[0], c[-1]))

    def param_arms(self, c):
        return [x for x in c if isinstance(x, ast.ParamArm)]

    def param_arm(self, c):
        experiment, _, arm = str(c[0]).rpartition(".")
        return ast.ParamArm(experiment, arm, c[1], self._tok(c[0]))

    def experiment_decl(self, c):
        label, rest = self._label(c[2:])
        salt = None
        if rest and isinstance(rest[0], Token) and rest[0].type == "SALT":
            salt, rest = self._string(rest[1]), rest[2:]
        shares = tuple(x for x in rest if isinstance(x, ast.Share))
        return ast.Experiment(str(c[1]), label, salt, shares, self._tok(c[1]), self._span(c[0], c[-1]))

    def arm_share(self, c):
        return ast.Share(str(c[1]), ast.Number(str(c[2]), self._tok(c[2])), self._tok(c[1]))

    def control_share(self, c):
        return ast.Share(None, ast.Number(str(c[1]), self._tok(c[1])), self._tok(c[0]))

    def let_decl(self, c):
        return ast.Let(str(c[0]), c[1], self._tok(c[0]))

    def segment_decl(self, c):
        label, rest = self._label(c[1:])
        return ast.Segment(str(c[0]), label, rest[0], self._tok(c[0]))

    def classify_decl(self, c):
        label, rest = self._label(c[1:])
        whens = tuple(x for x in rest if isinstance(x, ast.When))
        default = next((x for x in rest if isinstance(x, str)), None)
        return ast.Classify(str(c[0]), label, whens, default, self._tok(c[0]))

    def when_clause(self, c):
        return ast.When(c[0], self._string(c[-1]), self._span(c[0], c[-1]))

    def else_clause(self, c):
        return self._string(c[-1])

    def score_decl(self, c):
        label, rest = self._label(c[1:])
        return ast.Score(str(c[0]), label, rest[0], self._tok(c[0]))

    def channel_decl(self, c):
        label, rest = self._label(c[1:])
        return ast.Channel(str(c[0]), label, rest[0] if rest else None, self._tok(c[0]))

    # ------------------------------------------------------------ offers

    def offer_decl(self, c):
        label, rest = self._label(c[1:])
        return ast.Offer(str(c[0]), label, tuple(rest), self._tok(c[0]))

    def eligible_prop(self, c):
        return ast.Eligible(c[1], self._span(c[0], c[1]))

    def channels_prop(self, c):
        names = c[1:]
        return ast.Channels(tuple(str(t) for t in names), self._span(c[0], c[-1]),
                            tuple(self._tok(t) for t in names))

    def channels_by_prop(self, c):
        names = c[4:]
        return ast.Channels(tuple(str(t) for t in names), self._span(c[0], c[-1]),
                            tuple(self._tok(t) for t in names), ast.Name(str(c[2]), self._tok(c[2])))

    def priority_prop(self, c):
        return ast.Priority(c[1], self._span(c[0], c[1]))

    def category_prop(self, c):
        self._tok(c[1])
        return ast.Category(str(c[1]), self._span(c[0], c[1]))

    def _number_or_param(self, t):
        return ast.Name(str(t), self._tok(t)) if t.type == "NAME" else ast.Number(str(t), self._tok(t))

    def capacity_prop(self, c):
        return ast.Capacity(self._number_or_param(c[1]), self._span(c[0], c[1]))

    def valid_prop(self, c):
        ends = {p.kind: p.value for p in c[1:]}
        return ast.Valid(ends.get("from"), ends.get("to"), self._span(c[0], c[-1]))

    def _date_or_param(self, t):
        return ast.Name(str(t), self._tok(t)) if t.type == "NAME" else ast.DateLit(str(t), self._tok(t))

    def valid_from(self, c):
        return _Part("from", self._date_or_param(c[0]), self._tok(c[0]))

    def valid_to(self, c):
        return _Part("to", self._date_or_param(c[0]), self._tok(c[0]))

    def holdout_prop(self, c):
        salt = self._string(c[3]) if len(c) > 3 else None
        return ast.Holdout(self._number_or_param(c[1]), self._span(c[0], c[-1]), salt)

    def arm_prop(self, c):
        experiment, _, arm = str(c[1]).rpartition(".")
        return ast.ArmOf(experiment, arm, self._span(c[0], c[1]), self._tok(c[1]))

    def attributes_prop(self, c):
        return ast.Attributes(tuple(x for x in c[1:-1] if isinstance(x, ast.Attribute)), self._span(c[0], c[-1]))

    def attribute(self, c):
        return ast.Attribute(str(c[0]), c[1], self._tok(c[0]))

    def arbitrate_decl(self, c):
        return ast.Arbitrate(tuple(c[1:]), self._tok(c[0]))

    def max_rule(self, c):
        return ast.MaxRule(ast.Number(str(c[1]), self._tok(c[1])), self._span(c[0], c[-1]))

    def category_rule(self, c):
        return ast.OnePerCategory(self._span(c[0], c[-1]))

    def maximize_rule(self, c):
        return ast.Maximize(str(c[1]), self._span(c[0], c[1]), self._tok(c[1]))

    def exclusive_rule(self, c):
        names = c[1:]
        return ast.Exclusive(tuple(str(t) for t in names), self._span(c[0], c[-1]),
                             tuple(self._tok(t) for t in names))

    def channel_capacity_rule(self, c):
        return ast.ChannelCapacity(str(c[1]), self._number_or_param(c[2]), self._span(c[0], c[-1]),
                                   self._tok(c[1]))

    def quota_rule(self, c):
        return ast.Quota(str(c[1]), self._number_or_param(c[2]), self._span(c[0], c[-1]),
                         self._tok(c[1]))

    def fallback_rule(self, c):
        return ast.Fallback(str(c[1]), self._span(c[0], c[-1]), self._tok(c[1]))

    def budget_rule(self, c):
        return ast.Budget(self._number_or_param(c[1]), c[3], self._span(c[0], c[-1]), c[3].span)

    # ------------------------------------------------------------ tests

    def test_decl(self, c):
        # A test is reported at its `test` keyword, where the block starts.
        return ast.Test(self._string(c[1]), tuple(c[2:]), self._tok(c[0]))

    def as_of(self, c):
        lit = ast.TimestampLit if c[1].type == "TIMESTAMP" else ast.DateLit
        return ast.AsOf(lit(str(c[1]), self._tok(c[1])), self._span(c[0], c[1]))

    def with_param(self, c):
        return ast.With(str(c[0]), c[1], self._tok(c[0]))

    def given(self, c):
        if len(c) > 1 and isinstance(c[1], Token) and c[1].type == "NAME":
            return ast.Given(tuple(c[2:-1]), self._span(c[0], c[-1]), str(c[1]), self._tok(c[1]))
        return ast.Given(tuple(c[1:-1]), self._span(c[0], c[-1]))

    def given_field(self, c):
        return ast.GivenField(str(c[0]), c[1], self._tok(c[0]))

    def expect_offer(self, c):
        parts = {p.kind: p for p in c[2:]}
        via, rank = parts.get("via"), parts.get("rank")
        return ast.ExpectOffer(str(c[1]), via.value if via else None, rank.value if rank else None, False,
                               self._span(c[0], c[-1]), self._tok(c[1]), via.span if via else None)

    def via(self, c):
        return _Part("via", str(c[0]), self._tok(c[0]))

    def rank(self, c):
        return _Part("rank", ast.Number(str(c[0]), self._tok(c[0])), self._tok(c[0]))

    def expect_not_offer(self, c):
        return ast.ExpectOffer(str(c[2]), None, None, True, self._span(c[0], c[2]), self._tok(c[2]))

    def expect_no_offer(self, c):
        return ast.ExpectNoOffer(self._span(c[0], c[-1]))

    def expect_expr(self, c):
        return ast.ExpectExpr(c[1], self._span(c[0], c[1]))

    def expect_arm(self, c):
        experiment, _, arm = str(c[2]).rpartition(".")
        return ast.ExpectArm(experiment, arm, self._span(c[0], c[2]), self._tok(c[2]))

    def expect_control(self, c):
        return ast.ExpectArm(str(c[2]), None, self._span(c[0], c[2]), self._tok(c[2]))

    # ------------------------------------------------------------ literals

    def literal(self, c):
        tok = c[-1]
        span = self._span(c[0], tok)
        kind = tok.type
        if kind in ("INT", "FLOAT", "PERCENT"):
            return ast.Number(("-" if len(c) == 2 else "") + str(tok), span)
        if kind == "STRING":
            return ast.String(self._string(tok), span)
        if kind == "DATE":
            return ast.DateLit(str(tok), span)
        if kind == "TIMESTAMP":
            return ast.TimestampLit(str(tok), span)
        if kind == "NULL":
            return ast.Null(span)
        return ast.Bool(kind == "TRUE", span)

    # ------------------------------------------------------------ expressions

    def if_expr(self, c):
        return ast.If(c[1], c[3], c[5], self._span(c[0], c[5]))

    def binary(self, c):
        return ast.Binary(str(c[1]), c[0], c[2], self._span(c[0], c[2]), self._tok(c[1]))

    def unary(self, c):
        return ast.Unary(str(c[0]), c[1], self._span(c[0], c[1]), self._tok(c[0]))

    def compare(self, c):
        return ast.Compare(str(c[1]), c[0], c[2], self._span(c[0], c[2]), self._tok(c[1]))

    def in_list(self, c):
        negated = c[1].type == "NOT"
        word = c[2] if negated else c[1]
        values = tuple(x for x in c[(3 if negated else 2):-1])
        return ast.InList(c[0], values, negated, self._span(c[0], c[-1]), self._span(c[1], word))

    def member(self, c):
        negated = c[1].type == "NOT"
        word = c[2] if negated else c[1]
        name = ast.Name(str(c[-1]), self._tok(c[-1]))
        return ast.Member(c[0], name, negated, self._span(c[0], c[-1]), self._span(c[1], word))

    def between(self, c):
        return ast.Between(c[0], c[2], c[4], self._span(c[0], c[4]), self._tok(c[1]))

    def is_null(self, c):
        return ast.IsNull(c[0], len(c) == 4, self._span(c[0], c[-1]), self._span(c[1], c[-1]))

    def number(self, c):
        return ast.Number(str(c[0]), self._tok(c[0]))

    def string(self, c):
        return ast.String(self._string(c[0]), self._tok(c[0]))

    def date(self, c):
        return ast.DateLit(str(c[0]), self._tok(c[0]))

    def timestamp(self, c):
        return ast.TimestampLit(str(c[0]), self._tok(c[0]))

    def boolean(self, c):
        return ast.Bool(c[0].type == "TRUE", self._tok(c[0]))

    def null(self, c):
        return ast.Null(self._tok(c[0]))

    def today(self, c):
        return ast.Today(self._tok(c[0]))

    def call(self, c):
        return ast.Call(str(c[0]), tuple(c[1:-1]), self._span(c[0], c[-1]), self._tok(c[0]))

    def aggregate(self, c):
        a = c[1]
        return ast.Aggregate(str(c[0]), a.history, a.field, a.where, a.within, self._span(c[0], c[-1]),
                             self._tok(c[0]), a.history_span, a.field_span)

    def history_arg(self, c):
        where = within = None
        for k, x in enumerate(c[1:], start=1):
            if isinstance(x, Token) and x.type == "WHERE":
                where = c[k + 1]
            elif isinstance(x, _Part):
                within = x.value
        history, field, history_span, field_span = split_history_name(str(c[0]), self._tok(c[0]))
        return ast.Aggregate("", history, field, where, within, None, None, history_span, field_span)

    def within(self, c):
        return _Part("within", ast.Number(str(c[1]), self._tok(c[1])), self._span(c[0], c[2]))

    def name(self, c):
        return ast.Name(str(c[0]), self._tok(c[0]))
