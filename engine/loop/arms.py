"""An experiment's arms against its control group, and against each other.

    rows, measured = experiment_rows(exposures, outcomes, metric, ["care_ab"], by, missing, binary)

In: exposures from a run or decision logs whose `customers` table holds an
arm column per experiment (`experiments`: name -> its values, the arms
as declared then `control`), the outcomes (one row per customer), the
experiments to measure, the groupings (`by`, as for the offers), the
missing rule and whether the metric is 0/1. Out: EFFECT rows (engine/loop/
effect.py) with `experiment`, `arm` and `against` set and `offer` null,
and the customers per arm of each experiment measured.

Intention to treat: every customer of an arm counts, offered or not,
against every customer of the group it is measured against; the random
split is what makes the two comparable, so nobody is left out for what
the policy then did with them. Each arm is measured against the control
group when the run has customers in it, and every two arms against each
other (the later declared against the earlier): without a control share
the arms still say which did better.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.errors import DataError

CONTROL = "control"


def select(exposures, names) -> list[str]:
    """The experiments to measure: all the run carries, or those named
    (an unknown name is an error that lists the run's)."""
    carried = list(exposures.experiments)
    if not names:
        return carried
    for name in names:
        if name not in exposures.experiments:
            there = f"the experiments there: {', '.join(carried)}" if carried else "there are none"
            raise DataError(f"--experiment {name}: no experiment '{name}' in {exposures.what}; {there}",
                            path=exposures.source)
    return list(dict.fromkeys(names))


def customer_outcomes(exposures, outcomes: pa.Table, metric: str, missing: str) -> pa.Table:
    """The run's customers (key, arm columns) with `_metric` (one outcome per
    customer: 0 or dropped without one, as --missing says)."""
    key = exposures.key
    cust = exposures.customers
    out = outcomes.select([key, metric]).rename_columns([key, "_metric"])
    keys = cust.column(key)
    if pa.types.is_dictionary(keys.type):
        keys = keys.cast(keys.type.value_type)
    if out.column(key).type != keys.type:
        out = out.set_column(0, key, out.column(key).cast(keys.type))
    base = pa.table({key: keys, "_row": pa.array(np.arange(cust.num_rows))})
    joined = base.join(out, keys=key, join_type="left outer", use_threads=False).sort_by("_row")
    values = joined.column("_metric")
    if missing == "zero":
        return joined.set_column(joined.column_names.index("_metric"), "_metric", pc.fill_null(values, 0.0))
    return joined.filter(pc.is_valid(values))


def _arm_codes(exposures, name: str, rows: np.ndarray) -> np.ndarray:
    """Each customer's arm as an index into the experiment's values (its
    arms, then control); a value it does not declare reads as control."""
    values = exposures.experiments[name]
    col = exposures.customers.column(name).combine_chunks()
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    at = pc.index_in(col, value_set=pa.array(values, pa.string())).to_numpy(zero_copy_only=False)
    at = np.nan_to_num(at.astype(np.float64), nan=len(values) - 1).astype(np.int64)
    return at[rows]


def _comparisons(values: list[str], counts: np.ndarray) -> list[tuple[int, int]]:
    """(arm, against) index pairs: each arm against control when the run
    has controls, then every two arms, the later against the earlier."""
    arms = range(len(values) - 1)
    out = [(a, len(values) - 1) for a in arms] if counts[-1] else []
    return out + [(b, a) for a in arms for b in arms if b > a]


def _warning(row: dict, binary: bool, arm: str, against: str, warning) -> str | None:
    if row["control"] == 0:
        return f"nobody in {against}: nothing to measure the arm against"
    if row["treated"] == 0:
        return f"nobody in the arm {arm}"
    return warning(row, binary)


def experiment_rows(exposures, outcomes: pa.Table, metric: str, names: list[str], by, missing: str,
                    binary: bool) -> tuple[list[dict], dict]:
    from pol.loop.effect import _groupings, _stats, warning
    if not names:
        return [], {}
    joined = customer_outcomes(exposures, outcomes, metric, missing)
    values = joined.column("_metric").to_numpy(zero_copy_only=False).astype(np.float64)
    rows_at = joined.column("_row").to_numpy(zero_copy_only=False).astype(np.int64)
    kind = "rate" if binary else "mean"
    rows, measured = [], {}
    for name in names:
        arm_values = exposures.experiments[name]
        arm = _arm_codes(exposures, name, rows_at)
        A = len(arm_values)
        counts = np.bincount(arm, minlength=A)
        measured[name] = dict(zip(arm_values, (int(c) for c in counts)))
        pairs = _comparisons(arm_values, counts)
        # The experiment's own column is no grouping of itself (each group one arm).
        for group_by, codes, gnames in _groupings(exposures, joined, [b for b in by if b != name]):
            keep = codes >= 0
            cell = np.where(keep, codes * A + arm, -1)
            order = np.argsort(cell, kind="stable")
            cell_sorted, vals_sorted = cell[order], values[order]
            for g, gname in enumerate(gnames):
                lo = np.searchsorted(cell_sorted, g * A)
                hi = np.searchsorted(cell_sorted, (g + 1) * A)
                if lo == hi:
                    continue
                bounds = np.searchsorted(cell_sorted[lo:hi], g * A + np.arange(A + 1)) + lo
                for a, b in pairs:
                    row = _stats(vals_sorted[bounds[a]:bounds[a + 1]], vals_sorted[bounds[b]:bounds[b + 1]], binary)
                    row.update(offer=None, offer_label=None, group_by=group_by, group=gname, metric=metric,
                               kind=kind, experiment=name, arm=arm_values[a], against=arm_values[b])
                    row["warning"] = _warning(row, binary, arm_values[a], arm_values[b], warning)
                    rows.append(row)
    return rows, measured


def binary_values(values: np.ndarray) -> bool:
    """Whether a metric's values are all 0 or 1 (a response rate)."""
    return bool(len(values)) and bool(np.isin(values, (0.0, 1.0)).all())
