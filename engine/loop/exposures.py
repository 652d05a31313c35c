"""Who was treated and who was held out, and what was observed after.

In: a `pol run` output folder (assignments.parquet/.csv/.arrow: key, offer,
control; customers.parquet/.csv: segments and classifications; summary.json:
labels), or decision logs in its place (a JSON lines file, or a folder of
them: one object per decision with `key` and `offers` [{offer, control}],
and `experiments` {experiment: arm} where the policy has experiments;
a customer decided twice counts once per offer, at its first decision,
and in the arms of its first decision);
and an outcomes file or folder as `pol run` reads inputs (Parquet, Arrow
IPC, CSV): a key column, optionally `offer`, and the metric column.
Out: `Exposures` (key, offer, control; customers for grouping; labels) and
the outcomes table (key, [offer], metric as float64), checked: errors are
DataErrors naming the file and column.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.errors import DataError


@dataclass
class Exposures:
    table: pa.Table                         # key, offer (string), control (bool)
    key: str
    source: str
    customers: pa.Table | None = None       # key + segment / class columns, from a run
    segments: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)    # offer and segment labels
    experiments: dict = field(default_factory=dict)   # name -> its arms as declared, then "control"
    what: str = "the run"                   # what the exposures are, as error messages name it


def _read(path: Path, columns=None, types=None) -> pa.Table:
    """One Parquet, Arrow IPC/Feather or CSV file (the run's own or the user's)."""
    import pyarrow.csv as pacsv
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    from pol.io.input_files import SUFFIXES
    kind = SUFFIXES.get(path.suffix.lower())
    try:
        if kind == "parquet":
            return pq.read_table(path, columns=columns)
        if kind == "ipc":
            return feather.read_table(path, columns=columns)
        if kind == "csv":
            opts = pacsv.ConvertOptions(include_columns=columns, column_types=types or {},
                                        null_values=["", "NULL", "null"], strings_can_be_null=True)
            return pacsv.read_csv(path, convert_options=opts)
    except (pa.ArrowException, OSError) as e:
        text = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DataError(f"cannot be read ({text})", path=str(path)) from None
    raise DataError("unknown format: name the file .parquet, .arrow/.feather/.ipc or .csv", path=str(path))


def _run_file(run: Path, name: str) -> Path | None:
    for suffix in (".parquet", ".csv", ".arrow"):
        if (run / f"{name}{suffix}").is_file():
            return run / f"{name}{suffix}"
    return None


def from_run(run_dir: str) -> Exposures:
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError("no such folder: give the output folder of a pol run", path=run_dir)
    path = _run_file(run, "assignments")
    if path is None:
        raise DataError("holds no assignments.parquet or assignments.csv: is it the output folder of a pol run?",
                        path=run_dir)
    assignments = _read(path)
    key = assignments.column_names[0]
    for col in ("offer", "control"):
        if col not in assignments.column_names:
            raise DataError(f"has no column '{col}': not the assignments of a pol run", column=col, path=str(path))
    table = pa.table({key: assignments.column(key), "offer": assignments.column("offer").cast(pa.string()),
                      "control": assignments.column("control").cast(pa.bool_())})
    labels: dict = {}
    experiments: dict = {}
    summary = run / "summary.json"
    if summary.is_file():
        try:
            s = json.loads(summary.read_text(encoding="utf-8"))
            labels = {k: v.get("label") for part in ("offers", "segments") for k, v in s.get(part, {}).items()}
            # Customers per arm, in declaration order with control last: the arms' order.
            experiments = {k: list(v) for k, v in (s.get("experiments") or {}).items()}
        except (OSError, ValueError, AttributeError):
            labels = {}
    customers, segments = None, []
    cpath = _run_file(run, "customers")
    if cpath is not None:
        customers = _read(cpath)
        customers = customers.drop_columns([c for c in ("offers",) if c in customers.column_names])
        segments = [f.name for f in customers.schema if pa.types.is_boolean(f.type) and f.name != key]
    columns = customers.column_names if customers is not None else []
    experiments = {k: v for k, v in experiments.items() if k in columns}
    return Exposures(table, key, str(run_dir), customers, segments, labels, experiments)


_OFFERS = pa.schema([("offers", pa.list_(pa.struct([("offer", pa.string()), ("control", pa.bool_()),
                                                     ("rank", pa.int64()), ("channel", pa.string()),
                                                     ("priority", pa.float64())])))])


def from_decisions(path: str) -> Exposures:
    """Decision logs: JSON lines with `key` and `offers` [{offer, control}]."""
    import pyarrow.json as pajson
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (".jsonl", ".json", ".ndjson")
                       and not any(part.startswith((".", "_")) for part in f.relative_to(p).parts))
        if not files:
            raise DataError("the folder holds no .jsonl, .ndjson or .json decision logs", path=path)
    elif p.is_file():
        files = [p]
    else:
        raise DataError("no such file or folder", path=path)
    parts, arm_parts = [], []
    for f in files:
        try:
            # `offers` typed up front: a block whose decisions all have no
            # offer would otherwise infer a list of nulls, and `offer` text
            # that looks like a date a timestamp (pol serve writes such logs).
            t = pajson.read_json(f, parse_options=pajson.ParseOptions(
                explicit_schema=_OFFERS, unexpected_field_behavior="infer"))
        except (pa.ArrowException, OSError) as e:
            text = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise DataError(f"not JSON lines ({text})", path=str(f)) from None
        for col in ("key", "offers"):
            if col not in t.column_names:
                raise DataError(f"a decision without '{col}': each line needs key and offers [{{offer, control}}]",
                                column=col, path=str(f))
        offers = t.column("offers").combine_chunks()
        if offers.null_count:     # the explicit schema makes the column; a line may still lack it
            raise DataError("a decision without 'offers': each line needs key and offers [{offer, control}]",
                            column="offers", path=str(f))
        if not (pa.types.is_list(offers.type) and pa.types.is_struct(offers.type.value_type)
                and offers.type.value_type.get_field_index("offer") >= 0):
            raise DataError("'offers' must be a list of {offer, control} objects", column="offers", path=str(f))
        flat = offers.flatten()
        parent = pc.list_parent_indices(offers)
        control = flat.field("control") if flat.type.get_field_index("control") >= 0 else \
            pa.nulls(len(flat), pa.bool_())
        parts.append(pa.table({"key": t.column("key").combine_chunks().take(parent),
                               "offer": flat.field("offer").cast(pa.string()),
                               "control": pc.fill_null(control.cast(pa.bool_()), False)}))
        if "experiments" in t.column_names:
            arm_parts.append(_arms(t, f))
    try:
        table = pa.concat_tables(parts, promote_options="permissive")
    except pa.ArrowException as e:
        raise DataError(f"the logs disagree on the type of a field ({e})", path=path) from None
    # One exposure per customer and offer: the first decision's.
    first = table.append_column("_n", pa.array(np.arange(table.num_rows))) \
        .group_by(["key", "offer"], use_threads=False).aggregate([("_n", "min")])
    table = table.take(pa.array(np.sort(first.column("_n_min").to_numpy())))
    customers, experiments = _decided(arm_parts, path)
    return Exposures(table, "key", path, customers, experiments=experiments, what="the decision logs")


def _arms(t: pa.Table, f: Path) -> pa.Table:
    """Every decision's key and arms (`experiments` {name: arm}), offered or not."""
    x = t.column("experiments").combine_chunks()
    if not pa.types.is_struct(x.type):
        raise DataError("'experiments' must be an object {experiment: arm}", column="experiments", path=str(f))
    cols = {"key": t.column("key").combine_chunks()}
    for i in range(x.type.num_fields):
        cols[x.type.field(i).name] = x.field(i).cast(pa.string())
    return pa.table(cols).filter(pc.is_valid(x))


