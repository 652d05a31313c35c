"""`pol effect (--run RUN_DIR | --decisions PATH) --outcomes PATH --out DIR`.

In: a `pol run` output folder (or decision logs of `pol serve`), the
outcomes observed after it, --metric (the outcomes' column, default
`response`), --by (string columns of the run's customers to group by, on
top of each offer and each segment), --experiment (the experiments to
measure, default all the run carries: engine/loop/arms.py), --key (the outcomes' key column when
it is not named as the run's key), --missing (an exposure without an
outcome row counts as 0, or is dropped). Out: DIR/effect.parquet (one row
per offer and group, then per experiment arm, comparison and group:
engine/loop/effect.py EFFECT), DIR/effect.json (the
rows and what was matched), a text table on stdout. DIR is staged and
moved into place as `pol run` does. Exit status 0; 1 for a data error
(a run without controls among them); 2 for a usage error or refused DIR.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pyarrow.parquet as pq

from pol.cli.run import UsageError, _sigterm_as_interrupt
from pol.errors import DataError
from pol.io.output_files import OutputError, Staging, cannot_write
from pol.io.output_folder import Claim, OutputRefused


def check_out(out: str, *sources: str) -> None:
    """DIR must not be, hold, or lie inside what the command reads."""
    o = Path(os.path.realpath(out))
    for s in sources:
        if not s:
            continue
        r = Path(os.path.realpath(s))
        if o == r or o in r.parents:
            raise OutputRefused(f"{out}: the output folder would replace {s}, which this command reads; "
                                "choose another --out")
        if r.is_dir() and r in o.parents:
            raise OutputRefused(f"{out}: the output folder is inside {s}, which this command reads; "
                                "choose another --out")
    cwd = Path(os.path.realpath(os.getcwd()))
    if o == cwd or o in cwd.parents:
        raise OutputRefused(f"{out}: --out is or holds the current folder; choose another --out")


def measure(run_dir, decisions, outcomes, out, metric="response", by=(), key=None, missing="zero",
            overwrite=False, experiments=()) -> tuple:
    from pol.loop.effect import estimate
    from pol.loop.exposures import from_decisions, from_run, read_outcomes
    if (run_dir is None) == (decisions is None):
        raise UsageError("give --run RUN_DIR (a pol run's output folder) or --decisions PATH (decision logs), "
                         "not both")
    check_out(out, run_dir, decisions, outcomes)
    claim = Claim(out, Path(os.path.abspath(out)), overwrite)
    staging = None
    try:
        exposures = from_run(run_dir) if run_dir else from_decisions(decisions)
        key_type = exposures.table.column(exposures.key).type
        outcome_key = key or exposures.key
        table = read_outcomes(outcomes, outcome_key, key_type, metric)
        if outcome_key != exposures.key:
            table = table.rename_columns([exposures.key if c == outcome_key else c for c in table.column_names])
        effect, info = estimate(exposures, table, metric, by=by, missing=missing, experiments=experiments)
        info.update(outcomes=str(outcomes))
        staging = Staging(claim)
        try:
            pq.write_table(effect, staging.path / "effect.parquet")
            doc = {**info, "rows": effect.to_pylist()}
            (staging.path / "effect.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n",
                                                      encoding="utf-8")
            staging.commit()
        except OSError as e:
            raise cannot_write(out, e) from None
        return effect, info
    finally:
        if staging is not None:
            staging.discard()
        claim.release(committed=staging is not None and staging.committed)


def _pct(x, kind) -> str:
    if x is None:
        return "-"
    return f"{x:.1%}" if kind == "rate" else f"{x:,.2f}"


def _interval(low, high, kind) -> str:
    if low is None or high is None:
        return ""
    if kind == "rate":
        return f"[{low * 100:+.1f}, {high * 100:+.1f}]"
    return f"[{low:+,.2f}, {high:+,.2f}]"


def render(effect, info, out: str | None = None) -> str:
    """The table a marketer reads: each offer with a control group over
    all its customers, then the groups big enough to tell; the rest (and
    the offers without controls) named in a line each."""
    from pol.cli.report import table
    kind = info["kind"]
    rows = [["offer", "", "group", "treated", "control", "treated " + kind, "control " + kind,
             "uplift" + (" (points)" if kind == "rate" else ""), "95% interval", "relative", "p", ""]]
    no_control, small = [], 0
    every = effect.to_pylist()
    for r in every:
        if r["experiment"] is not None:
            continue
        if r["control"] == 0:
            if r["group_by"] == "all":
                no_control.append(r["offer"])
            continue
        if r["group_by"] != "all" and r["warning"]:
            small += 1
            continue
        group = r["group"] if r["group_by"] in ("all", "segment") else f"{r['group_by']} = {r['group']}"
        rows.append([r["offer"] if r["group_by"] == "all" else "", (r["offer_label"] or "") if r["group_by"] == "all"
                     else "", group, f"{r['treated']:,}", f"{r['control']:,}", *_figures(r, kind),
                     "too few to tell" if r["warning"] else ""])
    m = info["metric"]
    lines = [f"Effect on {m} ({'response rate' if kind == 'rate' else 'mean'}): treatment against control, "
             f"{info['exposures']:,} offers given, {info['with_outcome']:,} with an outcome"
             + (f" ({info['without_outcome']:,} without, counted as 0)" if info["missing"] == "zero"
                and info["without_outcome"] else "")]
    if len(rows) > 1:
        lines += table(rows, {3, 4, 5, 6, 7, 9, 10})
    if small:
        lines.append(f"  {small:,} more groups are too small to tell; every row is in "
                     f"{(out + '/') if out else ''}effect.parquet and effect.json")
    if no_control:
        lines.append(f"  No control group (the offer has no holdout): {', '.join(no_control)}")
    for name in info.get("experiments") or {}:
        lines += [""] + _experiment_lines(name, [r for r in every if r["experiment"] == name], info, out)
    if info.get("experiments_not_measured"):
        lines.append(f"  Experiments not measured: {info['experiments_not_measured']}")
    lines.append(f"  {info['rule']}")
    return "\n".join(lines)


def _experiment_lines(name: str, rows: list[dict], info: dict, out: str | None) -> list[str]:
    """An experiment's table: each arm against control and against the other
    arms over all its customers, then the --by groups big enough to tell;
    per segment (every segment, three rows or more each) only in the files."""
    from pol.cli.report import table
    kind = info["kind"]
    head = [["arm", "against", "group", "customers", "against customers", "arm " + kind, "against " + kind,
             "uplift" + (" (points)" if kind == "rate" else ""), "95% interval", "relative", "p", ""]]
    body, small, segments = [], 0, 0
    for r in rows:
        if r["group_by"] == "segment":
            segments += 1
            continue
        if r["group_by"] != "all" and r["warning"]:
            small += 1
            continue
        group = r["group"] if r["group_by"] in ("all", "segment") else f"{r['group_by']} = {r['group']}"
        body.append([r["arm"], r["against"], group, f"{r['treated']:,}", f"{r['control']:,}",
                     *_figures(r, kind), "too few to tell" if r["warning"] else ""])
    lines = [f"Experiment {name} on {info['metric']} ({'response rate' if kind == 'rate' else 'mean'}): every "
             "customer of an arm, offered or not, against the group it is measured against"]
    lines += table(head + body, {3, 4, 5, 6, 7, 9, 10}) if body else ["  nothing to compare: one arm, no control"]
    files = f"{(out + '/') if out else ''}effect.parquet and effect.json"
    if segments:
        lines.append(f"  per segment of the run: {segments:,} more rows in {files}")
    if small:
        lines.append(f"  {small:,} more groups are too small to tell; every row is in {files}")
    return lines


def _figures(r: dict, kind: str) -> list[str]:
    """A row's rates or means, uplift, interval, relative uplift and p-value, as the tables show them."""
    up = r["uplift"]
    up_text = "-" if up is None else (f"{up * 100:+.1f}" if kind == "rate" else f"{up:+,.2f}")
    rel = "-" if r["relative_uplift"] is None else f"{r['relative_uplift']:+.0%}"
    p = "-" if r["p_value"] is None or math.isnan(r["p_value"]) else \
        ("<0.001" if r["p_value"] < 0.001 else f"{r['p_value']:.3f}")
    return [_pct(r["treated_value"], kind), _pct(r["control_value"], kind), up_text,
            _interval(r["uplift_low"], r["uplift_high"], kind), rel, p]


