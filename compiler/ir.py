"""The typed IR: what a checked policy means, with every node typed.

Produced by compiler/frontend/check.py from the untyped AST; consumed by the reference
evaluator (engine/reference/interp.py), the kernel generator (compiler/backend/codegen.py) and
offer matching. The expression nodes form a small closed set:

    Literal, FieldRef, ParamRef, DeclRef, Today, Call, If, InSet, IsNull,
    Aggregate, Element, Quantifier

The checker desugars and makes every conversion explicit, so back ends never
guess:

* int operands of a float operation are wrapped in `Call("to_float", (x,))`;
  arithmetic, comparisons, min/max/clamp/coalesce/if branches always have
  operands of one type (dates and `date +/- int` excepted, see compiler/signatures.py OPS);
* `days_since(d)` becomes `Call("sub", (Today, d))`, `days_until(d)` becomes
  `Call("sub", (d, Today))`, `days_between(a, b)` becomes `Call("sub", (b, a))`;
* a score's expression and an offer's priority are always FLOAT (an int one
  is wrapped in to_float); a priority left out is `Literal(FLOAT, 0.0)`;
* `add_days(d, n)` becomes `Call("add", (d, n))`; `days_to_anniversary(d)`
  becomes `Call("anniversary", (d, Today))`; `date(y, m, d)` is `make_date`;
* `concat` of literals alone is a Literal;
* `x in LIST_PARAM` becomes `Call("member", (x, ParamRef(list type, name)))`,
  `x not in LIST_PARAM` that call in `not`: a ParamRef of a list type appears
  nowhere else;
* a list field is read by `x in FIELD` (`Call("list_has", (x, FieldRef))`),
  `count(FIELD)` (`Call("list_count", ...)`) and `any`/`all`
  (`Quantifier`) alone;
* `round(x)` becomes `Call("round", (x, Literal(int, 0)))`;
* a chain `a and b and c` is one `Call("and", (a, b, c))` (likewise `or`):
  three-valued and/or are associative, and a chain of thousands stays one
  level deep;
* a `null` literal gets the type its context needs (INT when nothing says);
* the `today` keyword is `Today()`; a segment, classification, score or let
  used in an expression is `DeclRef` (a segment reads its collapsed,
  never-null value; a score reads as float).

The operators a Call may name, with their argument and result types, are
compiler/signatures.py's `OPS`; every evaluator has a rule for each.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import field
from fractions import Fraction
from typing import Any, TypeVar, Union

from pol.compiler.types import Type
from pol.dsl.node import node
from pol.dsl.source import Span

I, F, B, S, D, TS = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE, Type.TIMESTAMP
# ---------------------------------------------------------------- expressions

@node
class Literal:
    type: Type
    value: int | float | bool | str | dt.date | dt.datetime | None   # None is the null literal
    span: Span | None = field(default=None, compare=False)


@node
class FieldRef:
    """An input field."""
    type: Type
    name: str
    span: Span | None = field(default=None, compare=False)


@node
class ParamRef:
    type: Type
    name: str
    span: Span | None = field(default=None, compare=False)


@node
class DeclRef:
    """A let, segment, classification or score used in an expression."""
    type: Type
    name: str
    kind: str            # "let" | "segment" | "classify" | "score"
    span: Span | None = field(default=None, compare=False)


@node
class Today:
    type: Type = Type.DATE
    span: Span | None = field(default=None, compare=False)


@node
class Call:
    type: Type
    op: str              # a key of signatures.OPS
    args: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False)


@node
class If:
    """`if cond then a else b`: the then branch only when cond is true."""
    type: Type
    cond: Expr
    then: Expr
    else_: Expr
    span: Span | None = field(default=None, compare=False)


@node
class InSet:
    """`x in (literals)` / `x not in (...)`: null when x is null."""
    type: Type           # always BOOL
    operand: Expr
    values: tuple[Any, ...]   # python values of operand's type, never None; ints already
                         # widened to float when the operand is a float
    negated: bool = False
    span: Span | None = field(default=None, compare=False)


@node
class IsNull:
    type: Type           # always BOOL
    operand: Expr
    negated: bool = False   # `is not null`
    span: Span | None = field(default=None, compare=False)


@node
class Aggregate:
    """An aggregate of a customer's events (LANGUAGE.md section 12).

    `func` is one of AGGREGATES; `field` the event field it reads (None for
    count and days_since_last); `where` a BOOL expression over the event's
    fields only (its FieldRefs name event fields, not input fields), None
    for every event; `within` a number of days >= 1, None for no window.
    Not a child-bearing node: `where` is a scope of its own, so walks over
    the customer's expression (dependencies, lint) do not see event fields."""
    type: Type
    func: str
    history: str
    field: str | None
    where: Expr | None
    within: int | None
    # dataclasses.field by its full name: the attribute above shadows it for mypy
    span: Span | None = dataclasses.field(default=None, compare=False)


