"""The host's half of string functions: a batch's string table -> the lookup
tables its kernel reads (compiler/backend/plan.LutSlot), one per function
and constant argument.

A kernel holds strings as codes into the table and never builds one. A
string-valued function (upper, lower, trim, substring, concat; LANGUAGE.md
section 4.8) is applied here to every string of the table, once per batch,
with the reference evaluator's own rule (compiler/ops.py), so every evaluator gives the same
string: its lookup maps a code to the code of the result, appended to the
table when new. Results of results need more rounds: after as many rounds
as string functions nest in the policy (plan.map_rounds), every string an
expression can produce has a code. Then the bool and int lookups
(starts_with, length ...) are computed over the whole table with Arrow.

    lookups(plan, table) -> (table, [lookup array per plan.luts])
    extended(plan, luts, extra) -> the lookups of a table with `extra` strings appended
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler.backend.plan import STRING_MAPS, KernelPlan, LutSlot
from pol.compiler.ops import RULES


def _rule(slot: LutSlot):
    fn = RULES[slot.op]
    if slot.op == "substring":
        return lambda s: fn(s, *slot.arg)
    if slot.op == "concat":
        prefix, suffix = slot.arg
        return lambda s: prefix + s + suffix
    return fn


def _maps(plan: KernelPlan, table: pa.Array) -> tuple[pa.Array, dict]:
    maps = [slot for slot in plan.luts if slot.op in STRING_MAPS]
    if not maps:
        return table, {}
    strings = table.to_pylist()
    code = {s: k for k, s in enumerate(strings)}
    out: dict[LutSlot, list[int]] = {slot: [] for slot in maps}
    done = 0
    for _ in range(plan.map_rounds):
        end = len(strings)
        if done == end:
            break
        for slot in maps:
            rule, codes = _rule(slot), out[slot]
            for s in strings[done:end]:
                r = rule(s)
                k = code.get(r)
                if k is None:
                    k = code[r] = len(strings)
                    strings.append(r)
                codes.append(k)
        done = end
    # Strings of the last round are never an argument (the nesting is no
    # deeper): their entries are 0, so that every code indexes every lookup.
    n = len(strings)
    return pa.array(strings, pa.string()), {slot: np.array(c + [0] * (n - len(c)), np.int64)
                                             for slot, c in out.items()}


def lookups(plan: KernelPlan, table: pa.Array) -> tuple[pa.Array, list[np.ndarray]]:
    """The table grown by the string maps' results, and every lookup of the plan in plan order."""
    if not len(table):      # a null string reads code 0: give every lookup that slot
        table = pa.array([""], pa.string())
    table, maps = _maps(plan, table)
    args = []
    for lut in plan.luts:
        if lut in maps:
            args.append(maps[lut])
        elif lut.op == "length":
            args.append(pc.utf8_length(table).to_numpy().astype(np.int64))
        elif lut.op == "channel_rank":
            # each string's channel, once per batch: no row compares strings
            names = pa.array(lut.arg.split(","), pa.string())
            args.append(pc.fill_null(pc.index_in(table, value_set=names), -1).to_numpy().astype(np.int64))
        else:
            fn = {"starts_with": pc.starts_with, "ends_with": pc.ends_with,
                  "contains": pc.match_substring}[lut.op]
            args.append(fn(table, pattern=lut.arg).to_numpy(zero_copy_only=False))
    return table, args


def extended(plan: KernelPlan, luts: list[np.ndarray], extra: list[str]) -> list[np.ndarray]:
    """The lookups of plan.literals (`luts`, made by `lookups`) for the table
    with a record's own strings appended (the row kernel, once per call):
    without string maps, only the new strings are looked up, in Python; with
    them, the whole table is made again."""
    if plan.map_rounds:
        return lookups(plan, pa.array([*plan.literals, *extra], pa.string()))[1]
    n = len(plan.literals)        # without literals, `lookups` gave the table one slot: not a code here
    return [np.concatenate([lut[:n], np.array([RULES[slot.op](s, slot.arg) if slot.arg is not None else
                                               RULES[slot.op](s) for s in extra], lut.dtype)])
            for lut, slot in zip(luts, plan.luts)]
