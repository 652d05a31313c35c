"""A run summary (the dict of summary.json) -> text a marketer reads.

What the run was (policy and version, as-of date, params, input, time
taken and rows/s; the run id is in summary.json), the nullable fields the input lacked, then
customers per segment (count and share) and per value of each
classification, offers given per channel, and each offer's funnel:
eligible > deliverable > candidates > accepted (controls are accepted but
held out), and the candidates lost in arbitration to the per-customer
maximum, a category, an exclusive offer or a capacity.

Tables are aligned by terminal columns, not characters: CJK labels take two
columns each. A summary without the run's details (Policy.evaluate's
`result.summary`) renders too, without the header lines.
"""
from __future__ import annotations

import unicodedata

from pol.cli.progress import duration_text, rate_text

FUNNEL = ("eligible", "deliverable", "candidates", "accepted", "controls")
LOST = ("lost_to_max", "lost_to_category", "lost_to_exclusive", "lost_to_capacity")
# The arbitrate block's constraints and the in-run contact caps: a column only
# where some offer lost to one.
LOST_RUN_WIDE = (("lost_to_quota", "quota"), ("lost_to_channel_capacity", "channel capacity"),
                 ("lost_to_budget", "budget"), ("lost_to_contact_cap", "contact cap"))
PARAMS_WIDTH = 72       # a long list of params wraps rather than running off the screen