@node
class Element:
    """`it` in the condition of `any`/`all` (LANGUAGE.md 4.9): the list
    element the condition is asked about; an int or a string, never null
    (a list field's null elements are dropped when it is read)."""
    type: Type
    span: Span | None = field(default=None, compare=False)


@node
class Quantifier:
    """`any(LIST, cond)` / `all(LIST, cond)` over a list field (LANGUAGE.md
    4.9): whether some (every) element makes `cond` true, three-valued:
    any is true when one is true, else null when one is null, else false
    (an empty list: false); all is false when one is false, else null when
    one is null, else true (empty: true); a null list gives null.

    `cond` reads only `it` (Element), literals and params: it is a function
    of the element, so the batch paths compute it once per element of the
    batch and the kernels only fold each row's run of elements. It is a
    scope of its own, not a child: walks over the customer's expression see
    the list field alone (`children` is `(source,)`)."""
    type: Type               # always BOOL
    every: bool              # all (True) or any (False)
    source: FieldRef         # the list field
    cond: Expr
    span: Span | None = field(default=None, compare=False)


# aggregate -> {field type (None: no field): result type}
AGGREGATES: dict[str, dict[Type | None, Type]] = {
    "count": {None: I},
    "days_since_last": {None: I},
    "sum": {I: I, F: F},
    "avg": {I: F, F: F},
    "min": {I: I, F: F, D: D},
    "max": {I: I, F: F, D: D},
    "first": {I: I, F: F, B: B, S: S, D: D},
    "last": {I: I, F: F, B: B, S: S, D: D},
}


Expr = Union[Literal, FieldRef, ParamRef, DeclRef, Today, Call, If, InSet, IsNull, Aggregate, Element, Quantifier]
EXPR_KINDS = (Literal, FieldRef, ParamRef, DeclRef, Today, Call, If, InSet, IsNull, Aggregate, Element, Quantifier)


def children(e: Expr) -> tuple[Expr, ...]:
    if isinstance(e, Call):
        return e.args
    if isinstance(e, If):
        return (e.cond, e.then, e.else_)
    if isinstance(e, (InSet, IsNull)):
        return (e.operand,)
    if isinstance(e, Quantifier):
        return (e.source,)
    return ()


R = TypeVar("R")


def bottom_up(e: Expr, rule: Callable[[Expr, list[R]], R]) -> R:
    """`rule(node, its children's results)` for every node, children first
    (every child: for an `if`, both branches), on a stack of its own rather
    than Python's: an expression may nest thousands of levels (a long sum is
    left-nested). The code generator and the vectorized evaluator build
    their results through here."""
    todo: list[Expr | tuple[Expr]] = [e]
    done: list[R] = []
    while todo:
        x = todo.pop()
        if isinstance(x, tuple):        # nodes whose children are done; IR nodes are never tuples
            node = x[0]
            k = len(children(node))
            args = done[-k:]
            del done[-k:]
            done.append(rule(node, args))
            continue
        kids = children(x)
        if kids:
            todo.append((x,))
            todo.extend(reversed(kids))
        else:
            done.append(rule(x, []))
    return done[0]


