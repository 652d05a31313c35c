"""pol on Spark: the same policy over a Spark DataFrame, exact to the row.

    import pol.spark
    customers, assignments = pol.spark.evaluate(policy, df, as_of="2026-11-01")
    summary = pol.spark.evaluate(policy, df, as_of="2026-11-01").summary()

Needs PySpark (`pip install 'pol-engine[spark]'`); docs/SPARK.md says how it
runs and why it is exact.
"""
from __future__ import annotations

__all__ = ["SparkResult", "evaluate"]


def evaluate(policy, df, *, as_of=None, params=None, history=None, position=None):
    from pol.spark.dataframes import evaluate as run
    return run(policy, df, as_of=as_of, params=params, history=history, position=position)


evaluate.__doc__ = """The policy over every row of a Spark DataFrame: (customers, assignments),
Spark DataFrames with the columns of Policy.evaluate's tables, as a SparkResult
(its summary() is the local Result.summary). See pol.spark.dataframes.evaluate."""


def __getattr__(name):
    if name == "SparkResult":     # PySpark imported only when asked for
        from pol.spark.dataframes import SparkResult
        return SparkResult
    raise AttributeError(f"module 'pol.spark' has no attribute {name!r}")
