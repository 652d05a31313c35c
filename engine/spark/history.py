"""History tables on Spark (LANGUAGE.md section 12): the events DataFrames
-> one row of aggregates per event key -> joined to the customers.

A local run groups every event of a history by key once and hands each
batch of customers the aggregates of its keys (engine/evaluation/history.py).
On Spark a customer's events sit in other partitions than the customer, so
they are brought together first:

1. each events DataFrame is checked on the driver as the input is (the
   engine's schema and null checks, pol.DataError naming the column), with
   input positions (position.py) that say the order the events were given in;
2. hash-partitioned by key, so that all of a key's events are in one
   partition, whose events a mapInArrow pass groups by key with the local
   run's own grouping and aggregation (worker.events_fn): one row per key,
   every aggregate of the history, and the key's counts of events, undated
   and future events. Aggregates, not events, travel on: a customer with a
   million events is one row like any other;
3. left-joined to the customers on the key, before the population and the
   kernel pass, which read the aggregates as the extra input fields they are
   to every batch path (compiler/backend/history.py); a customer whose key
   no event has gets what section 12.2 gives "of nothing";
4. the summary's counts (`Aggregated.counts`) from the same per-key rows:
   events, undated and future summed, matched those of keys some customer
   of the input has (a semi-join with the customers' distinct keys).

Memory: a Python worker holds one partition of events whole (the local
run's 8 bytes per event and column read, plus Arrow's copy), so a history
is cut into at least `spark.sql.shuffle.partitions` partitions; a single key
holding most events lands in one partition whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pol.errors import ArgumentError
from pol.io.columns import ARROW, absent_fields
from pol.spark.adapter import PER_KEY, given_histories, used_fields, view
from pol.spark.position import positioned
from pol.spark.schema import check_columns, check_values, col, spark_type
from pol.spark.worker import HISTORY_KEY, Job, events_fn


def _events(name: str) -> str:
    """The joined column holding a key's event count: null when it has none."""
    return f"__pol_events:{name}"


@dataclass
class Aggregated:
    """One history's aggregates per event key (a DataFrame: HISTORY_KEY, the
    aggregates, PER_KEY), and what is needed to join and count them."""
    name: str
    path: str | None
    columns: list                   # compiler.backend.history.Column
    rows: DataFrame
    counts: dict = field(default_factory=dict)


def check_given(policy, history) -> list:
    """[(ir.History, its aggregates)] the run reads, with the events given
    for each checked to be Spark DataFrames (the local run's checks of
    names: a history given that the policy does not declare, or read and
    not given, is a pol.ArgumentError before any job)."""
    read = given_histories(policy.program, policy.lowered.columns, history if history is not None else {})
    for h, _ in read:
        if not isinstance(history[h.name], DataFrame):
            raise ArgumentError(f"history '{h.name}' must be a Spark DataFrame on Spark, not "
                                f"{type(history[h.name]).__name__}", argument="history")
    return read


def aggregated(policy, hist, columns, df: DataFrame, job: Job, path: str | None = None) -> Aggregated:
    """The history's events checked on the driver, then aggregated per key
    on the executors (steps 1 and 2 above)."""
    fields = used_fields(hist, columns)
    shape = view(hist, fields)
    absent = absent_fields(shape, df.columns)
    if absent:          # an absent nullable field reads as null, as in a local run (section 8.1)
        from pyspark.sql.pandas.types import from_arrow_type
        types = {f.name: ARROW[f.type] for f in fields}
        df = df.withColumns({n: F.lit(None).cast(from_arrow_type(types[n])) for n in absent})
    schema = check_columns(shape, df, path)
    events = positioned(df, [f.name for f in fields])
    check_values(shape, events.data, schema, events.files)
    key_type = policy.program.input.field(policy.program.input.key).type
    out = T.StructType(
        [T.StructField(HISTORY_KEY, spark_type(ARROW[key_type]), False)]
        + [T.StructField(c.name, spark_type(ARROW[c.aggregate.type]), c.nullable) for c in columns]
        + [T.StructField(n, T.LongType(), False) for n in PER_KEY])
    rows = events.data.repartition(col(hist.key)).mapInArrow(events_fn(job, hist.name, events.files), out)
    return Aggregated(hist.name, path, columns, rows)


def joined(customers: DataFrame, key: str, histories: list[Aggregated]) -> DataFrame:
    """The customers with every aggregate column (step 3): count and sum are
    0 for a customer without events, the others null (LANGUAGE.md 12.2)."""
    for h in histories:
        events = _events(h.name)
        right = h.rows.select(col(HISTORY_KEY), *[col(c.name) for c in h.columns], col("events").alias(events))
        customers = customers.join(right, col(key) == col(HISTORY_KEY), "left").drop(HISTORY_KEY)
        none = col(events).isNull()
        customers = customers.withColumns({
            c.name: F.when(none, F.lit(0).cast(spark_type(ARROW[c.aggregate.type]))).otherwise(col(c.name))
            for c in h.columns if c.aggregate.func in ("count", "sum")}).drop(events)
    return customers


def count_events(customers: DataFrame, key: str, h: Aggregated) -> dict:
    """The summary's counts of one history (step 4), one job: events,
    matched (of a key some customer of the input has), unmatched, undated,
    future, as a local run's summary["history"][name]."""
    keys = customers.select(col(key).alias("__pol_customer_key")).distinct().withColumn("__pol_matched", F.lit(1))
    rows = h.rows.join(keys, col(HISTORY_KEY) == col("__pol_customer_key"), "left")
    total = rows.agg(*[F.sum(n).alias(n) for n in PER_KEY],
                     F.sum(F.when(col("__pol_matched").isNotNull(), col("events"))).alias("matched")).collect()[0]
    events, matched = int(total["events"] or 0), int(total["matched"] or 0)
    return {"events": events, "matched": matched, "unmatched": events - matched,
            "undated": int(total["undated"] or 0), "future": int(total["future"] or 0)}


def in_position_order(data: DataFrame, from_files: bool, partitions: int) -> DataFrame:
    """The joined customers back in runs of consecutive input positions (a
    join shuffles them by key): ranges of positions, sorted within each
    partition, so that `pol run --engine spark` hands the driver long runs
    of output, as it does without a history. Costs one more shuffle of the
    customers, and a sort."""
    from pol.spark.worker import FILE, POS, ROW
    order = [col(FILE), col(ROW)] if from_files else [col(POS)]
    return data.repartitionByRange(max(partitions, 1), *order).sortWithinPartitions(*order)
