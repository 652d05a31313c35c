"""Offer matching in plain Python (LANGUAGE.md section 6): the reference
evaluator's RowResults -> accepted offers, the reason each other candidate
lost, and each offer's funnel. It is the oracle for the compiled matching.

    match_customer(program, row)          one customer, no capacities (decide, explain, tests)
    match_all(program, rows, keys=None)   a whole run: the global walk with capacities
    Limits(program)                       what is left of the run-wide constraints
    fnv1a64(data), is_control(offer, key) holdouts

The walk: candidates in order of priority (highest first), then offer
declaration order, then (run-wide) the customer's input position. A pair is
accepted when the customer holds fewer than `max` offers, no accepted offer
of the customer shares its category (under `one per category`) or an
`exclusive` line (the `fallback` offer comes after every other pair, and
only to a customer who holds nothing), the offer has capacity left, its category quota left, its
channel room for one more customer (or the customer is already contacted
through it), the budget room for its cost and, under an in-run contact cap
(section 14.1), the customer room on its channel. Reasons are checked in
that order, so a lost pair carries the first rule that refused it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from pol.compiler import costs, ir, offer_settings
from pol.compiler.backend.layout import FUNNEL

FNV_OFFSET = 14695981039346656037
FNV_PRIME = 1099511628211
_MASK = 2 ** 64 - 1

# The funnel of each offer (`FUNNEL`, the names every walk counts under) in
# the order a customer passes through it.
__all__ = ["FUNNEL", "Accepted", "Limits", "Lost", "Match", "RunMatch", "fnv1a64", "is_control", "key_text", "mix64",
           "match_all", "match_customer", "ranked_candidates"]


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & _MASK
    return h


def mix64(h: int) -> int:
    """MurmurHash3's 64-bit finalizer, for experiments and salted holdouts
    (LANGUAGE.md 6.5, 13.2): FNV-1a alone draws related groups for one key
    under two prefixes."""
    h = ((h ^ (h >> 33)) * 0xFF51AFD7ED558CCD) & _MASK
    h = ((h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53) & _MASK
    return h ^ (h >> 33)


def key_text(key) -> str:
    """The text a key hashes as: decimal for an int key, the string itself."""
    if isinstance(key, bool):
        raise TypeError("a key is an int or a string")
    return str(key)


def is_control(offer: ir.Offer | str, key, holdout_bp: int | None = None, salt: str | None = None) -> bool:
    """Whether this customer is in the offer's control group: the same in
    every run. `offer` is an ir.Offer (its holdout and salt are used) or an
    offer name with `holdout_bp` (holdout % x 100) and `salt`. A null key is
    never a control: there is nothing stable to hash."""
    if isinstance(offer, ir.Offer):
        offer, holdout_bp, salt = offer.name, offer.holdout_bp, offer.holdout_salt
    if not holdout_bp or key is None:
        return False
    if salt is None:
        return fnv1a64(f"{offer}:{key_text(key)}".encode()) % 10000 < holdout_bp
    return mix64(fnv1a64(f"{offer}:{salt}:{key_text(key)}".encode())) % 10000 < holdout_bp


@dataclass(frozen=True)
class Accepted:
    offer: str
    rank: int            # 1 = best
    channel: str
    priority: float
    control: bool


@dataclass(frozen=True)
class Lost:
    """A candidate that was not accepted, and the first rule that refused it.

    reason: "max" | "category" | "exclusive" | "capacity" | "quota" |
    "channel_capacity" | "budget" | "contact_cap". `to`: the accepted offers
    that took the place (all of them under max, the one of the same category
    or exclusive line, those through the channel under a contact cap; none
    for the run-wide constraints). `rule`: the category, the exclusive line,
    the quota's category, the full channel or the capped channel that applied."""
    offer: str
    reason: str
    to: tuple[str, ...] = ()
    rule: tuple[str, ...] = ()
    priority: float = 0.0
    channel: str = ""


@dataclass(frozen=True)
class Match:
    """One customer's outcome."""
    accepted: tuple[Accepted, ...]
    lost: tuple[Lost, ...]

    @property
    def offers(self) -> list[str]:
        return [a.offer for a in self.accepted]

    def lost_by_offer(self) -> dict[str, Lost]:
        return {x.offer: x for x in self.lost}


class _Rules:
    def __init__(self, program: ir.Program):
        a = program.arbitrate
        self.max = a.max_per_customer
        self.category = {o.name: o.category if a.one_per_category else None for o in program.offers}
        self.lines = {o.name: [line for line in a.exclusive if o.name in line] for o in program.offers}
        self.fallback = a.fallback

    def refusal(self, offer: str, held: Sequence[str]) -> tuple[str, tuple[str, ...], tuple[str, ...]] | None:
        """Why `offer` cannot join the customer's `held` offers, or None."""
        if len(held) >= self.max or (offer == self.fallback and held):
            return "max", tuple(held), ()
        c = self.category[offer]
        if c is not None:
            for h in held:
                if self.category[h] == c:
                    return "category", (h,), (c,)
        for line in self.lines[offer]:
            for h in held:
                if h in line:
                    return "exclusive", (h,), tuple(line)
        return None


