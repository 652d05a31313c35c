"""An aggregate's results per event key -> its column for a batch of
customers, in one compiled pass per column on every core: each customer's
value taken by its group, and the Arrow validity bitmap written as it goes
(no mask array, no second pass to pack it).

    gather(groups, valid, values, none_is_zero, arrow_type) -> pa.Array
    dense_groups(keys, validity, lowest, groups, seen) -> int64[n]

`groups` is each customer's group (-1: none); a customer of no group gets
0 where `none_is_zero` (count and sum of nothing, LANGUAGE.md 12.2), else
null. Bools are left to numpy (Arrow packs their values in bits too).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from pol.evaluation.threads import THREADS, chunks, run_parts

_ROWS_PER_THREAD = 1 << 16


def gather(groups: np.ndarray, valid: np.ndarray, values: np.ndarray, none_is_zero: bool,
           arrow_type: pa.DataType) -> pa.Array:
    n = len(groups)
    dtype = np.int32 if arrow_type.bit_width == 32 else values.dtype
    out = np.empty(n, dtype)
    bits = np.empty((n + 7) // 8, np.uint8)
    nulls = np.zeros(THREADS, np.int64)

    def part(j: int, lo: int, hi: int) -> None:
        nulls[j] = _gather(groups, valid, values, none_is_zero, out, bits, lo, hi)

    run_parts(part, _byte_chunks(n))
    count = int(nulls.sum())
    return pa.Array.from_buffers(arrow_type, n, [pa.py_buffer(bits) if count else None, pa.py_buffer(out)],
                                 null_count=count)


def _byte_chunks(n: int) -> list[tuple[int, int]]:
    """Row ranges, one per core, each starting on a byte of the bitmap."""
    parts = max(1, min(THREADS, n // _ROWS_PER_THREAD))
    step = ((n + parts - 1) // parts + 7) // 8 * 8 or 1
    return [(lo, min(n, lo + step)) for lo in range(0, n, step)] or [(0, 0)]


@njit(cache=True, nogil=True)
def _gather(groups, valid, values, none_is_zero, out, bits, lo, hi):
    """Rows lo..hi-1 (lo a multiple of 8): values and validity bits; the nulls written."""
    # slices indexed from 0 and groups as unsigned once known not negative:
    # numba then skips the wraparound of a negative index
    rows, got, packed = groups[lo:hi], out[lo:hi], bits[lo >> 3:]
    nulls = 0
    byte = 0
    n = rows.shape[0]
    for i in range(n):
        g = rows[i]
        if g >= 0:
            ok = valid[np.uint64(g)]
            got[i] = values[np.uint64(g)]
        else:
            ok = none_is_zero
            got[i] = 0
        if ok:
            byte |= 1 << (i & 7)
        else:
            nulls += 1
        if i & 7 == 7 or i == n - 1:
            packed[i >> 3] = byte
            byte = 0
    return nulls


def dense_groups(keys: np.ndarray, validity, lowest: int, groups: int, seen: np.ndarray) -> np.ndarray:
    """int64[n]: each customer's group where the event keys are their own
    groups (key - lowest, history.Groups), -1 for a key of no group or
    null; each group found marked in `seen` (for the summary's matched
    events). One compiled pass on every core."""
    out = np.empty(len(keys), np.int64)
    bitmap, offset, nulls = validity
    run_parts(lambda _j, lo, hi: _dense(keys, bitmap, offset, nulls, lowest, groups, out, seen, lo, hi),
              chunks(len(keys)))
    return out


@njit(cache=True, nogil=True)
def _dense(keys, bitmap, offset, nulls, lowest, groups, out, seen, lo, hi):
    # Two batches may mark one group at once: both write True, nothing is lost.
    for i in range(lo, hi):
        g = keys[i] - lowest
        ok = g >= 0 and g < groups
        if nulls:
            b = offset + i
            ok = ok and (bitmap[b >> 3] >> (b & 7)) & 1 == 1
        if ok:
            out[i] = g
            seen[g] = True
        else:
            out[i] = -1
