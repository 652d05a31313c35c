"""`pol demo`: the built-in default run, to its end: a report to open.

Generates sample customers and their contact log (the `contacts` history of
contact.pol: engine/cli/sample_contacts.py), with the two network fields the
care campaign adds to the customer view (care.pol), runs the telecom policy
library's nightly dispatch list (shipped inside the package, pol.policies:
dispatch.pol, the retention run and the care campaign with its A/B
experiment as one program) on them with `pol run` and prints the summary a
marketer reads, the history's events, unmatched keys and the experiment's
arms included; then what the contact rules did: the same customers run again
without the log, and the difference in eligible offers (suppressed after
refusals), offers left without an open channel (caps), and customers who
lost an offer or got it through another channel; then closes the loop as a campaign would: outcomes with a
known effect planted for the customers treated with 挽留权益包 and
优惠购机 and for the customers of the experiment's voucher arm (`pol gen
--outcomes`), `pol effect` against the holdout controls and the
experiment's control group, and `pol report`, whose path it prints.

Everything is kept in one folder the user can open, `pol-demo` in the
current folder unless --dir says otherwise: customers.parquet,
contacts.parquet, run/, outcomes.parquet, effect/, report.html. A later demo replaces that folder's
files, and refuses a folder that holds anything else. Without the `loop`
extra (SciPy, Plotly, Jinja2) the demo ends after the run, saying how to
install it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from pol.policies import path as library_path

POLICY = library_path("telecom/dispatch.pol")
AS_OF = "2026-11-01"
FILES = {"customers.parquet", "contacts.parquet", "run", "outcomes.parquet", "effect", "report.html"}
# Offers: for the customers treated with them; EXPERIMENT.ARM: for every customer of the arm.
PLANTED = {"retention.retention_pack": 0.06, "retention.handset_discount": 0.04, "care.care_sms_ab.voucher": 0.03}


def with_network(customers, seed: int = 7):
    """The sample customers with the care campaign's two fields (care.pol
    extends the customer view with them; the sample has the view's columns
    only): dropped calls and weak-signal days of the last week, a few
    unknown, so that some customers have network trouble (about 5%) and
    the A/B experiment's SMS go out."""
    import numpy as np
    import pyarrow as pa
    rng = np.random.default_rng(seed)
    n = customers.num_rows
    unknown = rng.random(n) < 0.03
    dropped = pa.array(rng.poisson(1.0, n), pa.int64(), mask=unknown)
    weak = pa.array(rng.binomial(7, 0.12, n), pa.int64(), mask=unknown)
    return customers.append_column("dropped_calls_7d", dropped).append_column("weak_signal_days", weak)


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
    import datetime as dt

    from pol.cli.run import run_command
    from pol.cli.sample import generate, save
    from pol.cli.sample_contacts import contacts
    where = Path(folder)
    refused = _check_folder(where)
    if refused:
        print(f"pol: error: {refused}", file=sys.stderr)
        return 2
    where.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    customers = with_network(generate(rows, as_of=dt.date.fromisoformat(AS_OF)))
    data = save(customers, where / "customers.parquet")
    events = contacts(customers, dt.date.fromisoformat(AS_OF))
    log = save(events, where / "contacts.parquet")
    print(f"generated {rows:,} sample customers ({data}) and {events.num_rows:,} contacts of the last 90 days "
          f"({log}) in {time.perf_counter() - t0:.1f}s")
    print(f"running the telecom library ({POLICY}) as of {AS_OF}\n")
    status = run_command(str(POLICY), str(data), str(where / "run"), as_of=AS_OF, overwrite=True,
                         history=[f"contacts={log}"])
    if status != 0:
        return status
    print()
    for line in contact_effect(customers, events.schema, where / "run"):
        print(line)
    if not _loop_installed():
        print(f"\nThe run is in {where / 'run'}. For the effect and the report, install the loop extra: "
              "pip install 'pol-engine[loop]'")
        return 0
    return _close_the_loop(where)


def contact_effect(customers, schema, run: Path) -> list[str]:
    """What the contact rules of contact.pol did to the run in `run`: the
    same customers run again with an empty contact log, and the two
    compared. The rules are applied once, by the engine; this only counts."""
    import json

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    import pol
    from pol.cli.report import _n
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    given = pq.read_table(run / "assignments.parquet", columns=["id", "offer", "channel"])
    alone = pol.load(POLICY).evaluate(customers, as_of=AS_OF, history={"contacts": schema.empty_table()})
    without = alone.assignments.select(["id", "offer", "channel"])
    with_funnel, without_funnel = summary["offers"], alone.summary["offers"]
    suppressed = sum(without_funnel[o]["eligible"] - with_funnel[o]["eligible"] for o in with_funnel)
    closed = sum((with_funnel[o]["eligible"] - with_funnel[o]["deliverable"])
                 - (without_funnel[o]["eligible"] - without_funnel[o]["deliverable"]) for o in with_funnel)
    plain = [pa.field("id", pa.int64()), pa.field("offer", pa.string()), pa.field("channel", pa.string())]
    given, without = (t.cast(pa.schema(plain)) for t in (given, without))
    both = without.join(given, ["id", "offer"], join_type="left outer", right_suffix=" now")
    lost = both.filter(pc.is_null(both["channel now"]))
    moved = both.filter(pc.not_equal(both["channel"], both["channel now"]))
    customers_lost = pc.count_distinct(lost["id"]).as_py()
    instead = given.join(without, ["id", "offer"], join_type="left anti").num_rows
    h = summary["history"]["contacts"]
    return ["Contact rules (contact.pol), against the same customers without the contact log:",
            f"  contacts read   {_n(h['events'])}, of which {_n(h['unmatched'])} of no customer "
            f"(former customers)",
            f"  suppressed      {_n(suppressed)} eligible offers: a family the customer refused (suppress)",
            f"  capped          {_n(closed)} more eligible offers with no open channel (limit)",
            f"  customers       {_n(customers_lost)} lost an offer ({_n(lost.num_rows)} offers); "
            f"{_n(moved.num_rows)} offers went through another channel; {_n(instead)} given in their place"]


def _close_the_loop(where: Path) -> int:
    from pol.loop import effect_cli
    from pol.loop.outcomes import planted
    from pol.loop.outcomes import write as write_outcomes
    from pol.loop.report.build import write as write_report
    outcomes = write_outcomes(planted(str(where / "run"), PLANTED, base_rate=0.1, seed=7),
                              where / "outcomes.parquet")
    offers = ", ".join(f"{o} +{u * 100:.0f} points" for o, u in PLANTED.items() if o.count(".") < 2)
    arms = ", ".join(f"{o} +{u * 100:.0f} points" for o, u in PLANTED.items() if o.count(".") == 2)
    print(f"\nplanted outcomes ({outcomes}): response 10% without an offer, {offers} for treated customers, "
          f"{arms} for every customer of the arm\n")
    effect, info = effect_cli.measure(str(where / "run"), None, str(outcomes), str(where / "effect"), overwrite=True)
    print(effect_cli.render(effect, info, str(where / "effect")))
    report = write_report(str(where / "report.html"), str(where / "run"), effect_dir=str(where / "effect"))
    print(f"\nThe demo's files are in {where}/ (kept): the customers, the run, the outcomes and the effect.")
    print(f"Open the report in a browser: {report.resolve()}")
    return 0
