"""Treatment against control: the effect of each offer on an outcome.

    exposures = from_run("result/")                  # or from_decisions("logs/")
    outcomes = read_outcomes("outcomes.parquet", exposures.key, key_type, "response")
    table, info = estimate(exposures, outcomes, "response", by=["tier"])

In: exposures (engine/loop/exposures.py: who got which offer, and whether
as a control held out by the offer's `holdout`), the outcomes (one per
customer, or per customer and offer), the metric's name, the groupings.
Out: one row per offer and group (EFFECT columns): customers treated and
in control, the response rate (a 0/1 metric) or mean in each, the absolute
uplift with its 95% interval, the relative uplift with its interval, the
p-value, and a warning where the groups are too small to tell; and `info`
(what was matched, the rule).

Statistics are SciPy's: Welch's t-test (scipy.stats.ttest_ind,
equal_var=False) gives the p-value and the interval of the difference in
means; on 0/1 values that is the unpooled two-proportion test. The
relative uplift of a rate is SciPy's relative risk less 1
(scipy.stats.contingency.relative_risk, its log interval); of a mean, the
same log interval by the delta method. Groups: each offer over all its
customers ("all"), per segment of the run (customers in it), and per
value of any string column of the run's customers named in `by` (a
classification, or an experiment's arm). Then the experiments' rows
(engine/loop/arms.py): each arm on all its customers, offered or not,
against the control group and the other arms, with `experiment`, `arm`
and `against` set and `offer` null.
"""
from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.errors import DataError

CONFIDENCE = 0.95
MIN_GROUP = 30          # customers in each of treatment and control
MIN_EXPECTED = 5        # expected responders and non-responders in each (0/1 metrics)

EFFECT = pa.schema([
    ("offer", pa.string()), ("offer_label", pa.string()), ("group_by", pa.string()), ("group", pa.string()),
    ("metric", pa.string()), ("kind", pa.string()),
    ("treated", pa.int64()), ("control", pa.int64()),
    ("treated_value", pa.float64()), ("control_value", pa.float64()),
    ("uplift", pa.float64()), ("uplift_low", pa.float64()), ("uplift_high", pa.float64()),
    ("relative_uplift", pa.float64()), ("relative_low", pa.float64()), ("relative_high", pa.float64()),
    ("p_value", pa.float64()), ("warning", pa.string()),
    ("experiment", pa.string()), ("arm", pa.string()), ("against", pa.string()),
])

RULE = (f"A group's estimate is flagged too small to tell when treatment or control holds fewer than "
        f"{MIN_GROUP} customers or, for a 0/1 metric, when the responders or non-responders expected in "
        f"either group at the pooled rate are fewer than {MIN_EXPECTED}.")


def _joined(exposures, outcomes: pa.Table, metric: str, missing: str) -> tuple[pa.Table, dict]:
    key = exposures.key
    exp = exposures.table
    by = [key, "offer"] if "offer" in outcomes.column_names else [key]
    out = outcomes.rename_columns([c if c != metric else "_metric" for c in outcomes.column_names])
    if not pa.types.is_dictionary(exp.column(key).type) and exp.column(key).type != out.column(key).type:
        out = out.set_column(out.column_names.index(key), key, out.column(key).cast(exp.column(key).type))
    exp = exp.append_column("_row", pa.array(np.arange(exp.num_rows)))
    joined = exp.join(out, keys=by, join_type="left outer", use_threads=False).sort_by("_row")
    values = joined.column("_metric")
    absent = values.null_count
    matched_keys = pc.is_in(out.column(key), value_set=pc.unique(exp.column(key)))
    info = {"exposures": exp.num_rows, "with_outcome": exp.num_rows - absent, "without_outcome": absent,
            "outcomes": out.num_rows, "outcomes_not_in_run": out.num_rows - (pc.sum(matched_keys).as_py() or 0),
            "missing": missing}
    if missing == "zero":
        joined = joined.set_column(joined.column_names.index("_metric"), "_metric", pc.fill_null(values, 0.0))
    else:
        joined = joined.filter(pc.is_valid(values))
    return joined, info


