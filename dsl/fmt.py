"""The formatter behind `pol fmt`: policy text -> the same policy in the one
canonical layout, every comment kept, in order.

    format_text(text, path) -> Formatted: the new text, or the syntax
                               problems of a file that does not parse

The layout (LANGUAGE.md section 11.1): declarations as dsl/printer.py prints
them, blocks indented by four spaces, one offer property, classification
rule, field, rule or test item per line; a blank line between declarations
of different kinds and around a declaration of several lines, while
declarations of one kind on one line each keep the blank lines their author
put between them (several become one). An expression stays on one line
unless the line would pass WIDTH columns or a comment sits inside it: then
it is broken before each `and` / `or` (`+` / `-`) of its outermost chain
(or of a call's first argument or a comparison's left side, as in
`clamp(a + b + c, 0, 1) > 0.5`), the continuation lines indented four more. A `given` too long for a line is
filled line by line, continued under its first field.

Comments are never moved across code they were not next to: a comment alone
on its line stays before the line that follows it, at that line's indent; an
end-of-line comment stays at the end of the line that holds the code before
it, and the end-of-line comments of neighbouring lines are aligned. Where
two end-of-line comments would land on one line (a broken line joined), the
first is put on its own line before it. Blank lines inside a declaration go.

The result is checked before it is returned: it must parse to the same tree
and hold the same comments in the same order, or FormatError is raised and
nothing is written. Formatting its own output changes nothing.
"""
from __future__ import annotations

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

from pol.dsl import ast, printer
from pol.dsl.comments import Comment, Scan, scan
from pol.dsl.diagnostics import Diagnostic
from pol.dsl.parser import parse
from pol.dsl.source import Source

WIDTH = 100
STEP = 4
# Declarations whose span is their name: their first token is the keyword before it.
_NAMED = (ast.Header, ast.Input, ast.Param, ast.Let, ast.Segment, ast.Classify, ast.Score, ast.Channel,
          ast.Offer, ast.Experiment, ast.History)
_CHAINS = {"and", "or", "+", "-"}


class FormatError(Exception):
    """The formatter could not keep the file's meaning or its comments (a bug; nothing is written)."""


@dataclass
class Formatted:
    text: str | None                      # None when the file does not parse
    problems: list[Diagnostic] = field(default_factory=list)
    source: Source | None = None


def width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def format_text(text: str, path: str = "<string>") -> Formatted:
    text = text[1:] if text.startswith("\ufeff") else text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    source = Source(path, text)
    tree, problems = parse(source)
    if problems or tree is None:
        return Formatted(None, list(problems), source)
    found = scan(text)
    out = _Formatter(tree, found).run()
    _verify(tree, found, out, path)
    return Formatted(out, [], source)


def _verify(tree: ast.File, found: Scan, out: str, path: str) -> None:
    again, problems = parse(Source(path, out))
    if problems or again != tree:
        raise FormatError(f"{path}: the formatted text would not mean the same")
    if [c.text for c in scan(out).comments] != [c.text for c in found.comments]:
        raise FormatError(f"{path}: the formatted text would not keep every comment in order")


# ---------------------------------------------------------------- lines

@dataclass
class _Out:
    """One line of code: its text and the source tokens it prints, [first, last)."""
    indent: int
    code: str
    first: int
    last: int
    lead: str = ""          # blank lines before an item: "keep", "strip" or "require"; "" not an item
    inner: int | None = None    # indent of the comments before a closing brace


@dataclass
class _Row:
    indent: int
    text: str = ""          # code, or a whole comment
    eol: str | None = None
    code: bool = True