def walk(e: Expr) -> Iterator[Expr]:
    """Every node of an expression, parents before children; an any/all's
    condition after its list (what it reads is read by the expression)."""
    stack = [e]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Quantifier):
            stack.append(node.cond)
        stack.extend(reversed(children(node)))


# ---------------------------------------------------------------- declarations

@node
class InputField:
    name: str
    type: Type
    nullable: bool
    span: Span | None = field(default=None, compare=False)


@node
class Input:
    name: str
    key: str
    fields: tuple[InputField, ...]
    span: Span | None = field(default=None, compare=False)

    def field(self, name: str) -> InputField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@node
class History:
    """A table of events that belong to a customer (LANGUAGE.md section 12):
    `key` joins to the input's key, `at` (a date) places each event in time."""
    name: str
    key: str
    at: str
    fields: tuple[InputField, ...]
    span: Span | None = field(default=None, compare=False)

    def field(self, name: str) -> InputField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@node
class Param:
    name: str
    type: Type
    default: int | float | bool | str | dt.date | tuple[int | str, ...] | None   # of `type`; a list's a tuple
    span: Span | None = field(default=None, compare=False)
    # (experiment, arm, value) per arm given its own value (LANGUAGE.md 13);
    # the checker reads such a param as an `if` on the arms (ParamRef the rest)
    arms: tuple[tuple[str, str, Any], ...] = ()


CONTROL = "control"     # the arm of an experiment's control group


@node
class Experiment:
    """Customers drawn into arms by a salted hash of their key (LANGUAGE.md 13):
    h = fnv1a64(prefix + KEY) mod 10000; the first arm whose running total
    of shares (basis points) exceeds h, else the control group. In an
    expression the experiment is a STRING FieldRef of its name, an extra
    input field the batch paths compute (compiler/backend/experiments.py)."""
    name: str
    label: str | None
    salt: str | None
    arms: tuple[tuple[str, int], ...]    # (arm, share in basis points), as declared
    control_bp: int
    span: Span | None = field(default=None, compare=False)

    @property
    def prefix(self) -> str:
        """The text hashed before the key: "NAME:" or "NAME:SALT:", NAME as
        declared (in a file imported under a name, without the qualifier: the
        customers draw the same arms whoever imports the file)."""
        name = self.name.rsplit(".", 1)[-1]
        return f"{name}:" if self.salt is None else f"{name}:{self.salt}:"

    @property
    def values(self) -> tuple[str, ...]:
        """Every value the experiment takes: its arms, then the control."""
        return tuple(a for a, _ in self.arms) + (CONTROL,)

    @property
    def bounds(self) -> tuple[int, ...]:
        """The running totals of the arms' shares: arm k holds bounds[k-1] <= h < bounds[k]."""
        out, total = [], 0
        for _, bp in self.arms:
            total += bp
            out.append(total)
        return tuple(out)


@node
class Let:
    name: str
    expr: Expr
    span: Span | None = field(default=None, compare=False)


@node
class Segment:
    name: str
    label: str | None
    expr: Expr           # BOOL; null collapses to false
    span: Span | None = field(default=None, compare=False)


@node
class When:
    cond: Expr           # BOOL; null does not match
    value: str
    span: Span | None = field(default=None, compare=False)


@node
class Classify:
    name: str
    label: str | None
    whens: tuple[When, ...]
    default: str | None  # the `else` value; None: no else (unmatched -> null)
    span: Span | None = field(default=None, compare=False)

    @property
    def values(self) -> tuple[str, ...]:
        """Every value the classification can take, first appearance first."""
        out: list[str] = []
        for v in [w.value for w in self.whens] + ([self.default] if self.default is not None else []):
            if v not in out:
                out.append(v)
        return tuple(out)


@node
class Score:
    name: str
    label: str | None
    expr: Expr           # FLOAT: the checker wraps an int expression in to_float
    span: Span | None = field(default=None, compare=False)


