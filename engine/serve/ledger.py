"""Capacities across requests, threads and worker processes.

A policy's `capacity N` is at most N customers in a run (docs/LANGUAGE.md
section 6.4). A server has no run: it draws from a ledger, one count per
policy, offer and *period* (the decision's as-of day, ISO week, month, or
"ever", as `--capacity-period` says), so a capacity is reset when a new
period starts, and a new version of the policy draws from the same count
against its own capacity.

The ledger is a SQLite file in the state folder, in WAL mode, so every
worker of one server (and a restarted server) sees one count. Taking a unit
is one transaction: a customer who already holds the offer in the period
keeps it (a repeated decision takes nothing more); otherwise
`UPDATE ... SET used = used + 1 WHERE used < capacity` succeeds or the offer
is exhausted. SQLite serialises the writers (BEGIN IMMEDIATE), so no two
workers can both take the last unit.

Offers seen exhausted are remembered in the process for their period, so an
exhausted offer costs no query.

The arbitrate block's run-wide constraints (LANGUAGE.md 6.4) are counts of
the same table under names no offer can have (`quota:CATEGORY`,
`channel:CHANNEL`, `budget`, the budget in whole units of the costs'
smallest decimal): `take_all` takes an offer's unit and its share of each
in one transaction, or nothing, and says which constraint refused it.
"""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading

from pol.compiler.costs import Units, cost_units, units_of

_SCHEMA = """
CREATE TABLE IF NOT EXISTS capacity (
    policy TEXT NOT NULL, offer TEXT NOT NULL, period TEXT NOT NULL, used INTEGER NOT NULL,
    PRIMARY KEY (policy, offer, period));
CREATE TABLE IF NOT EXISTS grants (
    policy TEXT NOT NULL, offer TEXT NOT NULL, period TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (policy, offer, period, key));
"""


def period_of(day: dt.date, period: str) -> str:
    if period == "day":
        return day.isoformat()
    if period == "week":
        y, w, _ = day.isocalendar()
        return f"{y}-W{w:02d}"
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return "ever"


def draws_of(program) -> tuple[dict[str, list[tuple[str, int | Units, int]]], dict[str, int]]:
    """What each offer draws from the ledger when given: [(count, amount,
    limit)] for its capacity, its category's quota and its cost from the
    budget (an amount of Units: the customer's own cost, computed per
    decision, `amounts`); and the channels' capacities ({channel: limit},
    drawn once per decision through the channel). Empty for a policy
    without constraints."""
    a = program.arbitrate
    quotas = dict(a.quota)
    units = units_of(a)
    computed = dict(a.cost_scores)
    out: dict[str, list[tuple[str, int | Units, int]]] = {}
    for o in program.offers:
        d: list[tuple[str, int | Units, int]] = []
        if o.capacity is not None:
            d.append((o.name, 1, o.capacity))
        if o.category in quotas:
            d.append((f"quota:{o.category}", 1, quotas[o.category]))
        if units is not None and o.name in computed:
            d.append(("budget", units, units.budget))
        elif units is not None and units.fixed.get(o.name):
            d.append(("budget", units.fixed[o.name], units.budget))
        if d:
            out[o.name] = d
    return out, dict(a.channel_capacity)


def amounts(draws: list[tuple[str, int | Units, int]], cost: float | None) -> list[tuple[str, int, int]]:
    """An offer's draws for one decision: a computed cost (`cost`, the
    customer's, api.decision.costs_of) in the budget's units; refused (more
    than any budget) when null or below 0 (LANGUAGE.md 3.11)."""
    return [(name, cost_units(cost, amount) if isinstance(amount, Units) else amount, limit)
            for name, amount, limit in draws]


class Ledger:
    def __init__(self, path: str, period: str = "day"):
        self.path = path
        self.period = period
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._local = threading.local()
        self._exhausted: dict[tuple[str, str], set[tuple[str, int]]] = {}   # (policy, period) -> {(offer, cap)}
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def exhausted(self, policy: str, day: dt.date, capacities: dict[str, int]) -> frozenset[str]:
        """The offers known to be used up in the day's period (at their current capacities)."""
        known = self._exhausted.get((policy, period_of(day, self.period)))
        if not known:
            return frozenset(o for o, cap in capacities.items() if cap <= 0)
        return frozenset(o for o, cap in capacities.items() if cap <= 0 or (o, cap) in known)

    def take(self, policy: str, offer: str, day: dt.date, key, capacity: int) -> bool:
        """One unit of the offer for this customer, or False when none is left."""
        return capacity > 0 and self.take_all(policy, offer, day, key, [(offer, 1, capacity)]) is None

    def take_all(self, policy: str, offer: str, day: dt.date, key, draws: list[tuple[str, int, int]]) -> str | None:
        """The offer for this customer with every (count, amount, limit) it
        draws (its capacity, quota, channel, budget: `draws`, see `draws_of`),
        all or nothing: None when taken (or already held in the period),
        else the name of the first count with too little left."""
        period = period_of(day, self.period)
        k = str(key)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM grants WHERE policy=? AND offer=? AND period=? AND key=?",
                          (policy, offer, period, k)).fetchone():
                db.execute("COMMIT")
                return None
            for name, amount, limit in draws:
                db.execute("INSERT OR IGNORE INTO capacity VALUES (?, ?, ?, 0)", (policy, name, period))
                if db.execute("UPDATE capacity SET used = used + ? WHERE policy=? AND offer=? AND period=? "
                              "AND used + ? <= ?", (amount, policy, name, period, amount, limit)).rowcount != 1:
                    db.execute("ROLLBACK")
                    if name == offer:
                        self._exhausted.setdefault((policy, period), set()).add((offer, limit))
                    return name
            at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            db.execute("INSERT INTO grants VALUES (?, ?, ?, ?, ?)", (policy, offer, period, k, at))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return None

    def held(self, policy: str, day: dt.date, key, offers) -> set[str]:
        """Which of these offers the customer was given in the day's period."""
        period = period_of(day, self.period)
        marks = ",".join("?" * len(offers))
        rows = self._db().execute(
            f"SELECT offer FROM grants WHERE policy=? AND period=? AND key=? AND offer IN ({marks})",
            (policy, period, str(key), *offers))
        return {r[0] for r in rows}

    def usage(self) -> list[dict]:
        rows = self._db().execute("SELECT policy, offer, period, used FROM capacity ORDER BY policy, offer, period")
        return [{"policy": p, "offer": o, "period": per, "used": u} for p, o, per, u in rows]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
