"""Input positions: the order in which the global walk breaks ties (offers
of equal priority for the last units of a capacity), defined so that a run
on Spark walks customers in the order `pol run` reads them on one machine.

* A DataFrame read from files (Parquet through spark.read, a Hive table
  stored as files): the position is (the file's place in the sorted list of
  input files, the row within the file), from Spark's `_metadata.file_path`
  and `_metadata.row_index`. `pol run` reads a folder's files in the same
  sorted order, row by row, so both walk customers alike, whatever Spark's
  partitioning (Spark orders its file splits by size, not by name, and may
  cut one file into several partitions).
* `position="COLUMN"`: that column's values (any integer type, unique per
  row), for a DataFrame computed from joins or shuffles, whose row order
  Spark does not keep.
* Otherwise: Spark's own order (partition, then row within it:
  monotonically_increasing_id), which is the DataFrame's order as collect()
  gives it, and exact only as far as that order is deterministic (a
  createDataFrame from local data is; a round-robin repartition is not).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pol.errors import ArgumentError, DataError
from pol.spark.schema import col
from pol.spark.worker import FILE, POS, ROW, normalized


@dataclass
class Positioned:
    data: DataFrame              # the input fields, then FILE and ROW, or POS
    files: list[str] | None      # the input files in position order (normalized), when read from files
    kind: str                    # "files", "column" or "spark order"


def file_order(files) -> list[str]:
    """Sorted as `pol run` sorts a folder's files (by path components)."""
    return sorted({normalized(f) for f in files}, key=lambda p: PurePosixPath(p).parts)


def positioned(df: DataFrame, columns: list[str], position: str | None = None) -> Positioned:
    fields = [col(c) for c in columns if c in df.columns]
    if position is not None:
        if not isinstance(position, str):
            raise ArgumentError(f"position must name a column, not {type(position).__name__}", argument="position")
        if position not in df.columns:
            raise DataError(f"the position column '{position}' is not in the DataFrame", column=position)
        if df.schema[position].dataType.typeName() not in ("long", "integer", "short", "byte"):
            raise DataError(f"the position column '{position}' must be an integer column, not "
                            f"{df.schema[position].dataType.simpleString()}", column=position)
        return Positioned(df.select(*fields, col(position).cast("long").alias(POS)), None, "column")
    try:
        data = df.select(*fields, F.col("_metadata.file_path").alias(FILE),
                         F.col("_metadata.row_index").alias(ROW))
        files = file_order(df.inputFiles())
        return Positioned(data, files, "files")
    except AnalysisException:
        return Positioned(df.select(*fields, F.monotonically_increasing_id().alias(POS)), None, "spark order")
