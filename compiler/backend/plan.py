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
    ends_with, contains (bool tables, with `arg` the literal) or length (int)."""
    op: str
    arg: str | None


@dataclass(frozen=True)
class KernelPlan:
    fields: tuple[FieldSlot, ...]            # input fields the policy reads, in input order
    params: tuple[ir.Param, ...]
    literals: tuple[str, ...]                # string literal -> code = its index
    luts: tuple[LutSlot, ...]
    segments: tuple[str, ...]
    classifies: tuple[str, ...]
    class_values: tuple[tuple[str, ...], ...]
    scores: tuple[str, ...]
    channels: tuple[str, ...]
    offers: tuple[str, ...]

    def literal_code(self, s: str) -> int:
        return self.literals.index(s)

    def lut_index(self, op: str, arg: str | None) -> int:
        return self.luts.index(LutSlot(op, arg))

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


def string_function_arg(call: ir.Call) -> str | None:
    """The literal a string function compares with (None for length)."""
    if len(call.args) < 2:
        return None
    arg = call.args[1]
    assert isinstance(arg, ir.Literal) and isinstance(arg.value, str), "the checker makes it a string literal"
    return arg.value


def plan(program: ir.Program) -> KernelPlan:
    used: set[str] = set()
    literals: list[str] = []
    luts: list[LutSlot] = []

    def lit(s: object) -> None:
        # string literals only: the checker types them (ir.Literal.value is any literal)
        assert isinstance(s, str)
        if s not in literals:
            literals.append(s)

    for e in program_exprs(program):
        for node in ir.walk(e):
            if isinstance(node, ir.FieldRef):
                used.add(node.name)
            elif isinstance(node, ir.Literal) and node.type == Type.STRING and node.value is not None:
                lit(node.value)
            elif isinstance(node, ir.InSet) and node.operand.type == Type.STRING:
                for v in node.values:
                    lit(v)
            if isinstance(node, ir.Call) and node.op in ("starts_with", "ends_with", "contains", "length"):
                slot = LutSlot(node.op, string_function_arg(node))
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
        segments=tuple(s.name for s in program.segments),
        classifies=tuple(c.name for c in program.classifies),
        class_values=tuple(c.values for c in program.classifies),
        scores=tuple(s.name for s in program.scores),
        channels=tuple(c.name for c in program.channels),
        offers=tuple(o.name for o in program.offers),
    )
