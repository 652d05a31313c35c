"""Offer settings that come from params (LANGUAGE.md section 3.10):
`capacity max_calls`, `holdout control_share`, `valid from start to stop`.

The checker records, per offer, which property reads which param
(`ir.Offer.settings`) and puts the default's value in the property itself,
so a run with the defaults needs nothing more. A run with overrides gets the
program with each such property set from the run's values (`settle`), before
anything reads an offer's capacity, holdout or window. The same rule judges a
default at check time and an override at run time (`problem`).

    KINDS                          property -> the param type it needs
    problem(prop, value)           -> why the value cannot be that property, or None
    holdout_bp(share)              a share 0..1 -> basis points, rounded up
    settle(program, values)        -> the program with its offers' settings from `values`
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal
from typing import Any

from pol.compiler import ir
from pol.compiler.types import Type

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
    return dataclasses.replace(program, offers=tuple(offers)) if changed else program
