"""Optimal allocation in plain Python (LANGUAGE.md section 6.7): the oracle
of engine/arbitration/optimal.py, written from the section's text.

    choose(pairs, capacity, rules)  -> (chosen pair indices, prices, dual bound)
    allocate(program, rules, pairs, greedy, walk) -> the run's RunMatch, with its report

`pairs` are (customer, offer, priority) in position order (customer, then
offer declaration order); `capacity` maps an offer to its capacity (None:
none); `rules.refusal(offer, held)` is the per-customer walk's test
(matching._Rules). The chosen pairs are what the run-wide walk takes first.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from itertools import combinations

from pol.arbitration.optimal import OVERFLOW, Allocation
from pol.compiler import ir

PASSES = 30
SETTLED = 1e-6      # a pass whose prices all move by less than this share of the largest priority is the last


def _allowed(rules, offers: Sequence[str]) -> bool:
    held: list[str] = []
    for o in offers:
        if rules.refusal(o, held) is not None:
            return False
        held.append(o)
    return True


def best(items: list[tuple[int, str, float]], rules, forced: str | None = None) -> tuple[float, tuple[int, ...]]:
    """The largest total of positive values over the sets of a customer's
    `items` (pair, offer, value) the rules allow together with `forced`
    (whose own value is not counted), and that set. Every set is tried.
    With the values ranked highest first (equal ones by position), a total
    is the sum in that order; of equal totals the set whose ranks, as a
    sorted tuple, come first wins."""
    positive = sorted((it for it in items if it[2] > 0), key=lambda it: -it[2])     # stable
    room = rules.max - (1 if forced is not None else 0)
    best_total, best_combo = 0.0, ()
    for size in range(1, min(room, len(positive)) + 1):
        for combo in combinations(range(len(positive)), size):
            offers = ([forced] if forced is not None else []) + [positive[a][1] for a in combo]
            if not _allowed(rules, offers):
                continue
            total = 0.0
            for a in combo:
                total += positive[a][2]
            if total > best_total or (total == best_total and combo < best_combo):
                best_total, best_combo = total, combo
    return best_total, tuple(positive[a][0] for a in best_combo)


def choose(pairs: Sequence[tuple[int, str, float]], capacity: dict[str, int | None], rules,
           passes: int = PASSES) -> tuple[set[int], dict[str, float], float, int]:
    """Section 6.7's allocation before the walk: prices by coordinate descent
    over the capped offers, in declaration order, then each customer's best
    set at them, an over-wanted offer cut to its capacity by threshold.
    The fallback's own rule (only for who has nothing else) is left out
    here, as the compiled search leaves it out: a looser problem, so the
    bound stays a bound; the fallback is never among the chosen pairs."""
    rules = copy.copy(rules)
    rules.fallback = None
    price = {o: 0.0 for o in capacity}
    by_customer: dict[int, list[int]] = {}
    for j, (c, _, _) in enumerate(pairs):
        by_customer.setdefault(c, []).append(j)

    def items(c: int, without: int | None = None) -> list[tuple[int, str, float]]:
        return [(j, pairs[j][1], pairs[j][2] - price[pairs[j][1]]) for j in by_customer[c] if j != without]

    def threshold(j: int) -> float:
        c, o, p = pairs[j]
        with_j, _ = best(items(c, j), rules, forced=o)
        without, _ = best(items(c, j), rules)
        return p + with_j - without

    def dual() -> float:
        total = 0.0
        for o, cap in capacity.items():
            if cap is not None:
                total += price[o] * cap
        for c in by_customer:
            total += best(items(c), rules)[0]
        return total

    settled = SETTLED * max((abs(p[2]) for p in pairs), default=0.0)
    done = 0
    for p in range(passes):
        moved = False
        for o, cap in capacity.items():
            js = [j for j, p in enumerate(pairs) if p[1] == o]
            if cap is None or len(js) <= cap:
                continue
            if cap == 0:
                new = max(max(pairs[j][2] for j in js), 0.0)
            else:
                t = sorted((threshold(j) for j in js), reverse=True)
                new = max(t[cap], 0.0)
            if new != price[o]:
                moved = moved or abs(new - price[o]) > settled
                price[o] = new
        done = p + 1
        if not moved:
            break
    bound = dual()
    chosen = {j for c in by_customer for j in best(items(c), rules)[1]}
    for o, cap in capacity.items():
        mine = [j for j in sorted(chosen) if pairs[j][1] == o]
        if cap is not None and len(mine) > cap:
            ranked = sorted(mine, key=lambda j: -threshold(j))     # stable: position breaks ties
            chosen -= set(ranked[cap:])
    return chosen, {o: price[o] for o, cap in capacity.items() if cap is not None}, bound, done


def allocate(program: ir.Program, rules, pairs: list, greedy: tuple, walk: Callable[[list], tuple]):
    """A run under `maximize priority`: `pairs` (-priority, offer position,
    customer, OfferState) in the greedy order, `greedy` their greedy walk
    (RunMatch, total); `walk(order)` walks pairs in another order. The
    chosen pairs walk first, then the rest in the greedy order; the greedy
    walk stands if it gives more."""
    g_match, g_value = greedy
    if pairs and max(abs(p[3].priority) for p in pairs) * len(pairs) > OVERFLOW:
        return _report(g_match, Allocation(g_value, g_value, None, {}, 0))
    by_position = sorted(range(len(pairs)), key=lambda j: (pairs[j][2], pairs[j][1]))
    plain = [(pairs[j][2], pairs[j][3].name, pairs[j][3].priority) for j in by_position]
    capacity = {o.name: o.capacity for o in program.offers}
    chosen, prices, bound, passes = choose(plain, capacity, rules)
    picked = {by_position[j] for j in chosen if pairs[by_position[j]][3].name != program.arbitrate.fallback}
    o_match, o_value = walk([p for j, p in enumerate(pairs) if j in picked]
                            + [p for j, p in enumerate(pairs) if j not in picked])
    if o_value < g_value:
        return _report(g_match, Allocation(g_value, g_value, max(bound, g_value), prices, passes))
    return _report(o_match, Allocation(o_value, g_value, max(bound, o_value), prices, passes))


def _report(match, allocation: Allocation):
    from dataclasses import replace
    return replace(match, allocation=allocation.to_dict())
