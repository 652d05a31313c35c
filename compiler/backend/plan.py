"""Kernel planning: ir.Program -> KernelPlan, what a kernel reads and writes.

The plan fixes what the code generator, the vectorized evaluator and the
Arrow binder share: which input fields are read (and, through `layout`,
the kernel's arguments by name: compiler/backend/layout.py), the string table's literal part (every string a
policy writes gets a fixed code, so generated code holds numbers only), the
string functions that the host computes per dictionary entry (lookup
tables), and the shape of the outputs.
"""
from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pol.compiler import ir
from pol.compiler.backend.layout import KernelLayout, layout
from pol.compiler.types import Type


@dataclass(frozen=True)
class FieldSlot:
    name: str
    type: Type
    nullable: bool


@dataclass(frozen=True)
class LutSlot:
    """A per-string-table lookup computed by the host: `op` is starts_with,
    ends_with, contains (bool tables, with `arg` the literal), length (int),
    channel_rank (int, `arg` the offer's channels joined by ","),
    or a string map (STRING_MAPS: the code of the result string; `arg` the
    map's constants: substring's (start, count), concat's (prefix, suffix))."""
    op: str
    arg: str | tuple[Any, ...] | None


LOOKUPS = frozenset({"starts_with", "ends_with", "contains", "length", "channel_rank"})
# String-valued functions: the host applies them to every string of the
# batch's table (engine/evaluation/strings.py); a kernel reads result codes.
STRING_MAPS = frozenset({"upper", "lower", "trim", "substring", "concat"})


def _literal(e: ir.Expr) -> Any:
    """A literal argument's value (the checker admits only literals there)."""
    assert isinstance(e, ir.Literal)
    return e.value


def lut_slot(call: ir.Call) -> LutSlot | None:
    """The host lookup that computes this call for a kernel, or None."""
    op, args = call.op, call.args
    if op in LOOKUPS:
        return LutSlot(op, _literal(args[1]) if len(args) > 1 else None)
    if op == "substring":
        return LutSlot(op, tuple(_literal(a) for a in args[1:]))
    if op == "concat":
        # the checker lets one argument be computed, the others literals
        k = next(i for i, a in enumerate(args) if not isinstance(a, ir.Literal))
        return LutSlot(op, ("".join(_literal(a) for a in args[:k]), "".join(_literal(a) for a in args[k + 1:])))
    if op in STRING_MAPS:
        return LutSlot(op, None)
    return None


def string_operand(call: ir.Call) -> int:
    """Which argument's string code indexes the lookup."""
    if call.op == "concat":
        return next(i for i, a in enumerate(call.args) if not isinstance(a, ir.Literal))
    return 0


def map_depth(e: ir.Expr, lets: dict[str, int]) -> int:
    """How many string maps nest, at most, on one path of the expression,
    counting those of the lets it reads (`lets`: each let's own depth)."""
    depth: dict[int, int] = {}
    for node in reversed(list(ir.walk(e))):      # children before parents
        if isinstance(node, ir.DeclRef):
            below = lets.get(node.name, 0)
        else:
            below = max((depth[id(k)] for k in ir.children(node)), default=0)
        depth[id(node)] = below + (isinstance(node, ir.Call) and node.op in STRING_MAPS)
    return depth[id(e)]


@dataclass(frozen=True)
class KernelPlan:
    fields: tuple[FieldSlot, ...]            # input fields the policy reads, in input order
    params: tuple[ir.Param, ...]
    literals: tuple[str, ...]                # string literal -> code = its index
    luts: tuple[LutSlot, ...]
    map_rounds: int                          # the deepest nesting of string maps
    segments: tuple[str, ...]
    classifies: tuple[str, ...]
    class_values: tuple[tuple[str, ...], ...]
    scores: tuple[str, ...]
    channels: tuple[str, ...]
    offers: tuple[str, ...]
    # every any/all of the program (distinct): its condition's value per
    # element is computed by the host (engine/evaluation/lists.py)
    quants: tuple[ir.Quantifier, ...] = ()

    def literal_code(self, s: str) -> int:
        return self.literals.index(s)

    def lut_index(self, call: ir.Call) -> int:
        return self.luts.index(lut_slot(call))

    @functools.cached_property
    def layout(self) -> KernelLayout:
        """The kernel's arguments by name (compiler/backend/layout.py)."""
        return layout(self)


def program_exprs(program: ir.Program) -> Iterator[ir.Expr]:
    """Every top-level expression of the program, in a fixed order."""
    for let in program.lets:
        yield let.expr
    for segment in program.segments:
        yield segment.expr
    for c in program.classifies:
        for w in c.whens:
            yield w.cond
    for score in program.scores:
        yield score.expr
    for ch in program.channels:
        if ch.cond is not None:
            yield ch.cond
    for o in program.offers:
        yield o.eligible
        yield o.priority
        if o.prefer is not None:
            yield o.prefer


def plan(program: ir.Program) -> KernelPlan:
    used: set[str] = set()
    literals: list[str] = []
    luts: list[LutSlot] = []
    rounds = 0

    def lit(s: object) -> None:
        # string literals only: the checker types them (ir.Literal.value is any literal)
        assert isinstance(s, str)
        if s not in literals:
            literals.append(s)

    lets = {d.name: d for d in program.lets}
    let_depth: dict[str, int] = {}
    for name in program.order:
        if name in lets:
            let_depth[name] = map_depth(lets[name].expr, let_depth)
    quants: list[ir.Quantifier] = []

    for e in program_exprs(program):
        rounds = max(rounds, map_depth(e, let_depth))
        for node in ir.walk(e):         # the conditions of any/all too
            if isinstance(node, ir.Quantifier):
                rounds = max(rounds, map_depth(node.cond, {}))
                if node not in quants:
                    quants.append(node)
            if isinstance(node, ir.FieldRef):
                used.add(node.name)
            elif isinstance(node, ir.Literal) and node.type == Type.STRING and node.value is not None:
                lit(node.value)
            elif isinstance(node, ir.InSet) and node.operand.type == Type.STRING:
                for v in node.values:
                    lit(v)
            slot = lut_slot(node) if isinstance(node, ir.Call) else None
            if slot is not None:
                if slot not in luts:
                    luts.append(slot)
    for c in program.classifies:
        for v in c.values:
            lit(v)
    for p in program.params:
        if p.type == Type.STRING and p.default is not None:
            lit(p.default)
    fields = tuple(FieldSlot(f.name, f.type, f.nullable)
                   for f in program.input.fields if f.name in used)
    return KernelPlan(
        fields=fields,
        params=program.params,
        literals=tuple(literals),
        luts=tuple(luts),
        map_rounds=rounds,
        segments=tuple(s.name for s in program.segments),
        classifies=tuple(c.name for c in program.classifies),
        class_values=tuple(c.values for c in program.classifies),
        scores=tuple(s.name for s in program.scores),
        channels=tuple(c.name for c in program.channels),
        offers=tuple(o.name for o in program.offers),
        quants=tuple(quants),
    )
