"""The operators of the IR: each one's name, the argument types it takes and
the type it gives (OPS), and the check that an evaluator has a rule for
every one of them (rule_table).

An ir.Call names one of OPS (compiler/ir.py says which sugar becomes which
operator). Every evaluator holds its rules in a table by operator name and
builds its lookup with rule_table, which refuses, when the evaluator's module
is imported, a table that misses an operator or names one that does not
exist: the reference rules (compiler/ops.py), the vectorized evaluator's
(engine/evaluation/vector_ops.py) and kernel code generation's
(compiler/backend/kernel_ops.py).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from pol.compiler.types import Type

I, F, B, S, D, TS = Type.INT, Type.FLOAT, Type.BOOL, Type.STRING, Type.DATE, Type.TIMESTAMP
LI, LS = Type.LIST_INT, Type.LIST_STRING

# op -> {argument types: result type}. Variadic ops (min, max, coalesce, and,
# or) list the one-argument form; all their arguments share that type.
OPS: dict[str, dict[tuple[Type, ...], Type]] = {
    # arithmetic: both operands of one numeric type, except date arithmetic
    "add": {(I, I): I, (F, F): F, (D, I): D},
    "sub": {(I, I): I, (F, F): F, (D, I): D, (D, D): I},
    "mul": {(I, I): I, (F, F): F},
    "div": {(F, F): F},                      # `/` always float; ints are converted
    "mod": {(I, I): I, (F, F): F},           # floored remainder, sign of the divisor
    "neg": {(I,): I, (F,): F},
    "to_float": {(I,): F},
    # comparisons (operands of one type; strings and bools only eq/ne)
    "eq": {(I, I): B, (F, F): B, (B, B): B, (S, S): B, (D, D): B, (TS, TS): B},
    "ne": {(I, I): B, (F, F): B, (B, B): B, (S, S): B, (D, D): B, (TS, TS): B},
    "lt": {(I, I): B, (F, F): B, (D, D): B, (TS, TS): B},
    "le": {(I, I): B, (F, F): B, (D, D): B, (TS, TS): B},
    "gt": {(I, I): B, (F, F): B, (D, D): B, (TS, TS): B},
    "ge": {(I, I): B, (F, F): B, (D, D): B, (TS, TS): B},
    "between": {(I, I, I): B, (F, F, F): B, (D, D, D): B, (TS, TS, TS): B},
    # three-valued logic; a chain `a and b and c` is one call (variadic, >= 2 arguments)
    "and": {(B,): B},
    "or": {(B,): B},
    "not": {(B,): B},
    # functions (LANGUAGE.md section 4)
    "abs": {(I,): I, (F,): F},
    "floor": {(I,): I, (F,): F},
    "ceil": {(I,): I, (F,): F},
    "round": {(I, I): I, (F, I): F},         # second argument: an int Literal
    "min": {(I,): I, (F,): F, (D,): D},      # variadic, >= 1 argument
    "max": {(I,): I, (F,): F, (D,): D},
    "clamp": {(I, I, I): I, (F, F, F): F, (D, D, D): D},
    "sqrt": {(F,): F},
    "exp": {(F,): F},
    "log": {(F,): F},
    "pow": {(F, F): F},
    "coalesce": {(I,): I, (F,): F, (B,): B, (S,): S, (D,): D, (TS,): TS},  # variadic
    "year": {(D,): I},
    "month": {(D,): I},
    "day": {(D,): I},
    "make_date": {(I, I, I): D},             # date(y, m, d): null when no such day
    "add_months": {(D, I): D},               # the day clamped to the month's last
    "weekday": {(D,): I},                    # 1 Monday .. 7 Sunday
    "day_of_year": {(D,): I},
    "anniversary": {(D, D): I},              # (d, Today): days to d's next anniversary
    "hour": {(TS,): I},                      # 0 .. 23
    "minute": {(TS,): I},                    # 0 .. 59
    "ts_date": {(TS,): D},                   # date(ts): the day of a timestamp
    "starts_with": {(S, S): B},              # second argument: a string Literal
    "ends_with": {(S, S): B},
    "contains": {(S, S): B},
    "length": {(S,): I},
    # `channels by NAME then ...`: the position of the string among the
    # offer's channels (a string Literal of the names joined by ","), -1 if none
    "channel_rank": {(S, S): I},
    "upper": {(S,): S},
    "lower": {(S,): S},
    "trim": {(S,): S},
    "substring": {(S, I): S, (S, I, I): S},  # start and count: int Literals
    "concat": {(S,): S},                     # variadic, >= 2; one argument computed, the others Literals
    # `x in LIST` (compiler/frontend/lists.py): the second argument is always a
    # list param's ParamRef, the only place a list is read
    "member": {(I, LI): B, (S, LS): B},
    # list fields (LANGUAGE.md 4.9): `x in FIELD`, `count(FIELD)`; the list
    # argument is always a list field's FieldRef
    "list_has": {(I, LI): B, (S, LS): B},
    "list_count": {(LI,): I, (LS,): I},
}

VARIADIC = frozenset({"min", "max", "coalesce", "and", "or", "concat"})


def op_result(op: str, arg_types: tuple[Type, ...]) -> Type | None:
    """The result type of `op` on these argument types, or None if they do not fit."""
    table = OPS.get(op)
    if table is None:
        return None
    if op in VARIADIC:
        if not arg_types or any(t != arg_types[0] for t in arg_types):
            return None
        return table.get((arg_types[0],))
    return table.get(tuple(arg_types))


R = TypeVar("R")


def rule_table(evaluator: str, rules: Mapping[str, R]) -> Callable[[str], R]:
    """An evaluator's operator rules, checked against OPS when its module is
    imported: an operator without a rule (or a rule for no operator) stops
    the import, naming both, rather than failing on the first policy that
    uses it. Returns the lookup, which names the evaluator for an unknown op."""
    missing = sorted(set(OPS) - set(rules))
    unknown = sorted(set(rules) - set(OPS))
    if missing or unknown:
        raise TypeError(f"{evaluator}: operators without a rule {missing}, rules for no operator {unknown} "
                        "(compiler/signatures.py OPS lists every operator)")

    def rule(op: str) -> R:
        try:
            return rules[op]
        except KeyError:
            raise LookupError(f"{evaluator} has no rule for operator {op!r}: "
                              "not an operator of compiler/signatures.py OPS") from None

    return rule