def command(args) -> int:
    try:
        with _sigterm_as_interrupt():
            effect, info = measure(args.run, args.decisions, args.outcomes, args.out, args.metric, args.by, args.key,
                                   args.missing, args.overwrite, args.experiment)
    except (UsageError, OutputRefused) as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 2
    except (DataError, OutputError) as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pol: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(render(effect, info, args.out))
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "effect", help="the effect of each offer and experiment arm: treatment against the control groups of a run",
        description="Join outcomes to a run's assignments and controls (holdouts) and estimate each offer's "
                    "effect with a 95%% interval, and each experiment arm's (all its customers against the "
                    "experiment's control group and the other arms): DIR/effect.parquet, DIR/effect.json and "
                    "a table on stdout.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", metavar="RUN_DIR", help="the output folder of a pol run")
    src.add_argument("--decisions", metavar="PATH", help="decision logs (JSON lines: key, offers [{offer, control}])")
    p.add_argument("--outcomes", required=True, metavar="PATH",
                   help="a file or folder: the key, optionally offer, and the metric")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the output folder (refused if it exists, unless --overwrite)")
    p.add_argument("--metric", default="response", metavar="COLUMN",
                   help="the outcomes' column to measure: 0/1 (a response rate) or numbers (a mean); default response")
    p.add_argument("--by", action="append", default=[], metavar="COLUMN",
                   help="also per value of this string column of the run's customers (repeatable)")
    p.add_argument("--experiment", action="append", default=[], metavar="NAME",
                   help="measure only this experiment of the run (repeatable; default: every experiment it carries)")
    p.add_argument("--key", metavar="COLUMN", help="the outcomes' key column (default: the run's key name)")
    p.add_argument("--missing", choices=["zero", "drop"], default="zero",
                   help="an offer given with no outcome row: counts as 0 (default) or is left out")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if pol wrote it")
    p.set_defaults(fn=command)
