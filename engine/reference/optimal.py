"""Optimal allocation in plain Python (LANGUAGE.md section 6.7): the oracle
of engine/arbitration/optimal.py, written from the section's text.

    Constraints.of(program)                      the run-wide constraints the prices are for
    choose(pairs, constraints, rules)            -> (chosen pair indices, prices, constraint prices, dual bound, passes)
    allocate(program, rules, pairs, greedy, walk) -> the run's RunMatch, with its report

`pairs` are (customer, offer, priority, channel) in position order
(customer, then offer declaration order); `rules.refusal(offer, held)` is
the per-customer walk's test (matching._Rules). The chosen pairs are what
the run-wide walk takes first.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations

from pol.arbitration.optimal import OVERFLOW, Allocation, Labels
from pol.compiler import ir
from pol.compiler.costs import units_of

PASSES = 30
SETTLED = 1e-4      # a pass whose prices all move by less than this share of the largest priority is the last


@dataclass
class Constraints:
    """Each offer's capacity (None: none), the quotas and the channels'
    capacities in the arbitrate block's order, each offer's category, and
    the budget and the offers' costs in whole units of the smallest
    fraction they need (6.7: prices per unit)."""
    capacity: dict[str, int | None]
    category: dict[str, str | None]
    quota: dict[str, int]
    channel: dict[str, int]
    cost: dict[str, int]
    budget: int | None
    unit: int

    @staticmethod
    def of(program: ir.Program) -> Constraints:
        a = program.arbitrate
        u = units_of(a)
        return Constraints({o.name: o.capacity for o in program.offers}, {o.name: o.category for o in program.offers},
                           dict(a.quota), dict(a.channel_capacity), u.fixed if u else {}, u.budget if u else None,
                           Labels.of(program).unit)


def _allowed(rules, offers: Sequence[str]) -> bool:
    held: list[str] = []
    for o in offers:
        if rules.refusal(o, held) is not None:
            return False
        held.append(o)
    return True


def best(items: list[tuple[int, str, float, str]], rules, hprice: dict[str, float],
         forced: tuple[str, str] | None = None, ban: str | None = None) -> tuple[float, tuple[int, ...]]:
    """The largest total over the sets of a customer's `items` (pair, offer,
    value, channel) with a positive value, except those through channel
    `ban`, that the rules allow together with `forced` (offer, channel;
    its value and its channel's price not counted), and that set. Every set
    is tried. With the values ranked highest first (equal ones by
    position), a set's total is its values added in that order, less a
    capped channel's price (`hprice`) where the set first uses it. Of equal
    totals the empty set wins at 0; otherwise the set that, read along the
    ranks, takes a pair where the other leaves it out first."""
    positive = sorted((it for it in items if it[2] > 0 and (ban is None or it[3] != ban)), key=lambda it: -it[2])
    room = rules.max - (1 if forced is not None else 0)
    best_total, best_combo = 0.0, ()

    def key(combo: tuple[int, ...]) -> tuple[bool, ...]:
        return tuple(a not in combo for a in range(len(positive)))

    for size in range(1, min(room, len(positive)) + 1):
        for combo in combinations(range(len(positive)), size):
            offers = ([forced[0]] if forced is not None else []) + [positive[a][1] for a in combo]
            if not _allowed(rules, offers):
                continue
            used = {forced[1]} if forced is not None else set()
            total = 0.0
            for a in combo:
                total += positive[a][2]
                channel = positive[a][3]
                if channel in hprice and channel not in used:
                    total -= hprice[channel]
                    used.add(channel)
            if total > best_total or (total == best_total and best_combo and key(combo) < key(best_combo)):
                best_total, best_combo = total, combo
    return best_total, tuple(positive[a][0] for a in best_combo)


def _price(thresholds: list[tuple[float, int]], limit: int) -> float:
    """The threshold at which, taken highest first, the units first pass the
    limit (each (threshold, units)); 0 at least."""
    used = 0
    for t, units in sorted(thresholds, key=lambda x: -x[0]):
        used += units
        if used > limit:
            return max(t, 0.0)
    raise AssertionError("called only when the units pass the limit")


def choose(pairs: Sequence[tuple[int, str, float, str]], limits: Constraints, rules, passes: int = PASSES,
           pair_costs: Sequence[int] | None = None):
    """Section 6.7's allocation before the walk: a price per run-wide
    constraint by coordinate descent (offer capacities in declaration
    order, then quotas, channel capacities and the budget in the block's
    order), then each customer's best set at them, an over-wanted offer cut
    to its capacity by threshold. Pairs no allocation can give (capacity,
    quota or channel capacity 0, a cost above the budget) are out of the
    search. The fallback's own rule (only for who has nothing else) is left
    out here, as the compiled search leaves it out: a looser problem, so the
    bound stays a bound; the fallback is never among the chosen pairs.
    `pair_costs`: each pair's cost in the budget's units, when computed per
    customer (3.11); otherwise its offer's.
    Returns (chosen, offer prices, constraint prices, bound, passes)."""
    rules = copy.copy(rules)
    rules.fallback = None
    capacity, category, quota, channel, cost, budget = (limits.capacity, limits.category, limits.quota,
                                                        limits.channel, limits.cost, limits.budget)
    price = {o: 0.0 for o in capacity}
    qprice = {q: 0.0 for q in quota}
    hprice = {h: 0.0 for h in channel}
    bprice = 0.0
    by_customer: dict[int, list[int]] = {}
    for j, (c, _, _, _) in enumerate(pairs):
        by_customer.setdefault(c, []).append(j)

    def pcost(j: int) -> int:
        return cost.get(pairs[j][1], 0) if pair_costs is None else pair_costs[j]

    def dead(j: int) -> bool:
        _, o, _, h = pairs[j]
        q = category[o]
        return (capacity[o] == 0 or (q in quota and quota[q] == 0) or (h in channel and channel[h] == 0)
                or (budget is not None and pcost(j) > budget))

    live = [j for j in range(len(pairs)) if not dead(j)]

    def value(j: int, without: str | None = None) -> float:
        """Priority less the offer's, the quota's and the budget's prices
        (`without` one of "offer", "quota", "budget": that one left out)."""
        if dead(j):
            return float("-inf")
        _, o, p, _ = pairs[j]
        q = category[o]
        po = 0.0 if without == "offer" else price[o]
        pq = 0.0 if without == "quota" or q not in quota else qprice[q]
        pb = 0.0 if without == "budget" else bprice
        return ((p - po) - pq) - pb * float(pcost(j))

    def items(c: int, without: int | None = None) -> list[tuple[int, str, float, str]]:
        return [(j, pairs[j][1], value(j), pairs[j][3]) for j in by_customer[c] if j != without]

    def threshold(j: int, of: str, units: int) -> float:
        c, o, _, h = pairs[j]
        if not value(j, of) > 0:
            return 0.0      # no threshold is above the pair's own value
        with_j, _ = best(items(c, j), rules, hprice, forced=(o, h))
        without, _ = best(items(c, j), rules, hprice)
        charge = hprice[h] if h in hprice else 0.0
        return (((value(j, of) - charge) + with_j) - without) / units

    def pairs_price(js: list[int], of: str, units: Callable[[int], int], limit: int) -> float:
        if sum(units(j) for j in js) <= limit:
            return 0.0
        return _price([(threshold(j, of, units(j)), units(j)) for j in js], limit)

    settled = SETTLED * max((abs(p[2]) for p in pairs), default=0.0)
    done = 0
    for p in range(passes):
        moved = False

        def move(old: float, new: float) -> None:
            nonlocal moved
            moved = moved or abs(new - old) > settled

        for o, cap in capacity.items():
            js = [j for j, pr in enumerate(pairs) if pr[1] == o]
            if cap is None or len(js) <= cap:
                continue
            if cap == 0:
                new = max(max(pairs[j][2] for j in js), 0.0)
            else:
                new = pairs_price([j for j in js if j in live], "offer", lambda j: 1, cap)
            move(price[o], new)
            price[o] = new
        for q, n in quota.items():
            new = pairs_price([j for j in live if category[pairs[j][1]] == q], "quota", lambda j: 1, n)
            move(qprice[q], new)
            qprice[q] = new
        for h, n in channel.items():
            cs = sorted({pairs[j][0] for j in live if pairs[j][3] == h})
            new = 0.0
            if len(cs) > n:
                free = {**hprice, h: 0.0}
                t = [best(items(c), rules, free)[0] - best(items(c), rules, hprice, ban=h)[0] for c in cs]
                new = max(sorted(t, reverse=True)[n], 0.0)
            move(hprice[h], new)
            hprice[h] = new
        if budget is not None:
            costly = [j for j in live if pcost(j) > 0]
            new = pairs_price(costly, "budget", pcost, budget)
            move(bprice, new)
            bprice = new
        done = p + 1
        if not moved:
            break
    bound = 0.0
    for o, cap in capacity.items():
        if cap is not None:
            bound += price[o] * cap
    for q, n in quota.items():
        bound += qprice[q] * n
    for h, n in channel.items():
        bound += hprice[h] * n
    if budget is not None:
        bound += bprice * budget
    chosen: set[int] = set()
    for c in by_customer:
        total, picked = best(items(c), rules, hprice)
        bound += total
        chosen |= set(picked)
    # Ties at a price: a constraint wanted beyond its limit keeps the
    # highest thresholds (stable: position breaks ties).
    def cut(js: list[int], of: str, units: Callable[[int], int], limit: int) -> None:
        nonlocal chosen
        mine = [j for j in sorted(chosen) if j in js]
        if sum(units(j) for j in mine) <= limit:
            return
        used = 0
        for j in sorted(mine, key=lambda j: -threshold(j, of, units(j))):
            used += units(j)
            if used > limit:
                chosen.discard(j)

    for o, cap in capacity.items():
        if cap is not None:
            cut([j for j, pr in enumerate(pairs) if pr[1] == o], "offer", lambda j: 1, cap)
    for q, n in quota.items():
        cut([j for j in live if category[pairs[j][1]] == q], "quota", lambda j: 1, n)
    for h, n in channel.items():
        cs = sorted({pairs[j][0] for j in chosen if pairs[j][3] == h})
        if len(cs) > n:
            t = {c: best(items(c), rules, {**hprice, h: 0.0})[0] - best(items(c), rules, hprice, ban=h)[0]
                 for c in cs}
            out = set(sorted(cs, key=lambda c: -t[c])[n:])
            chosen -= {j for j in chosen if pairs[j][3] == h and pairs[j][0] in out}
    if budget is not None:
        cut([j for j in live if pcost(j) > 0], "budget", pcost, budget)
    others = {**{f"capacity {h}": hprice[h] for h in channel}, **{f"quota {q}": qprice[q] for q in quota},
              **({"budget": bprice * limits.unit} if budget is not None else {})}
    return chosen, {o: price[o] for o, cap in capacity.items() if cap is not None}, others, bound, done


def allocate(program: ir.Program, rules, pairs: list, greedy: tuple, walk: Callable[[list], tuple],
             rows: Sequence = ()):
    """A run under `maximize priority`: `pairs` (-priority, offer position,
    customer, OfferState) in the greedy order, `greedy` their greedy walk
    (RunMatch, total); `walk(order)` walks pairs in another order; `rows`
    the customers' RowResults (their computed costs, 3.11). The
    chosen pairs walk first, then the rest in the greedy order; the greedy
    walk stands if it gives more."""
    g_match, g_value = greedy
    if pairs and max(abs(p[3].priority) for p in pairs) * len(pairs) > OVERFLOW:
        return _report(g_match, Allocation(g_value, g_value, None, {}, 0))
    by_position = sorted(range(len(pairs)), key=lambda j: (pairs[j][2], pairs[j][1]))
    plain = [(pairs[j][2], pairs[j][3].name, pairs[j][3].priority, pairs[j][3].channel) for j in by_position]
    pair_costs = None
    if program.arbitrate.cost_scores:
        from pol.reference.matching import Limits
        limits = Limits(program)
        assert limits.units is not None
        pair_costs = [int(limits.charge(pairs[j][3].name, limits.value(pairs[j][3].name, rows[pairs[j][2]]))
                          * limits.units.unit) for j in by_position]
    chosen, prices, others, bound, passes = choose(plain, Constraints.of(program), rules, pair_costs=pair_costs)
    picked = {by_position[j] for j in chosen if pairs[by_position[j]][3].name != program.arbitrate.fallback}
    o_match, o_value = walk([p for j, p in enumerate(pairs) if j in picked]
                            + [p for j, p in enumerate(pairs) if j not in picked])
    if o_value < g_value:
        return _report(g_match, Allocation(g_value, g_value, max(bound, g_value), prices, passes, others))
    return _report(o_match, Allocation(o_value, g_value, max(bound, o_value), prices, passes, others))


def _report(match, allocation: Allocation):
    from dataclasses import replace
    return replace(match, allocation=allocation.to_dict())