@node
class Channel:
    name: str
    label: str | None
    cond: Expr | None    # None: always open; null: closed
    span: Span | None = field(default=None, compare=False)


@node
class Offer:
    name: str
    label: str | None
    eligible: Expr                  # BOOL
    channels: tuple[str, ...]       # declared channel names, in preference order
    priority: Expr                  # FLOAT (ints converted); default Literal(FLOAT, 0.0)
    category: str | None = None
    capacity: int | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    # Control when fnv1a64(name + ":" + key) % 10000 < holdout_bp (LANGUAGE.md s.6).
    # `holdout 5%` gives 500: P x 100, rounded up so that `h < P x 100` holds exactly.
    holdout_bp: int | None = None
    span: Span | None = field(default=None, compare=False)
    campaign: str | None = None     # the `policy` name (or file name) of the file it is declared in
    attributes: tuple[tuple[str, object], ...] = ()   # (name, value): typed constants, in Program.attributes' types
    # (property, param) for each property read from a param: "capacity",
    # "holdout", "valid_from", "valid_to"; capacity, holdout_bp and the window
    # hold the default's value, compiler/offer_settings.with_params a run's (LANGUAGE.md 3.10)
    settings: tuple[tuple[str, str], ...] = ()
    arm: tuple[str, str] | None = None      # (experiment, arm): only that arm's customers (LANGUAGE.md 13)
    holdout_salt: str | None = None         # `holdout P% salt "S"`: hashes "NAME:S:KEY"
    # `channels by NAME then ...` (LANGUAGE.md 3.10): INT, the position in
    # `channels` of the channel NAME's value names, -1 for none of them, null
    # for a null value (a `channel_rank` call); that channel, when open, is
    # the offer's, before the list's order is tried
    prefer: Expr | None = None

    @property
    def holdout_prefix(self) -> str:
        """The text the holdout hash reads before the key (LANGUAGE.md 6.5)."""
        return f"{self.name}:" if self.holdout_salt is None else f"{self.name}:{self.holdout_salt}:"


@node
class Arbitrate:
    max_per_customer: int = 1
    one_per_category: bool = False
    exclusive: tuple[tuple[str, ...], ...] = ()
    span: Span | None = field(default=None, compare=False)
    optimal: bool = False           # `maximize priority`: section 6.7's allocation
    # Run-wide constraints (LANGUAGE.md 6.4), in declaration order of their names:
    channel_capacity: tuple[tuple[str, int], ...] = ()   # (channel, customers it may contact)
    quota: tuple[tuple[str, int], ...] = ()              # (category, offers it may give)
    # `budget B cost offer.ATTR`: B and each offer's cost, both exact
    # decimals (fractions.Fraction); an offer without the attribute costs nothing.
    budget: Fraction | None = None
    cost: tuple[tuple[str, Fraction], ...] = ()          # (offer, cost) for the offers that have one
    cost_attribute: str | None = None
    # `budget B cost EXPR` computed per customer: (offer, the hidden score
    # holding that offer's cost), for the offers under the budget; `cost`
    # is then empty (LANGUAGE.md 3.11, compiler/costs.py)
    cost_scores: tuple[tuple[str, str], ...] = ()
    # `fallback OFFER`: walked after every other candidate, accepted only by a
    # customer who holds no offer (LANGUAGE.md 6.3)
    fallback: str | None = None
    # (kind, key, param) for each constraint read from a param: kind
    # "channel_capacity" (key: the channel), "quota" (the category) or
    # "budget" (""); the constraints hold the default's value,
    # compiler/offer_settings.with_params a run's (LANGUAGE.md 3.11)
    settings: tuple[tuple[str, str, str], ...] = ()
    # In-run contact caps (LANGUAGE.md 14.1, under `max N` > 1): (channel, the
    # hidden score holding the customer's room on it), each accepted offer
    # through the channel using one unit of the room
    rooms: tuple[tuple[str, str], ...] = ()

    @property
    def constrained(self) -> bool:
        """Whether a run must match its customers together for this block."""
        return bool(self.channel_capacity or self.quota or self.budget is not None)


