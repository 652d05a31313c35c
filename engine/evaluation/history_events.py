"""An event column -> the row the aggregation scan reads
(engine/evaluation/history_kernel.py), in one compiled pass per column on
every core: the value buffer read where Arrow holds it, its validity bit
by bit, nothing unpacked or filled beforehand.

    int_row(values, validity, null, out, shift=0)   # int64/int32 row: the value - shift, or `null`
    float_row(values, validity, out)                # float64 row: the value, or NaN
    valid_row(validity, out)                        # bool row: whether the value is not null
    span(values, validity) -> (lowest, highest) of the values not null, or None
    whole(column) -> the column as one Arrow array

`values` is a numpy view of the Arrow buffer (bind._values, offset applied);
`validity` is bind._validity's [bitmap, offset, has nulls].
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from pol.evaluation.threads import chunks, run_parts


def whole(column):
    """A column as one array: its only chunk as it is (ChunkedArray's
    combine_chunks copies even one chunk: 0.1 s per 50M floats), several
    chunks concatenated."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


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


# Rows a pass unpacks validity bits for at a time (see _expand).
_CHUNK = 4096


@njit(cache=True, nogil=True)
def _ints(values, bitmap, offset, nulls, null, shift, out, lo, hi):
    # Slices indexed from 0: numba then knows no index is negative, skips
    # the wraparound and vectorizes (5x faster than indexing lo..hi).
    v, o = values[lo:hi], out[lo:hi]
    if not nulls:
        for i in range(v.shape[0]):
            o[i] = v[i] - shift
        return
    ok = np.empty(_CHUNK, np.bool_)
    for c in range(0, v.shape[0], _CHUNK):
        vc, oc = v[c:c + _CHUNK], o[c:c + _CHUNK]
        _expand(bitmap, offset + lo + c, ok[:vc.shape[0]])
        for i in range(vc.shape[0]):    # a select, not a branch: the loop vectorizes
            oc[i] = vc[i] - shift if ok[i] else null


@njit(cache=True, nogil=True)
def _floats(values, bitmap, offset, nulls, out, lo, hi):
    v, o = values[lo:hi], out[lo:hi]
    if not nulls:
        for i in range(v.shape[0]):
            o[i] = v[i]
        return
    ok = np.empty(_CHUNK, np.bool_)
    for c in range(0, v.shape[0], _CHUNK):
        vc, oc = v[c:c + _CHUNK], o[c:c + _CHUNK]
        _expand(bitmap, offset + lo + c, ok[:vc.shape[0]])
        for i in range(vc.shape[0]):
            oc[i] = vc[i] if ok[i] else np.nan


@njit(cache=True, nogil=True)
def _bits(bitmap, offset, out, lo, hi):
    _expand(bitmap, offset + lo, out[lo:hi])


@njit(cache=True, nogil=True)
def _expand(bitmap, start, ok):
    """ok[i] = bit start + i of the bitmap (Arrow's order, the lowest bit
    first): whole bytes at a time where the bits line up, a bit at a time
    before and after (2x faster than a byte read per bit)."""
    n = ok.shape[0]
    head = min(n, (8 - (start & 7)) & 7)
    for i in range(head):
        b = start + i
        ok[i] = (bitmap[b >> 3] >> (b & 7)) & 1
    body = head + (n - head) // 8 * 8
    for j in range((body - head) // 8):
        byte = bitmap[(start + head) // 8 + j]
        k = head + 8 * j
        for t in range(8):
            ok[k + t] = (byte >> t) & 1
    for i in range(body, n):
        b = start + i
        ok[i] = (bitmap[b >> 3] >> (b & 7)) & 1
