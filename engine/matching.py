"""The plain Python matcher (LANGUAGE.md section 6), the oracle for the
compiled matching in engine/arbitrate.py: one customer's candidates ->
accepted offers, and the reason each other candidate lost."""
from __future__ import annotations

from dataclasses import dataclass

from pol.arbitrate import fnv1a64
from pol.compiler import ir


@dataclass(frozen=True)
class Accepted:
    offer: str
    rank: int
    channel: str
    priority: float
    control: bool


@dataclass(frozen=True)
class Lost:
    offer: str
    reason: str          # "max" | "category" | "exclusive" | "capacity"
    to: str | None       # the accepted offer that took the place (None for max, capacity)


def is_control(offer: ir.Offer, key) -> bool:
    if offer.holdout_bp is None:
        return False
    text = str(key)
    return fnv1a64(f"{offer.name}:{text}".encode("utf-8")) % 10000 < offer.holdout_bp


def rank_candidates(program: ir.Program, row) -> list[ir.Offer]:
    """Candidates, priority highest first, ties in declaration order."""
    offers = [o for o in program.offers if row.offers[o.name].candidate]
    return sorted(offers, key=lambda o: -row.offers[o.name].priority)   # sorted() is stable


def blocker(program: ir.Program, offer: ir.Offer, taken: list[ir.Offer]) -> tuple[str, str | None] | None:
    """Why an offer cannot join the accepted ones, or None if it can."""
    a = program.arbitrate
    if len(taken) >= a.max_per_customer:
        return "max", None
    if a.one_per_category and offer.category is not None:
        for t in taken:
            if t.category == offer.category:
                return "category", t.name
    for line in a.exclusive:
        if offer.name in line:
            for t in taken:
                if t.name in line:
                    return "exclusive", t.name
    return None


def match_customer(program: ir.Program, row, key) -> tuple[list[Accepted], list[Lost]]:
    taken: list[ir.Offer] = []
    accepted: list[Accepted] = []
    lost: list[Lost] = []
    for o in rank_candidates(program, row):
        why = blocker(program, o, taken)
        if why is not None:
            lost.append(Lost(o.name, why[0], why[1]))
            continue
        state = row.offers[o.name]
        taken.append(o)
        accepted.append(Accepted(o.name, len(taken), state.channel, state.priority, is_control(o, key)))
    return accepted, lost


def match_all(program: ir.Program, rows: list, keys: list) -> list[list[Accepted]]:
    """The run-wide walk with capacities over many customers."""
    order = {o.name: k for k, o in enumerate(program.offers)}
    by_name = {o.name: o for o in program.offers}
    pairs = [(-row.offers[o].priority, order[o], i, o) for i, row in enumerate(rows)
             for o in order if row.offers[o].candidate]
    pairs.sort()
    left = {o.name: o.capacity for o in program.offers}
    taken: list[list[ir.Offer]] = [[] for _ in rows]
    out: list[list[Accepted]] = [[] for _ in rows]
    for _, _, i, name in pairs:
        o = by_name[name]
        if blocker(program, o, taken[i]) is not None:
            continue
        if left[name] is not None:
            if left[name] == 0:
                continue
            left[name] -= 1
        taken[i].append(o)
        s = rows[i].offers[name]
        out[i].append(Accepted(name, len(taken[i]), s.channel, s.priority, is_control(o, keys[i])))
    return out
