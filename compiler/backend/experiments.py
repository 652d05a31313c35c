"""Experiments for the compiled paths: ir.Program -> the program the kernels
run, with each experiment's arm an extra input field (LANGUAGE.md section 13).

The checker reads an experiment in an expression as a STRING FieldRef of
its name (compiler/frontend/experiments.py); the reference evaluator draws
the arm itself from the key (engine/reference/experiments.py), the batch
paths draw every row's arm once per batch (engine/evaluation/experiments.py)
and hand it in as a column, so the fused, row and vectorized kernels need no
rule of their own. An experiment's name is in the policy's one namespace,
so the extra field never meets a declared one.
"""
from __future__ import annotations

import dataclasses

from pol.compiler import ir
from pol.compiler.types import Type


def lower(program: ir.Program) -> ir.Program:
    """The program with every experiment an input field after the others (the
    program itself when it has none)."""
    if not program.experiments:
        return program
    extra = tuple(ir.InputField(x.name, Type.STRING, False, x.span) for x in program.experiments)
    inp = program.input
    return dataclasses.replace(program, input=dataclasses.replace(inp, fields=inp.fields + extra), tests=())
