"""Offer settings that come from params (LANGUAGE.md section 3.10):
`capacity max_calls`, `holdout control_share`, `valid from start to stop`;
and the arbitrate block's run-wide constraints (3.11): `capacity call
max_calls`, `quota voice max_voice`, `budget spend cost offer.cost`.

The checker records, per offer, which property reads which param
(`ir.Offer.settings`) and puts the default's value in the property itself,
so a run with the defaults needs nothing more. A run with overrides gets the
program with each such property set from the run's values (`with_params`), before
anything reads an offer's capacity, holdout or window. The same rule judges a
default at check time and an override at run time (`problem`).

    KINDS                          property -> the param type it needs
    problem(prop, value)           -> why the value cannot be that property, or None
    holdout_bp(share)              a share 0..1 -> basis points, rounded up
    constraint_problem(kind, value) -> the same for a run-wide constraint
    with_params(program, values)   -> the program with its offers' settings and
                                      constraints from `values`
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

from pol.compiler import ir
from pol.compiler.types import Type

# (kind, key, param) of ir.Arbitrate.settings: kind -> the param types it takes
CONSTRAINT_TYPES = {"channel_capacity": (Type.INT,), "quota": (Type.INT,), "budget": (Type.INT, Type.FLOAT)}

KINDS = {"capacity": Type.INT, "holdout": Type.FLOAT, "valid_from": Type.DATE, "valid_to": Type.DATE}
WORDS = {"capacity": "the capacity", "holdout": "the holdout", "valid_from": "the first day",
         "valid_to": "the last day"}


def problem(prop: str, value: Any) -> str | None:
    """Why `value` cannot be the property, or None. A null date leaves that
    end of the window open; a capacity or holdout needs a value."""
    if prop == "capacity":
        if value is None:
            return "a capacity needs a value, not null"
        if value < 0:
            return f"a capacity is 0 or more, not {value}"
    if prop == "holdout":
        if value is None:
            return "a holdout needs a value, not null"
        if not 0 <= value <= 1:
            return f"a holdout is a share from 0% to 100%, not {(Decimal(repr(value)) * 100).normalize():f}%"
    return None


def constraint_words(kind: str, key: str) -> str:
    return {"channel_capacity": f"the capacity of channel '{key}'", "quota": f"the quota of category '{key}'",
            "budget": "the budget"}[kind]


def constraint_problem(kind: str, value: Any) -> str | None:
    """Why `value` cannot be a run-wide constraint's number, or None."""
    word = "budget" if kind == "budget" else "capacity" if kind == "channel_capacity" else "quota"
    if value is None:
        return f"a {word} needs a value, not null"
    if value < 0:
        return f"a {word} is 0 or more, not {value}"
    return None


def holdout_bp(share: Decimal) -> int:
    """A share from 0 to 1 -> the hashes h with h mod 10000 < bp that are
    controls; rounding up keeps exactly those for a share of many decimals."""
    return int((share * 10000).to_integral_value(rounding=ROUND_CEILING))


def value_of(prop: str, value: Any) -> Any:
    """A param's value as the ir.Offer field holds it."""
    if prop == "holdout":
        return holdout_bp(Decimal(repr(float(value))))
    return value


_FIELD = {"capacity": "capacity", "holdout": "holdout_bp", "valid_from": "valid_from", "valid_to": "valid_to"}


def with_params(program: ir.Program, values: Mapping[str, Any]) -> ir.Program:
    """The program whose offers take their param settings from `values`
    (every param's value, checked); the program itself when nothing changes."""
    offers = []
    changed = False
    for o in program.offers:
        if o.settings:
            new = {_FIELD[prop]: value_of(prop, values[name]) for prop, name in o.settings}
            if any(getattr(o, k) != v for k, v in new.items()):
                o = dataclasses.replace(o, **new)
                changed = True
        offers.append(o)
    arbitrate = _constraints(program.arbitrate, values)
    if arbitrate is not program.arbitrate:
        return dataclasses.replace(program, offers=tuple(offers), arbitrate=arbitrate)
    return dataclasses.replace(program, offers=tuple(offers)) if changed else program


def _constraints(a: ir.Arbitrate, values: Mapping[str, Any]) -> ir.Arbitrate:
    """The arbitrate block with its constraints read from params set from `values`."""
    if not a.settings:
        return a
    channels, quotas, budget = dict(a.channel_capacity), dict(a.quota), a.budget
    for kind, key, name in a.settings:
        if kind == "channel_capacity":
            channels[key] = int(values[name])
        elif kind == "quota":
            quotas[key] = int(values[name])
        else:
            budget = exact_amount(values[name])
    new = dataclasses.replace(a, channel_capacity=tuple(channels.items()), quota=tuple(quotas.items()),
                              budget=budget)
    return a if new == a else new


def exact_amount(value: int | float) -> Fraction:
    """A budget's value as the decimal it reads as (0.1 is 1/10, not the
    binary float nearest it), as a written budget is."""
    return Fraction(value) if isinstance(value, int) else Fraction(repr(float(value)))


def has_campaigns(program: ir.Program) -> bool:
    """Whether the assignments say each offer's campaign: some offer comes from
    a file of another campaign than the program's own. (Here, not beside the
    assignment columns, so that a decision's imports need no pyarrow.)"""
    return any(o.campaign not in (None, program.name) for o in program.offers)
