"""Param overrides: {name: value} from Python or the command line -> values
of the declared types, or pol.ParamError naming the param."""
from __future__ import annotations

import datetime as dt

from pol.compiler import ir
from pol.compiler.types import Type
from pol.errors import ParamError

_BOOLS = {"true": True, "false": False}


def convert(p: ir.Param, value):
    t = p.type
    bad = ParamError(f"param '{p.name}' is {t}; cannot use {value!r}", param=p.name)
    if value is None:
        return None
    if t == Type.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
        raise bad
    if t == Type.INT:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            if not -(2 ** 63) <= value < 2 ** 63:
                raise ParamError(f"param '{p.name}' is int; {value} does not fit in 64 bits", param=p.name)
            return value
        if isinstance(value, str):
            try:
                return convert(p, int(value.strip().replace("_", "")))
            except ValueError:
                raise bad from None
        raise bad
    if t == Type.FLOAT:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            value = float(value)
        elif isinstance(value, str):
            try:
                text = value.strip().replace("_", "")
                value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            except ValueError:
                raise bad from None
        else:
            raise bad
        if value != value or value in (float("inf"), float("-inf")):
            raise ParamError(f"param '{p.name}' must be a finite number", param=p.name)
        return value
    if t == Type.DATE:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ParamError(f"param '{p.name}' is a date; {value!r} is not YYYY-MM-DD", param=p.name) from None
        raise bad
    if isinstance(value, str):
        return value
    raise bad


def resolve_params(program: ir.Program, overrides: dict | None) -> dict:
    """Every declared param's value: its default, or the override converted."""
    declared = {p.name: p for p in program.params}
    values = {p.name: p.default for p in program.params}
    for name, value in (overrides or {}).items():
        if name not in declared:
            import difflib
            close = difflib.get_close_matches(name, list(declared), n=1)
            known = f"did you mean '{close[0]}'?" if close else (
                "the policy declares: " + ", ".join(declared) if declared else "the policy declares no params")
            raise ParamError(f"unknown param '{name}'; {known}", param=name)
        values[name] = convert(declared[name], value)
    return values
