"""The compiled offer walk of LANGUAGE.md section 6, written once.

The walk is one template (`WALK`, with the accept test `REFUSAL` inside it)
that every compiled path is generated from:

* the fused batch kernel and the row kernel paste it into their row loop
  (compiler/backend/codegen.py, `walk_code`);
* `match_range`, the vectorized path's matching of candidate matrices, and
  `walk_global`, the run-wide walk with capacities (which applies `REFUSAL`
  per pair), are generated from it into one policy-independent module
  (`matcher()`), cached on disk like a kernel (compiler/backend/cache.py).

engine/reference/matching.py is the plain Python oracle they are tested
against. A template and not a jitted function: Numba's `inline="always"`
made the bench kernel three times slower than the same statements pasted in,
and a called function costs a call per row.
"""
from __future__ import annotations

import ast
import threading
import types
from collections.abc import Callable
from typing import Any

from pol.compiler.backend import layout as names
from pol.compiler.backend.astgen import template

# The first rule that refuses offer WK to a customer holding TAKEN offers, the
# categories CATS and the exclusive lines EXCL (bits): COL is the funnel
# column the candidate counts in, ACCEPTED when none refuses it.
REFUSAL = """
wc = category[WK]
if TAKEN >= MAXN:
    col = LOST_MAX
elif wc >= 0 and (CATS >> wc) & 1:
    col = LOST_CATEGORY
elif (EXCL & exclusive[WK]) != 0:
    col = LOST_EXCLUSIVE
else:
    col = ACCEPTED
"""

# Row i's nc candidates (offer co, priority cp, channel cs), appended in
# declaration order: a stable insertion sort by priority, highest first (a
# customer has a handful), then each accepted unless REFUSAL says otherwise.
# Accepted ones go to slot w on of the assignments' flat layout; every one
# is counted in lost[offer, column], accepted ones in bych[offer, channel,
# control]. CONTROL sets `ctrl` (the holdout mark).
WALK = """
for wa in range(1, nc):
    wo = co[wa]
    wp = cp[wa]
    ws = cs[wa]
    wb = wa
    while wb > 0 and cp[wb - 1] < wp:
        co[wb] = co[wb - 1]
        cp[wb] = cp[wb - 1]
        cs[wb] = cs[wb - 1]
        wb -= 1
    co[wb] = wo
    cp[wb] = wp
    cs[wb] = ws
taken = 0
cats = np.int64(0)
excl = np.int64(0)
for wb in range(nc):
    wk = co[wb]
    REFUSE
    ROOM
    lost[wk, col] += 1
    if col == ACCEPTED:
        CONTROL
        a_row[w] = i
        a_rank[w] = taken + 1
        a_offer[w] = wk
        a_chan[w] = cs[wb]
        a_prio[w] = cp[wb]
        a_ctrl[w] = ctrl
        if ctrl:
            lost[wk, CONTROLS] += 1
            bych[wk, cs[wb], 1] += 1
        else:
            bych[wk, cs[wb], 0] += 1
        taken += 1
        w += 1
        if wc >= 0:
            cats |= np.int64(1) << wc
        excl |= exclusive[wk]
a_end[i] = w
"""

# Under an in-run contact cap (LANGUAGE.md 14.1) an offer through a capped
# channel needs room left: the customer's room there (its hidden score, row
# room_of[channel] of `scores`) less the offers this walk already gave through
# it, controls left out (they are not contacted). The row's accepted offers
# are its last `taken` slots: counted there, a walk keeps no state per channel.
ROOM = """
wr = room_of[cs[wb]]
if col == ACCEPTED and wr >= 0:
    wu = 0
    for wq in range(w - taken, w):
        if a_chan[wq] == cs[wb] and not a_ctrl[wq]:
            wu += 1
    if wu >= scores[wr, i]:
        col = LOST_CONTACT_CAP
"""

_HELD_OUT = "ctrl = held_out(wk, i, holdout_bp, holdout_state, key_is_int, key_ints, key_offsets, key_data)"
_NO_HOLDOUT = "ctrl = False"

_COLUMNS = dict(ACCEPTED=names.ACCEPTED, CONTROLS=names.CONTROLS, LOST_MAX=names.LOST_MAX,
                LOST_CATEGORY=names.LOST_CATEGORY, LOST_EXCLUSIVE=names.LOST_EXCLUSIVE)


def refusal_code(max_n: ast.expr, taken: ast.expr, cats: ast.expr, excl: ast.expr) -> list[ast.stmt]:
    return template(REFUSAL, MAXN=max_n, WK=ast.Name("wk", ast.Load()), TAKEN=taken, CATS=cats, EXCL=excl,
                    **_COLUMNS)


