"""The public API: a loaded, checked, compiled policy and what it computes.

    policy = pol.load("policies/telecom/retention.pol")
    result = policy.evaluate(table, as_of=date(2026, 11, 1), params={"churn_days": 45})
    decision = policy.decide({"id": 7, ...})

A Policy is immutable after loading and safe to share between threads: the
kernel is loaded once under a lock, and evaluation keeps its state per call.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

import os
import threading

from pol.compiler import ir
from pol.compiler.backend import cache
from pol.evaluation.stream import active_offers
from pol.evaluation.row import RowExecutor
from pol.compiler.backend.plan import plan as make_plan
from pol.evaluation.stream import Stream, batches_of, output_schemas
from pol.evaluation.executor import AutoExecutor, KernelExecutor
from pol.evaluation.vector import VectorExecutor


@dataclass(frozen=True)
class Result:
    customers: pa.Table
    assignments: pa.Table
    summary: dict


def resolve_params(program, params):
    from pol.api.params import resolve_params
    return resolve_params(program, params)


def _as_of(as_of) -> dt.date:
    if as_of is None:
        return dt.date.today()
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    return dt.date.fromisoformat(str(as_of))


class Policy:
    def __init__(self, program: ir.Program, path: str | None = None):
        self.program = program
        self.path = path
        self.plan = make_plan(program)
        self._kernel = KernelExecutor(program, self.plan)
        self._vector = VectorExecutor(program, self.plan)
        self._auto = AutoExecutor(self._kernel, self._vector)
        self._row = RowExecutor(program, self.plan)
        self._row_started = False
        self._active_cache = None
        self._defaults = resolve_params(program, {})

    def _executor(self, engine: str):
        if engine == "kernel":
            return self._kernel
        if engine == "vector":
            return self._vector
        if engine == "auto":
            return self._auto
        raise ValueError(f"engine must be 'auto', 'kernel' or 'vector', not {engine!r}")

    @property
    def name(self) -> str:
        return self.program.name

    @property
    def version(self) -> str | None:
        return self.program.version

    @property
    def columns(self) -> list[str]:
        """The input columns the policy reads."""
        return [f.name for f in self.program.input.fields]

    def labels(self) -> dict[str, str | None]:
        p = self.program
        return {d.name: d.label for group in (p.segments, p.classifies, p.scores, p.channels, p.offers)
                for d in group}

    def compile(self) -> "Policy":
        """Load (or build, then cache) the policy's kernel now rather than at first use."""
        self._kernel.kernel()
        return self

    def stream(self, sink, as_of=None, params=None, path: str | None = None,
               engine: str = "auto") -> Stream:
        """A batch-by-batch run: `feed` batches, then `finish`; output goes to sink."""
        return Stream(self.program, self.plan, self._executor(engine), _as_of(as_of),
                      resolve_params(self.program, params or {}), sink, path)

    def evaluate(self, data, as_of=None, params=None, engine: str = "auto") -> Result:
        """Evaluate every customer in `data`. `engine`: "kernel" (the fused
        kernel, compiled on first use and cached on disk), "vector" (no
        compilation; slower per row) or "auto"."""
        customers: list[pa.RecordBatch] = []
        assignments: list[pa.RecordBatch] = []

        def sink(c, a):
            customers.append(c)
            assignments.append(a)

        run = self.stream(sink, as_of, params, engine=engine)
        key_type = None
        for batch in batches_of(data, self.columns):
            key_type = key_type or batch.schema.field(self.program.input.key).type
            run.feed(batch)
        run.finish()
        key_type = key_type or self.program_key_arrow_type()
        c_schema, a_schema = output_schemas(self.program, self.plan, key_type)
        ct = pa.Table.from_batches([b.cast(c_schema) if b.schema != c_schema else b for b in customers],
                                   schema=c_schema)
        at = pa.Table.from_batches([b.cast(a_schema) if b.schema != a_schema else b for b in assignments],
                                   schema=a_schema)
        return Result(ct, at, run.counts.to_dict(self.labels()))

    def program_key_arrow_type(self) -> pa.DataType:
        t = self.program.input.field(self.program.input.key).type
        return pa.int64() if t.value == "int" else pa.string()

    def decide(self, record: dict, as_of=None, params=None, engine: str = "auto"):
        """One customer, in-process: segments, classifications, scores and
        accepted offers. `engine`: "kernel" (the compiled row kernel),
        "reference" (the reference evaluator) or "auto" (the kernel once it is
        compiled and cached, the reference evaluator until then)."""
        from pol.api.decision import decide_compiled, decide_reference
        day = _as_of(as_of)
        values = resolve_params(self.program, params) if params else self._defaults
        if engine == "reference" or (engine == "auto" and not self._row_ready()):
            return decide_reference(self.program, record, day, values)
        return decide_compiled(self._row, self.program, record, day, values, self._active(day))

    def _row_ready(self) -> bool:
        if self._row._kernel is not None:
            return True
        if cache.is_cached(self._row.source):
            self._row.kernel()
            return True
        if os.environ.get("POL_BACKGROUND_COMPILE", "1") != "0" and not self._row_started:
            self._row_started = True
            threading.Thread(target=self._row.kernel, daemon=True).start()
        return False

    def _active(self, day):
        cached = self._active_cache
        if cached is None or cached[0] != day:
            cached = self._active_cache = (day, active_offers(self.program, day))
        return cached[1]

    def explain(self, record: dict, as_of=None, params=None):
        from pol.reference.explain import explain
        return explain(self.program, record, _as_of(as_of), resolve_params(self.program, params or {}))

    def __repr__(self) -> str:
        return f"<Policy {self.name} version {self.version!r} from {self.path}>"


def load(path: str | Path, root: str | Path | None = None) -> Policy:
    """Parse, check and compile a policy file (and what it imports). Imports
    must name .pol files inside `root`, by default the policy's own folder."""
    from pol.compiler.frontend import compile_path
    return Policy(compile_path(path, root=root), str(path))


def loads(source: str, name: str = "<string>", base_dir: str | Path | None = None) -> Policy:
    """The same from source text; imports resolve relative to, and stay
    inside, `base_dir` (default: the current folder)."""
    from pol.compiler.frontend import compile_text
    return Policy(compile_text(source, name=name, base_dir=base_dir), name)
