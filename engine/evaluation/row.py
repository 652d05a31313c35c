"""Single-customer decisions on the compiled row kernel: a record's values
(as pol.api.records read them) -> the policy's outputs and accepted offers,
in microseconds.

The values are packed into three small arrays (ints, floats, validity) and
one call of the row kernel (compiler/backend/codegen.py, `row=True`)
computes every segment, classification, score and candidate; the
candidates then go through the same compiled walk as every batch
(compiler/backend/walk.py's matcher, `match_range` on one row), holdouts
included. Capacities do not apply to single decisions (LANGUAGE.md section
6).

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
import types

import numpy as np
import pyarrow as pa

from pol.arbitration.arbitrate import Keys, Rules
from pol.compiler import ir, offer_settings
from pol.compiler.backend import cache, codegen
from pol.compiler.backend import layout as names
from pol.compiler.backend.layout import KernelLayout
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.backend.walk import matcher
from pol.compiler.types import Type, micros
from pol.evaluation.bind import param_args
from pol.evaluation.strings import extended, lookups

_ORDINAL_EPOCH = dt.date(1970, 1, 1).toordinal()

# Held for the whole of every build, and by a fork while it forks.
_BUILDING = threading.Lock()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_BUILDING.acquire, after_in_parent=_BUILDING.release,
                        after_in_child=_BUILDING.release)


class RowOutputs:
    """One record's outputs, as the row kernel writes them: segments,
    classifications and scores (one column each), the candidates, then the
    accepted offers in the flat layout (`a_end[0]` of them) and the walk's
    counts (not read)."""

    def __init__(self, program: ir.Program, plan: KernelPlan):
        K, H, max_n = len(plan.offers), len(plan.channels), program.arbitrate.max_per_customer
        self.segs = np.empty((len(plan.segments), 1), np.bool_)
        self.classes = np.empty((len(plan.classifies), 1), np.int16)
        self.scores = np.empty((len(plan.scores), 1), np.float64)
        flat = (np.empty(max_n, np.int64), np.empty(max_n, np.int32), np.empty(max_n, np.int32),
                np.empty(max_n, np.int32), np.empty(max_n, np.float64), np.empty(max_n, np.bool_),
                np.zeros(1, np.int64))
        counts = (np.zeros((K, len(names.FUNNEL)), np.int64), np.zeros((K, H, 2), np.int64), np.zeros(1, np.int64))
        self.cprio = np.empty((1, K), np.float64)
        self.cchan = np.empty((1, K), np.int8)
        self.args = {names.SEGS: self.segs, names.CLASSES: self.classes, names.SCORES: self.scores,
                     names.CPRIO: self.cprio, names.CCHAN: self.cchan}
        self.walk_args = {names.START: 0, names.STOP: 1, names.CPRIO: self.cprio, names.CCHAN: self.cchan,
                          names.MAX_N: max_n, **dict(zip(names.FLAT, flat)),
                          **dict(zip(names.COUNTS[:2], counts[:2]))}
        self.offer, self.chan, self.prio, self.ctrl, self.end = flat[2], flat[3], flat[4], flat[5], flat[6]

    def accepted(self) -> list[tuple[int, int, float, bool]]:
        """(offer index, channel index, priority, control) in rank order."""
        n = int(self.end[0])
        return list(zip(self.offer[:n].tolist(), self.chan[:n].tolist(), self.prio[:n].tolist(),
                        self.ctrl[:n].tolist()))


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
        self._lit_luts = lookups(plan, pa.array(list(plan.literals), pa.string()))[1]
        rules = Rules.of(program)
        self._rules = rules.arguments()
        self._fallback = rules.fallback
        self._no_holdouts = rules.arguments(holdouts=False)      # a customer without a key
        self._settings = any(o.settings for o in program.offers)
        self._order = plan.layout.row()
        # The kernel's arguments by position, found by name once: a call
        # fills only what changes (a dict per call cost a quarter of it).
        self._at = {n: k for k, n in enumerate(self._order)}
        self._walk_at = {n: k for k, n in enumerate(names.MATCH_RANGE)}
        self._matcher: types.ModuleType | None = None     # walk.matcher(), loaded with the kernel
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
            self._matcher = matcher()
            # One call on a record of nulls compiles the kernel for the types
            # every call passes (or loads the machine code from Numba's cache),
            # so that no decision waits for it.
            from pol.api.params import resolve_params
            from pol.evaluation.stream import active_offers
            params = resolve_params(self.program, {})
            self._call(kernel, [None] * len(self.program.input.fields), 0, params,
                       active_offers(self.program, dt.date(1970, 1, 1)), None)
            self._kernel = kernel

    def _outputs(self) -> tuple[RowOutputs, list, list]:
        """This thread's outputs, and the arguments that stay, of the kernel
        (the output buffers) and of the walk (the rules, its buffers): every
        name of their layouts, checked once."""
        out = getattr(self._local, "out", None)
        if out is None:
            out = self._local.out = RowOutputs(self.program, self.plan)
            lay = self.plan.layout
            params = [n for p in lay.params for n in (p.value, p.valid)]
            changing = dict.fromkeys((names.TODAY, *params, *names.RECORD, *lay.luts, names.ACTIVE))
            self._local.args = list(KernelLayout.arguments(self._order, {**changing, **out.args}))
            self._local.walk = list(KernelLayout.arguments(
                names.MATCH_RANGE, {**out.walk_args, **self._rules, names.FALLBACK: self._fallback,
                                    **dict.fromkeys(names.KEYS)}))
        return out, self._local.args, self._local.walk

    def evaluate(self, values: list, today: int, params: dict, active: np.ndarray, key) -> RowOutputs:
        """One record through the kernel. values: every input field's value in
        input order, as RecordReader.values gives them (checked, None for
        null); `key` its key (None: the customer is in no holdout)."""
        return self._call(self.kernel(), values, today, params, active, key)

    def _call(self, kernel, values: list, today: int, params: dict, active: np.ndarray, key) -> RowOutputs:
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
            pargs = param_args(self.plan, params, code_of)
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
        if extra and luts:
            # the record's own strings follow the literals, as code_of numbered them
            luts = extended(self.plan, luts, extra)
        out, fixed, walk = self._outputs()
        at = self._at
        args = fixed.copy()
        args[at[names.TODAY]] = today
        for name, v in pargs.items():
            args[at[name]] = v
        iv_, fv_, ok_ = names.RECORD
        args[at[iv_]] = np.array(iv, np.int64)
        args[at[fv_]] = np.array(fv, np.float64)
        args[at[ok_]] = np.array(ok, np.bool_)
        for name, table in zip(self.plan.layout.luts, luts):
            args[at[name]] = table
        args[at[names.ACTIVE]] = active
        kernel(*args)
        walk = walk.copy()
        at = self._walk_at
        rules = self._no_holdouts if key is None else self._rules
        if key is not None and self._settings:
            # a holdout read from a param: the run's value (compiler/offer_settings.py)
            rules = Rules.of(offer_settings.with_params(self.program, params)).arguments()
        for name, v in rules.items():
            walk[at[name]] = v
        for name, v in Keys.of_record(key if key is not None else 0).arguments().items():
            walk[at[name]] = v
        assert self._matcher is not None
        self._matcher.match_range(*walk)
        return out
