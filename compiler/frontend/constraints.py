"""The arbitrate block's run-wide constraints (LANGUAGE.md 3.11, 6.4):
`capacity CHANNEL N`, `quota CATEGORY N`, `budget B cost offer.ATTR`,
checked against the declared channels, the offers' categories and their
attributes.

Amounts are kept as exact fractions: a budget is "reached" when the costs
given add up to it exactly, which binary floats cannot promise (0.1 + 0.2
is not 0.3). The compiled walk counts in integers of the smallest unit the
written numbers need (`scaled`).

Codes: E-ARB-002 a constraint given twice (a channel's capacity, a
category's quota, the budget), E-NAME-005 unknown channel, E-ARB-004 a
quota for a category no offer has, E-ARB-005 a cost that is not a numeric
offer attribute, or a negative cost, E-TYPE-011 a number too large;
W-ARB-001 a capacity of a channel no offer lists.
"""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from pol.compiler import ir, offer_settings
from pol.compiler.costs import STEP, scaled
from pol.compiler.frontend.expressions import Checker
from pol.compiler.frontend.hints import F, I
from pol.compiler.frontend.literals import INT64
from pol.dsl import ast, expr_walk
from pol.dsl.source import Span
from pol.dsl.words import Vocabulary

CONSTRAINTS = (ast.ChannelCapacity, ast.Quota, ast.Budget)

# The hidden score of an offer's computed cost (LANGUAGE.md 3.11): in no output.
COST = "cost:"

# The walk adds costs in int64; a budget below this leaves room for any sum it compares.
_MOST = 2 ** 62


def exact(value: int | float | str) -> Fraction:
    """A number as the decimal it was written as: a float attribute holds
    the nearest binary value, whose shortest repr is the written decimal."""
    if isinstance(value, str):
        return Fraction(Decimal(value.replace("_", "")))
    return Fraction(value) if isinstance(value, int) else Fraction(repr(value))


def too_fine(budget: Fraction, costs: list[Fraction]) -> bool:
    """Whether the budget in units of the costs' decimals passes what the
    walk's int64 sums can hold."""
    return scaled(budget, costs)[0] >= _MOST


def check_constraints(ck: Checker, rules: list[ast.ChannelCapacity | ast.Quota | ast.Budget],
                      offers: list[ir.Offer | None],
                      attrs: tuple[tuple[str, object], ...], params: dict[str, ir.Param]) -> dict[str, Any]:
    """The ir.Arbitrate fields of the block's constraints (`rules`: its
    ChannelCapacity, Quota and Budget nodes). A number written as a param's
    name takes the default's value, and `settings` says which param it was."""
    out: dict[str, Any] = {}
    settings: list[tuple[str, str, str]] = []
    channels: dict[str, int] = {}
    quotas: dict[str, int] = {}
    seen: dict[object, ast.ChannelCapacity | ast.Quota | ast.Budget] = {}
    categories = {o.category for o in offers if o is not None and o.category is not None}
    for r in rules:
        what = ("budget",) if isinstance(r, ast.Budget) else (type(r), r.channel if isinstance(
            r, ast.ChannelCapacity) else r.category)
        if what in seen:
            word = ("the budget" if isinstance(r, ast.Budget) else f"the capacity of channel '{r.channel}'"
                    if isinstance(r, ast.ChannelCapacity) else f"the quota of category '{r.category}'")
            ck.error("E-ARB-002", f"{word} is given twice", r.span, "keep one",
                     related=((seen[what].span, "the first is here"),))
            continue
        seen[what] = r
        if isinstance(r, ast.ChannelCapacity):
            d = ck.space.get(r.channel)
            if not isinstance(d, ast.Channel):
                guess = ck.suggest(r.channel, ck.names_of(ast.Channel))
                ck.error("E-NAME-005", f"unknown channel '{r.channel}'", r.name_span,
                         f"did you mean '{guess}'?" if guess else
                         f"a capacity limits a declared channel: channel {r.channel} ...")
            elif (n := _count(ck, r.count, ("channel_capacity", r.channel), params, settings)) is not None:
                channels[r.channel] = n
                if not any(o is not None and r.channel in o.channels for o in offers):
                    ck.diags.warn("W-ARB-001", f"the capacity of channel '{r.channel}' limits nothing: no offer "
                                  "goes through it", r.span, f"list {r.channel} in an offer's channels, or remove "
                                  "the capacity")
        elif isinstance(r, ast.Quota):
            if r.category not in categories:
                guess = ck.suggest(r.category, Vocabulary(sorted(categories)))
                ck.error("E-ARB-004", f"no offer has category '{r.category}'", r.name_span,
                         f"did you mean '{guess}'?" if guess else
                         "a quota limits the offers of a category: give offers 'category "
                         f"{r.category}'")
            elif (n := _count(ck, r.count, ("quota", r.category), params, settings)) is not None:
                quotas[r.category] = n
        else:
            budget = _budget(ck, r, offers, attrs, params, settings)
            if budget is not None:
                out.update(budget)
    # Declaration order, so that every evaluator numbers them alike.
    out["channel_capacity"] = tuple((c, channels[c]) for c in sorted(channels, key=list(ck.space).index))
    out["quota"] = tuple((c, quotas[c]) for c in sorted(quotas))
    out["settings"] = tuple(settings)
    return out