def width(s: str) -> int:
    """Terminal columns: East Asian wide and full-width characters take two,
    combining marks none."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in s)


def pad(s: str, w: int, right: bool = False) -> str:
    gap = " " * max(0, w - width(s))
    return gap + s if right else s + gap


def table(rows: list[list[str]], right: set[int] = frozenset(), indent: str = "  ") -> list[str]:
    """Rows of cells -> aligned lines; columns in `right` are right-aligned."""
    widths = [max(width(r[k]) for r in rows) for k in range(len(rows[0]))]
    return [(indent + "  ".join(pad(c, widths[k], k in right) for k, c in enumerate(r))).rstrip()
            for r in rows]


def _n(v: int) -> str:
    return f"{v:,}"


def _share(v: int, total: int) -> str:
    return f"{v / total:.1%}" if total else "-"


def _value(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):        # a list param, as the policy writes it
        return "[" + ", ".join(f'"{x}"' if isinstance(x, str) else _value(x) for x in v) + "]"
    return str(v)


def wrap(items: list[str], columns: int = PARAMS_WIDTH) -> list[str]:
    """Items joined by ', ' into lines of at most `columns` terminal columns
    (an item longer than that gets a line of its own)."""
    lines: list[str] = []
    for item in items:
        if lines and width(lines[-1]) + 2 + width(item) <= columns:
            lines[-1] += ", " + item
        else:
            if lines:
                lines[-1] += ","
            lines.append(item)
    return lines


def header(s: dict) -> list[str]:
    """What the run was: policy, date, params, input, output, time."""
    lines = []
    policy = f"{s['policy']}, version {s['version']}" if s.get("version") else s["policy"]
    if s.get("policy_file"):
        policy += f"  ({s['policy_file']})"
    rows = [["Policy", policy], ["As of", s["as_of"]]]
    params = [f"{k} = {_value(v)}" for k, v in (s.get("params") or {}).items()]
    rows += [["Params" if k == 0 else "", line] for k, line in enumerate(wrap(params) or ["none declared"])]
    if "input" in s:
        files = s.get("files", 1)
        where = f"{s['input']} ({files:,} files)" if files != 1 else s["input"]
        rows.append(["Input", f"{where}: {_n(s['customers'])} customers"])
    if s.get("outside_population") is not None:
        # LANGUAGE.md 3.14: who was left out, read and dropped or never read
        text = f"{_n(s['outside_population'])} rows read outside it"
        scan = s.get("scan") or {}
        if scan.get("filter"):
            parts = f" ({_n(scan['partitions_skipped'])} of {_n(scan['partitions'])} partitions)" \
                if scan.get("partitions") else ""
            text += f"; not read: {_n(scan['files_skipped'])} of {_n(scan['files'])} files{parts}"
            if scan.get("row_groups"):          # Parquet only
                text += (f", {_n(scan['row_groups_skipped'])} of {_n(scan['row_groups'])} row groups of "
                         f"the files opened ({_n(scan['rows_skipped'])} rows)")
        rows.append(["Population", text])
    for k, (name, h) in enumerate((s.get("history") or {}).items()):
        # events matching no customer are counted, never silently dropped (section 12)
        text = f"{name}: {_n(h['events'])} events, {_n(h['unmatched'])} matching no customer"
        if h.get("undated") or h.get("future"):
            text += f", {_n(h['undated'])} undated, {_n(h['future'])} after the as-of date"
        rows.append(["History" if k == 0 else "", text])
    if "output" in s:
        rows.append(["Output", f"{s['output']} ({s.get('output_format', 'parquet')})"])
    if "seconds" in s:
        took = duration_text(s["seconds"])
        if s.get("rows_per_second"):
            took += f", {rate_text(s['rows_per_second'])}"
        rows.append(["Time", took])
    lines += table(rows, indent="")
    return lines


def segments(s: dict) -> list[str]:
    n = s["customers"]
    if not s["segments"]:
        return []
    rows = [["segment", "", "customers", "share"]]
    rows += [[k, v["label"] or "", _n(v["count"]), _share(v["count"], n)] for k, v in s["segments"].items()]
    return ["Segments"] + table(rows, {2, 3})


def classifications(s: dict) -> list[str]:
    n = s["customers"]
    out = []
    for name, c in s["classifications"].items():
        title = f"Classification {name}" + (f" {c['label']}" if c.get("label") else "")
        rows = [["value", "customers", "share"]]
        rows += [[k, _n(v), _share(v, n)] for k, v in c["counts"].items()]
        out += ["", title] + table(rows, {1, 2})
    return out[1:]


def experiments(s: dict) -> list[str]:
    """Customers per arm of each experiment (LANGUAGE.md section 13)."""
    n = s["customers"]
    out = []
    for name, counts in (s.get("experiments") or {}).items():
        rows = [["arm", "customers", "share"]] + [[k, _n(v), _share(v, n)] for k, v in counts.items()]
        out += ["", f"Experiment {name}"] + table(rows, {1, 2})
    return out[1:]


def channels(s: dict) -> list[str]:
    if not s["channels"]:
        return []
    labels = s.get("channel_labels") or {}
    rows = [["channel", "", "offers given"]]
    rows += [[c, labels.get(c) or "", _n(v)] for c, v in s["channels"].items()]
    rows.append(["total", "", _n(sum(s["channels"].values()))])
    return (["Offers given per channel"] + table(rows, {2})
            + [f"  plus {_n(s['controls'])} controls: accepted but held out, not contacted"])


def funnel(s: dict) -> list[str]:
    if not s["offers"]:
        return []
    rows = [["offer", "", *FUNNEL]]
    rows += [[k, f["label"] or "", *(_n(f[x]) for x in FUNNEL)] for k, f in s["offers"].items()]
    out = ["Offer funnel: eligible > deliverable (a channel open) > candidates > accepted; "
           "controls are accepted but held out"]
    out += table(rows, set(range(2, 2 + len(FUNNEL))))
    extra = [(x, word) for x, word in LOST_RUN_WIDE if any(f.get(x) for f in s["offers"].values())]
    reasons = LOST + tuple(x for x, _ in extra)
    lost = {k: f for k, f in s["offers"].items() if any(f.get(x) for x in reasons)}
    out.append("")
    if not lost:
        return out + ["No candidate was lost in arbitration."]
    rows = [["offer", "", "max per customer", "category", "exclusive", "capacity", *(w for _, w in extra)]]
    rows += [[k, f["label"] or "", *(_n(f.get(x, 0)) for x in reasons)] for k, f in lost.items()]
    return out + ["Candidates lost in arbitration, by the rule that refused them"] + table(
        rows, set(range(2, 2 + len(reasons))))


def allocation(s: dict) -> list[str]:
    """Under `maximize priority` (LANGUAGE.md 6.7): the total against the
    greedy walk's and the bound it is within."""
    a = s.get("allocation")
    if a is None:
        return []
    more = a["value"] - a["greedy_value"]
    share = f" ({more / a['greedy_value']:+.2%})" if a["greedy_value"] > 0 else ""
    out = ["Allocation: maximize priority",
           f"  total priority {a['value']:,.2f}; greedy walk {a['greedy_value']:,.2f}{share}",
           f"  within {a['gap']:.3%} of the best possible (bound {a['dual_bound']:,.2f}, {a['passes']} passes)"
           if a["dual_bound"] is not None else "  priorities too large to add up: the greedy walk stands"]
    if a["prices"]:
        rows = [["offer", "price"]] + [[k, f"{v:,.4g}"] for k, v in a["prices"].items()]
        out += ["  prices of the capped offers"] + table(rows, {1}, indent="    ")
    if a.get("constraint_prices"):
        rows = [["constraint", "price"]] + [[k, f"{v:,.4g}"] for k, v in a["constraint_prices"].items()]
        out += ["  prices of the arbitrate block's constraints (the budget's per unit of money)"] + table(
            rows, {1}, indent="    ")
    return out


def absent(s: dict) -> list[str]:
    """Nullable fields the data did not have: read as null, and said so."""
    names = s.get("absent_fields") or []
    if not names:
        return []
    return [f"Absent from the input, read as null in every row: {', '.join(names)}"]


def render(s: dict) -> str:
    parts = [header(s)] if "policy" in s else []
    parts += [absent(s), segments(s), classifications(s), experiments(s), channels(s), funnel(s), allocation(s)]
    out: list[str] = []
    for p in parts:
        if p:
            out += p + [""]
    return "\n".join(out).rstrip()
