"""Executors: run one bound batch through a policy's evaluator.

* `KernelExecutor` runs the fused Numba kernel generated for the policy,
  loaded through the content-addressed disk cache (compiled on first use).
  The kernel matches offers too and fills `out.accepted`; with capacities
  it hands the candidates of the customers of constrained offers over
  (`out.handed`) for the run-wide walk. With a fallback or an optimal
  allocation, or for a caller without a MatchJob (Spark's adapter), the
  unfused kernel writes every candidate for engine/arbitration/arbitrate.py.
* `AutoExecutor` is what a run uses by default. Compiling a fused kernel
  takes seconds, too long for an author who edits and reruns, so: when the
  kernel for this policy and input schema is already compiled and cached, it
  runs it; otherwise it runs the vectorized evaluator (no compilation) and
  compiles the kernel in a background process, switching to it as soon as
  the cache has it (a long run switches midway; the next run starts fast).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from pol.arbitration.arbitrate import FlatParts, MatchJob, PairParts
from pol.compiler import ir
from pol.compiler.backend import cache, codegen, identity, warm
from pol.compiler.backend import layout as names
from pol.compiler.backend.layout import KernelLayout
from pol.compiler.backend.plan import KernelPlan
from pol.errors import CompileError
from pol.evaluation.bind import Bound
from pol.evaluation.threads import chunks, run_parts
from pol.evaluation.vector import VectorExecutor

log = logging.getLogger("pol")


@dataclass
class KernelCall:
    """One batch's kernel arguments, one tuple per row range; for a fused
    kernel also where its assignments and counts go, per range."""
    args: list[tuple]
    parts: list[tuple[int, int]]
    flat: FlatParts | None
    counts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]   # funnel, by channel, non-finite
    pairs: PairParts | None = None      # a fused kernel's hand-over to the run-wide walk
    unfused: KernelExecutor | None = None   # the executor whose kernel the call is for, when not this one


class KernelExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan, split_at: int | None = None, fused: bool = True):
        self.plan = plan
        self.max_n = program.arbitrate.max_per_customer
        # A fallback is walked by the matcher module (walk.py's match_range);
        # an optimal allocation weighs every candidate of the run.
        self.fused = fused and codegen.fusable(program)
        # With capacities, the customers of constrained offers are matched
        # together after every batch: the fused kernel hands them over.
        self.handoff = self.fused and codegen.hands_off(program)
        self._unfused: KernelExecutor | None = None
        # split_at: the size from which the kernel is generated in stages
        # (compiler/backend/split.py; None: its THRESHOLD)
        self._program, self._split_at = program, split_at
        # In-run contact caps: a fused kernel reads the rooms (and hands them over).
        self.rooms = self.fused and codegen.rooms(program)
        self.order = codegen.batch_parameters(program, plan, self.fused)
        self._kernel = None
        self._lock = threading.Lock()
        self._signatures: dict[tuple, tuple] = {}
        self._ready: set[tuple] = set()
        self._compiled: set[tuple] = set()

    @functools.cached_property
    def source(self) -> str:
        """Generated on first use (a second or two for a policy of 1,000
        segments): a vectorized run never needs it."""
        return codegen.source(self._program, self.plan, **self.options)

    def unfused(self) -> KernelExecutor:
        """The executor of the kernel that writes every candidate out, for a
        caller that matches them itself (no MatchJob)."""
        if not self.fused:
            return self
        if self._unfused is None:
            with self._lock:
                if self._unfused is None:
                    self._unfused = KernelExecutor(self._program, self.plan, self._split_at, fused=False)
        return self._unfused

    def call(self, bound: Bound, active, today: int, out, job: MatchJob | None) -> KernelCall:
        if job is None and self.handoff:
            call = self.unfused().call(bound, active, today, out, None)
            call.unfused = self._unfused
            return call
        parts = chunks(bound.n)
        if self.fused:
            # A fused kernel's packed funnel counters hold so many rows per call.
            step = codegen.FUSED_MAX_ROWS
            parts = [(s, min(s + step, b)) for a, b in parts for s in range(a, max(b, a + 1), step)]
        common = {**bound.args, names.TODAY: today, names.ACTIVE: active,
                  **dict(zip((names.SEGS, names.CLASSES, names.SCORES), out.kernel_out))}
        if not self.fused:
            common |= {names.CPRIO: out.cprio, names.CCHAN: out.cchan}
            args = [KernelLayout.arguments(self.order, {**common, names.START: a, names.STOP: b}) for a, b in parts]
            return KernelCall(args, parts, None, [])
        if job is None:
            raise ValueError("a fused kernel matches as it goes: it needs the batch's MatchJob")
        flat = FlatParts(bound.n, self.max_n)
        counts = [(np.zeros_like(job.funnel), np.zeros_like(job.by_channel), np.zeros(1, np.int64))
                  for _ in parts]
        common |= job.rules.arguments(rooms=self.rooms) | job.keys.arguments() | flat.arguments()
        pairs = None
        if self.handoff:
            pairs = PairParts(bound.n, len(self.plan.offers), self.rooms)
            common |= pairs.arguments(job.rules.constrained)
        args = [KernelLayout.arguments(self.order, {**common, names.START: a, names.STOP: b,
                                                    **dict(zip(names.COUNTS, c))})
                for (a, b), c in zip(parts, counts)]
        return KernelCall(args, parts, flat, counts, pairs)

    def kernel(self):
        if self._kernel is None:
            with self._lock:
                if self._kernel is None:
                    self._kernel = cache.load(self.source).kernel
        return self._kernel

    def signature(self, args: tuple) -> tuple:
        # numba.typeof of some sixty arguments takes a millisecond; what it
        # looks at is cheap to read, so each layout is typed once.
        layout = tuple((a.dtype.str, a.ndim, a.flags.c_contiguous, a.flags.f_contiguous, a.flags.writeable,
                        a.flags.aligned) if isinstance(a, np.ndarray) else type(a) for a in args)
        sig = self._signatures.get(layout)
        if sig is None:
            sig = self._signatures[layout] = tuple(numba.typeof(a) for a in args)
        return sig

    @functools.cached_property
    def options(self) -> dict:
        """codegen.source's options for this kernel (with the program and plan,
        all that decides its source)."""
        return {"fused": self.fused, "split_at": self._split_at}

    @functools.cached_property
    def identity(self) -> str:
        """The kernel's name before its source is generated
        (compiler/backend/identity.py): a tenth of the time."""
        return identity.program_key(self._program, self.plan, **self.options)

    def marker(self, sig: tuple) -> Path | None:
        """A file that says: this kernel is compiled and cached for these
        types (None when kernels are compiled in memory: nothing is cached).
        Named by the program, not the source, so that a run finds out
        without generating the source. It holds nothing: a planted one only
        makes a run compile the kernel in the foreground."""
        where = cache.folder()
        if where is None:
            return None
        h = hashlib.sha256(repr(sig).encode()).hexdigest()[:16]
        return where / f"p_{self.identity}.{h}.ready"

    def ready(self, sig: tuple) -> bool:
        # A marker is never removed: once seen, it need not be looked for
        # again (hashing sixty type names and a stat on every batch).
        if sig in self._ready:
            return True
        marker = self.marker(sig)
        if marker is not None and marker.exists():
            self._ready.add(sig)
            return True
        return False

    def compile(self, sig: tuple) -> None:
        """Compile for these types now; Numba's failure as a CompileError."""
        if sig in self._compiled:
            return
        try:
            self.kernel().compile(sig)
        except Exception as e:      # RecursionError in Numba's SSA pass, its typing errors ...
            raise CompileError(warm.one_line(e)) from e
        self._compiled.add(sig)

    def __call__(self, bound: Bound, active, today: int, out, job: MatchJob | None = None) -> None:
        self.execute(self.call(bound, active, today, out, job), out, job)

    def execute(self, call: KernelCall, out, job: MatchJob | None) -> None:
        if call.unfused is not None:
            call.unfused.execute(dataclasses.replace(call, unfused=None), out, job)
            return
        sig = self.signature(call.args[0])
        self.compile(sig)
        kernel = self.kernel()
        # The kernel releases the GIL: one row range per core.
        run_parts(lambda j, a, b: kernel(*call.args[j]), call.parts)
        if call.flat is not None:
            out.nonfinite = sum(int(c[2][0]) for c in call.counts)
            if out.nonfinite:       # the batch will be refused: count nothing
                return
            for funnel, by_channel, _ in call.counts:
                job.funnel += funnel
                job.by_channel += by_channel
            out.accepted = call.flat.join(call.parts)
            if call.pairs is not None:
                out.handed = call.pairs.join(call.parts, 0, job.rules, job.keys)
        if not self.ready(sig):
            cache.touch(self.marker(sig))
            self._ready.add(sig)


