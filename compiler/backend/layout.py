"""The kernel contract, named: KernelPlan -> KernelLayout, every argument a
generated kernel takes, in order, and what each one holds.

Code generation names a kernel's parameters from here; the binder
(engine/evaluation/bind.py) hands over each batch's arguments by these
names; the vectorized evaluator reads them by these names; the executors
(engine/evaluation/executor.py, row.py) put them in the kernel's order with
`KernelLayout.arguments`, which refuses a missing or unknown name. No other
module agrees with another on a position.

Also named here: the funnel's columns (counted per offer by every walk)
and the candidate states (what an offer is, per customer, before the walk).

The names are identifiers the compiler makes (`x3`, `p0`, `l1`): never a
policy's own names, so no user text reaches the generated code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pol.compiler.types import Type

if TYPE_CHECKING:
    import numpy as np

    from pol.compiler.backend.plan import KernelPlan

# ------------------------------------------------------------ funnel columns

# Per offer, in the order a customer passes through them (LANGUAGE.md section 6).
FUNNEL = ("eligible", "deliverable", "candidates", "accepted", "controls",
          "lost_to_max", "lost_to_category", "lost_to_exclusive", "lost_to_capacity",
          "lost_to_quota", "lost_to_channel_capacity", "lost_to_budget", "lost_to_contact_cap")
(ELIGIBLE, DELIVERABLE, CANDIDATES, ACCEPTED, CONTROLS, LOST_MAX, LOST_CATEGORY, LOST_EXCLUSIVE, LOST_CAPACITY,
 LOST_QUOTA, LOST_CHANNEL_CAPACITY, LOST_BUDGET, LOST_CONTACT_CAP) = range(len(FUNNEL))

# ------------------------------------------------------------ candidate states

# An offer's state for one customer (`cchan`, and the fused kernel's local):
# the chosen channel's index when it is a candidate, else one of these.
NOT_ELIGIBLE = -3       # not eligible, or outside its valid window
NO_CHANNEL = -2         # eligible, but none of its channels is open
NO_PRIORITY = -1        # eligible with a channel, but its priority is null

# ------------------------------------------------------------ argument names

START, STOP, TODAY = "start", "stop", "today"
ACTIVE = "active"                                   # bool[K]: the offer is in its valid window
# bool[S, n], int16[C, n] (-1 null), float64[R, n]; a batch kernel's rows are
# longer than n (padded against cache aliasing: engine/evaluation/stream.padded)
SEGS, CLASSES, SCORES = "segs", "classes", "scores"
CPRIO, CCHAN = "cprio", "cchan"                     # float64[n, K], int8[n, K]: candidates, unfused
RECORD = ("iv", "fv", "ok")                         # one record: ints/dates/bools/codes, floats, validity
# The record's fields in `iv`, by kind: every int, then every bool, string
# code, date and timestamp (each in plan order), so that the host packs
# each kind with one list (engine/evaluation/row.py); `fv` holds the floats
# in plan order, `ok` every field's validity in plan order (record_slots).
RECORD_INTS = (Type.INT, Type.BOOL, Type.STRING, Type.DATE, Type.TIMESTAMP)
MATCH_RULES = ("category", "exclusive", "holdout_bp", "holdout_state")   # arbitrate.Rules
KEYS = ("key_is_int", "key_ints", "key_offsets", "key_data")            # arbitrate.Keys
FLAT = ("a_row", "a_rank", "a_offer", "a_chan", "a_prio", "a_ctrl", "a_end")  # arbitrate.FlatParts
COUNTS = ("funnel", "by_channel", "nonfinite")      # int64[K, 13], int64[K, H, 2], int64[1]
MATCHED = MATCH_RULES + KEYS + FLAT + COUNTS        # what a kernel that walks reads and writes
# A fused kernel of a policy with run-wide constraints walks only the
# customers with no candidate of a `walked` offer (bool[K]: a constrained
# one, arbitrate.Rules.constrained); every candidate of the others goes to
# the pairs (arbitrate.PairParts: row in the batch, offer, channel, priority;
# p_end as a_end) for the run-wide walk.
HANDOFF = ("walked", "p_row", "p_offer", "p_chan", "p_prio", "p_end")
# Under in-run contact caps, each handed pair's room on its channel (NaN: none)
HANDOFF_ROOM = ("p_room",)
MAX_N = "max_n"
FALLBACK = "fallback"         # the arbitrate block's fallback offer, -1 none
# int64[H]: per channel, the row of SCORES holding the customers' room on it
# under an in-run contact cap (LANGUAGE.md 14.1), -1 none (arbitrate.Rules.room_of).
# A fused kernel takes it only where the policy has such caps.
ROOM_OF = "room_of"
# walk.matcher().match_range: candidate matrices of rows start..stop, walked
MATCH_RANGE = (START, STOP, CPRIO, CCHAN, MAX_N, FALLBACK, *MATCH_RULES, ROOM_OF, SCORES, *KEYS, *FLAT, "funnel",
               "by_channel")
# What the row kernel takes on for its call of match_range: the rest of that
# call is its own (one row, its candidates, its scores, the policy's max_n).
ROW_WALK = tuple(n for n in MATCH_RANGE if n not in (START, STOP, CPRIO, CCHAN, MAX_N, FALLBACK, SCORES))
# The row kernel's one buffer, uint8: every array below is a view of it
# (row_parts), made by the kernel itself, so that a call from Python passes
# one array for these 20 (each array argument costs the call about 40 ns).
MEMORY = "mem"
ROW_CARVED = (KEYS[1], *RECORD, SCORES, CLASSES, SEGS, CPRIO, CCHAN, *FLAT, *COUNTS[:2])


@dataclass(frozen=True)
class FieldArgs:
    """The arguments of one input field. `values`: the Arrow values (ints,
    floats, date32 days; a bool field's bitmap; a string field's dictionary
    indices; a list field's elements, every row's after the other, int64:
    ints, or strings' codes in the batch's string table, null elements
    dropped). The others are None where the field's type has no use for them."""
    values: str
    bit_offset: str | None       # bool: the values bitmap's bit offset
    remap: str | None            # string: dictionary index -> code in the batch's string table
    validity: str | None         # nullable: the validity bitmap,
    validity_offset: str | None  # its bit offset,
    has_nulls: str | None        # and whether it is there at all (no nulls: a dummy bitmap)
    offsets: str | None = None   # list: int64[n + 1], row i's elements are values[offsets[i]:offsets[i + 1]]

    def names(self) -> tuple[str, ...]:
        return tuple(n for n in (self.values, self.bit_offset, self.remap, self.validity,
                                 self.validity_offset, self.has_nulls, self.offsets) if n is not None)