def _count(ck: Checker, n: ast.Number | ast.Name, what: tuple[str, str], params: dict[str, ir.Param],
           settings: list[tuple[str, str, str]]) -> int | None:
    if isinstance(n, ast.Name):
        value = _param(ck, n, what, params, settings)
        return None if value is None else int(value)
    value = int(n.value)
    if value > INT64[1]:
        ck.error("E-TYPE-011", f"{offer_settings.constraint_words(*what)} is too large", n.span)
        return None
    return value


def _param(ck: Checker, node: ast.Name, what: tuple[str, str], params: dict[str, ir.Param],
           settings: list[tuple[str, str, str]]) -> int | float | None:
    """A constraint's number written as a param's name: the default's value,
    checked, and (kind, key, param) recorded in `settings`."""
    kind, key = what
    p = params.get(node.name)
    if p is None:
        if not isinstance(ck.space.get(node.name), ast.Param):
            guess = ck.suggest(node.name, ck.names_of(ast.Param))
            ck.error("E-NAME-001", f"unknown param '{node.name}'", node.span,
                     f"did you mean '{guess}'?" if guess else f"declare it: param {node.name}: "
                     f"{'float' if kind == 'budget' else 'int'} = ...")
        return None                 # a declared param with errors: its own are reported
    words = offer_settings.constraint_words(kind, key)
    if p.type not in offer_settings.CONSTRAINT_TYPES[kind]:
        want = "an int or a float" if kind == "budget" else "an int"
        ck.error("E-ARB-006", f"{words} needs {want} param; '{p.name}' is {p.type}", node.span,
                 "e.g. param spend: float = 50_000" if kind == "budget" else
                 "e.g. param max_calls: int = 3000", related=((p.span, f"'{p.name}' is declared here"),))
        return None
    why = offer_settings.constraint_problem(kind, p.default)
    if why is not None:
        ck.error("E-ARB-006", f"param '{p.name}' is {words}: {why}", node.span,
                 "change the param's default", related=((p.span, f"'{p.name}' is declared here"),))
        return None
    settings.append((kind, key, p.name))
    assert isinstance(p.default, (int, float))      # an int or float param's, not null (checked above)
    return p.default


def _budget(ck: Checker, r: ast.Budget, offers: list[ir.Offer | None], attrs: tuple[tuple[str, object], ...],
            params: dict[str, ir.Param], settings: list[tuple[str, str, str]]) -> dict[str, Any] | None:
    """`budget B cost offer.ATTR` (a constant per offer) or `budget B cost
    EXPR` (computed per customer: each offer's expression a hidden score)."""
    if isinstance(r.cost, ast.Name) and r.cost.name.startswith("offer."):
        return _constant_budget(ck, r, offers, attrs, params, settings)
    scores = _computed_costs(ck, r.cost, offers, attrs)
    if scores is None:
        return None
    budget = _amount(ck, r, params, settings)
    if budget is None:
        return None
    if too_fine(budget, [STEP]):
        ck.error("E-TYPE-011", "the budget needs more digits than a run can count with (its amount in "
                 "ten-thousandths, the step of a computed cost)", r.amount.span, "write a smaller budget")
        return None
    return {"budget": budget, "cost": (), "cost_attribute": None,
            "cost_scores": tuple((o, s.name) for o, s in scores), "cost_exprs": tuple(s for _, s in scores)}