def _decided(parts: list[pa.Table], path: str) -> tuple[pa.Table | None, dict]:
    """The customers the logs decided, each with the arms of their first
    decision, and each experiment's arms (sorted: the logs do not say in
    which order they were declared; control last)."""
    if not parts:
        return None, {}
    try:
        t = pa.concat_tables(parts, promote_options="permissive")
    except pa.ArrowException as e:
        raise DataError(f"the logs disagree on the type of a field ({e})", path=path) from None
    first = t.append_column("_n", pa.array(np.arange(t.num_rows))) \
        .group_by(["key"], use_threads=False).aggregate([("_n", "min")])
    t = t.take(pa.array(np.sort(first.column("_n_min").to_numpy())))
    experiments = {}
    for name in t.column_names[1:]:
        arms = sorted(a for a in pc.unique(t.column(name)).to_pylist() if a is not None and a != "control")
        experiments[name] = arms + ["control"]
    return t, experiments


def read_outcomes(path: str, key: str, key_type: pa.DataType, metric: str) -> pa.Table:
    """The outcomes: key (as the run's type), offer when there is one, and
    the metric as float64 (true/false as 1/0); one row per customer (or per
    customer and offer)."""
    from pol.io.input_files import list_files
    _, files = list_files(path)
    tables = []
    for f in files:
        t = _read(Path(f), types={key: key_type, "offer": pa.string()})
        for col, why in ((key, "the customer key"), (metric, "the metric (choose another with --metric)")):
            if col not in t.column_names:
                raise DataError(f"has no column '{col}', {why}; it has {', '.join(t.column_names[:8])}",
                                column=col, path=f)
        m = t.column(metric)
        if pa.types.is_boolean(m.type):
            m = m.cast(pa.int8())
        if not (pa.types.is_integer(m.type) or pa.types.is_floating(m.type)):
            raise DataError(f"column '{metric}' is {m.type}: the metric must be numbers (0/1 for a response)",
                            column=metric, path=f)
        try:
            k = t.column(key).cast(key_type)
        except pa.ArrowException:
            raise DataError(f"column '{key}' is {t.column(key).type}, but the run's keys are {key_type}",
                            column=key, path=f) from None
        cols = {key: k, metric: m.cast(pa.float64())}
        if "offer" in t.column_names:
            cols["offer"] = t.column("offer").cast(pa.string())
        tables.append(pa.table(cols))
    names = [set(t.column_names) for t in tables]
    if any(n != names[0] for n in names):
        raise DataError("some outcome files have an 'offer' column and some do not", column="offer", path=path)
    out = pa.concat_tables(tables)
    by = [key, "offer"] if "offer" in out.column_names else [key]
    counts = out.group_by(by, use_threads=False).aggregate([([], "count_all")])
    dup = counts.filter(pc.greater(counts.column("count_all"), 1))
    if dup.num_rows:
        some = ", ".join(str(v) for v in dup.column(key).slice(0, 5).to_pylist())
        per = "customer and offer" if len(by) == 2 else "customer"
        raise DataError(f"{dup.num_rows:,} keys have more than one outcome row (e.g. {some}); one row per {per} "
                        "is expected", column=key, path=path)
    return out
