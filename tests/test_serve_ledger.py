"""Capacities in pol serve: `Policy.decide(exhausted=...)` walks on as a run
does when an offer's capacity is used up; the SQLite ledger gives out no
more than the capacity under concurrent takers, in threads and across two
server workers, and keeps its counts over a restart; it holds the arbitrate
block's channel capacities, quotas and budget as pol.Ledger does."""
from __future__ import annotations

import datetime as dt
import json
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest

import pol
from pol.serve.ledger import Ledger, period_of
from tests.serving import Served, policy_text, served_decider

AS_OF = "2026-11-01"
WALK = """input customer key id { id: int  arpu: float  app_active: bool }
channel app "APP推送" when app_active
channel sms "短信"
offer gift "礼包" { eligible when arpu >= 100  channels app, sms  priority arpu  category perk  CAP }
offer perk "权益" { eligible when arpu >= 50  channels app  priority 70  category perk }
offer bonus "红包" { eligible when true  channels sms  priority 10 }
arbitrate { max 2 per customer  one per category }
"""
RECORDS = [{"id": k, "arpu": float(a), "app_active": k % 2 == 0}
           for k, a in enumerate([20, 60, 120, 300, 80, 150, 50, 99.5, 100, 1000], start=1)]


@pytest.mark.parametrize("engine", ["reference", "kernel"])
def test_an_exhausted_offer_gives_way_as_in_a_run(engine, tmp_path):
    """decide(exhausted={"gift"}) is what a run gives when gift's capacity is 0."""
    open_ = pol.loads(WALK.replace("CAP", ""), name="walk.pol")
    paused = pol.loads(WALK.replace("CAP", "capacity 0"), name="walk.pol")
    table = pa.Table.from_pylist(RECORDS)
    run = paused.evaluate(table, as_of=AS_OF, engine="vector").assignments.to_pylist()
    for record in RECORDS:
        got = open_.decide(record, as_of=AS_OF, engine=engine, exhausted=frozenset({"gift"}))
        want = [(a["offer"], a["rank"], a["channel"], a["priority"], a["control"]) for a in run
                if a["id"] == record["id"]]
        assert [(a.offer, a.rank, a.channel, a.priority, a.control) for a in got.offers] == want
        assert got.segments == open_.decide(record, as_of=AS_OF, engine=engine).segments
    # Nothing exhausted: the plain decision.
    assert open_.decide(RECORDS[3], as_of=AS_OF, engine=engine, exhausted=frozenset()) == \
        open_.decide(RECORDS[3], as_of=AS_OF, engine=engine)


def test_ledger_never_gives_more_than_the_capacity(tmp_path):
    ledger = Ledger(str(tmp_path / "ledger.sqlite"), "day")
    day = dt.date(2026, 11, 1)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda k: ledger.take("shop", "gift", day, k, 5), range(40)))
    assert sum(got) == 5
    winners = [k for k, ok in enumerate(got) if ok]
    # A customer who holds the offer keeps it; one who lost it does not get it now.
    assert ledger.take("shop", "gift", day, winners[0], 5) is True
    assert ledger.take("shop", "gift", day, 39 if 39 not in winners else 0, 5) is False
    assert ledger.exhausted("shop", day, {"gift": 5, "other": 3}) == {"gift"}
    # A larger capacity (a new version) draws on from the same count.
    assert ledger.take("shop", "gift", day, 100, 6) is True and ledger.take("shop", "gift", day, 101, 6) is False
    # The next day starts again; a new ledger on the same file sees the counts.
    assert ledger.take("shop", "gift", day + dt.timedelta(days=1), 7, 5) is True
    again = Ledger(str(tmp_path / "ledger.sqlite"), "day")
    assert again.usage() == [{"policy": "shop", "offer": "gift", "period": "2026-11-01", "used": 6},
                             {"policy": "shop", "offer": "gift", "period": "2026-11-02", "used": 1}]
    assert [period_of(day, p) for p in ("day", "week", "month", "ever")] == ["2026-11-01", "2026-W44", "2026-11",
                                                                              "ever"]


