"""`pol.Ledger`: what single decisions have used of a policy's run-wide
constraints (offer capacities, quotas, channel capacities, the budget;
LANGUAGE.md 6.4), so that `decide` never hands out what is used up.

In memory, one lock: a decision with a ledger reads what is left, walks
its candidates against it and records what it gives in one critical
section, so no two threads can both take the last unit. The walk is the
one of a run: a decision behaves as if the ledger's earlier decisions came
before it in the run.

A decision with a ledger is computed without its refused offers until none
is refused: the walk before a refused offer is the same with or without
it, and a refused offer takes no place, so each pass fixes one more offer
of the walk (at most one pass per offer).
"""
from __future__ import annotations

import threading
from collections import Counter
from fractions import Fraction

from pol.api.decision import costs_of
from pol.compiler import ir
from pol.reference.matching import Limits

__all__ = ["Ledger"]


class _Used:
    def __init__(self) -> None:
        self.offers: Counter[str] = Counter()
        self.quotas: Counter[str] = Counter()
        self.channels: Counter[str] = Counter()
        self.spent = Fraction(0)


class Ledger:
    """Thread-safe use of run-wide constraints across decisions, per policy
    name. `used(policy)` says what is used; `reset()` starts afresh (a new
    day's capacities)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, _Used] = {}

    def limits(self, program: ir.Program) -> Limits:
        """What is left for `program` (its capacities as the decision's params set them)."""
        u = self._used.get(program.name) or _Used()
        left = Limits(program)
        for name, n in u.offers.items():
            if left.capacity.get(name) is not None:
                left.capacity[name] -= n
        for name, n in u.quotas.items():
            if name in left.quota:
                left.quota[name] -= n
        for name, n in u.channels.items():
            if name in left.channel:
                left.channel[name] -= n
        if left.budget is not None:
            left.budget -= u.spent
        return left

    def _record(self, program: ir.Program, given, costs: dict[str, float | None]) -> None:
        """Record the accepted (offer, channel) pairs of one decision, whose
        computed costs (LANGUAGE.md 3.11) are `costs`."""
        u = self._used.setdefault(program.name, _Used())
        limits = Limits(program)
        contacted: set[str] = set()
        for offer, channel in given:
            u.offers[offer] += 1
            if limits.category[offer] is not None:
                u.quotas[limits.category[offer]] += 1
            if channel not in contacted:
                u.channels[channel] += 1
                contacted.add(channel)
            u.spent += limits.charge(offer, costs.get(offer))

    def decide(self, program: ir.Program, decide_without):
        """A decision that respects what is left: `decide_without(refused)`
        decides the customer without the offers in `refused` (a frozenset).
        Returns the Decision and {offer: constraint} of the offers the ledger
        refused; what the decision gives is recorded."""
        refused: dict[str, str] = {}
        with self._lock:
            while True:
                d = decide_without(frozenset(refused))
                costs = costs_of(d)
                left = self.limits(program)
                contacted: set[str] = set()
                for a in d.offers:
                    by = left.refusal(a.offer, a.channel, contacted, costs.get(a.offer))
                    if by is not None:
                        refused[a.offer] = by[0]
                        break
                    left.use(a.offer, a.channel, contacted, costs.get(a.offer))
                    contacted.add(a.channel)
                else:
                    self._record(program, [(a.offer, a.channel) for a in d.offers], costs)
                    return d, refused

    def used(self, policy) -> dict:
        """What decisions of `policy` (a Policy or its name) used:
        {"offers": {offer: n}, "quotas": {category: n}, "channels":
        {channel: customers}, "budget": the costs given (a Fraction)}."""
        name = policy if isinstance(policy, str) else policy.program.name
        with self._lock:
            u = self._used.get(name) or _Used()
            return {"offers": dict(u.offers), "quotas": dict(u.quotas), "channels": dict(u.channels),
                    "budget": u.spent}

    def reset(self) -> None:
        with self._lock:
            self._used.clear()
