"""Param overrides: {name: value} from Python or the command line -> every
declared param's value, of its declared type; or pol.ParamError naming the
param and saying what was expected.

Accepted values (INTERFACE.md), per declared type:

    int     an int (not a bool), or text such as "45", "-3", "1_000_000"
    float   an int or a float, or text such as "0.8", "1e6", "80%"; finite only
    bool    a bool, or the text "true" / "false" (any case)
    string  a str, taken as it is
    date    a datetime.date (a datetime gives its date), or "YYYY-MM-DD"
    timestamp  a datetime (an aware one: its wall-clock time), a date (midnight), or
            "YYYY-MM-DDTHH:MM[:SS[.ffffff]]"
    list<int>, list<string>
            a list or tuple of the elements, each as above (ints only as ints,
            strings only as str), or the text of a JSON array: '["A", "B"]',
            '[1, 2]', '[]'. Never null, and no null inside: [] is "none".

From the command line every value arrives as text, hence the text forms.
Numbers and dates in text are written with the ASCII digits 0-9, as in a
policy: Python's int() and float() would also read "１２" (full-width).
`None`, and for the non-string types the text "null", override a param with
null: `null` is a literal of every type, so a default may be null too.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import numbers
import re
import unicodedata

from pol.compiler import ir, offer_settings
from pol.compiler.types import Type
from pol.errors import ParamError

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
_BOOLS = {"true": True, "false": False}
# ASCII digits only: \d, int() and float() also take full-width and other
# scripts' digits ("１２" is 12 to Python), which a policy does not.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INT_TEXT = re.compile(r"[+-]?[0-9]+(_[0-9]+)*")
_EXPECTED = {
    Type.INT: "an int (e.g. 45)",
    Type.FLOAT: "a number (e.g. 0.8, 1e6 or 80%)",
    Type.BOOL: "true or false",
    Type.STRING: "a string",
    Type.DATE: "a date written YYYY-MM-DD (e.g. 2026-11-01)",
    Type.TIMESTAMP: "a timestamp written YYYY-MM-DDTHH:MM:SS (e.g. 2026-11-01T22:00:00)",
    Type.LIST_INT: 'a list of ints (from the command line a JSON array, e.g. [1, 2])',
    Type.LIST_STRING: 'a list of strings (from the command line a JSON array, e.g. ["A", "B"])',
}


def _refuse(p: ir.Param, value, why: str | None = None) -> ParamError:
    shown = repr(value) if not isinstance(value, str) else f'"{value}"'
    if why is None and isinstance(value, str):
        why = _digits_hint(value)
    message = f"param '{p.name}' is {p.type}: expected {_EXPECTED[p.type]}, got {shown}"
    return ParamError(message + (f" ({why})" if why else ""), param=p.name)


def _convert_list(p: ir.Param, value) -> tuple:
    t = p.type
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except ValueError:
            raise _refuse(p, value) from None
    if not isinstance(items, (list, tuple)):
        raise _refuse(p, value, "an empty list is []" if value is None else None)
    out = []
    for k, v in enumerate(items):
        ok = isinstance(v, str) if t.element == Type.STRING else \
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and I64_MIN <= v <= I64_MAX
        if not ok:
            raise _refuse(p, value, f"element {k + 1} is {v!r}" + (": no null in a list" if v is None else ""))
        out.append(v if t.element == Type.STRING else int(v))
    return tuple(out)


def convert(p: ir.Param, value):
    """One override converted to `p`'s type, or ParamError."""
    t = p.type
    if t.element is not None:
        return _convert_list(p, value)
    if value is None:
        return None
    if isinstance(value, str) and t != Type.STRING and value.strip().lower() == "null":
        return None
    if t == Type.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise _refuse(p, value)
    if t == Type.INT:
        if isinstance(value, bool):
            raise _refuse(p, value)
        if isinstance(value, str):
            text = value.strip()
            if not _INT_TEXT.fullmatch(text):
                raise _refuse(p, value)
            number = int(text.replace("_", ""))
        elif isinstance(value, numbers.Integral):
            number = int(value)
        else:
            raise _refuse(p, value)
        if not I64_MIN <= number <= I64_MAX:
            raise _refuse(p, value, "ints are 64-bit")
        return number
    if t == Type.FLOAT:
        if isinstance(value, bool):
            raise _refuse(p, value)
        try:
            if isinstance(value, str):
                text = value.strip().replace("_", "")
                if not text.isascii():
                    raise _refuse(p, value)
                # float() also reads "nan" and "infinity"; the finiteness check refuses them
                number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            elif isinstance(value, numbers.Real):
                number = float(value)
            else:
                raise _refuse(p, value)
        except (ValueError, OverflowError):
            raise _refuse(p, value) from None
        if not math.isfinite(number):
            raise _refuse(p, value, "floats must be finite")
        return number
    if t == Type.DATE:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                raise _refuse(p, value, "no such day") from None
        raise _refuse(p, value)
    if t == Type.TIMESTAMP:
        from pol.api.records import iso_timestamp, wall_clock
        w = iso_timestamp(value.strip()) if isinstance(value, str) else wall_clock(value)
        if w is None:
            raise _refuse(p, value)
        return w
    if isinstance(value, str):
        return value
    raise _refuse(p, value)


def _digits_hint(text: str) -> str | None:
    foreign = [c for c in text if not c.isascii() and unicodedata.decimal(c, None) is not None]
    if not foreign:
        return None
    if all("\uff10" <= c <= "\uff19" for c in foreign):
        return "this is a full-width digit; use 0-9"
    return "write numbers with the digits 0-9"


def resolve_params(program: ir.Program, overrides: dict | None) -> dict:
    """Every declared param's value: its default, or the override converted.
    Applying it to its own result changes nothing."""
    declared = {p.name: p for p in program.params}
    values = {p.name: p.default for p in program.params}
    for name, value in (overrides or {}).items():
        if name not in declared:
            close = difflib.get_close_matches(str(name), list(declared), n=1)
            if close:
                known = f"did you mean '{close[0]}'?"
            elif declared:
                known = "the policy declares: " + ", ".join(declared)
            else:
                known = "the policy declares no params"
            raise ParamError(f"unknown param '{name}'; {known}", param=str(name))
        values[name] = convert(declared[name], value)
    for o in program.offers:            # a capacity, holdout or window from a param
        for prop, name in o.settings:
            why = offer_settings.problem(prop, values[name])
            if why is not None:
                raise ParamError(f"param '{name}' is {offer_settings.WORDS[prop]} of offer '{o.name}': {why}",
                                 param=name)
    _check_constraints(program.arbitrate, values)
    return values


def _check_constraints(a: ir.Arbitrate, values: dict) -> None:
    """A run-wide constraint read from a param (LANGUAGE.md 3.11) judged by
    the checker's rule for its default."""
    from pol.compiler.costs import unit_costs
    from pol.compiler.frontend.constraints import too_fine
    for kind, key, name in a.settings:
        why = offer_settings.constraint_problem(kind, values[name])
        if why is None and kind == "budget" and too_fine(offer_settings.exact_amount(values[name]), unit_costs(a)):
            why = f"{values[name]} needs more digits than a run can count with"
        if why is not None:
            raise ParamError(f"param '{name}' is {offer_settings.constraint_words(kind, key)}: {why}", param=name)
