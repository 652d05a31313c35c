"""Synthetic customers for any policy (`pol gen N OUT --policy POLICY`): a
checked ir.Program -> an Arrow table with a column for every field of its
input block, in its order, whose values make the policy's conditions true
for some customers and false for others.

What the policy compares a field with decides its values (`hints`):

* every literal a field is compared with (==, !=, <, <=, >, >=, between,
  in), a param's default standing for the param, looking through lets,
  `to_float` and arithmetic with a constant (`let ratio = x / 10` compared
  with 0.5 gives 5 for x); `days_since(d) > 30` (and days_until,
  `d - today`) compares the date d with as_of - 30;
  starts_with / ends_with / contains give texts that hold the literal;
* numbers: half of them at a literal or one step either side of it (one for
  an int, 5% for a float), half spread over the range of the literals and
  half as much again on each side; never negative unless the policy compares
  with a negative number; floats have two decimals;
* strings: 85% one of the literals (or a text built on one), the rest
  other texts; without literals, a few texts named after the field;
* dates: like numbers, by days; without literals, within two years before
  the as-of date;
* bools: true or false, even odds;
* a nullable field is null in about 5% of rows, another field never; the
  key is unique (1..N, or K0000001... for a string key).

The same (program, N, seed, as_of) always gives the same table. A new type
adds a generator to GENERATORS and its Arrow type to ARROW.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler import ir
from pol.compiler.frontend.lint import expressions
from pol.compiler.types import MICROS_PER_DAY, Type, micros
from pol.io.columns import ARROW

NULL_SHARE = 0.05
LITERAL_SHARE = 0.85            # strings drawn from the policy's literals
_EPOCH = dt.date(1970, 1, 1)


@dataclass
class Hints:
    """What the policy compares one field with."""
    values: list = field(default_factory=list)          # numbers, strings, dates
    patterns: list = field(default_factory=list)        # (kind, text): "starts_with", "ends_with", "contains"


# ---------------------------------------------------------------- reading the policy

def hints(program: ir.Program, as_of: dt.date) -> dict[str, Hints]:
    """field name -> what the policy compares it with."""
    lets = {d.name: d.expr for d in program.lets}
    params = {p.name: p.default for p in program.params}
    out: dict[str, Hints] = defaultdict(Hints)

    def constant(e):
        """The value of a literal, a param (its default) or a negated one; None if not one."""
        while isinstance(e, ir.Call) and e.op == "to_float":
            e = e.args[0]
        if isinstance(e, ir.Literal):
            return e.value
        if isinstance(e, ir.ParamRef):
            return params.get(e.name)
        if isinstance(e, ir.Call) and e.op == "neg":
            v = constant(e.args[0])
            return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else None
        return None

    def target(e, seen=()):
        """(field, how a compared value maps to it) for a field, a let over one, or days since/until a date."""
        while isinstance(e, ir.Call) and e.op == "to_float":
            e = e.args[0]
        if isinstance(e, ir.FieldRef):
            return e.name, lambda v: v
        if isinstance(e, ir.DeclRef) and e.kind == "let" and e.name in lets and e.name not in seen:
            return target(lets[e.name], seen + (e.name,))
        if isinstance(e, ir.Call) and e.op == "sub" and len(e.args) == 2:
            a, b = e.args
            if isinstance(a, ir.Today) and isinstance(b, ir.FieldRef) and b.type == Type.DATE:
                return b.name, lambda v: _days(as_of, -v)           # days since d
            if isinstance(b, ir.Today) and isinstance(a, ir.FieldRef) and a.type == Type.DATE:
                return a.name, lambda v: _days(as_of, v)            # days until d
        if isinstance(e, ir.Call) and e.op in _INVERSE and len(e.args) == 2 and e.type in (Type.INT, Type.FLOAT):
            # x + c, c * x, x / c ...: the value of x that gives v
            for side in (0, 1):
                c = constant(e.args[1 - side])
                inner = target(e.args[side], seen) if _number(c) else None
                if inner is not None and (e.op, side) in _INVERSE[e.op]:
                    name, convert = inner
                    undo = _INVERSE[e.op][(e.op, side)]
                    return name, lambda v, undo=undo, c=c, convert=convert: convert(undo(v, c))
        return None

    def note(e, value):
        found = target(e)
        if found is None or value is None:
            return
        name, convert = found
        try:
            v = convert(value)
        except (TypeError, OverflowError, ValueError):
            return
        if v is not None:
            out[name].values.append(v)

    for _, root in expressions(program):
        for node in ir.walk(root):
            if isinstance(node, ir.Call) and node.op in ("eq", "ne", "lt", "le", "gt", "ge"):
                a, b = node.args
                note(a, constant(b))
                note(b, constant(a))
            elif isinstance(node, ir.Call) and node.op == "between":
                note(node.args[0], constant(node.args[1]))
                note(node.args[0], constant(node.args[2]))
            elif isinstance(node, ir.InSet):
                for v in node.values:
                    note(node.operand, v)
            elif isinstance(node, ir.Call) and node.op == "list_has":     # "5G" in tags: an element to hold
                note(node.args[1], constant(node.args[0]))
            elif isinstance(node, ir.Quantifier):       # any(tags, it == "5G" ...): the values it is compared with
                for x in ir.walk(node.cond):
                    if isinstance(x, ir.Call) and x.op in ("eq", "ne", "lt", "le", "gt", "ge"):
                        for a, b in (x.args, reversed(x.args)):
                            if isinstance(a, ir.Element) and constant(b) is not None:
                                out[node.source.name].values.append(constant(b))
                    elif isinstance(x, ir.Call) and x.op in ("starts_with", "ends_with", "contains") \
                            and isinstance(x.args[0], ir.Element) and isinstance(constant(x.args[1]), str):
                        out[node.source.name].patterns.append((x.op, constant(x.args[1])))
            elif isinstance(node, ir.Call) and node.op == "channel_rank":   # channels by NAME: the offer's channels
                for v in str(constant(node.args[1])).split(","):
                    note(node.args[0], v)
            elif isinstance(node, ir.Call) and node.op == "member":     # x in LIST_PARAM: its default's values
                for v in constant(node.args[1]) or ():
                    note(node.args[0], v)
            elif isinstance(node, ir.Call) and node.op in ("starts_with", "ends_with", "contains"):
                found = target(node.args[0])
                text = constant(node.args[1])
                if found is not None and isinstance(text, str):
                    out[found[0]].patterns.append((node.op, text))
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# op -> {(op, side of x): the x that gives the value v with the constant c}
_INVERSE = {
    "add": {("add", 0): lambda v, c: v - c, ("add", 1): lambda v, c: v - c},
    "sub": {("sub", 0): lambda v, c: v + c, ("sub", 1): lambda v, c: c - v},
    "mul": {("mul", 0): lambda v, c: v / c if c else None, ("mul", 1): lambda v, c: v / c if c else None},
    "div": {("div", 0): lambda v, c: v * c},
}


def _days(as_of: dt.date, n) -> dt.date | None:
    if isinstance(n, bool) or not isinstance(n, (int, float)):
        return None
    try:
        return as_of + dt.timedelta(days=int(n))
    except OverflowError:
        return None


# ---------------------------------------------------------------- drawing values

def _numbers(rng: np.random.Generator, n: int, values: list, whole: bool, floor: float | None) -> np.ndarray:
    """Half at a value or a step either side of it, half spread over their
    range and half as much again on each side; none below `floor`."""
    lits = np.array([float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
                     and np.isfinite(float(v))] or [0.0, 100.0])
    lo, hi = lits.min(), lits.max()
    margin = max((hi - lo) * 0.5, abs(hi) * 0.5, 1.0)
    spread = rng.uniform(lo - margin, hi + margin, n)
    at = lits[rng.integers(0, len(lits), n)]
    step = np.ones(n) if whole else np.maximum(np.abs(at) * 0.05, 0.01)
    near = at + rng.integers(-1, 2, n) * step
    v = np.where(rng.random(n) < 0.5, near, spread)
    if floor is not None:
        v = np.maximum(v, floor)
    return np.round(v) if whole else np.round(v, 2)


def _floor(values: list) -> float | None:
    """Numbers stay at 0 or above unless the policy compares with a negative one."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return 0.0 if not numbers or min(numbers) >= 0 else None


