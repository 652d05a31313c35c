"""The public API: a loaded, checked, compiled policy and what it computes.

    policy = pol.load("policies/telecom/retention.pol")
    result = policy.evaluate(table, as_of=date(2026, 11, 1), params={"churn_days": 45})
    decision = policy.decide({"id": 7, ...})

A Policy is immutable after loading and safe to share between threads: the
kernel is loaded once under a lock, and evaluation keeps its state per call.
Records are read by pol.api.records, the same way on every engine; a wrong
`as_of`, `engine` or `extra` raises pol.ArgumentError (a ValueError) naming
it and what it accepts.
"""
from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pol.api.records import iso_date, shown_argument
from pol.compiler import ir, offer_settings
from pol.compiler.backend import cache
from pol.compiler.frontend.contact import has_quiet_hours, run_params
from pol.errors import ArgumentError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from pol.compiler.backend.plan import KernelPlan
    from pol.evaluation.executor import AutoExecutor, KernelExecutor
    from pol.evaluation.experiments import Arms
    from pol.evaluation.row import RowExecutor
    from pol.evaluation.stream import Stream
    from pol.evaluation.vector import VectorExecutor


@dataclass(frozen=True)
class Result:
    customers: pa.Table
    assignments: pa.Table
    summary: dict
    policy: str | None = None           # the policy's name (its header, else its file's name)
    version: str | None = None
    as_of: dt.date | None = None
    run_id: str | None = None           # a uuid4, also in the tables' metadata and the summary
    # What the run could not do as it should have, said in words: the
    # kernel's background compile failed (the run stayed vectorized)
    warnings: tuple[str, ...] = ()


def resolve_params(program, params):
    from pol.api.params import resolve_params
    return resolve_params(program, params)


ENGINES = ("auto", "kernel", "vector")             # evaluate, stream
DECIDE_ENGINES = ("auto", "kernel", "reference")   # decide


