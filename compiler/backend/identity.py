"""A kernel's name before its source exists: the checked program, its plan
and the generator's options, hashed canonically.

Generating a large policy's kernel source takes a second or more (200
offers and 1,000 segments: 1.2-1.4 s), and a run that only wants to know
whether the kernel is compiled yet (engine/evaluation/executor.py, the
ready marker) should not pay it before its first result. So the marker is
named by what decides the source: the program and plan as values (every
field that takes part in their equality, so positions in the policy's text
do not count), the options of codegen.source, and the code generator
itself (the text of the compiler's modules), with Numba's and Python's
versions. cache.key still names the kernel file by its source.

A wrong name could only cost time, never a wrong result: the kernel that
runs is always generated from this process's program (cache.load), so a
marker that says "ready" for a kernel that is not compiled makes the run
compile it in the foreground.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from pol.compiler import ir
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.nogc import no_cycle_collection

_SCALARS = (str, int, float, bool, type(None), Fraction, dt.date, dt.datetime, dt.time, dt.timedelta)


def program_key(program: ir.Program, plan: KernelPlan, **options: Any) -> str:
    """24 hex digits that change whenever codegen.source(program, plan,
    **options) may."""
    h = hashlib.sha256(_generator())
    with no_cycle_collection():
        parts: list[str] = []
        _canonical((program, plan, sorted(options.items())), parts)
    h.update("\0".join(parts).encode("utf-8"))
    return h.hexdigest()[:24]


def _canonical(value: Any, out: list[str]) -> None:
    """`value` as tokens that two equal values (dataclass equality) share and
    unequal ones do not: the type of each node, then its compared fields."""
    if isinstance(value, enum.Enum):
        out.append(f"{type(value).__qualname__}.{value.name}")
    elif isinstance(value, _SCALARS):
        # the type first: 1, 1.0 and True are equal in Python, not in a kernel
        out.append(f"{type(value).__name__}:{value!r}")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        out.append(type(value).__qualname__ + "(")
        for name in _compared(type(value)):
            _canonical(getattr(value, name), out)
        out.append(")")
    elif isinstance(value, (tuple, list)):
        out.append(f"[{len(value)}")
        for v in value:
            _canonical(v, out)
    elif isinstance(value, (set, frozenset)):
        # an order of their own (a set's iteration order changes with the hash seed)
        parts: list[list[str]] = []
        for v in value:
            parts.append([])
            _canonical(v, parts[-1])
        out.append(f"{{{len(value)}")
        out.extend(t for p in sorted(parts) for t in p)
    elif isinstance(value, dict):
        _canonical(sorted(value.items(), key=lambda kv: repr(kv[0])), out)
    else:
        out.append(f"{type(value).__qualname__}:{value!r}")     # a kind unknown here: its repr


@functools.cache
def _compared(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.compare)


@functools.cache
def _generator() -> bytes:
    """What else decides a kernel's source: the compiler's own text (the IR,
    the plan, the emitters, the templates: compiler/ and compiler/backend/),
    and the Numba and Python that compile it."""
    import numba
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted([*here.glob("*.py"), *here.parent.glob("*.py")]):
        h.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    h.update(f"{numba.__version__}\0{sys.version}".encode())
    return h.digest()
