"""The language's value types (LANGUAGE.md section 2).

Nullability belongs to input fields, not to types: any expression may be
null at run time, so the checker tracks only the six value types.
"""
from __future__ import annotations

import datetime as dt
from enum import StrEnum


class Type(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    DATE = "date"
    TIMESTAMP = "timestamp"     # a wall-clock date and time, to the microsecond (LANGUAGE.md 2)
    # Lists are values of params (LANGUAGE.md 3.4), read by `x in NAME` alone
    # (the `member` operator), and of input fields (3.3), read by `list_has`,
    # `list_count`, `any`/`all` (ir.Quantifier) and `is null`: no other
    # operator sees a list.
    LIST_INT = "list<int>"
    LIST_STRING = "list<string>"

    def __str__(self) -> str:
        return self.value

    @property
    def numeric(self) -> bool:
        return self in (Type.INT, Type.FLOAT)

    @property
    def element(self) -> Type | None:
        """A list type's element type; None for a value type."""
        return _ELEMENTS.get(self)


_ELEMENTS = {Type.LIST_INT: Type.INT, Type.LIST_STRING: Type.STRING}
LIST_OF = {e: t for t, e in _ELEMENTS.items()}


def parse_type(name: str) -> Type | None:
    try:
        return Type(name)
    except ValueError:
        return None


_EPOCH = dt.datetime(1970, 1, 1)
MICROS_PER_DAY = 86_400_000_000


def micros(t: dt.datetime) -> int:
    """A timestamp as kernels hold it: microseconds since 1970-01-01T00:00,
    wall-clock time (LANGUAGE.md section 2)."""
    d = t - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds
