"""`pol.spark.evaluate`: a policy over a Spark DataFrame, exact to the row.

    customers, assignments = pol.spark.evaluate(policy, df, as_of="2026-11-01")

Before any job, the driver checks the DataFrame's schema and its values
against the policy's input block (schema.py: the engine's own checks, so
the same pol.DataError as a local run). A policy that reads history tables
gets their aggregates per key joined to the customers first (history.py),
as the extra input fields the kernel reads. Then, per partition, mapInArrow
runs the policy's compiled kernel over Arrow batches (worker.py). A policy
with capacities needs one more pass first: the candidate pairs of the
customers who have a candidate for an offer with a capacity are collected on
the driver and walked once in the global order (walk.py); what the walk
accepted travels to the executors (a broadcast), which finish every
partition. Each partition's customers carry their assignments nested;
`customers` and `assignments` are both cut from that one DataFrame (each
action on them runs the partitions again: persist it, or write both from
one cached DataFrame, when both are needed).
"""
from __future__ import annotations

import datetime as dt
import pickle
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from pol.compiler import offer_settings
from pol.errors import ArgumentError, DataError
from pol.io.columns import ARROW, absent_fields
from pol.spark.adapter import Arms, Counts, Rules
from pol.spark.history import aggregated, check_given, count_events, joined
from pol.spark.position import Positioned, positioned
from pol.spark.schema import check_columns, check_values, col, output_types, packed_type
from pol.spark.worker import ASSIGN, COUNTS_SCHEMA, Job, counts_fn, customers_fn


def policy_sources(policy) -> tuple[dict[str, str], str]:
    """Every file of a loaded policy as text, by path relative to the root
    file's folder, and the root's relative path: what the executors load."""
    files = [Path(f) for f in policy.program.files] or ([Path(policy.path)] if policy.path else [])
    if not files or not all(f.is_file() for f in files):
        raise ArgumentError("pol.spark.evaluate needs a policy loaded from its file (pol.load) or the file's path",
                            argument="policy")
    base = files[0].resolve().parent
    sources = {}
    for f in files:
        real = f.resolve()
        rel = real.relative_to(base) if base in real.parents or real.parent == base else Path(real.name)
        sources[str(rel)] = real.read_text(encoding="utf-8")
    return sources, str(files[0].resolve().relative_to(base))


def load_policy(policy):
    from pol.api.policy import Policy, load
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, (str, Path)):
        return load(policy)
    raise ArgumentError(f"policy must be a pol.Policy or a path, not {type(policy).__name__}", argument="policy")


def _as_of(as_of) -> dt.date:
    from pol.api.policy import _as_of as engine_as_of
    return engine_as_of(as_of)


def _moment(program, as_of):
    from pol.api.policy import _moment as engine_moment
    return engine_moment(program, as_of, now=False)


def run_params(program, values: dict, moment) -> dict:
    from pol.compiler.frontend.contact import run_params as engine_run_params
    return engine_run_params(program, values, moment)


class Prepared:
    """A checked run: the policy, the positioned input, the executors' job."""

    def __init__(self, policy, df: DataFrame, as_of, params, history, position, path: str | None = None,
                 history_paths: dict | None = None):
        from pol.api.params import resolve_params
        self.policy = load_policy(policy)
        # the histories' names and types, before any job (history.py)
        read = check_given(self.policy, history)
        if not isinstance(df, DataFrame):
            raise ArgumentError(f"df must be a Spark DataFrame, not {type(df).__name__}", argument="df")
        _python_for_workers(df)
        # a time of day in as_of ('YYYY-MM-DDTHH:MM') is the quiet hours' (LANGUAGE.md 14), as in a local run
        moment = _moment(self.policy.program, as_of)
        day = _as_of(moment)
        values = run_params(self.policy.program, resolve_params(self.policy.program, params or {}), moment)
        # capacities, constraints and windows as the run's params set them, for the driver's walk
        program = offer_settings.with_params(self.policy.program, values)
        self.program = program
        self.rules = Rules.of(program)
        # A nullable field the data lacks reads as null, as in a local run:
        # the column is added here, typed, so that every path on the workers
        # reads the same schema, and the summary names it.
        self.absent = absent_fields(program, df.columns)
        if self.absent:
            from pyspark.sql.pandas.types import from_arrow_type
            types = {f.name: ARROW[f.type] for f in program.input.fields}
            df = df.withColumns({n: F.lit(None).cast(from_arrow_type(types[n])) for n in self.absent})
        self.schema = check_columns(program, df, path)
        self.input: Positioned = positioned(df, self.policy.columns, position)
        check_values(program, self.input.data, self.schema, self.input.files)
        sources, root = policy_sources(self.policy)
        self.job = Job(sources, root, day, values, self.input.files)
        # each history's aggregates per key, joined to the customers before
        # the population (which may read them) and the kernel (history.py)
        self.histories = [aggregated(self.policy, h, mine, history[h.name], self.job, (history_paths or {}).get(h.name))
                          for h, mine in read]
        if self.histories:
            self.customers = self.input.data        # every row read, for the summary's matched events
            self.input = replace(self.input, data=joined(self.input.data, program.input.key, self.histories))
        self.read = self.input.data            # every row read: the population's count of those left out
        if program.population is not None:
            # LANGUAGE.md 3.14: the rows outside it go no further (positions kept)
            from pol.spark.worker import population_fn
            data = self.input.data
            self.input = replace(self.input, data=data.mapInArrow(population_fn(self.job), data.schema))
        key_type = self.schema.field(program.input.key).type
        self.types = output_types(program, self.policy.plan, key_type)
        self.funnel = None      # the global walk's counts, with capacities
        self.allocation = None  # under `maximize priority`, the allocation's report (LANGUAGE.md 6.7)

    def history_counts(self) -> dict:
        """summary["history"] of a local run: per history, its events,
        matched, unmatched, undated and future (one job each)."""
        key = self.program.input.key
        return {h.name: count_events(self.customers, key, h) for h in self.histories}

    def counts(self) -> tuple[Counts, Arms]:
        """The run's counts before any partition's are added: the driver's
        walk's funnel and allocation (with capacities) only."""
        counts = Counts.empty(self.policy.plan)
        counts.allocation = self.allocation
        if self.funnel is not None:
            counts.funnel += self.funnel
        return counts, Arms(self.program)

    def count_outside(self, counts: Counts, rows_read: int | None = None) -> None:
        """With a population, the rows read outside it, as a local run counts
        them (LANGUAGE.md 3.14): `rows_read`, or one job's count of them."""
        if self.program.population is not None:
            counts.outside = (self.read.count() if rows_read is None else rows_read) - counts.customers

    def summary(self, counts: Counts, arms: Arms, history_counts: dict | None) -> dict:
        """The local run's summary (Policy.evaluate's Result.summary) from the
        partitions' counts."""
        self.count_outside(counts)
        summary = {**counts.to_dict(self.policy.labels()), "absent_fields": list(self.absent)}
        if history_counts is not None:
            summary["history"] = history_counts
        if arms:
            summary["experiments"] = arms.summary()
        return summary

    def walk(self) -> None:
        """With capacities: the global walk, on the driver (walk.py)."""
        if self.rules.has_capacity:
            from pol.spark.walk import global_walk
            with worker_errors():
                self.job.walked, self.job.accepted, self.funnel, self.allocation = global_walk(self)


