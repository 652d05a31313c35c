"""Executors: run one bound batch through a policy's evaluator.

`KernelExecutor` runs the fused Numba kernel generated for the policy
(compiler/codegen.py), loaded through the content-addressed disk cache.
"""
from __future__ import annotations

import threading

from pol.bind import Bound
from pol.compiler import cache, codegen, ir
from pol.compiler.plan import KernelPlan


class KernelExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan, parallel: bool = True):
        self.plan = plan
        self.source = codegen.source(program, plan, parallel=parallel)
        self._kernel = None
        self._lock = threading.Lock()

    @property
    def cached(self) -> bool:
        return cache.is_cached(self.source)

    def kernel(self):
        if self._kernel is None:
            with self._lock:
                if self._kernel is None:
                    self._kernel = cache.load(self.source).kernel
        return self._kernel

    def __call__(self, bound: Bound, active, today: int, out) -> None:
        self.kernel()(0, bound.n, today, *bound.param_args, *bound.field_args, *bound.lut_args,
                      active, out.segs, out.classes, out.scores, out.cprio, out.cchan)
