"""The compiled offer walk of LANGUAGE.md section 6, written once.

Every compiled path matches through these functions: the fused batch
kernel and the row kernel call `walk_customer` for each row they evaluate
(compiler/backend/codegen.py), the vectorized evaluator's matching calls it
for each row of its candidate matrices (engine/arbitration/arbitrate.py,
`match_range`), and the run-wide walk with capacities applies the same
`refusal` (arbitrate.walk_global). engine/reference/matching.py is the plain
Python oracle they are tested against.

`walk_customer` and its parts are inlined where they are called (Numba's
`inline="always"`): the kernel pays no call per row, as when the walk was a
template pasted into it.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pol.compiler.backend.layout import ACCEPTED, CONTROLS, LOST_CATEGORY, LOST_EXCLUSIVE, LOST_MAX
from pol.compiler.backend.runtime import held_out

_inline = njit(cache=True, nogil=True, inline="always")


@_inline
def rank(offer, prio, chan, n):
    """Sort a customer's n candidates, appended in declaration order, by
    priority highest first; a stable insertion sort (a customer has a
    handful), so equal priorities keep declaration order."""
    for a in range(1, n):
        o = offer[a]
        p = prio[a]
        c = chan[a]
        b = a
        while b > 0 and prio[b - 1] < p:
            offer[b] = offer[b - 1]
            prio[b] = prio[b - 1]
            chan[b] = chan[b - 1]
            b -= 1
        offer[b] = o
        prio[b] = p
        chan[b] = c


@_inline
def refusal(k, taken, cats, excl, max_n, category, exclusive):
    """The funnel column a candidate of offer k counts in, given what the
    customer holds (`taken` offers, categories `cats` and exclusive lines
    `excl` as bits): ACCEPTED, or the first rule that refuses it."""
    c = category[k]
    if taken >= max_n:
        return LOST_MAX
    if c >= 0 and (cats >> c) & 1:
        return LOST_CATEGORY
    if (excl & exclusive[k]) != 0:
        return LOST_EXCLUSIVE
    return ACCEPTED


@_inline
def hold(k, cats, excl, category, exclusive):
    """The customer's categories and exclusive lines once offer k is accepted."""
    c = category[k]
    if c >= 0:
        cats |= np.int64(1) << c
    return cats, excl | exclusive[k]


@_inline
def walk_customer(i, offer, prio, chan, n, max_n, category, exclusive, bp, state,
                  is_int, ints, offsets, data,
                  a_row, a_rank, a_offer, a_chan, a_prio, a_ctrl, w, funnel, by_channel):
    """Row i's n candidates (offer, priority, channel; in declaration order)
    ranked and walked: each accepted one written at slot w on in the
    assignments' flat layout (row, rank, offer, channel, priority, control),
    every one counted in `funnel[offer]` (accepted, controls, lost_to_*) and
    each accepted one in `by_channel[offer, channel, control]`. Returns the
    slot after the row's last assignment."""
    rank(offer, prio, chan, n)
    taken = 0
    cats = np.int64(0)
    excl = np.int64(0)
    for j in range(n):
        k = offer[j]
        col = refusal(k, taken, cats, excl, max_n, category, exclusive)
        funnel[k, col] += 1
        if col != ACCEPTED:
            continue
        ctrl = held_out(k, i, bp, state, is_int, ints, offsets, data)
        a_row[w] = i
        a_rank[w] = taken + 1
        a_offer[w] = k
        a_chan[w] = chan[j]
        a_prio[w] = prio[j]
        a_ctrl[w] = ctrl
        if ctrl:
            funnel[k, CONTROLS] += 1
            by_channel[k, chan[j], 1] += 1
        else:
            by_channel[k, chan[j], 0] += 1
        taken += 1
        w += 1
        cats, excl = hold(k, cats, excl, category, exclusive)
    return w
