"""History aggregates for the compiled paths: ir.Program -> the program the
kernels run, with each aggregate replaced by an extra input field.

The reference evaluator computes an aggregate from the customer's events
(engine/reference/history.py). The batch paths compute every aggregate of
a batch at once, before the policy's kernels run
(engine/evaluation/history.py), and hand the values in as columns: to the
fused, row and vectorized kernels an aggregate is one more input field, so
they need no rule of their own for it.

    lower(program) -> Lowered(program, columns)

Equal aggregates (same function, history, field, filter and window) share
one column. The extra fields' names (`history:0` ...) are not names a policy
can declare, so they never meet a declared one.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pol.compiler import ir


@dataclass(frozen=True)
class Column:
    """One aggregate computed per customer: its extra field and what it is."""
    name: str
    aggregate: ir.Aggregate

    @property
    def nullable(self) -> bool:
        return self.aggregate.func != "count"


@dataclass(frozen=True)
class Lowered:
    program: ir.Program
    columns: tuple[Column, ...]


def column_name(k: int) -> str:
    return f"history:{k}"


def lower(program: ir.Program) -> Lowered:
    """The program with every aggregate an input field (the program itself
    when it has none)."""
    found: dict[ir.Aggregate, ir.FieldRef] = {}
    if not program.histories:
        return Lowered(program, ())

    def rewrite(e: Any) -> Any:       # an Expr, or None where a declaration has none
        if e is None or not any(isinstance(x, ir.Aggregate) for x in ir.walk(e)):
            return e
        return _replace(e, found)

    p = program
    lets = tuple(dataclasses.replace(d, expr=rewrite(d.expr)) for d in p.lets)
    segments = tuple(dataclasses.replace(d, expr=rewrite(d.expr)) for d in p.segments)
    classifies = tuple(dataclasses.replace(d, whens=tuple(dataclasses.replace(w, cond=rewrite(w.cond))
                                                          for w in d.whens)) for d in p.classifies)
    scores = tuple(dataclasses.replace(d, expr=rewrite(d.expr)) for d in p.scores)
    channels = tuple(dataclasses.replace(c, cond=rewrite(c.cond)) for c in p.channels)
    offers = tuple(dataclasses.replace(o, eligible=rewrite(o.eligible), priority=rewrite(o.priority),
                                       prefer=rewrite(o.prefer)) for o in p.offers)
    population = (dataclasses.replace(p.population, cond=rewrite(p.population.cond))
                  if p.population is not None else None)
    columns = tuple(Column(ref.name, agg) for agg, ref in found.items())
    extra = tuple(ir.InputField(c.name, c.aggregate.type, c.nullable) for c in columns)
    lowered = dataclasses.replace(
        p, input=dataclasses.replace(p.input, fields=p.input.fields + extra), lets=lets, segments=segments,
        classifies=classifies, scores=scores, channels=channels, offers=offers, tests=(),
        population=population)
    return Lowered(lowered, columns)


def _replace(e: ir.Expr, found: dict[ir.Aggregate, ir.FieldRef]) -> ir.Expr:
    """e with each Aggregate a FieldRef; walked on a stack of its own (an
    expression may nest deeply, LANGUAGE.md section 10, E-LIMIT-002)."""
    done: dict[int, ir.Expr] = {}
    stack: list[tuple[ir.Expr, bool]] = [(e, False)]
    while stack:
        node, ready = stack.pop()
        kids = ir.children(node)
        if isinstance(node, ir.Aggregate):
            ref = found.get(node)
            if ref is None:
                ref = found[node] = ir.FieldRef(node.type, column_name(len(found)), node.span)
            done[id(node)] = ref
        elif not kids or isinstance(node, ir.Quantifier):      # a list field and its own scope: no aggregate
            done[id(node)] = node
        elif not ready:
            stack.append((node, True))
            stack.extend((k, False) for k in kids)
        else:
            new = tuple(done[id(k)] for k in kids)
            if isinstance(node, ir.Call):
                done[id(node)] = dataclasses.replace(node, args=new)
            elif isinstance(node, ir.If):
                done[id(node)] = dataclasses.replace(node, cond=new[0], then=new[1], else_=new[2])
            else:                       # InSet, IsNull: one operand
                done[id(node)] = dataclasses.replace(node, operand=new[0])  # type: ignore[arg-type]
    return done[id(e)]