# ---------------------------------------------------------------- tests

@node
class ExpectOffer:
    """`expect offer O [via C] [rank N]`, or `expect not offer O` (negated)."""
    offer: str
    via: str | None = None
    rank: int | None = None
    negated: bool = False
    span: Span | None = field(default=None, compare=False)


@node
class ExpectNoOffer:
    span: Span | None = field(default=None, compare=False)


@node
class ExpectExpr:
    """`expect EXPR`: holds when EXPR is true (null fails)."""
    expr: Expr
    # The expectation as written, for failure reports: like a span, where and
    # how it is written (comments, line breaks), not what it means.
    text: str = field(default="", compare=False)
    span: Span | None = field(default=None, compare=False)


Expectation = Union[ExpectOffer, ExpectNoOffer, ExpectExpr]


@node
class Population:
    """The customers the policy addresses (LANGUAGE.md 3.14): those for whom
    `cond` is true; the others are in no output. `derived`: made from the
    offers' `eligible` conditions (`population from offers`)."""
    cond: Expr
    derived: bool = False
    span: Span | None = field(default=None, compare=False)


@node
class Test:
    name: str
    given: tuple[tuple[str, object], ...]        # (field, python value or None), fields only
    expects: tuple[Expectation, ...]
    as_of: dt.date | None = None
    params: tuple[tuple[str, object], ...] = ()  # `with NAME = LITERAL`, converted to the param type
    span: Span | None = field(default=None, compare=False)
    # `given HISTORY { ... }`: (history, ((field, value), ...)) per event, in order
    events: tuple[tuple[str, tuple[tuple[str, object], ...]], ...] = ()


# ---------------------------------------------------------------- program

def hidden(name: str) -> bool:
    """Whether a declaration is one the compiler made (a contact room, a
    budget's computed cost: a ':' no declared name can have), which no
    output shows."""
    return ":" in name


@node
class Program:
    """A checked policy.

    Declaration tuples keep declaration order (imports expanded at their first
    `import`); `order` lists every let, segment, classification and score
    name so that each comes after everything it reads (a topological order of
    the dependency graph, ties broken by declaration order).
    """
    name: str
    version: str | None
    input: Input
    params: tuple[Param, ...]
    lets: tuple[Let, ...]
    segments: tuple[Segment, ...]
    classifies: tuple[Classify, ...]
    scores: tuple[Score, ...]
    channels: tuple[Channel, ...]
    offers: tuple[Offer, ...]
    arbitrate: Arbitrate
    tests: tuple[Test, ...]
    order: tuple[str, ...]
    # Output columns of `customers` after the key: segments, classifications
    # and scores, interleaved in declaration order.
    outputs: tuple[str, ...]
    files: tuple[str, ...] = ()   # every source file, root first
    attributes: tuple[tuple[str, Type], ...] = ()   # the offers' attribute names and types, first seen first
    carry: tuple[str, ...] = ()   # input fields copied into the assignments
    histories: tuple[History, ...] = ()
    experiments: tuple[Experiment, ...] = ()
    population: Population | None = None     # None: every customer

    @property
    def shown_scores(self) -> tuple[Score, ...]:
        """The scores a user declared: not the hidden ones the compiler adds
        (contact rooms, named with a ':' no declaration can have)."""
        return tuple(s for s in self.scores if not hidden(s.name))

    def history(self, name: str) -> History:
        for h in self.histories:
            if h.name == name:
                return h
        raise KeyError(name)

    def decl(self, name: str) -> Let | Segment | Classify | Score | Channel | Offer | Param:
        """The let, segment, classify, score, channel, offer or param of that name."""
        for group in (self.lets, self.segments, self.classifies, self.scores,
                      self.channels, self.offers, self.params):
            for d in group:
                if d.name == name:
                    return d
        raise KeyError(name)