def _choice(argument: str, value, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value in allowed:
        return value
    names = ", ".join(f"'{a}'" for a in allowed[:-1]) + f" or '{allowed[-1]}'"
    raise ArgumentError(f"{argument} must be {names}, not {shown_argument(value)}", argument=argument)


def _as_of(as_of) -> dt.date:
    """`as_of` as a date: None is today, a datetime its date, a text 'YYYY-MM-DD'."""
    if as_of is None:
        return dt.date.today()
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    day = iso_date(as_of) if isinstance(as_of, str) else None
    if day is None:
        raise _bad_as_of(as_of)
    return day


def _bad_as_of(as_of) -> ArgumentError:
    return ArgumentError(f"as_of must be a date or a timestamp, written YYYY-MM-DD or YYYY-MM-DDTHH:MM "
                         f"(e.g. 2026-11-01); got {shown_argument(as_of)}", argument="as_of")


def _moment(program: ir.Program, as_of, now: bool = True):
    """as_of with its time of day, for quiet hours (LANGUAGE.md section 14):
    text 'YYYY-MM-DDTHH:MM[:SS]' read as a datetime; left out, decide's and
    explain's (`now`) is the present moment when quiet hours apply (a
    decision is made when it is asked for), a run's today without a time."""
    if as_of is None and now and has_quiet_hours(program):
        return dt.datetime.now()
    if isinstance(as_of, str) and "T" in as_of:
        try:
            return dt.datetime.fromisoformat(as_of)
        except ValueError:
            raise _bad_as_of(as_of) from None
    return as_of


class Policy:
    def __init__(self, program: ir.Program, path: str | None = None):
        self.program = program
        self.path = path
        self._row_executor: RowExecutor | None = None
        self._row_lock = threading.Lock()
        self._row_started: int | None = None       # the process whose first decision started the row kernel
        self._row_thread: threading.Thread | None = None
        self._active_cache = None
        self._decisions = None          # pol.api.decision.CompiledDecisions, made at the first decision
        self._quiet = has_quiet_hours(program)      # decide sets the time of day only then
        self._defaults = resolve_params(program, {})
        self._population_program: ir.Program | None = None     # made at the first decision that needs it

    # What the kernels run, made at first use: the reference evaluator, which
    # makes the first decisions, reads the program alone.
    @functools.cached_property
    def lowered(self):
        """The program with each history aggregate an input field, computed
        per batch (compiler/backend/history.py)."""
        from pol.compiler.backend.history import lower as lower_history
        return lower_history(self.program)

    @functools.cached_property
    def _run(self) -> ir.Program:
        """... and each experiment's arm too, drawn per batch (compiler/backend/experiments.py)."""
        from pol.compiler.backend.experiments import lower as lower_experiments
        return lower_experiments(self.lowered.program)

    @functools.cached_property
    def plan(self) -> KernelPlan:
        from pol.compiler.backend.plan import plan as make_plan
        return make_plan(self._run)

    # The evaluators are made at first use: each imports Numba (half a second
    # and more of a start-up), which `pol.load` and a first decision on the
    # reference evaluator do without.
    @functools.cached_property
    def _kernel(self) -> KernelExecutor:
        from pol.evaluation.executor import KernelExecutor
        return KernelExecutor(self._run, self.plan)

    @functools.cached_property
    def _vector(self) -> VectorExecutor:
        from pol.evaluation.vector import VectorExecutor
        return VectorExecutor(self._run, self.plan)

    @functools.cached_property
    def _auto(self) -> AutoExecutor:
        from pol.evaluation.executor import AutoExecutor
        return AutoExecutor(self._kernel, self._vector)

    @functools.cached_property
    def _arms(self) -> Arms:
        from pol.evaluation.experiments import Arms
        return Arms(self.program)

    @property
    def _row(self) -> RowExecutor:
        """`decide`'s executor, made at first use (once, whichever thread
        asks first): its lookups and walk rules cost 0.3-0.7 s of a start-up
        that `pol run` and `evaluate` never use."""
        row = self._row_executor
        if row is None:
            with self._row_lock:
                if self._row_executor is None:
                    from pol.evaluation.row import RowExecutor
                    self._row_executor = RowExecutor(self._run, self.plan)
                row = self._row_executor
        return row

    def _executor(self, engine: str):
        engine = _choice("engine", engine, ENGINES)
        return {"kernel": self._kernel, "vector": self._vector, "auto": self._auto}[engine]

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

    def compile(self, decide: bool = False) -> Policy:
        """Load (or build, then cache) the policy's kernel now rather than at
        first use; with `decide=True` also the row kernel `decide` runs (a
        service builds it before a new version takes requests)."""
        self._kernel.kernel()
        if decide:
            self._row.kernel()
        return self

    def decide_compiled(self) -> bool:
        """Whether decide's row kernel is built in this process or waits in the
        disk cache, so that compile(decide=True) takes milliseconds."""
        return self._row.ready or cache.is_cached(self._row.source)

    def stream(self, sink, as_of=None, params=None, path: str | None = None,
               engine: str = "auto", history=None, history_paths=None, spill: bool = True) -> Stream:
        """A batch-by-batch run: `feed` batches, then `finish`; output goes to sink.
        `history`: {history name: Arrow table of events} (LANGUAGE.md section 12);
        the stream's `history.summary()` counts the events that matched no customer.
        `spill`: with capacities, finished customer columns wait for the
        run-wide walk in a temporary file (False: in memory, for a sink that
        keeps every batch anyway)."""
        executor = self._executor(engine)
        as_of = _moment(self.program, as_of, now=False)
        day = _as_of(as_of)
        values = run_params(self.program, resolve_params(self.program, params or {}), as_of)
        tables = None
        if history is not None or self.program.histories:
            from pol.evaluation.history import HistoryTables
            tables = HistoryTables(self.program, self.lowered.columns, history if history is not None else {},
                                   day, history_paths)
        from pol.evaluation.stream import Stream
        return Stream(self.lowered.program, self.plan, executor, day, values, sink, path, history=tables,
                      spill=spill)

    def evaluate(self, data, as_of=None, params=None, engine: str = "auto", history=None) -> Result:
        """Evaluate every customer in `data`. `engine`: "kernel" (the fused
        kernel, compiled on first use and cached on disk), "vector" (no
        compilation; slower per row) or "auto"."""
        customers: list[pa.RecordBatch] = []
        assignments: list[pa.RecordBatch] = []

        def sink(c, a):
            customers.append(c)
            assignments.append(a)

        import pyarrow as pa

        from pol.evaluation.assignment_columns import run_metadata, with_run_metadata
        from pol.evaluation.stream import batches_of, output_schemas

        # the result holds every output batch: nothing is gained by spilling
        run = self.stream(sink, as_of, params, engine=engine, history=history, spill=False)
        key_type = None
        for batch in batches_of(data, self.columns, optional=True):
            key_type = key_type or batch.schema.field(self.program.input.key).type
            run.feed(batch)
        run.finish()
        key_type = key_type or self.program_key_arrow_type()
        meta = run_metadata(self.program, run.as_of, run.run_id)
        c_schema, a_schema = (with_run_metadata(s, meta) for s in output_schemas(self.program, self.plan, key_type))
        ct = pa.Table.from_batches([b.cast(c_schema) if b.schema != c_schema else b for b in customers],
                                   schema=c_schema)
        at = pa.Table.from_batches([b.cast(a_schema) if b.schema != a_schema else b for b in assignments],
                                   schema=a_schema)
        # the run's identity is in the Result's fields and the tables' metadata:
        # the summary is what was computed, equal for equal runs
        summary = {**run.counts.to_dict(self.labels()), "absent_fields": list(run.absent)}
        if run.history is not None:
            summary["history"] = run.history.summary()
        if run.arms:
            summary["experiments"] = run.arms.summary()
        return Result(ct, at, summary, self.program.name, self.program.version, run.as_of, run.run_id,
                      tuple(self.warnings(engine)))

    def warnings(self, engine: str = "auto") -> list[str]:
        """What a run on this engine could not do as it should (so far in this
        process): a failed background compile of the kernel."""
        auto = self.__dict__.get("_auto")        # none made: nothing ran on it
        return auto.warnings() if engine == "auto" and auto is not None else []

    def program_key_arrow_type(self) -> pa.DataType:
        import pyarrow as pa
        t = self.program.input.field(self.program.input.key).type
        return pa.int64() if t.value == "int" else pa.string()

    def decide(self, record: dict, as_of=None, params=None, engine: str = "auto", extra: str = "error",
                exhausted: frozenset[str] | set[str] | tuple[str, ...] = (), history=None, ledger=None):
        """One customer, in-process: segments, classifications, scores and
        accepted offers. `engine`: "kernel" (the compiled row kernel, built on
        first use), "reference" (the reference evaluator) or "auto" (the
        kernel once a background thread has built it, the reference evaluator
        until then). Every engine reads the record the same way
        (pol.api.records); `extra="ignore"` skips fields the input block does
        not declare, which are otherwise an error. `exhausted` names offers
        whose capacity a caller's ledger has used up (pol serve): they are
        lost to capacity, and the walk goes on to the next candidates, as in
        a run. `history`: the customer's events, {history name: [event
        record, ...]} (LANGUAGE.md section 12), read like records; a history
        left out has none. `ledger` (a pol.Ledger): the run-wide constraints
        apply, against what the ledger's earlier decisions used, and what
        this decision gives is recorded in it (LANGUAGE.md 6.4)."""
        if self.program.population is not None and not self.addresses(record, as_of, params, extra, history):
            # LANGUAGE.md 3.14: no offer, and nothing taken from a ledger; explain says why
            d = self._decide(record, as_of, params, engine, extra, exhausted, history)
            return d.model_copy(update={"offers": []})
        return self._decide(record, as_of, params, engine, extra, exhausted, history, ledger)

    def addresses(self, record: dict, as_of=None, params=None, extra: str = "error", history=None) -> bool:
        """Whether the customer is in the policy's population (LANGUAGE.md
        3.14): always, for a policy without one. By the reference rules, on
        the population's own program (its condition and what it reads)."""
        if self.program.population is None:
            return True
        from pol.evaluation.population import NAME, population_program
        from pol.reference.interp import evaluate_row
        program = self._population_program
        if program is None:
            program = self._population_program = population_program(self.program)
        as_of = _moment(self.program, as_of)
        row = evaluate_row(program, record, _as_of(as_of), params, trace=False, extra=extra, history=history)
        return row.values[NAME] is True

    def _decide(self, record: dict, as_of, params, engine: str, extra: str, exhausted, history, ledger=None):
        if ledger is not None:
            program = offer_settings.with_params(self.program, resolve_params(self.program, params)
                                                 if params else self._defaults)
            d, _ = ledger.decide(program, lambda refused: self._decide(
                record, as_of, params, engine, extra, frozenset(exhausted) | refused, history))
            return d
        if engine not in DECIDE_ENGINES:
            _choice("engine", engine, DECIDE_ENGINES)
        if type(as_of) is not dt.date:      # a date: no time of day, nothing to convert
            as_of = _moment(self.program, as_of)
        day = as_of if type(as_of) is dt.date else _as_of(as_of)
        values = resolve_params(self.program, params) if params else self._defaults
        if self._quiet:
            values = run_params(self.program, values, as_of)
        row = self._row_executor
        if engine == "reference" or (engine == "auto" and (row is None or row._kernel is None)
                                     and not self._row_ready()):
            from pol.api.decision import decide_reference
            d = decide_reference(self.program, record, day, values, extra=extra, exhausted=exhausted,
                                 history=history)
            if engine == "auto":
                # Started once the answer is made: the first decision does not
                # share the GIL with Numba's import.
                self._start_row()
            return d
        cached = self._active_cache
        active = cached[1] if values is self._defaults and cached is not None and cached[0] == day \
            else self._active(day, values)
        if exhausted:
            # An offer lost to capacity takes no place in the walk, exactly as
            # one that is not a candidate.
            import numpy as np  # here: the reference evaluator's decisions do without it
            active = active & np.array([o.name not in exhausted for o in self.program.offers], np.bool_)
        decisions = self._decisions
        if decisions is None:
            from pol.api.decision import CompiledDecisions
            decisions = self._decisions = CompiledDecisions(self._row, self.program, self.lowered.columns,
                                                            self._arms)
        return decisions.decide(record, day, values, active, extra, history)

    def _row_ready(self) -> bool:
        """Whether `auto` decides on the row kernel now. A kernel in Numba's
        disk cache loads in milliseconds once Numba is imported, but the
        import and Numba's first dispatch in the process take most of a
        second: so it loads behind the first decisions, which the reference
        evaluator makes (the same decisions: tests/conformance), as one that
        is not cached compiles behind them. Without background builds
        (POL_BACKGROUND_COMPILE=0) a cached kernel is loaded now and used."""
        row = self._row_executor
        if row is not None and row.ready:
            return True
        if _background():
            return False
        row = self._row
        if cache.is_cached(row.source):
            row.kernel()
            return True
        return False

    def _start_row(self) -> None:
        """Build (or load) the row kernel on a background thread, once per
        process (a forked child starts its own: the parent's thread is not
        there)."""
        if not _background() or self._row_started == os.getpid():
            return
        self._row_started = os.getpid()
        self._row_thread = threading.Thread(target=self._build_row, name="pol-row-kernel", daemon=True)
        self._row_thread.start()

    def _build_row(self) -> None:
        # Importing Numba reads thousands of files, giving up the GIL at
        # each read; with decisions running on other threads it then waits a
        # whole switch interval (5 ms) to get it back each time, and the
        # kernel served 9-13 s after the first decision instead of about 1 s
        # (benchmarks/README.md). A short interval while it loads.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, _LOADING_INTERVAL))
        try:
            with cache.BUILDING:
                # a fork waits while Numba's modules import here: a child would
                # find them half made, their import locks held by no thread
                row = self._row
            row.kernel()
        finally:
            sys.setswitchinterval(interval)

    def _active(self, day, values):
        if values is not self._defaults:    # a window may come from a param
            return _active_offers(offer_settings.with_params(self.program, values), day)
        cached = self._active_cache
        if cached is None or cached[0] != day:
            cached = self._active_cache = (day, _active_offers(self.program, day))
        return cached[1]

    def explain(self, record: dict, as_of=None, params=None, extra: str = "error", history=None, ledger=None):
        """Why this customer gets what it gets: an Explanation (`str()` is the
        text a marketer reads, `to_dict()` / `to_json()` its data); the
        aggregates of `history` (as for decide) show with their values.
        With a `ledger`, what decide with it would give now, and which
        run-wide constraint refused an offer; the ledger is not changed."""
        from pol.reference.explain import explain
        as_of = _moment(self.program, as_of)
        return explain(self.program, record, _as_of(as_of),
                       run_params(self.program, resolve_params(self.program, params or {}), as_of),
                       extra=extra, history=history, ledger=ledger)

    def __repr__(self) -> str:
        return f"<Policy {self.name} version {self.version!r} from {self.path}>"


def _active_offers(program: ir.Program, day: dt.date) -> np.ndarray:
    # imported here: pol.evaluation.stream imports Numba (the row kernel's
    # callers have it by then)
    from pol.evaluation.stream import active_offers
    return active_offers(program, day)


# The GIL's switch interval while the row kernel loads behind decisions (s).
_LOADING_INTERVAL = 0.0002


def _background() -> bool:
    return os.environ.get("POL_BACKGROUND_COMPILE", "1") != "0"


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