class Limits:
    """What is left of a run's constraints (section 6.4): each offer's
    capacity, each category's quota, each channel's customers, the budget
    (an exact fraction). None: no limit. A cost computed per customer
    (`budget B cost EXPR`, 3.11) is the value of the offer's hidden score
    for the customer (`value`, None for null), in whole ten-thousandths."""

    def __init__(self, program: ir.Program):
        a = program.arbitrate
        self.capacity = {o.name: o.capacity for o in program.offers}
        self.category = {o.name: o.category for o in program.offers}
        self.quota = dict(a.quota)
        self.channel = dict(a.channel_capacity)
        self.cost = dict(a.cost)
        self.scores = dict(a.cost_scores)       # offer -> the hidden score of its computed cost
        self.units = costs.units_of(a)
        self.budget = a.budget

    def charge(self, offer: str, value: float | None = None) -> Fraction:
        """The offer's cost for a customer whose computed cost is `value`:
        exact; above any budget when null or below 0; 0 off the budget."""
        if offer in self.scores:
            assert self.units is not None
            return costs.money(costs.cost_units(value, self.units), self.units)
        return self.cost.get(offer, Fraction(0))

    def value(self, offer: str, row) -> float | None:
        """A customer's computed cost of the offer (its RowResult's hidden score)."""
        score = self.scores.get(offer)
        return None if score is None else row.values.get(score)

    def refusal(self, offer: str, channel: str, contacted,
                value: float | None = None) -> tuple[str, tuple[str, ...]] | None:
        """The first constraint that refuses `offer` through `channel` to a
        customer already contacted through the channels `contacted`."""
        left = self.capacity[offer]
        if left is not None and left <= 0:
            return "capacity", ()
        c = self.category[offer]
        if c in self.quota and self.quota[c] <= 0:
            return "quota", (c,)
        if channel in self.channel and channel not in contacted and self.channel[channel] <= 0:
            return "channel_capacity", (channel,)
        if self.budget is not None and self.charge(offer, value) > self.budget:
            return "budget", ()
        return None

    def use(self, offer: str, channel: str, contacted, value: float | None = None) -> None:
        if self.capacity[offer] is not None:
            self.capacity[offer] -= 1
        c = self.category[offer]
        if c in self.quota:
            self.quota[c] -= 1
        if channel in self.channel and channel not in contacted:
            self.channel[channel] -= 1
        if self.budget is not None:
            self.budget -= self.charge(offer, value)


class Rooms:
    """A customer's room on each channel with an in-run contact cap
    (LANGUAGE.md 14.1): the hidden score the checker made, less what the
    walk has given through the channel so far. A control is not contacted:
    it is refused where a contact would be (so the control group stays like
    the customers it stands for), but uses no room."""

    def __init__(self, program: ir.Program, row):
        self.left = {c: row.values[score] for c, score in program.arbitrate.rooms}

    def full(self, channel: str) -> bool:
        v = self.left.get(channel)
        return v is not None and v <= 0

    def use(self, channel: str, control: bool) -> None:
        if channel in self.left and not control:
            self.left[channel] -= 1


def ranked_candidates(program: ir.Program, row) -> list:
    """A customer's candidates (OfferStates), priority highest first; equal
    priorities keep declaration order (sorted() is stable); the fallback
    offer last."""
    cands = [row.offers[o.name] for o in program.offers if row.offers[o.name].candidate]
    fallback = program.arbitrate.fallback
    return sorted(cands, key=lambda s: (s.name == fallback, -s.priority))


def match_customer(program: ir.Program, row, key=..., exhausted=(), limits: Limits | None = None) -> Match:
    """The per-customer walk, without capacities. `key` defaults to the
    row's own key (it decides holdouts); `exhausted` offers (a service's
    ledger has used their capacity up) are lost to capacity; with `limits`
    (what a ledger has left) the run-wide constraints apply and the
    accepted offers are taken from them."""
    key = row.key if key is ... else key
    program = offer_settings.with_params(program, row.params)      # holdouts from params
    rules = _Rules(program)
    held: list[str] = []
    accepted: list[Accepted] = []
    lost: list[Lost] = []
    by_name = {o.name: o for o in program.offers}
    rooms = Rooms(program, row)
    for s in ranked_candidates(program, row):
        refused = rules.refusal(s.name, held)
        if refused is None and s.name in exhausted:
            refused = ("capacity", (), ())
        if refused is None and limits is not None:
            by = limits.refusal(s.name, s.channel, {a.channel for a in accepted}, limits.value(s.name, row))
            refused = None if by is None else (by[0], (), by[1])
        if refused is None and rooms.full(s.channel):
            refused = ("contact_cap", tuple(a.offer for a in accepted if a.channel == s.channel), (s.channel,))
        if refused is not None:
            lost.append(Lost(s.name, refused[0], refused[1], refused[2], s.priority, s.channel))
            continue
        if limits is not None:
            limits.use(s.name, s.channel, {a.channel for a in accepted}, limits.value(s.name, row))
        held.append(s.name)
        control = is_control(by_name[s.name], key)
        rooms.use(s.channel, control)
        accepted.append(Accepted(s.name, len(held), s.channel, s.priority, control))
    return Match(tuple(accepted), tuple(lost))