def _amount(ck: Checker, r: ast.Budget, params: dict[str, ir.Param],
            settings: list[tuple[str, str, str]]) -> Fraction | None:
    if isinstance(r.amount, ast.Name):
        amount = _param(ck, r.amount, ("budget", ""), params, settings)
        return None if amount is None else exact(amount)
    return exact(r.amount.text)


def _computed_costs(ck: Checker, cost: ast.Expr, offers: list[ir.Offer | None],
                    attrs: tuple[tuple[str, object], ...]) -> list[tuple[str, ir.Score]] | None:
    """The cost expression checked in each offer that gives every attribute
    it reads (`offer.NAME` that offer's constant), as a hidden score per
    offer: every evaluator computes it as it computes a score, and the walks
    read it (LANGUAGE.md 3.11)."""
    types = dict(attrs)
    read: dict[str, Any] = {}
    for n in expr_walk.names(cost):
        if n.name.startswith("offer."):
            word = n.name[len("offer."):]
            if word not in types:
                _no_attribute(ck, word, attrs, n.span, f"give the offers it: attributes {{ {word}: 0.1 }}")
                return None
            read.setdefault(word, n)
    under = [o for o in offers if o is not None and set(read) <= {a for a, _ in o.attributes}]
    if not under and read:
        ck.error("E-ARB-005", "no offer gives every attribute the cost reads (" + ", ".join(read) + ")",
                 cost.span, "give one offer all of them, or compute the cost from fewer")
        return None
    out: list[tuple[str, ir.Score]] = []
    before = len(ck.diags.errors)
    checked: list[ir.Offer | None] = list(under) or [None]     # no offer at all: checked once for its errors
    for o in checked:
        ck.offer_attrs = None if o is None else (o.name, {a: ir.Literal(types[a], v)       # type: ignore[arg-type]
                                                          for a, v in o.attributes})
        x = ck.numeric(cost, "the budget's cost", "E-ARB-005")
        ck.offer_attrs = None
        if x is None or len(ck.diags.errors) > before:
            return None     # one offer's errors are every offer's: said once
        if o is not None:
            out.append((o.name, ir.Score(COST + o.name, None, x, cost.span)))
    return out


def _no_attribute(ck: Checker, name: str, attrs: tuple[tuple[str, object], ...], span: Span | None,
                  hint: str) -> None:
    guess = ck.suggest(name, Vocabulary([a for a, _ in attrs]))
    ck.error("E-ARB-005", f"no offer has attribute '{name}'", span, f"did you mean 'offer.{guess}'?" if guess else hint)


def _constant_budget(ck: Checker, r: ast.Budget, offers: list[ir.Offer | None],
                     attrs: tuple[tuple[str, object], ...], params: dict[str, ir.Param],
                     settings: list[tuple[str, str, str]]) -> dict[str, Any] | None:
    assert isinstance(r.cost, ast.Name)
    name = r.cost.name[len("offer."):]
    types = dict(attrs)
    if "." in name:
        ck.error("E-ARB-005", f"'{r.cost.name}' is not an offer attribute", r.cost_span,
                 "a budget reads each offer's cost from one of its attributes: cost offer.NAME")
        return None
    if name not in types:
        _no_attribute(ck, name, attrs, r.cost_span, f"give the offers a cost: attributes {{ {name}: 12.5 }}")
        return None
    if types[name] not in (I, F):
        ck.error("E-ARB-005", f"attribute '{name}' is not a number", r.cost_span,
                        "a cost is a number: attributes { cost: 12.5 }")
        return None
    budget = _amount(ck, r, params, settings)
    if budget is None:
        return None
    costs: list[tuple[str, Fraction]] = []
    for o in offers:
        if o is None:
            continue
        value = dict(o.attributes).get(name)
        if not isinstance(value, (int, float)):
            continue
        c = exact(value)
        if c < 0:
            ck.error("E-ARB-005", f"offer '{o.name}' costs {value}, less than nothing", o.span,
                            "a cost is 0 or more")
            return None
        costs.append((o.name, c))
    if too_fine(budget, [c for _, c in costs]):
        ck.error("E-TYPE-011", "the budget needs more digits than a run can count with "
                        "(its amount times the smallest unit of the costs)", r.amount.span,
                        "round the costs to fewer decimals")
        return None
    return {"budget": budget, "cost": tuple(costs), "cost_attribute": name}