class AutoExecutor:
    def __init__(self, kernel: KernelExecutor, vector: VectorExecutor):
        self.kernel_exec = kernel
        self.vector = vector
        self._started: set = set()
        self._lock = threading.Lock()
        # Why the background compile failed, in one line (None: it has not);
        # the run stays vectorized and says so (Result.warnings, pol run).
        self.failure: str | None = None

    def __call__(self, bound: Bound, active, today: int, out, job: MatchJob | None = None) -> None:
        kernel = self.kernel_exec if job is not None else self.kernel_exec.unfused()
        call = kernel.call(bound, active, today, out, job)
        sig = kernel.signature(call.args[0])
        if kernel.ready(sig):
            kernel.execute(call, out, job)
            return
        self.vector(bound, active, today, out, job)
        # Started once this batch's result is made: on two cores the compile
        # processes would otherwise slow the first result (benchmarks/README.md,
        # large policies); it is one batch of the vectorized evaluator later.
        if kernel is self.kernel_exec and not self.failed(sig):
            self.start_background(sig)

    def failed(self, sig: tuple) -> bool:
        """Whether the kernel's compile for these types failed, in this run's
        background process or an earlier run's (its `.failed` file, which
        warm.py writes): then it is not tried again, and the failure is told."""
        if self.failure is not None:
            return True
        marker = self.kernel_exec.marker(sig)
        if marker is None:
            return False
        try:
            cause = warm.failure_path(marker).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return False
        self.report(cause or "the background compile failed")
        return True

    def report(self, cause: str) -> None:
        if self.failure is None:
            self.failure = cause
            log.warning("the kernel could not be compiled in the background (%s): "
                        "this policy runs on the vectorized evaluator", cause)

    def warnings(self) -> list[str]:
        if self.failure is None:
            return []
        return [f"the kernel could not be compiled in the background ({self.failure}): "
                f"this run used the vectorized evaluator, which is slower per row"]

    def start_background(self, sig: tuple) -> None:
        """Compile the kernel for these argument types in a background
        process (compiler/backend/warm.py), into this process's kernel folder.
        The job (the kernel's hash and the types) goes through the child's
        stdin: a file for it could be replaced before the child unpickles it."""
        if os.environ.get("POL_BACKGROUND_COMPILE", "1") == "0":
            return
        marker = self.kernel_exec.marker(sig)
        if marker is None:          # kernels in memory: no folder to share with a child
            return
        with self._lock:
            if sig in self._started:
                return
            self._started.add(sig)
        # The child generates the source (a second or more for a large
        # policy) from the program: this run's next batch does not wait for it.
        k = self.kernel_exec
        job = pickle.dumps((k._program, k.plan, k.options, sig), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "pol.compiler.backend.warm", str(marker.parent), str(marker)],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)
            with child.stdin:
                child.stdin.write(job)
        except OSError:
            return                  # no background compile: the run goes on vectorized
        threading.Thread(target=self._watch, args=(child, marker), daemon=True).start()

    def _watch(self, child: subprocess.Popen, marker: Path) -> None:
        """A child that dies without a word (killed, out of memory, a crash in
        LLVM) is reported too, by its exit status."""
        status = child.wait()
        if status == 0:
            return
        try:
            cause = warm.failure_path(marker).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            cause = ""
        self.report(cause or f"the compiling process exited with status {status}")
