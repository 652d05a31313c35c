"""The language's value types (LANGUAGE.md section 2).

Nullability belongs to input fields, not to types: any expression may be
null at run time, so the checker tracks only the five value types.
"""
from __future__ import annotations

from enum import StrEnum


class Type(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRING = "string"
    DATE = "date"

    def __str__(self) -> str:
        return self.value

    @property
    def numeric(self) -> bool:
        return self in (Type.INT, Type.FLOAT)


def parse_type(name: str) -> Type | None:
    try:
        return Type(name)
    except ValueError:
        return None