def _python_for_workers(df: DataFrame) -> None:
    """Local mode: the workers must import pol and pyarrow, so they run this
    interpreter unless PYSPARK_PYTHON says otherwise (set before the session
    starts its first worker)."""
    import os
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def add_partition(counts: Counts, arms: Arms, part) -> None:
    """A partition's counts (worker._pickled_counts, unpickled) into the run's."""
    customers, segments, classes, funnel, by_channel, drawn = part
    for mine, theirs in zip(arms.counts, drawn):
        mine += theirs
    counts.customers += customers
    counts.segments += segments
    for mine, theirs in zip(counts.classes, classes):
        mine += theirs
    counts.funnel += funnel
    counts.by_channel += by_channel


class SparkResult(tuple):
    """What pol.spark.evaluate returns: `(customers, assignments)`, as a
    tuple (so `customers, assignments = ...` unpacks it), plus `summary()`,
    the local run's summary computed by one more pass (Spark runs nothing
    until asked, so neither does the summary)."""

    def __new__(cls, customers: DataFrame, assignments: DataFrame, run: Prepared):
        self = super().__new__(cls, (customers, assignments))
        self._run = run
        return self

    @property
    def customers(self) -> DataFrame:
        return self[0]

    @property
    def assignments(self) -> DataFrame:
        return self[1]

    def summary(self) -> dict:
        """Policy.evaluate's Result.summary for this run: counts per segment,
        classification, offer funnel and channel, absent fields, and as the
        policy has them history, experiments, allocation and the rows left
        outside the population. Each call runs its jobs again."""
        run = self._run
        counts, arms = run.counts()
        with worker_errors():
            for r in run.input.data.mapInArrow(counts_fn(run.job), from_arrow_schema(COUNTS_SCHEMA)).collect():
                add_partition(counts, arms, pickle.loads(r["counts"]))
            history = run.history_counts() if run.histories else None
            return run.summary(counts, arms, history)


@contextmanager
def worker_errors():
    """A pol error raised in a Python worker, raised again on the driver as
    itself, not as Spark's wrapping of it. (The driver's checks catch bad
    input before any job; this is for what they cannot see.)"""
    try:
        yield
    except DataError:
        raise
    except Exception as e:
        text = str(e)
        marker = "pol.errors.DataError: "
        if marker in text:
            line = text[text.index(marker) + len(marker):].splitlines()[0]
            raise DataError(line) from None
        raise


def evaluate(policy, df: DataFrame, *, as_of=None, params=None, history=None,
             position: str | None = None) -> SparkResult:
    """The policy over every row of `df`: (customers, assignments), Spark
    DataFrames with the columns of Policy.evaluate's tables (classifications,
    offer and channel names as strings), and `.summary()` (SparkResult). `position` names a column giving
    each row's input position, for a DataFrame not read from files whose
    order matters (capacities); see position.py."""
    run = Prepared(policy, df, as_of, params, history, position)
    run.walk()
    customers_t, assignments_t = run.types
    packed = run.input.data.mapInArrow(customers_fn(run.job, with_pos=False),
                                       packed_type(customers_t, assignments_t, with_pos=False))
    customers = packed.select(*[col(f.name) for f in customers_t.fields])
    key = run.program.input.key
    assignments = packed.select(col(key), F.inline(col(ASSIGN))).select(
        *[col(f.name) for f in assignments_t.fields])
    return SparkResult(customers, assignments, run)
