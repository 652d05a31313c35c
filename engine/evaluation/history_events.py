"""An event column -> the row the aggregation scan reads
(engine/evaluation/history_kernel.py), in one compiled pass per column on
every core: the value buffer read where Arrow holds it, its validity bit
by bit, nothing unpacked or filled beforehand.

    int_row(values, validity, null, out, shift=0)   # int64/int32 row: the value - shift, or `null`
    float_row(values, validity, out)                # float64 row: the value, or NaN
    valid_row(validity, out)                        # bool row: whether the value is not null
    span(values, validity) -> (lowest, highest) of the values not null, or None

`values` is a numpy view of the Arrow buffer (bind._values, offset applied);
`validity` is bind._validity's [bitmap, offset, has nulls].
"""
from __future__ import annotations

import numpy as np
from numba import njit

from pol.evaluation.threads import chunks, run_parts


def int_row(values: np.ndarray, validity, null: int, out: np.ndarray, shift: int = 0) -> np.ndarray:
    bitmap, offset, nulls = validity
    run_parts(lambda _j, lo, hi: _ints(values, bitmap, offset, nulls, null, shift, out, lo, hi),
              chunks(len(out)))
    return out


def float_row(values: np.ndarray, validity, out: np.ndarray) -> np.ndarray:
    bitmap, offset, nulls = validity
    run_parts(lambda _j, lo, hi: _floats(values, bitmap, offset, nulls, out, lo, hi), chunks(len(out)))
    return out


def valid_row(validity, out: np.ndarray) -> np.ndarray:
    bitmap, offset, nulls = validity
    if not nulls:
        out[:] = True
        return out
    run_parts(lambda _j, lo, hi: _bits(bitmap, offset, out, lo, hi), chunks(len(out)))
    return out


def span(values: np.ndarray, validity) -> tuple[int, int] | None:
    bitmap, offset, nulls = validity
    lo, hi, seen = _span(values, bitmap, offset, nulls)
    return (int(lo), int(hi)) if seen else None


@njit(cache=True, nogil=True)
def _span(values, bitmap, offset, nulls):
    lo = hi = values[0] if values.shape[0] else 0
    seen = False
    for i in range(values.shape[0]):
        if nulls:
            b = offset + i
            if not (bitmap[b >> 3] >> (b & 7)) & 1:
                continue
        v = values[i]
        if not seen or v < lo:
            lo = v
        if not seen or v > hi:
            hi = v
        seen = True
    return lo, hi, seen


@njit(cache=True, nogil=True)
def _ints(values, bitmap, offset, nulls, null, shift, out, lo, hi):
    if not nulls:
        for i in range(lo, hi):
            out[i] = values[i] - shift
        return
    for i in range(lo, hi):         # a select, not a branch: the loop vectorizes
        b = offset + i
        out[i] = values[i] - shift if (bitmap[b >> 3] >> (b & 7)) & 1 else null


@njit(cache=True, nogil=True)
def _floats(values, bitmap, offset, nulls, out, lo, hi):
    if not nulls:
        for i in range(lo, hi):
            out[i] = values[i]
        return
    for i in range(lo, hi):
        b = offset + i
        out[i] = values[i] if (bitmap[b >> 3] >> (b & 7)) & 1 else np.nan


@njit(cache=True, nogil=True)
def _bits(bitmap, offset, out, lo, hi):
    for i in range(lo, hi):
        b = offset + i
        out[i] = (bitmap[b >> 3] >> (b & 7)) & 1
