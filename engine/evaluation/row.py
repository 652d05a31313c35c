"""Single-customer decisions on the compiled row kernel: a record's values
(as pol.api.records read them) -> the policy's outputs and accepted offers,
in microseconds.

The values are packed into three small arrays (ints, floats, validity) and
one call of the row kernel (compiler/backend/codegen.py, `row=True`)
computes every segment, classification, score and candidate. Offers are then
matched in plain Python: a customer has a handful of candidates. Capacities
do not apply to single decisions (LANGUAGE.md section 6).

Building a row kernel (writing its module, Numba compiling it or loading it
from its disk cache) happens once per process, on a background thread
(`start`) or in the caller (`kernel`), one build at a time. A fork waits
for a build in flight: the build thread does not exist in the child, and
the locks it holds (Numba's compiler lock, the kernel cache's) would stay
locked there forever.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import threading

import numpy as np
import pyarrow as pa

from pol.compiler import ir
from pol.compiler.backend import cache, codegen
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type, micros
from pol.evaluation.bind import param_value
from pol.evaluation.strings import extended, lookups

_ORDINAL_EPOCH = dt.date(1970, 1, 1).toordinal()

# Held for the whole of every build, and by a fork while it forks.
_BUILDING = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_BUILDING.acquire, after_in_parent=_BUILDING.release,
                        after_in_child=_BUILDING.release)


class RowOutputs:
    __slots__ = ("segs", "classes", "scores", "cprio", "cchan")

    def __init__(self, plan: KernelPlan):
        K = len(plan.offers)
        self.segs = np.empty((len(plan.segments), 1), np.bool_)
        self.classes = np.empty((len(plan.classifies), 1), np.int16)
        self.scores = np.empty((len(plan.scores), 1), np.float64)
        self.cprio = np.empty((1, K), np.float64)
        self.cchan = np.empty((1, K), np.int8)


class RowExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan):
        self.program = program
        self.plan = plan
        self._kernel = None
        self._started: int | None = None      # the process that started a background build
        self._codes = {s: k for k, s in enumerate(plan.literals)}
        # (kernel slot, input field index) by how a value is packed (bools pack as ints).
        index = {f.name: i for i, f in enumerate(program.input.fields)}
        slots = {t: [(j, index[f.name]) for j, f in enumerate(plan.fields) if f.type == t] for t in Type}
        self._floats, self._strings, self._dates = slots[Type.FLOAT], slots[Type.STRING], slots[Type.DATE]
        self._ints = slots[Type.INT] + slots[Type.BOOL]
        self._timestamps = slots[Type.TIMESTAMP]
        self._lit_luts = lookups(plan, pa.array(plan.literals, pa.string()))[1]
        a = program.arbitrate
        self._category = [o.category if a.one_per_category else None for o in program.offers]
        self._exclusive = [frozenset(g for g, line in enumerate(a.exclusive) if o.name in line)
                           for o in program.offers]
        self._local = threading.local()

    @functools.cached_property
    def source(self) -> str:
        """Generated on first use: a batch-only run never needs it."""
        return codegen.source(self.program, self.plan, row=True)

    @property
    def ready(self) -> bool:
        """Whether the kernel is built: a call runs at once."""
        return self._kernel is not None

    def kernel(self):
        """The row kernel, built now if no build has finished yet."""
        if self._kernel is None:
            self._build()
        return self._kernel

    def start(self) -> None:
        """Build the kernel on a background thread, once per process (a forked
        child starts its own: the parent's thread is not there)."""
        if self._kernel is not None or self._started == os.getpid():
            return
        self._started = os.getpid()
        threading.Thread(target=self._build, name="pol-row-kernel", daemon=True).start()

    def _build(self) -> None:
        with _BUILDING:
            if self._kernel is not None:
                return
            kernel = cache.load(self.source).row_kernel
            # One call on a record of nulls compiles the kernel for the types
            # every call passes (or loads the machine code from Numba's cache),
            # so that no decision waits for it.
            from pol.api.params import resolve_params
            from pol.evaluation.stream import active_offers
            params = resolve_params(self.program, {})
            self._call(kernel, [None] * len(self.program.input.fields), 0, params,
                       active_offers(self.program, dt.date(1970, 1, 1)))
            self._kernel = kernel

    def _outputs(self) -> RowOutputs:
        out = getattr(self._local, "out", None)
        if out is None:
            out = self._local.out = RowOutputs(self.plan)
        return out

    def _param_args(self, params: dict, code_of) -> list:
        pargs: list = []
        for p in self.plan.params:
            v = params[p.name]
            if p.type == Type.STRING and v is not None:
                pargs += [code_of(v), True]
            else:
                pargs += list(param_value(p.type, v))
        return pargs

    def run(self, values: list, today: int, params: dict, active: np.ndarray) -> RowOutputs:
        """One record through the kernel. values: every input field's value in
        input order, as RecordReader.values gives them (checked, None for null)."""
        return self._call(self.kernel(), values, today, params, active)

    def _call(self, kernel, values: list, today: int, params: dict, active: np.ndarray) -> RowOutputs:
        # Python lists, converted once: item by item into numpy costs more.
        n = len(self.plan.fields)
        iv = [0] * n
        fv = [0.0] * n
        ok = [False] * n
        extra: list[str] = []
        codes = self._codes

        def code_of(v: str) -> int:
            code = codes.get(v)
            if code is None:
                if v not in extra:
                    extra.append(v)
                code = len(codes) + extra.index(v)
            return code

        # The params of one run (usually the defaults) are packed once.
        cached = self._local.__dict__.get("params")
        if cached is not None and cached[0] is params:
            pargs = cached[1]
        else:
            pargs = self._param_args(params, code_of)
            if not extra:
                self._local.params = (params, pargs)
        # The reader has checked every value: a float is finite, an int 64-bit.
        for j, i in self._floats:
            v = values[i]
            if v is not None:
                fv[j] = v
                ok[j] = True
        for j, i in self._ints:
            v = values[i]
            if v is not None:
                iv[j] = v
                ok[j] = True
        for j, i in self._strings:
            v = values[i]
            if v is not None:
                iv[j] = code_of(v)
                ok[j] = True
        for j, i in self._dates:
            v = values[i]
            if v is not None:
                iv[j] = v.toordinal() - _ORDINAL_EPOCH
                ok[j] = True
        for j, i in self._timestamps:
            v = values[i]
            if v is not None:
                iv[j] = micros(v)
                ok[j] = True
        luts = self._lit_luts
        if extra:
            # the record's own strings follow the literals, as code_of numbered them
            luts = extended(self.plan, luts, extra)
        out = self._outputs()
        kernel(today, *pargs, np.array(iv, np.int64), np.array(fv, np.float64), np.array(ok, np.bool_),
               *luts, active, out.segs, out.classes, out.scores, out.cprio, out.cchan)
        return out

    def match(self, out: RowOutputs, max_n: int) -> list[tuple[int, int, float]]:
        """The per-customer walk: (offer index, channel index, priority) in rank order."""
        # As lists: reading numpy elements one by one costs a microsecond a row.
        cchan = out.cchan[0].tolist()
        cprio = out.cprio[0].tolist()
        cands = sorted((k for k in range(len(cchan)) if cchan[k] >= 0), key=lambda k: (-cprio[k], k))
        accepted: list[tuple[int, int, float]] = []
        cats: set = set()
        excl: set = set()
        for k in cands:
            if len(accepted) >= max_n:
                break
            c = self._category[k]
            if (c is not None and c in cats) or (self._exclusive[k] & excl):
                continue
            accepted.append((k, cchan[k], cprio[k]))
            if c is not None:
                cats.add(c)
            excl |= self._exclusive[k]
        return accepted
