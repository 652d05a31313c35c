"""`pol demo`: the built-in default run, to its end: a report to open.

Generates sample customers, runs the telecom policy library (shipped inside
the package, pol.policies) on them with `pol run` and prints the summary a
marketer reads; then closes the loop as a campaign would: outcomes with a
known effect planted for the customers treated with 挽留权益包 and
优惠购机 (`pol gen --outcomes`), `pol effect` against the holdout controls,
and `pol report`, whose path it prints.

Everything is kept in one folder the user can open, `pol-demo` in the
current folder unless --dir says otherwise: customers.parquet, run/,
outcomes.parquet, effect/, report.html. A later demo replaces that folder's
files, and refuses a folder that holds anything else. Without the `loop`
extra (SciPy, Plotly, Jinja2) the demo ends after the run, saying how to
install it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from pol.policies import path as library_path

POLICY = library_path("telecom/retention.pol")
AS_OF = "2026-11-01"
FILES = {"customers.parquet", "run", "outcomes.parquet", "effect", "report.html"}
PLANTED = {"retention_pack": 0.06, "handset_discount": 0.04}


def _check_folder(folder: Path) -> str | None:
    """Why `folder` may not hold the demo, or None."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{folder}: exists and is not a folder; choose another --dir"
    others = sorted(p.name for p in folder.iterdir() if p.name not in FILES and not p.name.startswith("."))
    if others:
        return (f"{folder}: holds files the demo did not write ({', '.join(others[:5])}); "
                "choose another --dir")
    return None


def _loop_installed() -> bool:
    try:
        import jinja2  # noqa: F401
        import plotly  # noqa: F401
        import scipy  # noqa: F401
    except ImportError:
        return False
    return True


def main(rows: int = 1_000_000, folder: str = "pol-demo") -> int:
    from pol.cli.run import run_command
    from pol.cli.sample import write
    where = Path(folder)
    refused = _check_folder(where)
    if refused:
        print(f"pol: error: {refused}", file=sys.stderr)
        return 2
    where.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = write(rows, where / "customers.parquet")
    print(f"generated {rows:,} sample customers in {time.perf_counter() - t0:.1f}s: {data}")
    print(f"running the telecom library ({POLICY}) as of {AS_OF}\n")
    status = run_command(str(POLICY), str(data), str(where / "run"), as_of=AS_OF, overwrite=True)
    if status != 0:
        return status
    if not _loop_installed():
        print(f"\nThe run is in {where / 'run'}. For the effect and the report, install the loop extra: "
              "pip install 'pol-engine[loop]'")
        return 0
    return _close_the_loop(where)


def _close_the_loop(where: Path) -> int:
    from pol.loop import effect_cli
    from pol.loop.outcomes import planted
    from pol.loop.outcomes import write as write_outcomes
    from pol.loop.report.build import write as write_report
    outcomes = write_outcomes(planted(str(where / "run"), PLANTED, base_rate=0.1, seed=7),
                              where / "outcomes.parquet")
    text = ", ".join(f"{o} +{u * 100:.0f} points" for o, u in PLANTED.items())
    print(f"\nplanted outcomes ({outcomes}): response 10% without an offer, {text} for treated customers\n")
    effect, info = effect_cli.measure(str(where / "run"), None, str(outcomes), str(where / "effect"), overwrite=True)
    print(effect_cli.render(effect, info, str(where / "effect")))
    report = write_report(str(where / "report.html"), str(where / "run"), effect_dir=str(where / "effect"))
    print(f"\nThe demo's files are in {where}/ (kept): the customers, the run, the outcomes and the effect.")
    print(f"Open the report in a browser: {report.resolve()}")
    return 0