def walk_code(max_n: ast.expr, holdouts: bool, rooms: bool = False) -> list[ast.stmt]:
    """The walk of one row, for a kernel whose locals are co, cp, cs, nc, w,
    lost, bych and whose arguments are the layout's (names.MATCHED, and
    names.ROOMS with `rooms`). Without `holdouts` no offer has one and
    nobody is a control; without `rooms` no channel has an in-run contact
    cap (and the walk is what it was before there were any)."""
    def name(n: str) -> ast.Name:
        return ast.Name(n, ast.Load())

    refuse = refusal_code(max_n, name("taken"), name("cats"), name("excl"))
    control = template(_HELD_OUT if holdouts else _NO_HOLDOUT)
    room = template(ROOM, LOST_CONTACT_CAP=names.LOST_CONTACT_CAP, ACCEPTED=names.ACCEPTED) if rooms else []
    return template(WALK, REFUSE=refuse, CONTROL=control, ROOM=room, **_COLUMNS)


# ------------------------------------------------------------ the matcher module

_MATCH_RANGE = """
@njit(cache=True, nogil=True, error_model='numpy', boundscheck=False)
def match_range(start, stop, cprio, cchan, max_n, fallback, category, exclusive, holdout_bp, holdout_state,
                room_of, scores, key_is_int, key_ints, key_offsets, key_data,
                a_row, a_rank, a_offer, a_chan, a_prio, a_ctrl, a_end, funnel, by_channel):
    K = cprio.shape[1]
    co = np.empty(max(K, 1), np.int64)
    cp = np.empty(max(K, 1), np.float64)
    cs = np.empty(max(K, 1), np.int64)
    # Counted in local arrays, added once: LLVM can keep a local in cache
    # lines no other array may alias (a third faster on the bench).
    lost = np.zeros((K, NFUNNEL), np.int64)
    bych = np.zeros(by_channel.shape, np.int64)
    w = start * max_n
    for i in range(start, stop):
        nc = 0
        fbs = -1
        fbp = 0.0
        for k in range(K):
            s = cchan[i, k]
            if s == NOT_ELIGIBLE:
                continue
            lost[k, ELIGIBLE] += 1
            if s == NO_CHANNEL:
                continue
            lost[k, DELIVERABLE] += 1
            if s == NO_PRIORITY:
                continue
            lost[k, CANDIDATES] += 1
            if k == fallback:
                fbs = s
                fbp = cprio[i, k]
                continue
            co[nc] = k
            cp[nc] = cprio[i, k]
            cs[nc] = s
            nc += 1
        # The fallback comes last, and only to a customer who holds nothing:
        # here, without run-wide constraints, one who has no other candidate.
        if fbs >= 0:
            if nc == 0:
                co[0] = fallback
                cp[0] = fbp
                cs[0] = fbs
                nc = 1
            else:
                lost[fallback, LOST_MAX] += 1
        WALK
    funnel += lost
    by_channel += bych
"""

_WALK_GLOBAL = """
@njit(cache=True, nogil=True, error_model='numpy', boundscheck=False)
def walk_global(order, cust, offer, chan, ctrl, room, cost, n_cust, max_n, fallback, category, exclusive, capacity,
                quota_of, quota, chan_bit, chan_cap, budget, room_of, accepted, counts):
    left = capacity.copy()
    qleft = quota.copy()
    cleft = chan_cap.copy()
    bleft = budget
    taken = np.zeros(n_cust, np.int64)
    cats = np.zeros(n_cust, np.int64)
    excl = np.zeros(n_cust, np.int64)
    contacted = np.zeros(n_cust, np.int64)
    # In-run contact caps: each pair carries its customer's room on its
    # channel (`room`, empty without caps); rused counts what the walk gave
    # through each capped channel (rdense numbers them) per customer.
    rdense = np.full(len(room_of), -1, np.int64)
    nr = 0
    for h in range(len(room_of)):
        if room_of[h] >= 0:
            rdense[h] = nr
            nr += 1
    rused = np.zeros((n_cust if nr > 0 else 0, max(nr, 1)), np.int64)
    for j in order:
        i = cust[j]
        wk = offer[j]
        REFUSE
        if wk == fallback and taken[i] > 0:
            col = LOST_MAX          # the first rule: the customer's places are taken
        wq = quota_of[wk]
        wh = chan_bit[chan[j]]
        fresh = wh >= 0 and (contacted[i] >> wh) & 1 == 0
        if col == ACCEPTED:
            if left[wk] == 0:
                col = LOST_CAPACITY
            elif wq >= 0 and qleft[wq] == 0:
                col = LOST_QUOTA
            elif fresh and cleft[wh] == 0:
                col = LOST_CHANNEL_CAPACITY
            elif len(cost) > 0 and cost[j] > bleft:
                col = LOST_BUDGET
        wr = rdense[chan[j]]
        if col == ACCEPTED and wr >= 0 and rused[i, wr] >= room[j]:
            col = LOST_CONTACT_CAP
        counts[wk, col] += 1
        if col == ACCEPTED:
            if wr >= 0 and not ctrl[j]:
                rused[i, wr] += 1
            if left[wk] > 0:
                left[wk] -= 1
            if wq >= 0:
                qleft[wq] -= 1
            if fresh:
                if cleft[wh] > 0:
                    cleft[wh] -= 1
                contacted[i] |= np.int64(1) << wh
            if len(cost) > 0:
                bleft -= cost[j]
            accepted[j] = True
            taken[i] += 1
            if ctrl[j]:
                counts[wk, CONTROLS] += 1
            if wc >= 0:
                cats[i] |= np.int64(1) << wc
            excl[i] |= exclusive[wk]
"""