@dataclass(frozen=True)
class ParamArgs:
    value: str      # the param's value (a string's code, a date's days)
    valid: str      # False when the param is null


@dataclass(frozen=True)
class KernelLayout:
    params: tuple[ParamArgs, ...]     # per plan.params
    fields: tuple[FieldArgs, ...]     # per plan.fields
    luts: tuple[str, ...]             # per plan.luts: a table per string of the batch's string table
    # per plan.quants: int8 per element of the quantifier's list field, its
    # condition's value (0 false, 1 true, 2 null), computed by the host
    quants: tuple[str, ...] = ()

    def bound(self) -> tuple[str, ...]:
        """The arguments a bound batch supplies (engine/evaluation/bind.Bound.args)."""
        names: list[str] = []
        for p in self.params:
            names += [p.value, p.valid]
        for f in self.fields:
            names += f.names()
        return (*names, *self.luts, *self.quants)

    def batch(self, matched: bool, handoff: bool = False, rooms: bool = False) -> tuple[str, ...]:
        """The batch kernel's parameters, in order. `matched`: the kernel walks
        each row's candidates itself (fused); otherwise it writes them out.
        `handoff`: a fused kernel hands the customers of constrained offers
        over to the run-wide walk (HANDOFF). `rooms`: a fused kernel's walk
        reads in-run contact caps (ROOM_OF; and hands each pair's room over,
        HANDOFF_ROOM)."""
        params = tuple(n for p in self.params for n in (p.value, p.valid))
        fields = tuple(n for f in self.fields for n in f.names())
        tail = (MATCHED + (HANDOFF if handoff else ()) + ((ROOM_OF,) if rooms else ())
                + (HANDOFF_ROOM if handoff and rooms else ())) if matched else (CPRIO, CCHAN)
        return (START, STOP, TODAY, *params, *fields, *self.luts, *self.quants, ACTIVE, SEGS, CLASSES, SCORES,
                *tail)

    def row(self) -> tuple[str, ...]:
        """The row kernel's parameters, in order: its buffer (MEMORY: one
        record, its outputs and candidates, which the kernel's call of
        match_range walks, and that walk's outputs: ROW_CARVED, laid out by
        row_parts), then what changes per call or per policy. A list field
        is not in the record's slots: its elements and offsets (one row)
        are arguments of their own."""
        params = tuple(n for p in self.params for n in (p.value, p.valid))
        lists = tuple(n for f in self.fields if f.offsets is not None for n in (f.values, f.offsets))
        return (TODAY, *params, MEMORY, *lists, *self.luts, *self.quants, ACTIVE,
                *(n for n in ROW_WALK if n not in ROW_CARVED))

    @staticmethod
    def arguments(order: tuple[str, ...], values: dict[str, object]) -> tuple[object, ...]:
        """`values` in the kernel's order; a name missing or left over is a bug
        in the caller, said as such."""
        missing = [n for n in order if n not in values]
        if missing or len(values) != len(order):
            extra = sorted(set(values) - set(order))
            raise ValueError(f"kernel arguments do not match the layout: missing {missing}, unknown {extra}")
        return tuple(values[n] for n in order)


