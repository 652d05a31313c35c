"""Pruning a run's Parquet input by its population (LANGUAGE.md 3.14): the
files (hive partitions) and row groups that no row of the population can
be in, found from the partition values and the row groups' statistics by
pyarrow.dataset, are not read. What is read is then filtered row by row by
the exact condition (engine/evaluation/population.py).

In: the program, the run's params, the checked Input (engine/io/input_files.py).
Out: each InputFile's `row_groups` set (an empty list: the file is skipped)
and `rows` the rows they hold; a Scan of what was skipped, for the summary.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa

from pol.io.input_files import Input, _reading


@dataclass
class Scan:
    """What a run did not read. Files of a partition pruned whole are not
    opened, so their row groups and rows are not counted: `row_groups` and
    `rows_skipped` are of the files opened."""
    filter: str | None = None   # the pushed-down filter as pyarrow writes it; None: nothing pruned
    files: int = 0
    files_skipped: int = 0
    partitions: int = 0         # hive partitions (distinct folder values)
    partitions_skipped: int = 0
    row_groups: int = 0
    row_groups_skipped: int = 0
    rows_skipped: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def prune(program, params: Mapping[str, object], inp: Input) -> Scan:
    """Mark what each file of `inp` needs read; the counts of what does not."""
    scan = Scan(inp.partition_filter if inp.files_pruned else None, files=inp.listed,
                files_skipped=inp.files_pruned, partitions=inp.partitions, partitions_skipped=inp.partitions_skipped)
    if program.population is None or inp.fmt != "parquet":
        return scan
    # imported here: pyarrow.dataset takes a tenth of a second, which a run without a population never needs
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from pol.io.pushdown import population_filter
    parquet, local = ds.ParquetFileFormat(), pafs.LocalFileSystem()
    filters: dict[pa.Schema, object] = {}
    shown: set[str] = set()
    for file in inp.files:
        if file.row_groups == []:
            continue            # its partition is pruned (Input)
        schema = file.schema
        if schema not in filters:
            filters[schema] = population_filter(program, params, schema)
        expr = filters[schema]
        if expr is None:
            continue
        shown.add(str(expr))
        with _reading(program, file.path, file.fmt):
            fragment = parquet.make_fragment(file.path, local, partition_expression=_partition(file))
            kept = fragment.subset(filter=expr, schema=schema)
            groups = fragment.row_groups
            keep = [g.id for g in kept.row_groups]
        scan.row_groups += len(groups)
        if len(keep) == len(groups):
            continue
        sizes = {g.id: g.num_rows for g in groups}
        rows = sum(sizes[k] for k in keep)
        scan.row_groups_skipped += len(groups) - len(keep)
        scan.rows_skipped += (file.rows or 0) - rows
        scan.files_skipped += not keep
        file.row_groups, file.rows = keep, rows
    if shown:
        scan.filter = " / ".join(sorted(shown))
    elif scan.files_skipped:
        scan.filter = inp.partition_filter
    return scan


def partitions_to_read(program, params: Mapping[str, object],
                       values: dict[str, dict[str, pa.Scalar]]) -> tuple[set[str], str | None]:
    """The files (of a hive folder: `values`, each file's partition values)
    whose partition can hold a row of the population, found from the folder
    names alone: the others are not opened. And the filter, as text."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from pol.io.columns import ARROW
    from pol.io.pushdown import population_filter
    declared = {f.name: ARROW[f.type] for f in program.input.fields}
    for v in values.values():
        for name, value in v.items():
            declared.setdefault(name, value.type)
    schema = pa.schema(list(declared.items()))
    expr = population_filter(program, params, schema)
    if expr is None:
        return set(values), None
    paths = list(values)
    guarantees = [_guarantee(values[p], pc) for p in paths]
    dataset = ds.FileSystemDataset.from_paths(paths, schema=schema, format=ds.ParquetFileFormat(),
                                              filesystem=pafs.LocalFileSystem(), partitions=guarantees)
    return {f.path for f in dataset.get_fragments(filter=expr)}, str(expr)


def _guarantee(partition: dict[str, pa.Scalar], pc):
    expr = pc.scalar(True)
    for name, value in partition.items():
        expr = expr & (pc.field(name) == pc.scalar(value) if value.is_valid else pc.field(name).is_null())
    return expr


def _partition(file):
    """What the file's folders say of every row it holds."""
    import pyarrow.compute as pc
    return _guarantee(file.partition, pc)