def gen_int(rng, n, h: Hints) -> pa.Array:
    v = np.clip(_numbers(rng, n, h.values, True, _floor(h.values)), -(2.0 ** 62), 2.0 ** 62)
    return pa.array(v.astype(np.int64), pa.int64())


def gen_float(rng, n, h: Hints) -> pa.Array:
    return pa.array(_numbers(rng, n, h.values, False, _floor(h.values)), pa.float64())


def gen_bool(rng, n, h: Hints) -> pa.Array:
    return pa.array(rng.random(n) < 0.5, pa.bool_())


def gen_string(rng, n, h: Hints, name: str = "value") -> pa.Array:
    texts = [v for v in h.values if isinstance(v, str)]
    for kind, text in h.patterns:
        texts.append({"starts_with": f"{text}-a", "ends_with": f"a-{text}", "contains": f"a{text}b"}[kind])
    others = [f"{name}-{k}" for k in range(1, 4 if texts else 9)]
    pool = np.array(texts + others, dtype=object)
    pick = np.where(rng.random(n) < (LITERAL_SHARE if texts else 0.0),
                    rng.integers(0, max(len(texts), 1), n), len(texts) + rng.integers(0, len(others), n))
    return pa.array(pool[pick].tolist(), pa.string())


def gen_date(rng, n, h: Hints, as_of: dt.date = dt.date(2026, 11, 1)) -> pa.Array:
    days = [(v - _EPOCH).days for v in h.values if type(v) is dt.date]
    if days:
        d = _numbers(rng, n, days, True, None)
    else:
        d = (as_of - _EPOCH).days - rng.integers(0, 731, n)
    d = np.clip(d, (dt.date(1, 1, 1) - _EPOCH).days, (dt.date(9999, 12, 31) - _EPOCH).days)
    return pa.array(d.astype(np.int32), pa.int32()).cast(pa.date32())