_HEADER = '''"""Generated by pol.compiler.backend.walk; do not edit."""
import numpy as np
from numba import njit
from pol.compiler.backend.runtime import held_out
'''


def matcher_source() -> str:
    """The policy-independent module of `match_range` (candidate matrices,
    rows start..stop, through WALK into a FlatParts' arrays, with their
    funnel and per-channel counts) and `walk_global` (the run-wide walk of
    pairs visited in `order`; `cust` numbers the customers that have
    candidates densely; `fallback` is the fallback offer, -1 none, refused
    to a customer who holds an offer; after REFUSAL come the run-wide constraints of
    LANGUAGE.md 6.4 in their order: the offer's capacity (-1: none), its
    category's quota (`quota_of`, -1: none), its channel's customers
    (`chan_bit`: the channel's bit in a customer's contacted mask, -1: no
    capacity) and the budget, in whole units of the costs: `cost` per pair,
    its customer's when computed, LANGUAGE.md 3.11; empty without a
    budget), then the
    customer's room on the pair's channel under an in-run contact cap
    (`room` per pair, read where `room_of[channel]` >= 0; match_range reads
    it from row room_of[channel] of `scores`)."""
    def name(n: str) -> ast.Name:
        return ast.Name(n, ast.Load())

    def item(arr: str, i: str) -> ast.Subscript:
        return ast.Subscript(name(arr), name(i), ast.Load())

    match_range = template(_MATCH_RANGE, WALK=walk_code(name("max_n"), holdouts=True, rooms=True),
                           NFUNNEL=len(names.FUNNEL),
                           NOT_ELIGIBLE=names.NOT_ELIGIBLE, NO_CHANNEL=names.NO_CHANNEL,
                           NO_PRIORITY=names.NO_PRIORITY, ELIGIBLE=names.ELIGIBLE,
                           DELIVERABLE=names.DELIVERABLE, CANDIDATES=names.CANDIDATES, LOST_MAX=names.LOST_MAX)
    walk_global = template(_WALK_GLOBAL, LOST_CAPACITY=names.LOST_CAPACITY, LOST_QUOTA=names.LOST_QUOTA,
                           LOST_CHANNEL_CAPACITY=names.LOST_CHANNEL_CAPACITY, LOST_BUDGET=names.LOST_BUDGET,
                           LOST_CONTACT_CAP=names.LOST_CONTACT_CAP, **_COLUMNS,
                           REFUSE=refusal_code(name("max_n"), item("taken", "i"), item("cats", "i"),
                                               item("excl", "i")))
    module = ast.fix_missing_locations(ast.Module([*match_range, *walk_global], []))
    return _HEADER + ast.unparse(module) + "\n"


_matcher: types.ModuleType | None = None
_matcher_cached = False
_plain_cells = 0            # walked as Python in this process (PLAIN_BUDGET)
_plain_lock = threading.Lock()

# Rows times offers under which the vectorized path walks a batch with
# match_range's Python body while match_range is neither compiled in this
# process nor in Numba's cache (compiler/backend/plain.py): 1,000 rows of
# 200 offers take about 0.2 s that way, against 3-4 s to compile it first.
PLAIN_CELLS = 500_000
# Cells a process walks as Python in all before it compiles match_range
# anyway: about 2 s of walking (0.2 us a cell), half a compile. A process
# that keeps evaluating small batches would otherwise walk them all as
# Python (20 times slower), and never fill Numba's cache for the next one;
# this way it spends at most half again what knowing its future would have.
PLAIN_BUDGET = 10_000_000


def matcher() -> types.ModuleType:
    """The matcher module, loaded (and compiled, or read from Numba's cache)
    once per process: cache.load makes one module per source under its own
    lock, which a row kernel module loading holds when it calls this (a lock
    of ours here would be taken in both orders)."""
    global _matcher
    if _matcher is None:
        from pol.compiler.backend import cache
        _matcher = cache.load(matcher_source())
    return _matcher


def match_range_for(cells: int) -> Callable[..., None]:
    """The matcher's match_range to walk `cells` candidate cells with: as
    Python (plain.plain) when they are few and Numba would have to compile
    it first, until the process has walked PLAIN_BUDGET cells that way;
    else compiled (from Numba's cache when it is there)."""
    global _plain_cells
    m = matcher()
    if cells <= PLAIN_CELLS and not _compiled(m.match_range):
        with _plain_lock:
            _plain_cells += cells
            spent = _plain_cells > PLAIN_BUDGET
        if not spent:
            from pol.compiler.backend.plain import plain
            return plain(m.match_range)
    compiled: Callable[..., None] = m.match_range
    return compiled


def _compiled(dispatcher: Any) -> bool:
    """Whether calling match_range compiles nothing: compiled in this process,
    or its index in Numba's cache (once seen there, it stays)."""
    global _matcher_cached
    if dispatcher.overloads or _matcher_cached:
        return True
    from pol.compiler.backend import cache
    _matcher_cached = cache.is_cached(matcher_source(), ("match_range",))
    return _matcher_cached
