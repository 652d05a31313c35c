"""pol on Spark: the same policy over a Spark DataFrame, exact to the row.

    import pol.spark
    customers, assignments = pol.spark.evaluate(policy, df, as_of="2026-11-01")

Needs PySpark (`pip install 'pol-engine[spark]'`); docs/SPARK.md says how it
runs and why it is exact.
"""
from __future__ import annotations

__all__ = ["evaluate"]


def evaluate(policy, df, *, as_of=None, params=None, history=None, position=None):
    from pol.spark.dataframes import evaluate as run
    return run(policy, df, as_of=as_of, params=params, history=history, position=position)


evaluate.__doc__ = """The policy over every row of a Spark DataFrame: (customers, assignments),
Spark DataFrames with the columns of Policy.evaluate's tables. See pol.spark.dataframes.evaluate."""
