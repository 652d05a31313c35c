"""The population of a batch (LANGUAGE.md 3.14): which rows the policy
addresses, so that the others are dropped before anything is evaluated.

The condition runs on the vectorized evaluator as a program of one segment
(with the lets, segments, classifications and scores it reads, nothing
else): the same rules as every other condition, and no kernel to compile.
It usually reads a field or two, so it costs little beside the policy, and
the rows it drops cost nothing after it. A row is in the population when
the condition is true; false and null leave it out (5.4: a null condition
is not met).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa

from pol.compiler import ir
from pol.compiler.backend.plan import plan as make_plan

NAME = "__population"


def _reads(program: ir.Program, e: ir.Expr) -> set[str]:
    """The declarations `e` reads, directly or through others."""
    bodies: dict[str, list[ir.Expr]] = {d.name: [d.expr] for d in program.lets + program.segments + program.scores}
    for c in program.classifies:
        bodies[c.name] = [w.cond for w in c.whens]
    seen: set[str] = set()
    stack = [e]
    while stack:
        for node in ir.walk(stack.pop()):
            if isinstance(node, ir.DeclRef) and node.name not in seen:
                seen.add(node.name)
                stack.extend(bodies[node.name])
    return seen


def population_program(program: ir.Program) -> ir.Program:
    """The program that computes only the population, as segment NAME."""
    assert program.population is not None
    cond = program.population.cond
    used = _reads(program, cond)

    def kept(group):
        return tuple(d for d in group if d.name in used)

    segments = (*kept(program.segments), ir.Segment(NAME, None, cond))
    return dataclasses.replace(
        program, lets=kept(program.lets), segments=segments, classifies=kept(program.classifies),
        scores=kept(program.scores), channels=(), offers=(), arbitrate=ir.Arbitrate(), tests=(),
        order=tuple(n for n in program.order if n in used) + (NAME,), outputs=(), carry=(), attributes=(),
        population=None)


class Population:
    """`mask(batch)`: bool per row, true where the row is in the population."""

    def __init__(self, program: ir.Program):
        self.program = population_program(program)
        self.plan = make_plan(self.program)
        self.index = self.plan.segments.index(NAME)

    def mask(self, batch: pa.RecordBatch, params: dict, today: int) -> np.ndarray:
        # Numba's evaluators, imported here: `decide` asks population_program
        # alone, on the reference evaluator, before any kernel is loaded
        from pol.evaluation.bind import bind
        from pol.evaluation.stream import BatchOut
        from pol.evaluation.vector import evaluate_batch
        bound = bind(self.program, self.plan, batch, params)
        out = BatchOut(self.plan, batch.num_rows)
        evaluate_batch(self.program, self.plan, bound, np.zeros(0, np.bool_), today, out)
        return np.asarray(out.segs[self.index], np.bool_)
