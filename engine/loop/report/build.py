"""The report page: output folders -> one HTML file that works offline.

In: a `pol run` folder, optionally a `pol diff` and a `pol effect` folder
(data.py reads them). Out: the page's text (`render`), or the file written
(`write`, replaced in one step). The page is page.html.j2 rendered by
Jinja2 with autoescaping on, so every label a policy author wrote is
escaped in the markup; the charts' data is JSON inside script elements
with '<', '>' and '&' written as \\u escapes, so no label can end the
element; Plotly's own plotly.min.js is embedded: the page loads nothing.
"""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from markupsafe import Markup

from pol.loop.report import charts, data


def _script_json(text: str) -> Markup:
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return Markup(text)


def _plotly_js() -> Markup:
    from plotly.offline import get_plotlyjs
    js = get_plotlyjs()
    if "</script" in js.lower() or "<!--" in js:     # would end or confuse the script element
        raise RuntimeError("plotly.min.js cannot be embedded as it is")
    return Markup(js)


class _Figures:
    def __init__(self):
        self.items: list[tuple[str, Markup]] = []

    def add(self, fig) -> str:
        fid = f"figure-{len(self.items) + 1}"
        self.items.append((fid, _script_json(charts.to_json(fig))))
        return fid


def render(run_dir: str, diff_dir: str | None = None, effect_dir: str | None = None) -> str:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined
    run = data.run_view(run_dir)
    diff = data.diff_view(diff_dir) if diff_dir else None
    effect = data.effect_view(effect_dir) if effect_dir else None
    f = _Figures()
    figs: dict = {"classes": []}
    if run["segments"]:
        figs["segments"] = f.add(charts.sizes(run["segments"]))
    for c in run["classifications"]:
        figs["classes"].append(f.add(charts.sizes([{**v, "title": v["value"]} for v in c["values"]])))
    figs["funnel"] = f.add(charts.funnel(run["offers"])) if run["offers"] else None
    lost = any(o.get(k, 0) for o in run["offers"] for k, _ in charts.LOST)
    figs["losses"] = f.add(charts.losses(run["offers"])) if lost else None
    given = [c for c in run["channels"] if c["count"]]
    figs["channels"] = f.add(charts.channels(given)) if given else None
    figs["capacity"] = f.add(charts.capacity(run["capacity"])) if run["capacity"] else None
    figs["diff"] = []
    if diff:
        titles = {k: f"{v} ({k})" if v else k for k, v in diff["labels"].items()}
        for v in diff["versions"]:
            figs["diff"].append({
                "offer_flows": f.add(charts.flows(v["offer_flows"], "lost", "gained", titles,
                                                  ("lost no offer", "gained no offer")))
                if v["offer_flows"] else None,
                "segment_flows": f.add(charts.flows(v["segment_flows"], "left", "entered", titles,
                                                             ("left no segment", "entered no segment")))
                if v["segment_flows"] else None,
                "segments": f.add(charts.deltas(v["segments"])) if v["segments"] else None,
                "offers": f.add(charts.deltas(v["offers"])) if v["offers"] else None,
            })
    figs["uplift"] = None
    if effect and any(r["uplift"] is not None for r in effect["measured"]):
        figs["uplift"] = f.add(charts.uplift(effect["measured"], effect["info"]["kind"]))
    figs["arms"] = {}
    for x in effect["experiments"] if effect else ():
        if any(r["uplift"] is not None for r in x["measured"]):
            figs["arms"][x["name"]] = f.add(charts.uplift(x["measured"], effect["info"]["kind"]))

    s = run["summary"]
    kind = effect["info"]["kind"] if effect else "rate"
    facts = [("Policy", f"{s.get('policy', '')} {s.get('version') or ''}".strip()), ("As of", s.get("as_of", "")),
             ("Customers", f"{run['customers']:,}")]
    if s.get("input"):
        facts.append(("Input", s["input"]))
    if s.get("params"):
        facts.append(("Params", ", ".join(f"{k} = {v}" for k, v in s["params"].items())))
    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent)), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("page.html.j2").render(
        title=f"{s.get('policy', 'pol')} — run report", facts=facts, font=Markup(charts.FONT.replace('"', "'")),
        run=run, diff=diff, effect=effect, figs=figs, figures=f.items, plotly_js=_plotly_js(),
        funnel=charts.FUNNEL, lost=charts.LOST,
        value=lambda x: "-" if x is None else (f"{x:.1%}" if kind == "rate" else f"{x:,.2f}"),
        diffv=lambda x: "-" if x is None else (f"{x * 100:+.1f} pts" if kind == "rate" else f"{x:+,.2f}"),
        interval=lambda lo, hi: "" if lo is None or hi is None else
        (f"[{lo * 100:+.1f}, {hi * 100:+.1f}]" if kind == "rate" else f"[{lo:+,.2f}, {hi:+,.2f}]"),
        rel=lambda x: "-" if x is None else f"{x:+.0%}",
        pval=lambda p: "-" if p is None or (isinstance(p, float) and math.isnan(p)) else
        ("<0.001" if p < 0.001 else f"{p:.3f}"))


def write(out: str, run_dir: str, diff_dir: str | None = None, effect_dir: str | None = None) -> Path:
    """The page written to `out`, through a temporary file beside it."""
    text = render(run_dir, diff_dir, effect_dir)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