@dataclass(frozen=True)
class RunMatch:
    """A whole run: each customer's Match in input order, and the funnel
    (offer -> {FUNNEL step: count})."""
    matches: list[Match]
    funnel: dict[str, dict[str, int]] = field(default_factory=dict)
    allocation: dict | None = None      # section 6.7's report, under `maximize priority`

    def assignments(self, keys: Sequence) -> list[tuple]:
        """(key, offer, rank, channel, priority, control) rows, by input position then rank."""
        return [(k, a.offer, a.rank, a.channel, a.priority, a.control)
                for k, m in zip(keys, self.matches) for a in m.accepted]


def match_all(program: ir.Program, rows: Sequence, keys: Sequence | None = None) -> RunMatch:
    """The run-wide walk of section 6 over every (customer, candidate) pair,
    with capacities. `rows` are RowResults in input order; `keys` default to
    their own keys."""
    keys = [r.key for r in rows] if keys is None else list(keys)
    if rows:                                # capacities, holdouts from the rows' params (one run: the same)
        program = offer_settings.with_params(program, rows[0].params)
    rules = _Rules(program)
    position = {o.name: k for k, o in enumerate(program.offers)}
    funnel = {o.name: dict.fromkeys(FUNNEL, 0) for o in program.offers}

    pairs = []
    for i, row in enumerate(rows):
        if not getattr(row, "in_population", True):
            continue            # in no output, and counted nowhere (LANGUAGE.md 3.14)
        for name, s in row.offers.items():
            f = funnel[name]
            if s.in_window and s.eligible is True:
                f["eligible"] += 1
                if s.channel is not None:
                    f["deliverable"] += 1
                    if s.priority is not None:
                        f["candidates"] += 1
                        pairs.append((-s.priority, position[name], i, s))
    fallback = program.arbitrate.fallback
    pairs.sort(key=lambda p: (p[3].name == fallback, *p[:3]))       # the fallback's pairs last
    walked = _walk(program, rules, rows, keys, pairs, funnel)
    if not program.arbitrate.optimal:
        return walked[0]
    # its numbers come from the compiled allocation's module (Numba): a
    # single decision, which is never optimal, does not import it
    from pol.reference import optimal
    return optimal.allocate(program, rules, pairs, walked,
                            lambda order: _walk(program, rules, rows, keys, order, funnel), rows)


def _walk(program: ir.Program, rules: _Rules, rows: Sequence, keys: list, pairs: list,
          funnel: dict[str, dict[str, int]]) -> tuple[RunMatch, float]:
    """The pairs walked in the order given; their total priority."""
    funnel = {o: dict(f) for o, f in funnel.items()}
    position = {o.name: k for k, o in enumerate(program.offers)}
    limits = Limits(program)
    contacted: list[set[str]] = [set() for _ in rows]
    rooms = [Rooms(program, row) if program.arbitrate.rooms and getattr(row, "in_population", True) else None
             for row in rows]
    by_name = {o.name: o for o in program.offers}
    held: list[list[str]] = [[] for _ in rows]
    accepted: list[list[Accepted]] = [[] for _ in rows]
    lost: list[list[Lost]] = [[] for _ in rows]
    total = 0.0
    for _, _, i, s in pairs:
        name = s.name
        refused = rules.refusal(name, held[i])
        if refused is None:
            by = limits.refusal(name, s.channel, contacted[i], limits.value(name, rows[i]))
            refused = None if by is None else (by[0], (), by[1])
        room = rooms[i]
        if refused is None and room is not None and room.full(s.channel):
            refused = ("contact_cap", tuple(a.offer for a in accepted[i] if a.channel == s.channel), (s.channel,))
        if refused is not None:
            lost[i].append(Lost(name, refused[0], refused[1], refused[2], s.priority, s.channel))
            funnel[name]["lost_to_" + refused[0]] += 1
            continue
        limits.use(name, s.channel, contacted[i], limits.value(name, rows[i]))
        contacted[i].add(s.channel)
        held[i].append(name)
        control = is_control(by_name[name], keys[i])
        if room is not None:
            room.use(s.channel, control)
        accepted[i].append(Accepted(name, len(held[i]), s.channel, s.priority, control))
        funnel[name]["accepted"] += 1
        funnel[name]["controls"] += control
        total += s.priority
    # Ranks follow priority, as in every walk, whatever order the pairs came in.
    ranked = [sorted(a, key=lambda x: (-x.priority, position[x.offer])) for a in accepted]
    matches = [Match(tuple(Accepted(x.offer, r + 1, x.channel, x.priority, x.control) for r, x in enumerate(a)),
                     tuple(x)) for a, x in zip(ranked, lost)]
    return RunMatch(matches, funnel), total
