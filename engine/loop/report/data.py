"""What the report shows, read from the output folders.

In: a `pol run` folder (summary.json; the policy file it names, for the
capacities, when it can still be loaded), optionally a `pol diff` folder
(summary.json, changes.parquet) and a `pol effect` folder (effect.json).
Out: plain dicts and lists: segment and class sizes, the offer funnel and
losses per rule, channels, capacity use, per diff version the flows of
customers between offers and between segments, the effect rows. Errors
are DataErrors naming the folder and what is missing.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.errors import DataError

NONE = "(none)"


def _json(folder: str, name: str, what: str) -> dict:
    path = Path(folder) / name
    if not Path(folder).is_dir():
        raise DataError(f"no such folder: give the output folder of {what}", path=folder)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"holds no {name}: is it the output folder of {what}?", path=folder) from None
    except (OSError, ValueError) as e:
        raise DataError(f"{name} cannot be read ({e})", path=folder) from None


def _label(name: str, label: str | None) -> str:
    return f"{label} ({name})" if label else name


def capacities(summary: dict) -> dict[str, int]:
    """Each capped offer's capacity: from the run's policy where it still
    loads; else, for an offer that lost candidates to its capacity, what
    it accepted (the capacity was used up)."""
    caps: dict[str, int] = {}
    try:
        import pol
        policy = pol.load(summary["policy_file"])
        caps = {o.name: o.capacity for o in policy.program.offers if o.capacity is not None}
    except Exception:               # the file moved or changed: fall back on what the counts say
        caps = {}
    for name, o in summary["offers"].items():
        if name not in caps and o.get("lost_to_capacity"):
            caps[name] = o["accepted"]
    return caps


def run_view(run_dir: str) -> dict:
    s = _json(run_dir, "summary.json", "a pol run")
    if "offers" not in s or "segments" not in s:
        raise DataError("summary.json is not a pol run's summary", path=run_dir)
    n = s.get("customers") or 0
    offers = s["offers"]
    return {
        "summary": s,
        "customers": n,
        "segments": [{"name": k, "label": v.get("label"), "title": _label(k, v.get("label")), "count": v["count"],
                      "share": v["count"] / n if n else 0.0} for k, v in s["segments"].items()],
        "classifications": [{"name": k, "label": c.get("label"), "title": _label(k, c.get("label")),
                             "values": [{"value": v, "count": x, "share": x / n if n else 0.0}
                                        for v, x in c["counts"].items()]}
                            for k, c in s["classifications"].items()],
        "offers": [{"name": k, "label": o.get("label"), "title": _label(k, o.get("label")), **o}
                   for k, o in offers.items()],
        "channels": [{"name": c, "label": (s.get("channel_labels") or {}).get(c),
                      "title": _label(c, (s.get("channel_labels") or {}).get(c)), "count": v}
                     for c, v in s["channels"].items()],
        "capacity": [{"name": k, "title": _label(k, offers[k].get("label")), "capacity": cap,
                      "used": offers[k]["accepted"]} for k, cap in capacities(s).items() if k in offers],
    }


def _flows(changes: pa.Table, lost: str, gained: str, version: str) -> list[dict]:
    """Customers moving from what they lost to what they gained (a
    customer with two of either splits its weight), for one version."""
    t = changes.filter(pc.equal(changes.column("version"), version))
    t = t.filter(pc.or_(pc.greater(pc.list_value_length(t.column(lost)), 0),
                        pc.greater(pc.list_value_length(t.column(gained)), 0)))
    if not t.num_rows:
        return []

    def side(col):
        lists = t.column(col).combine_chunks()
        lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
        parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
        names = lists.flatten().to_numpy(zero_copy_only=False).astype(object)
        empty = np.flatnonzero(lengths == 0)
        parent = np.concatenate([parent, empty])
        names = np.concatenate([names, np.full(len(empty), NONE, object)])
        return parent, names, np.maximum(lengths, 1)

    lp, ln, lcount = side(lost)
    gp, gn, gcount = side(gained)
    pairs = pa.table({"row": lp, "from": ln}).join(pa.table({"row": gp, "to": gn}), "row")
    rows = pairs.column("row").to_numpy()
    weight = 1.0 / (lcount[rows] * gcount[rows])
    flows = pa.table({"from": pairs.column("from"), "to": pairs.column("to"), "w": weight}) \
        .group_by(["from", "to"]).aggregate([("w", "sum")])
    out = [{"from": f, "to": to, "customers": w} for f, to, w in
           zip(flows.column("from").to_pylist(), flows.column("to").to_pylist(), flows.column("w_sum").to_pylist())]
    return sorted(out, key=lambda x: -x["customers"])


def diff_view(diff_dir: str) -> dict:
    import pyarrow.parquet as pq
    s = _json(diff_dir, "summary.json", "a pol diff")
    if "deltas" not in s:
        raise DataError("summary.json is not a pol diff's summary", path=diff_dir)
    path = Path(diff_dir) / "changes.parquet"
    if path.is_file():
        changes = pq.read_table(path)
    else:
        raise DataError("holds no changes.parquet (a diff written with --format csv cannot be shown: "
                        "run pol diff again without it)", path=diff_dir)
    labels = {}
    for run in s["runs"]:
        for part in ("offers", "segments"):
            labels.update({k: v.get("label") for k, v in run[part].items()})
    versions = []
    for d, c in zip(s["deltas"], s["changes"]):
        v = d["version"]
        versions.append({
            "label": v, "changes": c,
            "offer_flows": _flows(changes, "offers_lost", "offers_gained", v),
            "segment_flows": _flows(changes, "segments_out", "segments_in", v),
            "segments": [{"name": k, "title": _label(k, x.get("label")), **x["count"]}
                         for k, x in d["segments"].items() if x["count"]["delta"]],
            "offers": [{"name": k, "title": _label(k, x.get("label")), **x["accepted"]}
                       for k, x in d["offers"].items() if x["accepted"]["delta"]],
            "lost": [{"rule": k, **x} for k, x in d["lost"].items() if x["delta"]],
        })
    return {"summary": s, "versions": versions, "labels": labels}


def effect_view(effect_dir: str) -> dict:
    e = _json(effect_dir, "effect.json", "a pol effect")
    if "rows" not in e:
        raise DataError("effect.json is not a pol effect's output", path=effect_dir)
    every = e["rows"]
    for r in every:
        r.setdefault("experiment", None)      # an effect written before experiments were measured
        r["title"] = _label(r["offer"], r.get("offer_label")) if r["experiment"] is None else \
            f"{r['arm']} against {r['against']}"
        r["group_text"] = r["group"] if r["group_by"] in ("all", "segment") else f"{r['group_by']} = {r['group']}"
    rows = [r for r in every if r["experiment"] is None]
    experiments = []
    for name, customers in (e.get("experiments") or {}).items():
        arms = [r for r in every if r["experiment"] == name]
        experiments.append({
            "name": name, "customers": customers,
            "measured": [r for r in arms if r["group_by"] == "all"],
            "groups": [r for r in arms if r["group_by"] != "all" and not r["warning"]]})
    return {"info": e, "rows": rows, "experiments": experiments,
            "measured": [r for r in rows if r["group_by"] == "all" and r["control"] > 0],
            "groups": [r for r in rows if r["group_by"] != "all" and r["control"] > 0 and not r["warning"]],
            "no_control": [r["title"] for r in rows if r["group_by"] == "all" and r["control"] == 0]}
