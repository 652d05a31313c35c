"""The run summary as text a marketer reads: customers per segment and class,
offers per channel, each offer's funnel, and what the run was."""
from __future__ import annotations

import unicodedata


def width(s: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def pad(s: str, w: int, right: bool = False) -> str:
    gap = " " * max(0, w - width(s))
    return gap + s if right else s + gap


def _name(name: str, label: str | None) -> str:
    return f"{name} {label}" if label else name


def table(rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    widths = [max(width(r[k]) for r in rows) for k in range(len(rows[0]))]
    return ["  " + "  ".join(pad(c, widths[k], k in right) for k, c in enumerate(r)).rstrip() for r in rows]


def render(s: dict) -> str:
    n = s["customers"] or 1
    out = [f"{s['policy']} version {s['version'] or '-'}  as of {s['as_of']}  "
           f"params: {', '.join(f'{k}={v}' for k, v in s['params'].items()) or 'none'}",
           f"{s['customers']:,} customers in {s['seconds']:.1f}s"
           + (f" ({s['rows_per_second'] / 1e6:.2f}M rows/s)" if s.get("rows_per_second") else ""), ""]
    if s["segments"]:
        out.append("Segments")
        out += table([[_name(k, v["label"]), f"{v['count']:,}", f"{v['count'] / n:.1%}"]
                      for k, v in s["segments"].items()], {1, 2})
        out.append("")
    for name, c in s["classifications"].items():
        out.append(f"Classification {_name(name, c['label'])}")
        out += table([[str(k), f"{v:,}", f"{v / n:.1%}"] for k, v in c["counts"].items()], {1, 2})
        out.append("")
    if s["offers"]:
        out.append("Offers (funnel: eligible > deliverable > candidates > accepted; controls are held out)")
        rows = [["offer", "eligible", "deliverable", "candidates", "accepted", "controls", "lost: max",
                 "category", "exclusive", "capacity", "channels"]]
        for k, f in s["offers"].items():
            rows.append([_name(k, f["label"]), *(f"{f[x]:,}" for x in (
                "eligible", "deliverable", "candidates", "accepted", "controls", "lost_to_max",
                "lost_to_category", "lost_to_exclusive", "lost_to_capacity")),
                ", ".join(f"{c} {v:,}" for c, v in f["by_channel"].items()) or "-"])
        out += table(rows, set(range(1, 10)))
        out.append("")
        out.append("Contacts per channel: " + ", ".join(f"{c} {v:,}" for c, v in s["channels"].items()))
        out.append(f"Assignments: {s['assignments']:,} (controls {s['controls']:,})")
    return "\n".join(out)