def gen_timestamp(rng, n, h: Hints, as_of: dt.date = dt.date(2026, 11, 1)) -> pa.Array:
    """Days as gen_date makes them, at any second of the day (so that night
    and quiet hours occur); half near the timestamps the policy compares
    with, when it compares with some."""
    day = (as_of - _EPOCH).days - rng.integers(0, 731, n)
    us = day * MICROS_PER_DAY + rng.integers(0, 86_400, n) * 1_000_000
    near = [micros(v) for v in h.values if isinstance(v, dt.datetime)]
    if near:
        pick = rng.random(n) < 0.5
        us = np.where(pick, np.array(near, np.int64)[rng.integers(0, len(near), n)]
                      + rng.integers(-3_600, 3_601, n) * 1_000_000, us)
    lo, hi = micros(dt.datetime(1, 1, 1)), micros(dt.datetime(9999, 12, 31, 23, 59, 59))
    return pa.array(np.clip(us, lo, hi).astype(np.int64), pa.int64()).cast(pa.timestamp("us"))


# A type -> its generator (rng, n, Hints, **context) and the Arrow type of its column.
GENERATORS = {Type.INT: gen_int, Type.FLOAT: gen_float, Type.BOOL: gen_bool, Type.STRING: gen_string,
              Type.DATE: gen_date, Type.TIMESTAMP: gen_timestamp}


def _key(n: int, t: Type) -> pa.Array:
    if t == Type.INT:
        return pa.array(np.arange(1, n + 1, dtype=np.int64))
    width = max(7, len(str(n)))
    return pa.array([f"K{k:0{width}d}" for k in range(1, n + 1)], pa.string())


def generate(program: ir.Program, n: int, seed: int = 7, as_of: dt.date | None = None) -> pa.Table:
    """n customers for the program's input block, the same for the same arguments."""
    as_of = as_of or dt.date.today()
    rng = np.random.default_rng(seed)
    found = hints(program, as_of)
    columns, schema = [], []
    for f in program.input.fields:
        schema.append(pa.field(f.name, ARROW[f.type], nullable=f.nullable))
        if f.name == program.input.key:
            columns.append(_key(n, f.type))
            continue
        context = {Type.STRING: {"name": f.name}, Type.DATE: {"as_of": as_of},
                   Type.TIMESTAMP: {"as_of": as_of}}.get(f.type, {})
        element = f.type.element
        if element is not None:
            # lists of 0 to 4 elements, drawn like a field of the element type
            context = {"name": f.name} if element == Type.STRING else {}
            offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 5, n))]).astype(np.int32)
            items = GENERATORS[element](rng, int(offsets[-1]), found.get(f.name, Hints()), **context)
            col = pa.ListArray.from_arrays(pa.array(offsets), items).cast(ARROW[f.type])
        else:
            col = GENERATORS[f.type](rng, n, found.get(f.name, Hints()), **context)
        if f.nullable:
            mask = pa.array(rng.random(n) < NULL_SHARE)
            col = pc.if_else(mask, pa.scalar(None, col.type), col)
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=pa.schema(schema))