class _Formatter:
    def __init__(self, tree: ast.File, found: Scan):
        self.tree, self.s = tree, found
        self.tokens = found.tokens
        self.before: dict[int, list[Comment]] = defaultdict(list)     # own-line comments, by the next token
        self.after: dict[int, list[Comment]] = defaultdict(list)      # end-of-line comments, by the previous token
        for c in found.comments:
            (self.before[c.next] if c.own_line else self.after[c.prev]).append(c)

    def at(self, span) -> int:
        return self.s.at((span.line, span.col))

    def word_before(self, index: int, word: str) -> int:
        """The keyword that starts an item whose span starts after it (a rule's
        span starts at its condition, which may open with parentheses)."""
        k = index - 1
        while k > 0 and self.tokens[k].text == "(":
            k -= 1
        if self.tokens[k].text != word:
            raise FormatError(f"expected '{word}' at line {self.tokens[k].line}")
        return k

    # ------------------------------------------------------------ declarations

    def run(self) -> str:
        items = self.tree.items
        starts = [self.at(d.span) - (1 if isinstance(d, _NAMED) else 0) for d in items]
        outs: list[_Out] = []
        previous = None
        for k, d in enumerate(items):
            end = starts[k + 1] if k + 1 < len(items) else len(self.tokens)
            lines = self.declaration(d, starts[k], end)
            several = len(lines) > 1
            if previous is None:
                lines[0].lead = "strip"
            else:
                kind, was_several = previous
                lines[0].lead = "require" if kind is not type(d) or was_several or several else "keep"
            previous = (type(d), several)
            outs += lines
        return self.assemble(outs)

    def declaration(self, d, first: int, end: int) -> list[_Out]:
        if isinstance(d, (ast.Let, ast.Segment, ast.Score)):
            word = {ast.Let: "let", ast.Segment: "segment", ast.Score: "score"}[type(d)]
            head = f"{word} {d.name}" + (printer.label(d.label) if not isinstance(d, ast.Let) else "")
            return self.expression(0, f"{head} = ", d.expr, "", first, end)
        if isinstance(d, ast.Channel) and d.cond is not None:
            return self.expression(0, f"channel {d.name}{printer.label(d.label)} when ", d.cond, "", first, end)
        if isinstance(d, ast.Population) and d.cond is not None:
            return self.expression(0, "population when ", d.cond, "", first, end)
        if isinstance(d, ast.Input):
            items = [(f, self.at(f.span), self.field) for f in d.fields]
            return self.block(f"input {d.name} key {d.key}", items, first, end)
        if isinstance(d, ast.History):
            items = [(f, self.at(f.span), self.field) for f in d.fields]
            return self.block(f"history {d.name} key {d.key} at {d.at}", items, first, end)
        if isinstance(d, ast.Classify):
            items = [(w, self.word_before(self.at(w.span), "when"), self.when) for w in d.whens]
            if d.default is not None:
                after = self.s.at((d.whens[-1].span.end_line, d.whens[-1].span.end_col)) if d.whens else first
                k = next(i for i in range(after, end) if self.tokens[i].text == "else")
                items.append((d.default, k, self.otherwise))
            return self.block(f"classify {d.name}{printer.label(d.label)}", items, first, end)
        if isinstance(d, ast.Offer):
            items = [(p, self.at(p.span), self.prop) for p in d.props]
            return self.block(f"offer {d.name}{printer.label(d.label)}", items, first, end)
        if isinstance(d, ast.Experiment):
            items = [(x, self.at(x.span) - (1 if x.arm is not None else 0), self.share) for x in d.shares]
            salt = f" salt {printer.string(d.salt)}" if d.salt is not None else ""
            return self.block(f"experiment {d.name}{printer.label(d.label)}{salt}", items, first, end)
        if isinstance(d, ast.Arbitrate):
            items = [(r, self.at(r.span), self.rule) for r in d.rules]
            return self.block("arbitrate", items, first, end)
        if isinstance(d, ast.Contact):
            items = [(r, self.at(r.span), self.rule) for r in d.rules]
            return self.block(f"contact {d.history}", items, first, end)
        if isinstance(d, ast.Test):
            items = [(i, self.at(i.span) - (1 if isinstance(i, ast.With) else 0), self.test_item) for i in d.items]
            return self.block(f"test {printer.string(d.name)}", items, first, end)
        return [_Out(0, printer.declaration(d), first, end)]

    def block(self, head: str, items: list, first: int, end: int) -> list[_Out]:
        opener = next(i for i in range(first, end) if self.tokens[i].text == "{")
        closer = self.s.match[opener]
        items = sorted(items, key=lambda x: x[1])
        starts = [k for _, k, _ in items]
        lines = [_Out(0, head + " {", first, starts[0] if items else closer)]
        for n, (node, start, lay) in enumerate(items):
            stop = starts[n + 1] if n + 1 < len(items) else closer
            part = lay(node, start, stop)
            part[0].lead = "strip" if n == 0 else "keep"
            lines += part
        lines.append(_Out(0, "}", closer, end, lead="strip", inner=STEP))
        return lines

    # ------------------------------------------------------------ block items

    def field(self, f: ast.Field, first: int, end: int) -> list[_Out]:
        return [_Out(STEP, f"{f.name}: {f.type_name}{'?' if f.nullable else ''}", first, end)]

    def when(self, w: ast.When, first: int, end: int) -> list[_Out]:
        return self.expression(STEP, "when ", w.cond, f" => {printer.string(w.value)}", first, end)

    def otherwise(self, value: str, first: int, end: int) -> list[_Out]:
        return [_Out(STEP, f"else => {printer.string(value)}", first, end)]

    def prop(self, p, first: int, end: int) -> list[_Out]:
        if isinstance(p, ast.Eligible):
            return self.expression(STEP, "eligible when ", p.expr, "", first, end)
        if isinstance(p, ast.Priority):
            return self.expression(STEP, "priority ", p.expr, "", first, end)
        return [_Out(STEP, printer.prop(p), first, end)]

    def share(self, x: ast.Share, first: int, end: int) -> list[_Out]:
        text = f"arm {x.arm} {x.percent.text}" if x.arm is not None else f"control {x.percent.text}"
        return [_Out(STEP, text, first, end)]

    def rule(self, r, first: int, end: int) -> list[_Out]:
        return [_Out(STEP, printer.rule(r), first, end)]

    def test_item(self, i, first: int, end: int) -> list[_Out]:
        if isinstance(i, ast.Given) and i.history is not None:
            # an event: one line as the printer writes it (section 12)
            return [_Out(STEP, printer.test_item(i), first, end)]
        if isinstance(i, ast.Given):
            return self.given(i, first, end)
        if isinstance(i, ast.ExpectExpr) and not printer.expect_wrapped(i.expr):
            return self.expression(STEP, "expect ", i.expr, "", first, end)
        return [_Out(STEP, printer.test_item(i), first, end)]

    # ------------------------------------------------------------ breaking long lines

    def _has_own_line(self, first: int, end: int) -> bool:
        """Whether a comment alone on its line sits among the tokens [first, end)."""
        return any(self.before.get(i) for i in range(first, end))

    def _ends_with_eol(self, first: int, end: int, item: bool = False) -> bool:
        """Whether the last comment among the tokens [first, end) is an
        end-of-line comment: then the line must end there to keep it. (The
        comments before an item's first token are the item's own and do not count.)"""
        found = [c for i in range(first, end) for c in self.after.get(i, [])]
        found += [c for i in range(first + 1 if item else first, end) for c in self.before.get(i, [])]
        return bool(found) and not max(found, key=lambda c: c.pos).own_line

    def expression(self, indent: int, prefix: str, e, suffix: str, first: int, end: int) -> list[_Out]:
        """prefix + e + suffix, broken before the operators of e's outermost chain when needed."""
        one = prefix + printer.expr(e) + suffix
        e, opening, closing = _inside_calls(e)
        chain = _chain(e)
        if not chain:
            return [_Out(indent, one, first, end)]
        prefix, suffix = prefix + opening, closing + suffix
        lv = printer.level(e)
        operand0, rest = chain[0], chain[1:]
        texts = [printer.operand(e, operand0, lv)] + [f"{op.op} {printer.operand(e, x, lv + 1)}" for op, x in rest]
        starts = [first] + [self.at(op.op_span) for op, _ in rest]
        stops = starts[1:] + [end]
        n = len(texts)
        # A comment alone on its line inside piece k > 0 goes before that piece's
        # line, and an end-of-line comment ends its piece's line: both need the break.
        forced = any(self._has_own_line(starts[k], stops[k]) for k in range(1, n)) or \
            any(self._ends_with_eol(starts[k], stops[k], item=k == 0) for k in range(n - 1))
        if not forced and indent + width(one) <= WIDTH:
            return [_Out(indent, one, first, end)]
        lines = [_Out(indent, prefix + texts[0], starts[0], stops[0])]
        lines += [_Out(indent + STEP, texts[k], starts[k], stops[k]) for k in range(1, n)]
        lines[-1].code += suffix
        return lines

    def given(self, g: ast.Given, first: int, end: int) -> list[_Out]:
        if not g.fields:
            return [_Out(STEP, "given { }", first, end)]
        opener = first + 1
        closer = self.s.match.get(opener, end - 1)
        texts = [printer.given_field(f) for f in g.fields]
        starts = [self.at(f.span) for f in g.fields]
        stops = starts[1:] + [closer]
        n = len(texts)
        head = "given { "
        one = head + ", ".join(texts) + " }"
        cut_before = [k > 0 and self._has_own_line(starts[k], stops[k]) for k in range(n)]
        cut_after = [k < n - 1 and self._ends_with_eol(starts[k], stops[k]) for k in range(n)]
        if not any(cut_before) and not any(cut_after) and STEP + width(one) <= WIDTH:
            return [_Out(STEP, one, first, end)]
        under = STEP + width(head)
        lines: list[_Out] = []
        text, indent, line_first = head + texts[0], STEP, first
        for k in range(1, n):
            tail = " }" if k == n - 1 else ","
            if cut_after[k - 1] or cut_before[k] or indent + width(text + ", " + texts[k] + tail) > WIDTH:
                lines.append(_Out(indent, text + ",", line_first, starts[k]))
                text, indent, line_first = texts[k], under, starts[k]
            else:
                text += ", " + texts[k]
        lines.append(_Out(indent, text + " }", line_first, end))
        return lines

    # ------------------------------------------------------------ comments and blank lines

    def _blank_lines(self, first: int) -> set[int]:
        """Blank source lines between the token before `first` and `first`."""
        lo = self.tokens[first - 1].line if first > 0 else 0
        hi = self.tokens[first].line if first < len(self.tokens) else 1 << 30
        return {n for n in self.s.blank_lines if lo < n < hi}

    def leading(self, first: int, lead: str, indent: int) -> list[_Row]:
        """The comments and blank lines before an item: runs of blank lines
        become one; `lead` says whether a blank line is dropped ("strip"),
        kept ("keep") or added ("require") at the start."""
        marks = [(c.line, c) for c in self.before.get(first, [])] + [(n, None) for n in self._blank_lines(first)]
        rows: list[_Row] = []
        for _, c in sorted(marks, key=lambda m: m[0]):
            if c is not None:
                rows.append(_Row(indent, c.text, code=False))
            elif not rows or rows[-1].text:
                rows.append(_Row(0, "", code=False))
        if lead == "strip":
            while rows and not rows[0].text:
                rows.pop(0)
        elif lead == "require" and (not rows or rows[0].text):
            rows.insert(0, _Row(0, "", code=False))
        return rows

    def assemble(self, outs: list[_Out]) -> str:
        rows: list[_Row] = []
        for o in outs:
            inner = o.inner if o.inner is not None else o.indent
            if o.lead:
                lead = self.leading(o.first, o.lead, inner)
                if o.inner is not None:
                    lead = [r for r in lead if r.text != ""]
                rows += lead
                skip = o.first
            else:
                skip = -1
            found = [c for i in range(o.first, o.last) for c in (self.before.get(i, []) if i != skip else [])]
            found += [c for i in range(o.first, o.last) for c in self.after.get(i, [])]
            found.sort(key=lambda c: c.pos)
            eol = found.pop().text if found and not found[-1].own_line else None
            rows += [_Row(o.indent, c.text, code=False) for c in found]
            rows.append(_Row(o.indent, o.code, eol))
        rows += self.trailing()
        return _render(rows)

    def trailing(self) -> list[_Row]:
        """Comments after the last declaration."""
        end = len(self.tokens)
        rows = self.leading(end, "keep", 0) if self.tokens else self.leading(0, "strip", 0)
        while rows and rows[-1].text == "":
            rows.pop()
        return rows