def record_slots(types: tuple[Type, ...]) -> dict[int, tuple[str, int]]:
    """Per field of the plan (its index j, `types[j]` its type): the RECORD
    array that holds its value and the position there (`ok[j]` is its
    validity)."""
    out: dict[int, tuple[str, int]] = {}
    floats = [j for j, t in enumerate(types) if t == Type.FLOAT]
    ints = [j for kind in RECORD_INTS for j, t in enumerate(types) if t == kind]
    for array, js in ((RECORD[1], floats), (RECORD[0], ints)):
        for k, j in enumerate(js):
            out[j] = (array, k)
    return out


def layout(plan: KernelPlan) -> KernelLayout:
    params = tuple(ParamArgs(f"p{k}", f"pm{k}") for k, _ in enumerate(plan.params))
    fields = []
    for j, f in enumerate(plan.fields):
        nullable = f.nullable
        fields.append(FieldArgs(
            values=f"x{j}",
            bit_offset=f"xb{j}" if f.type == Type.BOOL else None,
            remap=f"xr{j}" if f.type == Type.STRING else None,
            validity=f"xv{j}" if nullable else None,
            validity_offset=f"xo{j}" if nullable else None,
            has_nulls=f"xh{j}" if nullable else None,
            offsets=f"xs{j}" if f.type.element is not None else None,
        ))
    luts = tuple(f"l{k}" for k, _ in enumerate(plan.luts))
    quants = tuple(f"q{k}" for k, _ in enumerate(plan.quants))
    return KernelLayout(params, tuple(fields), luts, quants)


# ------------------------------------------------------------ the row kernel's buffers

@dataclass(frozen=True)
class RowPart:
    """One array the row kernel views in its buffer (MEMORY): `size` bytes
    from `offset`, of `dtype` (a NumPy type's name) and `shape`."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    size: int


# The row buffer's item sizes, as numpy's dtypes have them: known here
# without numpy, which `pol.load` and a first decision on the reference
# evaluator do not import (tests/test_warm_start.py).
_ITEMSIZE = {"int64": 8, "float64": 8, "int32": 4, "int16": 2, "int8": 1, "bool": 1}


def row_parts(plan: KernelPlan, max_n: int) -> tuple[RowPart, ...]:
    """The row kernel's buffer, laid out: an int key's slot, the record
    (RECORD), the declarations' outputs, the candidates, the accepted offers
    (arbitrate.FlatParts of one row, `max_n` slots) and the walk's counts
    (never read). Each part starts at a multiple of its item size only, so
    that two groups lie without a gap: the key's slot and the record, which
    the host packs with one struct.pack_into, and the scores, classes and
    segments, which it reads back with one struct.unpack_from."""
    types = tuple(f.type for f in plan.fields)
    ints = sum(t in RECORD_INTS for t in types)
    K, H = len(plan.offers), len(plan.channels)
    flat = ("int64", "int32", "int32", "int32", "float64", "bool", "int64")
    parts = [(KEYS[1], "int64", (1,)), (RECORD[0], "int64", (ints,)),
             (RECORD[1], "float64", (types.count(Type.FLOAT),)), (RECORD[2], "bool", (len(types),)),
             (SCORES, "float64", (len(plan.scores), 1)), (CLASSES, "int16", (len(plan.classifies), 1)),
             (SEGS, "bool", (len(plan.segments), 1)),
             (CPRIO, "float64", (1, K)), (CCHAN, "int8", (1, K)),
             *((name, dtype, (1 if name == FLAT[-1] else max_n,)) for name, dtype in zip(FLAT, flat)),
             (COUNTS[0], "int64", (K, len(FUNNEL))), (COUNTS[1], "int64", (K, H, 2))]
    out, end = [], 0
    for name, dtype, shape in parts:
        itemsize = _ITEMSIZE[dtype]
        end = -(-end // itemsize) * itemsize
        size = itemsize * math.prod(shape)
        out.append(RowPart(name, dtype, shape, end, size))
        end += size
    return tuple(out)


def row_buffers(parts: tuple[RowPart, ...]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One thread's buffer for the row kernel and the host's views of its
    parts, by name (the kernel makes the same views of it)."""
    import numpy as np
    memory = np.zeros(max((p.offset + p.size for p in parts), default=0), np.uint8)
    return memory, {p.name: memory[p.offset:p.offset + p.size].view(p.dtype).reshape(p.shape) for p in parts}
