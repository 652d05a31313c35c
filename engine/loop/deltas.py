"""The summary of a what-if: each version's run counts and every count's
change against the base.

In: the versions, each one's run counts (pol.evaluation.summary
Counts.to_dict: customers per segment and class value, each offer's
funnel and channels, channels, assignments, controls), the per-customer
change counts of compare.py, the as-of date. Out: the dict written as
summary.json: `versions` (what each version was), `runs` (each version's
counts, as `pol run` reports them), `changes` (customers whose results
differ, per kind of change) and `deltas`: per other version, every count
as {"base", "value", "delta"}, plus the candidates lost per arbitration
rule over all offers and each capacity's use. A name one version lacks
counts 0 there.
"""
from __future__ import annotations

from pol.compiler import offer_settings
from pol.evaluation.summary import FUNNEL

LOST = [f for f in FUNNEL if f.startswith("lost_to_")]


def _delta(a, b):
    if isinstance(a, dict) or isinstance(b, dict):
        a, b = a or {}, b or {}
        out = {}
        for k in list(a) + [k for k in b if k not in a]:
            if k == "label":
                out[k] = b.get(k) if b.get(k) is not None else a.get(k)
            else:
                out[k] = _delta(a.get(k), b.get(k))
        return out
    a, b = a or 0, b or 0
    return {"base": a, "value": b, "delta": b - a}


def _lost(run: dict) -> dict:
    return {rule[len("lost_to_"):]: sum(o[rule] for o in run["offers"].values()) for rule in LOST}


def _capacities(version, run: dict, capped: set) -> dict:
    """Offers capped in any version: the cap here (None: none) and the
    customers accepted (controls included: they take a place too)."""
    program = offer_settings.with_params(version.policy.program, version.params)   # a capacity may be a param
    return {o.name: {"capacity": o.capacity, "used": run["offers"][o.name]["accepted"]}
            for o in program.offers if o.name in capped}


def diff_summary(versions, runs: list[dict], changes: list[dict], as_of) -> dict:
    base_run = runs[0]
    capped = {o.name for v in versions for o in v.policy.program.offers if o.capacity is not None}
    base_caps = _capacities(versions[0], base_run, capped)
    deltas = []
    for v, run in zip(versions[1:], runs[1:]):
        d = {"version": v.label}
        for part in ("customers", "segments", "classifications", "offers", "channels", "assignments",
                     "controls"):
            d[part] = _delta(base_run[part], run[part])
        d["lost"] = _delta(_lost(base_run), _lost(run))
        caps = _capacities(v, run, capped)
        d["capacity"] = {
            name: {"capacity_base": base_caps.get(name, {}).get("capacity"),
                   "capacity_value": caps.get(name, {}).get("capacity"),
                   **_delta(base_caps.get(name, {}).get("used"), caps.get(name, {}).get("used"))}
            for name in list(base_caps) + [n for n in caps if n not in base_caps]}
        deltas.append(d)
    return {
        "as_of": as_of.isoformat(),
        "customers": base_run["customers"],
        "versions": [v.describe() for v in versions],
        "runs": [{"version": v.label, **run} for v, run in zip(versions, runs)],
        "changes": [{"version": v.label, **c} for v, c in zip(versions[1:], changes)],
        "deltas": deltas,
    }