def test_two_workers_share_one_capacity_and_a_restart_keeps_it(tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "shop.pol").write_text(policy_text("1", 100, capacity=5), encoding="utf-8")
    records = [{"id": k, "arpu": 500.0, "app_active": True} for k in range(1, 61)]

    def decide_all(server, batch):
        def one(record):
            r = server.session.post(server.url + "/v1/decide", json={"record": record, "as_of": AS_OF}, timeout=60)
            assert r.status_code == 200, r.text
            return r.json()
        with ThreadPoolExecutor(12) as pool:
            return list(pool.map(one, batch))

    with Served(policies, tmp_path / "state", workers=2) as server:
        got = decide_all(server, records[:40])
        gifts = [d["key"] for d in got if "gift" in [o["offer"] for o in d["offers"]]]
        assert len(gifts) == 5
        # The others get their next candidate, as in a run.
        assert all([o["offer"] for o in d["offers"]] == ["sms_bonus"] for d in got if d["key"] not in gifts)
        ledger = server.get("/v1/capacity").json()
        assert ledger == {"period": "day", "ledger": [{"policy": "shop", "offer": "gift", "period": AS_OF,
                                                       "used": 5, "capacity": 5}]}
        # Deciding a winner again keeps their gift and takes nothing more.
        again = decide_all(server, [r for r in records if r["id"] == gifts[0]])
        assert again[0]["offers"][0]["offer"] == "gift"
        text = server.get("/metrics").text       # the workers' counts, added up
        assert 'pol_capacity_exhausted_total{offer="gift",policy="shop"}' in text
        assert 'pol_offers_total{control="false",offer="gift",policy="shop"} 6.0' in text
    logs = tmp_path / "state" / "decisions" / "shop"
    lines = [json.loads(line) for f in logs.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(lines) == 41 and len({d["worker"] for d in lines}) >= 1
    with Served(policies, tmp_path / "state", workers=1) as server:
        later = decide_all(server, records[40:])
        assert all([o["offer"] for o in d["offers"]] == ["sms_bonus"] for d in later)
        next_day = server.post("/v1/decide", {"record": records[50], "as_of": "2026-11-02"}).json()
        assert next_day["offers"][0]["offer"] == "gift"


def test_an_arrow_batch_of_a_capped_policy_draws_record_by_record(tmp_path):
    """In-process: the Arrow answer of the per-record path has the shape of the vectorized one."""
    from pol.serve.config import Challenger
    from pol.serve.deciding import Decider
    from pol.serve.registry import Registry
    from pol.serve.requests import Ask
    from pol.serve.routing import Router
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "a.pol").write_text(policy_text("1", 100, capacity=3), encoding="utf-8")
    (folder / "b.pol").write_text(policy_text("2", 100), encoding="utf-8")
    registry = Registry(str(folder))
    registry.refresh(build=False)
    decider = Decider(registry, Router({"shop": "1"}, {"shop": Challenger("2", shadow=True)}),
                      Ledger(str(tmp_path / "ledger.sqlite")), None)
    table = pa.table({"id": pa.array(range(1, 9), pa.int64()), "arpu": pa.array([500.0] * 8),
                      "app_active": pa.array([True, False] * 4)})
    ask = Ask([], dt.date(2026, 11, 1), None, None, None, False, "error")
    capped = decider.arrow(ask, table, "r1")
    uncapped = decider.arrow(Ask([], dt.date(2026, 11, 1), None, None, "2", True, "error"), table, "r2")
    assert capped.schema.remove_metadata() == uncapped.schema.remove_metadata()
    assert capped.schema.metadata[b"version"] == b"1" and uncapped.schema.metadata[b"arm"] == b"pinned"
    got = [[o["offer"] for o in row["offers"]] for row in capped.to_pylist()]
    assert got == [["gift"]] * 3 + [["sms_bonus"]] * 5
    assert [[o["offer"] for o in row["offers"]] for row in uncapped.to_pylist()] == [["gift"]] * 8
    assert capped.column("vip").to_pylist() == [True] * 8
    assert decider.ledger.usage() == [{"policy": "shop", "offer": "gift", "period": "2026-11-01", "used": 3}]


CONSTRAINED = """policy shop
input customer key id { id: int  arpu: float  reachable: bool }
channel call "外呼" when reachable
channel sms "短信"
offer upgrade { eligible when arpu >= 100  channels call, sms  priority arpu  attributes { cost: 8.5 } }
offer bonus { eligible when true  channels sms  priority 10  category perk }
arbitrate { capacity call 2  quota perk 3  budget 25.5 cost offer.cost }
"""


def test_the_ledger_holds_channel_capacities_quotas_and_budgets(tmp_path):
    """In-process, the Decider of pol serve: the arbitrate block's
    constraints drawn from the SQLite ledger give what pol.Ledger gives to
    the same decisions in turn (both walk each decision against what is
    left), and a repeated customer keeps what they hold."""
    from pol.serve.requests import Ask
    decider, entry = served_decider(tmp_path, CONSTRAINED)
    assert entry.drawn and not entry.capacities
    records = [{"id": k, "arpu": a, "reachable": r} for k, a, r in
               [(1, 300.0, True), (2, 200.0, True), (3, 150.0, True), (4, 120.0, False), (5, 110.0, False),
                (6, 50.0, True), (7, 20.0, False), (8, 90.0, True)]]
    ask = Ask([], dt.date(2026, 11, 1), None, None, None, False, "error")
    served = [[(a.offer, a.channel) for a in decider.decide_one(entry, r, ask).offers] for r in records]
    memory = pol.Ledger()
    policy = pol.loads(CONSTRAINED, name="shop.pol")
    alone = [[(a.offer, a.channel) for a in policy.decide(r, as_of=AS_OF, ledger=memory).offers] for r in records]
    assert served == alone == [[("upgrade", "call")], [("upgrade", "call")], [("bonus", "sms")],
                               [("upgrade", "sms")], [("bonus", "sms")], [("bonus", "sms")], [], []]
    usage = {row["offer"]: row["used"] for row in decider.ledger.usage()}
    # the budget in halves (25.5 = 51 x 0.5)
    assert usage == {"channel:call": 2, "quota:perk": 3, "budget": 51}
    # The first customer again: they hold the upgrade, and nothing more is drawn.
    assert [a.offer for a in decider.decide_one(entry, records[0], ask).offers] == ["upgrade"]
    assert {row["offer"]: row["used"] for row in decider.ledger.usage()} == usage
