"""The report's charts: the values of data.py -> Plotly figures, as JSON
for the page to draw (Plotly draws SVG; the page embeds plotly.min.js).

Labels are policy text: they travel as JSON data, escaped for the page by
build.py, and never become markup or script.
"""
from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

from pol.loop.report.data import NONE

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
COLORS = ["#2f6fb0", "#e07b39", "#3a9d5d", "#c8434d", "#7d5ba6", "#8c6d46", "#d16aa8", "#6b6b6b", "#b5a82d",
          "#2aa3b5"]
FUNNEL = [("eligible", "eligible"), ("deliverable", "a channel open"), ("candidates", "candidates"),
          ("accepted", "accepted"), ("controls", "controls (held out)")]
LOST = [("lost_to_max", "max per customer"), ("lost_to_category", "one per category"),
        ("lost_to_exclusive", "exclusive"), ("lost_to_capacity", "capacity"), ("lost_to_quota", "quota"),
        ("lost_to_channel_capacity", "channel capacity"), ("lost_to_budget", "budget"),
        ("lost_to_contact_cap", "contact cap")]


def _layout(fig: go.Figure, height: int, **kw) -> go.Figure:
    fig.update_layout(font=dict(family=FONT, size=13), height=height, margin=dict(l=10, r=20, t=10, b=10),
                      paper_bgcolor="white", plot_bgcolor="white", colorway=COLORS,
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0), **kw)
    fig.update_xaxes(gridcolor="#e6e6e6", automargin=True)
    fig.update_yaxes(gridcolor="#e6e6e6", automargin=True)
    return fig


def _bars_height(n: int) -> int:
    return max(160, 26 * n + 60)


def to_json(fig: go.Figure) -> str:
    return pio.to_json(fig, validate=False, pretty=False)


def sizes(items: list[dict], x: str = "count") -> go.Figure:
    """Horizontal bars, largest first, with the count and share."""
    items = sorted(items, key=lambda i: i[x])
    fig = go.Figure(go.Bar(x=[i[x] for i in items], y=[i["title"] for i in items], orientation="h",
                           text=[f"{i[x]:,} ({i['share']:.1%})" for i in items], textposition="auto",
                           marker_color=COLORS[0], hovertemplate="%{y}: %{x:,}<extra></extra>"))
    return _layout(fig, _bars_height(len(items)))


def funnel(offers: list[dict]) -> go.Figure:
    names = [o["title"] for o in offers]
    fig = go.Figure([go.Bar(name=label, y=names, x=[o[k] for o in offers], orientation="h",
                            hovertemplate=f"%{{y}}, {label}: %{{x:,}}<extra></extra>")
                     for k, label in FUNNEL])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, _bars_height(len(offers) * 3), barmode="group")


def losses(offers: list[dict]) -> go.Figure:
    lost = [o for o in offers if any(o.get(k, 0) for k, _ in LOST)]
    fig = go.Figure([go.Bar(name=label, y=[o["title"] for o in lost], x=[o.get(k, 0) for o in lost], orientation="h",
                            hovertemplate=f"%{{y}}, {label}: %{{x:,}}<extra></extra>") for k, label in LOST])
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, _bars_height(len(lost)), barmode="stack")


def channels(items: list[dict]) -> go.Figure:
    fig = go.Figure(go.Pie(labels=[c["title"] for c in items], values=[c["count"] for c in items], hole=0.45,
                           sort=False, textinfo="label+percent", hovertemplate="%{label}: %{value:,}<extra></extra>"))
    return _layout(fig, 320, showlegend=False)


def capacity(items: list[dict]) -> go.Figure:
    fig = go.Figure([
        go.Bar(name="used", y=[c["title"] for c in items], x=[c["used"] for c in items], orientation="h",
               text=[f"{c['used']:,} / {c['capacity']:,}" for c in items], textposition="auto"),
        go.Bar(name="left", y=[c["title"] for c in items], x=[max(c["capacity"] - c["used"], 0) for c in items],
               orientation="h", marker_color="#d9d9d9"),
    ])
    return _layout(fig, _bars_height(len(items)), barmode="stack")


def flows(flows: list[dict], before: str, after: str, titles: dict, nothing: tuple[str, str]) -> go.Figure:
    """A Sankey diagram: what customers lost (left) to what they gained
    (right); `nothing` names each side's empty set."""
    left = list(dict.fromkeys(f["from"] for f in flows))
    right = list(dict.fromkeys(f["to"] for f in flows))
    def name(n, side, empty):
        return empty if n == NONE else f"{side}: {titles.get(n, n)}"
    nodes = [name(n, before, nothing[0]) for n in left] + [name(n, after, nothing[1]) for n in right]
    fig = go.Figure(go.Sankey(
        arrangement="snap",
        node=dict(label=nodes, pad=14, thickness=14,
                  color=[COLORS[k % len(COLORS)] for k in range(len(left))] + ["#9aa5b1"] * len(right)),
        link=dict(source=[left.index(f["from"]) for f in flows],
                  target=[len(left) + right.index(f["to"]) for f in flows],
                  value=[f["customers"] for f in flows],
                  hovertemplate="%{source.label} → %{target.label}: %{value:,.0f} customers<extra></extra>")))
    return _layout(fig, max(260, 22 * max(len(left), len(right)) + 80))


def deltas(items: list[dict]) -> go.Figure:
    items = sorted(items, key=lambda i: i["delta"])
    fig = go.Figure(go.Bar(x=[i["delta"] for i in items], y=[i["title"] for i in items], orientation="h",
                           marker_color=[COLORS[2] if i["delta"] > 0 else COLORS[3] for i in items],
                           text=[f"{i['delta']:+,}" for i in items], textposition="auto",
                           hovertemplate="%{y}: %{x:+,}<extra></extra>"))
    return _layout(fig, _bars_height(len(items)))


def uplift(rows: list[dict], kind: str) -> go.Figure:
    """Each offer's (or experiment arm's) uplift as a point with its 95% interval; 0 marked."""
    scale = 100.0 if kind == "rate" else 1.0
    unit = " points" if kind == "rate" else ""
    rows = [r for r in rows if r["uplift"] is not None]
    y = [r["title"] for r in rows]
    x = [r["uplift"] * scale for r in rows]
    hi = [(r["uplift_high"] - r["uplift"]) * scale if r["uplift_high"] is not None else 0 for r in rows]
    lo = [(r["uplift"] - r["uplift_low"]) * scale if r["uplift_low"] is not None else 0 for r in rows]
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", marker=dict(size=11, color=[COLORS[3] if r["warning"] else COLORS[0] for r in rows]),
        error_x=dict(type="data", array=hi, arrayminus=lo, thickness=2, width=6, color="#555"),
        hovertemplate="%{y}: %{x:+.2f}" + unit + "<extra></extra>"))
    fig.add_vline(x=0, line_color="#666", line_dash="dot")
    fig.update_xaxes(title_text=f"uplift{unit}, 95% interval", zeroline=False)
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, _bars_height(len(rows)))
