"""The population as a pyarrow.dataset filter (LANGUAGE.md 3.14), for
pruning alone: hive partitions and Parquet row groups whose statistics
prove that no row can be in the population are not read.

The filter is weaker than the population, never stronger: every row the
policy would take passes it. A part that cannot be translated with that
guarantee is left out of an `and` (what is left is weaker still) and makes
an `or` untranslatable. Translated: comparisons of a field with a literal
or a param, `between`, `in` lists and list params, `is null` (not of
floats: pol reads NaN as null, pyarrow does not), bool fields, and `and`,
`or`, lets and segments read through. Rows read are evaluated by the exact
condition afterwards (engine/evaluation/population.py), so a filter that is
too weak costs time, never a row. Nulls agree: a comparison with a null
operand is null in both (a row pyarrow drops is one pol leaves out), and
pol's NaN (a null) fails every comparison pyarrow's NaN fails.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler import ir
from pol.compiler.types import Type

_CMP: dict[str, Callable] = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
                             "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
_FLIP = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}
_SCALAR = {Type.INT: pa.int64(), Type.FLOAT: pa.float64(), Type.BOOL: pa.bool_(), Type.STRING: pa.string(),
           Type.DATE: pa.date32()}


def population_filter(program: ir.Program, params: Mapping[str, object],
                      schema: pa.Schema) -> pc.Expression | None:
    """The filter for files of `schema` (partition fields included), or None
    when nothing of the population can be pushed down."""
    if program.population is None:
        return None
    bodies = {d.name: d.expr for d in program.lets + program.segments}
    return _Translate(bodies, params, schema).expr(program.population.cond)


class _Translate:
    def __init__(self, bodies: Mapping[str, ir.Expr], params: Mapping[str, object], schema: pa.Schema):
        self.bodies, self.params, self.schema = bodies, params, schema

    def expr(self, e: ir.Expr) -> pc.Expression | None:
        if isinstance(e, ir.DeclRef):
            body = self.bodies.get(e.name)
            return self.expr(body) if body is not None and e.type == Type.BOOL else None
        if isinstance(e, ir.FieldRef):          # a bool field as a condition
            return pc.field(e.name) == True if self._fits(e) else None     # noqa: E712 (an Arrow expression)
        if isinstance(e, ir.InSet):
            if not isinstance(e.operand, ir.FieldRef) or not self._fits(e.operand) or not e.values:
                return None
            found = pc.field(e.operand.name).isin(self._array(e.operand.type, e.values))
            return ~found if e.negated else found
        if isinstance(e, ir.IsNull):
            if not isinstance(e.operand, ir.FieldRef) or not self._fits(e.operand) or e.operand.type == Type.FLOAT:
                return None
            isnull = pc.field(e.operand.name).is_null()
            return ~isnull if e.negated else isnull
        if not isinstance(e, ir.Call):
            return None
        if e.op == "and":
            parts = [p for p in (self.expr(a) for a in e.args) if p is not None]
            return _join(parts, lambda a, b: a & b) if parts else None
        if e.op == "or":
            parts = [self.expr(a) for a in e.args]
            return None if any(p is None for p in parts) else _join(parts, lambda a, b: a | b)
        if e.op in _CMP:
            return self._compare(e.op, *e.args)
        if e.op == "between":
            lo, hi = self._compare("ge", e.args[0], e.args[1]), self._compare("le", e.args[0], e.args[2])
            return lo & hi if lo is not None and hi is not None else lo if lo is not None else hi
        if e.op == "member" and isinstance(e.args[0], ir.FieldRef) and isinstance(e.args[1], ir.ParamRef):
            values = self.params.get(e.args[1].name)
            if not self._fits(e.args[0]) or not values:
                return None
            return pc.field(e.args[0].name).isin(self._array(e.args[0].type, values))
        return None

    def _compare(self, op: str, a: ir.Expr, b: ir.Expr) -> pc.Expression | None:
        if not isinstance(a, ir.FieldRef):
            a, b, op = b, a, _FLIP[op]
        if not isinstance(a, ir.FieldRef) or not self._fits(a):
            return None
        value = self._constant(b)
        if value is None:
            return None
        return _CMP[op](pc.field(a.name), pc.scalar(pa.scalar(value, _SCALAR[a.type])))

    def _constant(self, e: ir.Expr):
        if isinstance(e, ir.Literal):
            v = e.value
        elif isinstance(e, ir.ParamRef):
            v = self.params.get(e.name)
        else:
            return None
        if e.type not in _SCALAR or isinstance(v, (list, tuple)):
            return None
        return v if not isinstance(v, dt.datetime) else None

    def _array(self, t: Type, values) -> pa.Array:
        return pa.array(list(values), _SCALAR[t])

    def _fits(self, f: ir.FieldRef) -> bool:
        """Whether the files hold the field as a type the comparison reads
        as pol does (a decimal, a timestamp read as a date ... are left to
        the exact condition)."""
        if f.type not in _SCALAR or f.name not in self.schema.names:
            return False
        at = self.schema.field(f.name).type
        if pa.types.is_dictionary(at):
            at = at.value_type
        return {Type.INT: pa.types.is_integer, Type.FLOAT: pa.types.is_floating, Type.BOOL: pa.types.is_boolean,
                Type.STRING: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
                Type.DATE: pa.types.is_date32}[f.type](at)


def _join(parts: list, op: Callable) -> pc.Expression:
    out = parts[0]
    for p in parts[1:]:
        out = op(out, p)
    return out
