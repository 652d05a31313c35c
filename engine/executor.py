"""Executors: run one bound batch through a policy's evaluator.

* `KernelExecutor` runs the fused Numba kernel generated for the policy,
  loaded through the content-addressed disk cache (compiled on first use).
* `AutoExecutor` is what a run uses by default. Compiling a fused kernel
  takes seconds, too long for an author who edits and reruns, so: when the
  kernel for this policy and input schema is already compiled and cached, it
  runs it; otherwise it runs the vectorized evaluator (no compilation) and
  compiles the kernel in a background process, switching to it as soon as
  the cache has it (a long run switches midway; the next run starts fast).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numba

from pol.bind import Bound
from pol.compiler import cache, codegen, ir
from pol.compiler.plan import KernelPlan
from pol.threads import parallel as run_ranges
from pol.vector import VectorExecutor


def kernel_args(bound: Bound, active, today: int, out, start: int = 0, stop: int | None = None) -> tuple:
    return (start, bound.n if stop is None else stop, today, *bound.param_args, *bound.field_args,
            *bound.lut_args, active, out.segs, out.classes, out.scores, out.cprio, out.cchan)


class KernelExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan, parallel: bool = False):
        self.plan = plan
        self.source = codegen.source(program, plan, parallel=parallel)
        self.path = cache.path_for(self.source)
        self._kernel = None
        self._lock = threading.Lock()

    def kernel(self):
        if self._kernel is None:
            with self._lock:
                if self._kernel is None:
                    self._kernel = cache.load(self.source).kernel
        return self._kernel

    def signature(self, args: tuple) -> tuple:
        return tuple(numba.typeof(a) for a in args)

    def marker(self, sig: tuple) -> Path:
        """A file that says: this kernel is compiled and cached for these types."""
        h = hashlib.sha256(repr(sig).encode()).hexdigest()[:16]
        return self.path.with_name(f"{self.path.stem}.{h}.ready")

    def ready(self, sig: tuple) -> bool:
        return self.marker(sig).exists()

    def compile(self, sig: tuple) -> None:
        self.kernel().compile(sig)
        _touch(self.marker(sig))

    def __call__(self, bound: Bound, active, today: int, out) -> None:
        args = kernel_args(bound, active, today, out)
        kernel = self.kernel()
        # The kernel releases the GIL: one row range per core.
        run_ranges(lambda a, b: kernel(*kernel_args(bound, active, today, out, a, b)), bound.n)
        sig = self.signature(args)
        if not self.ready(sig):
            _touch(self.marker(sig))


def _touch(p: Path) -> None:
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch()
    except OSError:
        pass


class AutoExecutor:
    def __init__(self, kernel: KernelExecutor, vector: VectorExecutor):
        self.kernel_exec = kernel
        self.vector = vector
        self._started: set = set()
        self._lock = threading.Lock()

    def __call__(self, bound: Bound, active, today: int, out) -> None:
        args = kernel_args(bound, active, today, out)
        sig = self.kernel_exec.signature(args)
        if self.kernel_exec.ready(sig):
            self.kernel_exec(bound, active, today, out)
            return
        self.start_background(sig)
        self.vector(bound, active, today, out)

    def start_background(self, sig: tuple) -> None:
        if os.environ.get("POL_BACKGROUND_COMPILE", "1") == "0":
            return
        with self._lock:
            if sig in self._started:
                return
            self._started.add(sig)
        cache.load(self.kernel_exec.source)          # writes the kernel file
        fd, sig_file = tempfile.mkstemp(prefix="pol-sig-", suffix=".pickle")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(sig, f)
        subprocess.Popen(
            [sys.executable, "-m", "pol.compiler.warm", str(self.kernel_exec.path), sig_file,
             str(self.kernel_exec.marker(sig))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