def _groupings(exposures, joined: pa.Table, by: list[str]):
    """(group_by, group codes int64 per row or -1, group names) for each grouping."""
    n = joined.num_rows
    yield "all", np.zeros(n, np.int64), ["all"]
    cust = exposures.customers
    if cust is None:
        if by:
            raise DataError(f"--by {by[0]}: decision logs have no customer columns to group by", column=by[0])
        return
    key = exposures.key
    wanted = exposures.segments + [b for b in by if b not in exposures.segments]
    for b in by:
        if b not in cust.column_names:
            strings = [f.name for f in cust.schema if pa.types.is_dictionary(f.type) or pa.types.is_string(f.type)]
            raise DataError(f"--by {b}: the run's customers have no column '{b}' (string columns: "
                            f"{', '.join(strings) or 'none'})", column=b, path=exposures.source)
        t = cust.column(b).type
        if not (pa.types.is_dictionary(t) or pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise DataError(f"--by {b}: column '{b}' is {t}; group by a string column (a classification, an arm)",
                            column=b, path=exposures.source)
    # Each exposure's customer row, by key.
    at = pc.index_in(joined.column(key), value_set=cust.column(key)).to_numpy(zero_copy_only=False)
    at = np.nan_to_num(at, nan=-1).astype(np.int64) if at.dtype.kind == "f" else at.astype(np.int64)
    found = at >= 0
    for name in wanted:
        col = cust.column(name).combine_chunks()
        if name in exposures.segments:
            inside = pc.fill_null(col, False).to_numpy(zero_copy_only=False)
            codes = np.where(found, np.where(inside[np.maximum(at, 0)], 0, -1), -1)
            yield "segment", codes, [name]
        else:
            enc = col.dictionary_encode() if not pa.types.is_dictionary(col.type) else col
            idx = pc.fill_null(enc.indices.cast(pa.int64()), len(enc.dictionary)).to_numpy(zero_copy_only=False)
            names = [str(v) for v in enc.dictionary.to_pylist()] + ["null"]
            yield name, np.where(found, idx[np.maximum(at, 0)], -1), names


def _stats(t: np.ndarray, c: np.ndarray, binary: bool) -> dict:
    from scipy import stats
    from scipy.stats.contingency import relative_risk
    nt, nc = len(t), len(c)
    out = dict(treated=nt, control=nc, treated_value=float(t.mean()) if nt else None,
               control_value=float(c.mean()) if nc else None, uplift=None, uplift_low=None, uplift_high=None,
               relative_uplift=None, relative_low=None, relative_high=None, p_value=None)
    if nt and nc:
        out["uplift"] = out["treated_value"] - out["control_value"]
        if out["control_value"]:
            out["relative_uplift"] = out["uplift"] / out["control_value"]
    if nt < 2 or nc < 2 or (t.var() == 0 and c.var() == 0 and out["uplift"] == 0):
        return out
    test = stats.ttest_ind(t, c, equal_var=False)
    ci = test.confidence_interval(CONFIDENCE)
    out.update(p_value=_finite(test.pvalue), uplift_low=_finite(ci.low), uplift_high=_finite(ci.high))
    if binary:
        xt, xc = int(round(t.sum())), int(round(c.sum()))
        if xt > 0 and xc > 0:
            rr = relative_risk(xt, nt, xc, nc).confidence_interval(CONFIDENCE)
            out.update(relative_low=_finite(rr.low - 1), relative_high=_finite(rr.high - 1))
    else:
        mt, mc = out["treated_value"], out["control_value"]
        if mt > 0 and mc > 0:
            se = math.sqrt(t.var(ddof=1) / (nt * mt * mt) + c.var(ddof=1) / (nc * mc * mc))
            z = stats.norm.ppf(0.5 + CONFIDENCE / 2)
            out.update(relative_low=math.exp(math.log(mt / mc) - z * se) - 1,
                       relative_high=math.exp(math.log(mt / mc) + z * se) - 1)
    return out


def _finite(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def warning(row: dict, binary: bool) -> str | None:
    nt, nc = row["treated"], row["control"]
    if nc == 0:
        return "no control group: the offer holds nobody out (give it a holdout)"
    if nt == 0:
        return "nobody treated: every customer given the offer was held out"
    if min(nt, nc) < MIN_GROUP:
        return f"too few to tell: {nt:,} treated and {nc:,} in control (fewer than {MIN_GROUP} in a group)"
    if binary:
        p = (row["treated_value"] * nt + row["control_value"] * nc) / (nt + nc)
        expected = min(nt * p, nt * (1 - p), nc * p, nc * (1 - p))
        if expected < MIN_EXPECTED:
            return (f"too few to tell: {expected:.1f} responders or non-responders expected in a group "
                    f"(fewer than {MIN_EXPECTED})")
    return None


def estimate(exposures, outcomes: pa.Table, metric: str, by=(), missing: str = "zero",
             experiments=()) -> tuple[pa.Table, dict]:
    """The effect per offer and group, then per experiment arm (engine/loop/
    arms.py: all the run carries, or those named in `experiments`), and what
    was matched (see the module's docstring)."""
    from pol.loop.arms import binary_values, customer_outcomes, experiment_rows, select
    if missing not in ("zero", "drop"):
        raise ValueError("missing must be 'zero' or 'drop'")
    names = select(exposures, experiments)
    per_offer = "offer" in outcomes.column_names
    if per_offer and experiments:
        raise DataError(f"--experiment {names[0]}: an experiment is measured on one outcome per customer, and "
                        "these outcomes are per customer and offer (an 'offer' column): a customer without an "
                        "offer has none", column="offer")
    measurable = names if not per_offer else []
    if not pc.any(exposures.table.column("control")).as_py() and not measurable:
        raise DataError("the run holds no controls: no offer held customers out, so there is nothing to compare "
                        "the treated with; give the offers to measure a `holdout` (e.g. holdout 5%) and run again",
                        column="control", path=exposures.source)
    joined, info = _joined(exposures, outcomes, metric, missing)
    values = joined.column("_metric").to_numpy(zero_copy_only=False).astype(np.float64)
    if measurable:
        # One kind for the whole file: the customers' outcomes decide it too.
        customers = customer_outcomes(exposures, outcomes, metric, missing).column("_metric")
        values_all = np.concatenate([values, customers.to_numpy(zero_copy_only=False).astype(np.float64)])
    else:
        values_all = values
    binary = binary_values(values_all)
    kind = "rate" if binary else "mean"
    offers_all = joined.column("offer").combine_chunks()
    enc = offers_all.dictionary_encode()
    offer_codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    offer_names = enc.dictionary.to_pylist()
    control = joined.column("control").to_numpy(zero_copy_only=False).astype(np.bool_)
    rows = []
    for group_by, codes, groups in _groupings(exposures, joined, list(by)):
        G = len(groups)
        keep = codes >= 0
        cell = np.where(keep, offer_codes * G + codes, -1)
        order = np.lexsort((control, cell))
        cell_sorted, ctrl_sorted, vals_sorted = cell[order], control[order], values[order]
        bounds = np.flatnonzero(np.diff(cell_sorted)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(cell_sorted)]])
        for s, e in zip(starts, ends):
            if s == e or cell_sorted[s] < 0:
                continue
            k, g = divmod(int(cell_sorted[s]), G)
            split = s + int(np.searchsorted(ctrl_sorted[s:e], True))
            row = _stats(vals_sorted[s:split], vals_sorted[split:e], binary)
            row.update(offer=offer_names[k], offer_label=exposures.labels.get(offer_names[k]),
                       group_by=group_by, group=groups[g], metric=metric, kind=kind)
            row["warning"] = warning(row, binary)
            rows.append(row)
    order = {o: k for k, o in enumerate(exposures.labels)}
    rows.sort(key=lambda r: (order.get(r["offer"], len(order)), r["offer"], r["group_by"] != "all",
                             r["group_by"] != "segment", r["group_by"], r["group"]))
    arm_rows, measured = experiment_rows(exposures, outcomes, metric, measurable, by, missing, binary)
    info.update(metric=metric, kind=kind, confidence=CONFIDENCE, rule=RULE, source=exposures.source,
                experiments=measured)
    if per_offer and names:
        info["experiments_not_measured"] = (f"{', '.join(names)}: the outcomes are per customer and offer, and an "
                                            "experiment is measured on one outcome per customer")
    return pa.Table.from_pylist(rows + arm_rows, schema=EFFECT), info