def _inside_calls(e) -> tuple:
    """Where the chain to break is when e is none: in a call's first argument
    (`clamp(a + b + c, 0, 1)`) or a comparison's left side (`x + y + z > 3`),
    as deep as it takes. (expression, text before it, text after it)."""
    opening, closing = "", ""
    while not _chain(e):
        if isinstance(e, ast.Call) and e.args:
            opening += f"{e.name}("
            closing = "".join(", " + printer.expr(a) for a in e.args[1:]) + ")" + closing
            e = e.args[0]
        elif isinstance(e, ast.Compare) and printer.level(e.left) >= printer.SUM:
            closing = f" {e.op} {printer.expr(e.right, printer.SUM)}" + closing
            e = e.left
        else:
            break
    return e, opening, closing


def _chain(e) -> list:
    """The operands of e's outermost chain of one operator level (and, or, or + and -):
    [first operand, (operator node, operand), ...]; [] when e is no such chain."""
    if not isinstance(e, ast.Binary) or e.op not in _CHAINS:
        return []
    lv = printer.level(e)
    rest = []
    node = e
    while isinstance(node, ast.Binary) and node.op in _CHAINS and printer.level(node) == lv:
        rest.append((node, node.right))
        node = node.left
    return [node] + rest[::-1]


def _render(rows: list[_Row]) -> str:
    """Rows -> text; the end-of-line comments of each run of code lines aligned two columns
    after the widest of their lines."""
    lines: list[str] = []
    k = 0
    while k < len(rows):
        if not rows[k].code:
            r = rows[k]
            lines.append(" " * r.indent + r.text if r.text else "")
            k += 1
            continue
        j = k
        while j < len(rows) and rows[j].code:
            j += 1
        run = rows[k:j]
        column = max((r.indent + width(r.text) for r in run if r.eol), default=0) + 2
        for r in run:
            text = " " * r.indent + r.text
            if r.eol:
                text += " " * (column - width(text)) + r.eol
            lines.append(text)
        k = j
    while lines and lines[0] == "":
        lines.pop(0)
    return "\n".join(lines) + "\n" if lines else ""
