"""Warnings about what checks but silently matches nobody: a checked
ir.Program and its resolved Unit (compiler/frontend/resolve.py; the AST gives
the positions the IR does not keep, and says which file declares what) ->
warnings added to the Diagnostics. compiler/frontend/driver.py calls `lint`
once a program has checked without errors; warnings never stop a run, and
`pol check --strict` makes them errors.

Codes:
  W-WHEN-001   a `when` that can never match: the `when`s above it take every
               customer it would (interval reasoning, compiler/frontend/regions.py),
               or its condition is never true
  W-WHEN-002   a `when` whose condition repeats an earlier one of its classification
  W-STR-001    a string literal with leading or trailing spaces compared with a value,
               or in a list param's value
  W-CLASS-001  a classification compared with a value it never takes (tested
               against a list param: a value of the list's default it never takes)
  W-OFFER-002  an offer whose `eligible` condition is never true (`eligible when false`)
  W-UNUSED-001 a param nothing reads      W-UNUSED-002 a let nothing reads
  W-UNUSED-003 a channel no offer lists   W-UNUSED-004 an unlabelled segment nothing reads
  W-EXP-001    an arm of an experiment that nothing gives anything (no offer, param or expression)
  W-EXP-002    an experiment compared with a value it never takes

What "reads" means for W-UNUSED: the expressions of declarations and of tests'
`expect`s; a test's `with` sets a param without reading it. Only the root
file's own declarations are judged (each file is judged when it is checked
itself, as its tests run then), and in a program without offers channels are
declared for the files that import it, so they are not reported. A labelled
segment is an output meant to be read and is not reported either.

Each rule is one function over a Lint; a new construct adds its expressions
to `expressions` and, if it needs one, a rule to RULES.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from pol.compiler import ir
from pol.compiler.frontend import regions
from pol.compiler.frontend.resolve import Unit
from pol.compiler.types import Type
from pol.dsl import ast, expr_walk
from pol.dsl.diagnostics import Diagnostics
from pol.dsl.printer import string as quoted
from pol.dsl.source import Span
from pol.dsl.words import closest


@dataclass
class Lint:
    program: ir.Program
    root: str                                   # the root file's path, as spans name it
    diags: Diagnostics
    in_lists: dict[Span, ast.InList] = field(default_factory=dict)     # span of an `in` -> its ast.InList
    lists: dict[str, ast.ListLit] = field(default_factory=dict)        # a list param's name -> its value

    def warn(self, code: str, message: str, span: Span | None, hint: str | None = None,
             related: Sequence[tuple[Span | None, str]] = ()) -> None:
        if span is not None:
            self.diags.warn(code, message, span, hint, tuple(related))

    # Walked once for every rule (four rules read them: pol check lints each
    # file with everything it imports), in the order of `expressions`.
    @cached_property
    def nodes(self) -> list[tuple[object, ir.Expr]]:
        """(owner, node) for every node of every expression, parents first."""
        return [(owner, node) for owner, e in expressions(self.program) for node in ir.walk(e)]

    @cached_property
    def comparisons(self) -> list[tuple[object, ir.Expr, str, Span | None]]:
        """(owner, operand, literal value, literal span) for each string compared with ==, != or in."""
        return [(owner, *compared) for owner, node in self.nodes for compared in _string_comparisons(self, node)]


def lint(program: ir.Program | None, unit: Unit, diags: Diagnostics) -> None:
    """Add the warnings of a checked program (nothing when it did not check)."""
    if program is None or diags.errors:
        return
    lists = {i.name: i.default for i in unit.items if isinstance(i, ast.Param) and isinstance(i.default, ast.ListLit)}
    ctx = Lint(program, unit.root, diags, _in_lists(unit.items), lists)
    for rule in RULES:
        try:
            rule(ctx)
        except RecursionError:      # an expression too deep to reason about: no warning, no error
            continue


# ---------------------------------------------------------------- what the program holds

def expressions(program: ir.Program) -> Iterator[tuple[object, ir.Expr]]:
    """Every expression of the program, with the declaration or test it belongs to."""
    for d in program.lets + program.segments + program.shown_scores:
        yield d, d.expr
    for c in program.classifies:
        for w in c.whens:
            yield c, w.cond
    for ch in program.channels:
        if ch.cond is not None:
            yield ch, ch.cond
    for o in program.offers:
        yield o, o.eligible
        yield o, o.priority
        if o.prefer is not None:
            yield o, o.prefer
    costs = {score for _, score in program.arbitrate.cost_scores}    # a budget's cost per offer (3.11): the author's
    for s in program.scores:
        if s.name in costs:
            yield program.arbitrate, s.expr
    if program.population is not None and not program.population.derived:     # derived: the offers' own
        yield program.population, program.population.cond
    for t in program.tests:
        for e in t.expects:
            if isinstance(e, ir.ExpectExpr):
                yield t, e.expr


def _ast_expressions(item: ast.Decl) -> Iterator[ast.Expr]:
    if isinstance(item, (ast.Let, ast.Segment, ast.Score)):
        yield item.expr
    elif isinstance(item, ast.Classify):
        yield from (w.cond for w in item.whens)
    elif isinstance(item, (ast.Channel, ast.Population)) and item.cond is not None:
        yield item.cond
    elif isinstance(item, ast.Offer):
        yield from (p.expr for p in item.props if isinstance(p, (ast.Eligible, ast.Priority)))
    elif isinstance(item, ast.Test):
        yield from (i.expr for i in item.items if isinstance(i, ast.ExpectExpr))
    elif isinstance(item, ast.Arbitrate):
        yield from (r.cost for r in item.rules if isinstance(r, ast.Budget))


def _in_lists(items: Iterable[ast.Decl]) -> dict[Span, ast.InList]:
    """The `in` lists of the source by their span: the IR keeps their values, not where each is written."""
    out: dict[Span, ast.InList] = {}
    for item in items:
        for root in _ast_expressions(item):
            stack = [root]
            while stack:
                node = stack.pop()
                if isinstance(node, ast.InList) and node.span is not None:
                    out[node.span] = node
                stack.extend(expr_walk.children(node))
    return out


def _line(span: Span | None) -> str:
    return f"line {span.line}" if span is not None else "above"


# ---------------------------------------------------------------- classifications

def when_rules(ctx: Lint) -> None:
    """W-WHEN-001 and W-WHEN-002: rules of a classification that can never be the one that matches."""
    for c in ctx.program.classifies:
        seen: list[tuple[ir.When, regions.Region]] = []
        for w in c.whens:
            r = regions.region(w.cond)
            twin = next((e for e, _ in seen if e.cond == w.cond), None)
            if twin is not None:
                ctx.warn("W-WHEN-002", f"this 'when' of '{c.name}' repeats the condition of the one at "
                         f"{_line(twin.span)}", w.cond.span,
                         "a customer it holds always matches the first; remove this one",
                         [(twin.cond.span, "the same condition is first here")] if twin.cond.span else ())
            elif not r:
                ctx.warn("W-WHEN-001", f"this 'when' of '{c.name}' can never match: its condition is never true",
                         w.cond.span, "fix the condition, or remove the rule")
            elif seen and regions.covers([e for _, e in seen], r):
                alone = next((e for e, er in seen if regions.covers([er], r)), None)
                if alone is not None:
                    message = f"this 'when' of '{c.name}' can never match: the one at {_line(alone.span)} " \
                              "takes every customer it would"
                    related: list[tuple[Span | None, str]] = [
                        (alone.cond.span, "every such customer matches this first")]
                else:
                    lines = ", ".join(str(e.span.line) for e, _ in seen if e.span is not None)
                    message = f"this 'when' of '{c.name}' can never match: the 'when's above it " \
                              f"(lines {lines}) take every customer it would"
                    related = []
                ctx.warn("W-WHEN-001", message, w.cond.span,
                         "put the narrower rule first, or remove this one", related)
            seen.append((w, r))


# ---------------------------------------------------------------- strings and classes

def _string_comparisons(ctx: Lint, node: ir.Expr) -> Iterator[tuple[ir.Expr, str, Span | None]]:
    """(operand, literal value, literal span) for each string the node compares with ==, != or in."""
    if isinstance(node, ir.Call) and node.op in ("eq", "ne") and node.args[0].type == Type.STRING:
        a, b = node.args
        if isinstance(a, ir.Literal) and not isinstance(b, ir.Literal):
            a, b = b, a
        if isinstance(b, ir.Literal) and not isinstance(a, ir.Literal) and isinstance(b.value, str):
            yield a, b.value, b.span or node.span
    elif isinstance(node, ir.InSet) and node.operand.type == Type.STRING \
            and not isinstance(node.operand, ir.Literal):
        yield from _in_values(ctx, node)


def _in_values(ctx: Lint, node: ir.InSet) -> Iterator[tuple[ir.Expr, str, Span | None]]:
    """The values of a string `in` list with the span each is written at (the list's, when unknown)."""
    source = ctx.in_lists.get(node.span) if node.span is not None else None
    spans = [v.span for v in source.values] if source is not None and len(source.values) == len(node.values) \
        else [node.span] * len(node.values)
    for value, span in zip(node.values, spans):
        yield node.operand, value, span


def string_rules(ctx: Lint) -> None:
    """W-STR-001 and W-CLASS-001, one warning per literal."""
    classes = {c.name: c for c in ctx.program.classifies}
    for _, operand, value, span in ctx.comparisons:
        spaced = value != value.strip()
        if isinstance(operand, ir.DeclRef) and operand.kind == "classify":
            values = classes[operand.name].values
            if value in values:
                continue
            if not (spaced and value.strip() in values):
                guess = closest(value.strip(), values)
                hint = f"did you mean {quoted(guess)}?" if guess is not None else \
                    "its values are " + ", ".join(quoted(v) for v in values)
                ctx.warn("W-CLASS-001", f"'{operand.name}' is never {quoted(value)}: no rule gives that value",
                         span, hint)
                continue
        if spaced:
            ctx.warn("W-STR-001", f"the string {quoted(value)} has spaces at its "
                     + ("start and end" if value[:1].isspace() and value[-1:].isspace() else
                        "start" if value[:1].isspace() else "end"),
                     span, f"strings are compared as they are, spaces included: write {quoted(value.strip())}"
                     if value.strip() else "strings are compared as they are, spaces included")


def list_rules(ctx: Lint) -> None:
    """W-STR-001 for a list param's spaced strings (at the value); W-CLASS-001
    for a classification tested against a list whose default holds values
    it never takes (at the `in`)."""
    classes = {c.name: c for c in ctx.program.classifies}
    for p in ctx.program.params:
        lit = ctx.lists.get(p.name)
        if p.type != Type.LIST_STRING or lit is None or p.span is None or p.span.path != ctx.root:
            continue
        for v in lit.values:
            if isinstance(v, ast.String) and v.value != v.value.strip():
                ctx.warn("W-STR-001", f"the string {quoted(v.value)} of list '{p.name}' has spaces at its "
                         + ("start" if v.value[:1].isspace() else "end"), v.span,
                         "strings are compared as they are, spaces included"
                         + (f": write {quoted(v.value.strip())}" if v.value.strip() else ""))
    defaults = {p.name: p.default for p in ctx.program.params}
    for _, node in ctx.nodes:
        if not (isinstance(node, ir.Call) and node.op == "member"):
            continue
        x, lst = node.args
        if not isinstance(lst, ir.ParamRef):
            continue
        default = defaults.get(lst.name)
        if isinstance(x, ir.DeclRef) and x.kind == "classify" and isinstance(default, tuple):
            values = classes[x.name].values
            never = [v for v in default if v not in values]
            if never:
                ctx.warn("W-CLASS-001", f"'{x.name}' is never {', '.join(quoted(str(v)) for v in never)}, "
                         f"which '{lst.name}' holds: no rule gives that value", node.span,
                         "its values are " + ", ".join(quoted(v) for v in values))


# ---------------------------------------------------------------- offers

def offer_rules(ctx: Lint) -> None:
    """W-OFFER-002: an offer nobody can be eligible for."""
    for o in ctx.program.offers:
        if not regions.region(o.eligible):
            ctx.warn("W-OFFER-002", f"offer '{o.name}' can never be given: its 'eligible' condition is never true",
                     o.eligible.span or o.span,
                     "fix the condition; to pause an offer on purpose, give it 'capacity 0'")


# ---------------------------------------------------------------- unused declarations

def _reads(ctx: Lint) -> set[str]:
    program = ctx.program
    names = {node.name for _, node in ctx.nodes if isinstance(node, (ir.FieldRef, ir.ParamRef, ir.DeclRef))}
    for o in program.offers:            # capacity, holdout or window from a param
        names.update(name for _, name in o.settings)
    names.update(name for _, _, name in program.arbitrate.settings)     # constraints from params
    return names


def unused_rules(ctx: Lint) -> None:
    """W-UNUSED-001..004, for the declarations of the root file."""
    program = ctx.program

    def mine(d: ir.Param | ir.Let | ir.Channel | ir.Segment) -> bool:
        return d.span is not None and d.span.path == ctx.root

    reads = _reads(ctx)
    for p in program.params:
        if mine(p) and p.name not in reads:
            ctx.warn("W-UNUSED-001", f"param '{p.name}' is never read", p.span,
                     "remove it, or use it in a condition; a test's 'with' alone does not use it")
    for d in program.lets:
        if mine(d) and d.name not in reads:
            ctx.warn("W-UNUSED-002", f"let '{d.name}' is never read", d.span,
                     "a let is not an output: remove it, or make it a segment or a score if it is one")
    if program.offers:
        listed = {c for o in program.offers for c in o.channels}
        for ch in program.channels:
            if mine(ch) and ch.name not in listed:
                ctx.warn("W-UNUSED-003", f"channel '{ch.name}' is not listed by any offer", ch.span,
                         "add it to an offer's channels, or remove it")
    for s in program.segments:
        if mine(s) and s.label is None and s.name not in reads:
            ctx.warn("W-UNUSED-004", f"segment '{s.name}' has no label and nothing reads it", s.span,
                     f"if it is an output, give it a label: segment {s.name} \"...\" = ...; otherwise remove it")


# ---------------------------------------------------------------- experiments

def experiment_rules(ctx: Lint) -> None:
    """W-EXP-001 and W-EXP-002 (LANGUAGE.md section 13), for the root file's experiments.
    Offers per arm and params per arm read as comparisons with the arm
    (compiler/frontend/experiments.py), so the comparisons tell what is used;
    a test's expectation does not use an arm."""
    program = ctx.program
    if not program.experiments:
        return          # nothing to warn about, and no need to walk every expression
    declared = {x.name: x for x in program.experiments}
    used: dict[str, set[str]] = {name: set() for name in declared}
    for p in program.params:
        for experiment, arm, _ in p.arms:
            used[experiment].add(arm)
    for owner, operand, value, span in ctx.comparisons:
        if not isinstance(operand, ir.FieldRef) or operand.name not in declared:
            continue
        x = declared[operand.name]
        if value not in x.values:
            guess = closest(value, x.values)
            ctx.warn("W-EXP-002", f"experiment '{x.name}' is never {quoted(value)}: it is one of its arms "
                     "or \"control\"", span, f"did you mean {quoted(guess)}?" if guess is not None else
                     "its values are " + ", ".join(quoted(v) for v in x.values))
        elif not isinstance(owner, ir.Test):
            used[x.name].add(value)
    for x in program.experiments:
        if x.span is None or x.span.path != ctx.root or not used[x.name]:
            continue        # an experiment nothing reads only marks its groups in the output
        for arm, bp in x.arms:
            if arm not in used[x.name] and bp > 0:
                ctx.warn("W-EXP-001", f"arm '{arm}' of experiment '{x.name}' changes nothing: no offer, param "
                         "or condition is for it", x.span,
                         f"give it an offer ('arm {x.name}.{arm}') or a param value, or make its customers "
                         "part of another arm or the control")


RULES = (when_rules, string_rules, list_rules, offer_rules, unused_rules, experiment_rules)
