"""What changed for each customer between the base version and another,
on aligned chunks of output, with Arrow and numpy only (no row loop).

In: the versions' policies (`Catalog` unites their names: segments,
classifications and their values, scores, offers, channels) and, per
chunk, every version's customers and assignments for the same input rows
(align.py). Out: per other version, one changes batch (CHANGES columns:
the key, the version's label, segments entered and left, classification
and score changes as {name, from, to}, offers gained, lost and moved) for
the customers whose results differ, and counts of what changed.

A name a version does not declare reads as not in the segment, a null
class, a null score, no offer: a segment added by the new version shows as
entered by its members. Scores compare exactly (two nulls are equal):
the evaluators are deterministic, so any difference is a real one.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler import ir

CHANGE = pa.struct([("name", pa.string()), ("from", pa.string()), ("to", pa.string())])
SCORE_CHANGE = pa.struct([("name", pa.string()), ("from", pa.float64()), ("to", pa.float64())])
MOVE = pa.struct([("offer", pa.string()), ("from_channel", pa.string()), ("to_channel", pa.string()),
                  ("from_rank", pa.int32()), ("to_rank", pa.int32()),
                  ("from_control", pa.bool_()), ("to_control", pa.bool_())])
COUNTED = ("customers_changed", "segments_changed", "classes_changed", "scores_changed", "offers_changed",
           "offers_gained", "offers_lost", "offers_moved")


def changes_schema(key: str, key_type: pa.DataType) -> pa.Schema:
    names = pa.list_(pa.string())
    return pa.schema([
        pa.field(key, pa.int64() if pa.types.is_integer(key_type) else pa.string(), nullable=False),
        pa.field("version", pa.string(), nullable=False),
        pa.field("segments_in", names), pa.field("segments_out", names),
        pa.field("classes", pa.list_(CHANGE)), pa.field("scores", pa.list_(SCORE_CHANGE)),
        pa.field("offers_gained", names), pa.field("offers_lost", names),
        pa.field("offers_moved", pa.list_(MOVE)),
    ])


def key_column_name(key: str) -> str:
    """The key keeps its policy's name unless that is one of the changes' own columns."""
    return "key" if key in {"version", "segments_in", "segments_out", "classes", "scores", "offers_gained",
                            "offers_lost", "offers_moved"} else key


def _union(groups) -> list[str]:
    out: dict[str, None] = {}
    for g in groups:
        out.update(dict.fromkeys(g))
    return list(out)


class Catalog:
    """Every version's names in one code space each (base's order first)."""

    def __init__(self, policies):
        plans = [p.plan for p in policies]
        self.segments = _union(p.segments for p in plans)
        self.classes = _union(p.classifies for p in plans)
        values: dict[str, list] = {c: [] for c in self.classes}
        for p in plans:
            for c, vals in zip(p.classifies, p.class_values):
                values[c] = _union([values[c], vals])
        # One global table of class values: class c's value j is code base[c] + j.
        self.class_base = np.cumsum([0] + [len(values[c]) for c in self.classes])[:-1].astype(np.int64)
        self.class_values = pa.array([v for c in self.classes for v in values[c]], pa.string())
        self.value_code = {(c, v): int(self.class_base[i]) + j
                           for i, c in enumerate(self.classes) for j, v in enumerate(values[c])}
        self.scores = [s for s in _union(p.scores for p in plans) if not ir.hidden(s)]
        self.offers = _union(p.offers for p in plans)
        self.channels = _union(p.channels for p in plans)
        self.segment_names = pa.array(self.segments, pa.string())
        self.class_names = pa.array(self.classes, pa.string())
        self.score_names = pa.array(self.scores, pa.string())
        self.offer_names = pa.array(self.offers, pa.string())
        self.channel_names = pa.array(self.channels, pa.string())


def _dictionary_codes(col, index: dict[str, int], n: int) -> np.ndarray:
    """A dictionary (or string) column -> int64 codes in `index`'s space, -1 for null."""
    out = np.empty(n, np.int64)
    at = 0
    chunks = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    for chunk in chunks:
        m = len(chunk)
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        remap = np.array([index[v] for v in chunk.dictionary.to_pylist()] + [-1], np.int64)
        idx = pc.fill_null(chunk.indices.cast(pa.int64()), -1).to_numpy(zero_copy_only=False)
        out[at:at + m] = remap[idx]
        at += m
    return out


def _bools(col) -> np.ndarray:
    return pc.fill_null(col, False).to_numpy(zero_copy_only=False).astype(np.bool_, copy=False)


def _floats(col) -> np.ndarray:
    return pc.fill_null(col.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)


def _packed(col, n: int) -> np.ndarray:
    """A boolean column (nulls false) as a little-endian bitmap of n bits from bit 0."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    bitmap = arr.buffers()[1]
    if arr.offset % 8 == 0 and bitmap is not None:
        start = arr.offset // 8
        return np.frombuffer(bitmap, np.uint8, count=(n + 7) // 8, offset=start).copy() if n % 8 else \
            np.frombuffer(bitmap, np.uint8, count=n // 8, offset=start)
    return np.packbits(arr.to_numpy(zero_copy_only=False), bitorder="little")


class Side:
    """One version's chunk: its columns by name, compared one at a time
    (no per-row matrices), and its assignments in the catalog's codes."""

    def __init__(self, catalog: Catalog, customers: pa.Table, assignments: pa.Table):
        self.catalog = catalog
        n = self.n = customers.num_rows
        self.customers = customers
        self.names = set(customers.column_names)
        lengths = pc.fill_null(pc.list_value_length(customers.column("offers")), 0).to_numpy(zero_copy_only=False)
        self.counts = lengths.astype(np.int64)
        self.rows = np.repeat(np.arange(n, dtype=np.int64), self.counts)
        m = assignments.num_rows
        self.offer = _dictionary_codes(assignments.column("offer"), {o: k for k, o in enumerate(catalog.offers)}, m)
        self.chan = _dictionary_codes(assignments.column("channel"),
                                      {c: k for k, c in enumerate(catalog.channels)}, m)
        self.rank = assignments.column("rank").to_numpy().astype(np.int32)
        self.ctrl = _bools(assignments.column("control"))

    def seg(self, name: str) -> np.ndarray | None:
        return _packed(self.customers.column(name), self.n) if name in self.names else None

    def cls(self, name: str) -> np.ndarray:
        if name not in self.names:
            return np.full(self.n, -1, np.int64)
        index = {v: code for (c, v), code in self.catalog.value_code.items() if c == name}
        return _dictionary_codes(self.customers.column(name), index, self.n)

    def score(self, name: str) -> np.ndarray:
        return _floats(self.customers.column(name)) if name in self.names else np.full(self.n, np.nan)


def _entries(parts: list[tuple]) -> tuple[np.ndarray, ...]:
    """Per column j, (rows where it differs, j, values...) -> (rows,
    columns, values...) row by row, columns in order within a row."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64))
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([np.full(len(p[0]), p[1], np.int64) for p in parts])
    order = np.lexsort((cols, rows))
    extra = [np.concatenate([p[k] for p in parts])[order] for k in range(2, len(parts[0]))]
    return (rows[order], cols[order], *extra)


def _segment_changes(cat: Catalog, a: Side, b: Side, n: int):
    ins, outs = [], []
    for j, s in enumerate(cat.segments):
        pa_, pb = a.seg(s), b.seg(s)
        if pa_ is None and pb is None:
            continue
        pa_ = np.zeros_like(pb) if pa_ is None else pa_
        pb = np.zeros_like(pa_) if pb is None else pb
        x = pa_ ^ pb
        if not x.any():
            continue
        rows = np.flatnonzero(np.unpackbits(x, bitorder="little", count=n))
        now = np.unpackbits(pb, bitorder="little", count=n)[rows].astype(np.bool_)
        ins.append((rows[now], j))
        outs.append((rows[~now], j))
    return _entries(ins), _entries(outs)


def _offer_candidates(a: Side, b: Side, n: int) -> np.ndarray:
    """Rows whose offers may differ: a different count, or the same count
    and a different (offer, channel, control) at some rank. Most rows keep
    their offers, and this is one pass over the assignments."""
    same = a.counts == b.counts
    ia, ib = same[a.rows], same[b.rows]
    width = max(len(a.catalog.channels), 1) * 2
    code_a = (a.offer * width + a.chan * 2 + a.ctrl)[ia]
    code_b = (b.offer * width + b.chan * 2 + b.ctrl)[ib]
    candidate = ~same
    candidate[a.rows[ia][code_a != code_b]] = True
    return candidate


def _lists(rows: np.ndarray, values: pa.Array, changed: np.ndarray, n: int) -> pa.ListArray:
    """Entries (sorted by row) as one list per changed row."""
    counts = np.bincount(rows, minlength=n)[changed]
    offsets = np.zeros(len(changed) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _take(names: pa.Array, codes: np.ndarray) -> pa.Array:
    return names.take(pa.array(codes, mask=codes < 0)) if len(codes) else pa.array([], names.type)


# Up to this many offers, and when many rows take part, positions are looked
# up in a (rows x offers) table (64 MiB at most for a chunk of 2^18 rows);
# otherwise by sorting.
DENSE_OFFERS = 64


class _Subset:
    """Some of a side's assignments (rows and offers only)."""

    def __init__(self, side: Side, at: np.ndarray):
        self.rows, self.offer = side.rows[at], side.offer[at]


def _positions(into, of, n: int, offers: int) -> np.ndarray:
    """For each assignment of `of`, the index of the same (row, offer) in
    `into`'s assignments, or -1. An offer is given at most once a customer."""
    if not len(into.rows):
        return np.full(len(of.rows), -1, np.int64)
    if offers <= DENSE_OFFERS and len(into.rows) * 8 > n:
        slot = np.full((n, offers), -1, np.int32)
        slot[into.rows, into.offer] = np.arange(len(into.rows), dtype=np.int32)
        return slot[of.rows, of.offer].astype(np.int64)
    k_into, k_of = into.rows * offers + into.offer, of.rows * offers + of.offer
    order = np.argsort(k_into, kind="stable")
    at = order[np.minimum(np.searchsorted(k_into[order], k_of), len(order) - 1)]
    return np.where(k_into[at] == k_of, at, -1)


class Comparison:
    """Base against one other version, chunk by chunk."""

    def __init__(self, catalog: Catalog, label: str, key: str, key_type: pa.DataType):
        self.catalog = catalog
        self.label = label
        self.schema = changes_schema(key_column_name(key), key_type)
        self.counts = dict.fromkeys(COUNTED, 0)

    def compare(self, key: pa.ChunkedArray, a: Side, b: Side):
        """(changes batch, the chunk rows it holds), or None when nothing changed."""
        cat, n = self.catalog, a.n
        (seg_in_r, seg_in_c), (seg_out_r, seg_out_c) = _segment_changes(cat, a, b, n)
        cls_parts, sc_parts = [], []
        for j, c in enumerate(cat.classes):
            ca, cb = a.cls(c), b.cls(c)
            rows = np.flatnonzero(ca != cb)
            cls_parts.append((rows, j, ca[rows], cb[rows]))
        cls_r, cls_c, *cls_v = _entries(cls_parts)
        cls_from, cls_to = cls_v or (np.zeros(0, np.int64), np.zeros(0, np.int64))
        for j, c in enumerate(cat.scores):
            sa, sb = a.score(c), b.score(c)
            rows = np.flatnonzero((sa != sb) & ~(np.isnan(sa) & np.isnan(sb)))
            sc_parts.append((rows, j, sa[rows], sb[rows]))
        sc_r, sc_c, *sc_v = _entries(sc_parts)
        sc_from, sc_to = sc_v or (np.zeros(0), np.zeros(0))

        # Offers: only rows whose lists differ are matched offer by offer.
        candidate = _offer_candidates(a, b, n)
        sa_, sb_ = np.flatnonzero(candidate[a.rows]), np.flatnonzero(candidate[b.rows])
        sub_a, sub_b = _Subset(a, sa_), _Subset(b, sb_)
        in_b = _positions(sub_b, sub_a, n, len(cat.offers))
        in_a = _positions(sub_a, sub_b, n, len(cat.offers))
        lost, gained = sa_[in_b < 0], sb_[in_a < 0]
        both_a = sa_[in_b >= 0]
        both_b = sb_[in_b[in_b >= 0]]
        moved = (a.chan[both_a] != b.chan[both_b]) | (a.rank[both_a] != b.rank[both_b]) | \
                (a.ctrl[both_a] != b.ctrl[both_b])
        mv_a, mv_b = both_a[moved], both_b[moved]

        per_row = {"segments_changed": (seg_in_r, seg_out_r), "classes_changed": (cls_r,),
                   "scores_changed": (sc_r,), "offers_changed": (a.rows[lost], b.rows[gained], a.rows[mv_a])}
        any_change = np.zeros(n, np.bool_)
        for name, parts in per_row.items():
            mask = np.zeros(n, np.bool_)
            for rows in parts:
                mask[rows] = True
            self.counts[name] += int(np.count_nonzero(mask))
            any_change |= mask
        changed = np.flatnonzero(any_change)
        self.counts["customers_changed"] += len(changed)
        self.counts["offers_gained"] += len(gained)
        self.counts["offers_lost"] += len(lost)
        self.counts["offers_moved"] += len(mv_a)
        if not len(changed):
            return None

        classes = pa.StructArray.from_arrays(
            [_take(cat.class_names, cls_c), _take(cat.class_values, cls_from), _take(cat.class_values, cls_to)],
            fields=list(CHANGE))
        scores = pa.StructArray.from_arrays(
            [_take(cat.score_names, sc_c), pa.array(sc_from, pa.float64(), from_pandas=True),
             pa.array(sc_to, pa.float64(), from_pandas=True)], fields=list(SCORE_CHANGE))
        moves = pa.StructArray.from_arrays(
            [_take(cat.offer_names, a.offer[mv_a]), _take(cat.channel_names, a.chan[mv_a]),
             _take(cat.channel_names, b.chan[mv_b]), pa.array(a.rank[mv_a]), pa.array(b.rank[mv_b]),
             pa.array(a.ctrl[mv_a]), pa.array(b.ctrl[mv_b])], fields=list(MOVE))
        columns = [
            key.take(pa.array(changed)),
            pa.DictionaryArray.from_arrays(pa.array(np.zeros(len(changed), np.int32)),
                                           pa.array([self.label])).cast(pa.string()),
            _lists(seg_in_r, _take(cat.segment_names, seg_in_c), changed, n),
            _lists(seg_out_r, _take(cat.segment_names, seg_out_c), changed, n),
            _lists(cls_r, classes, changed, n),
            _lists(sc_r, scores, changed, n),
            _lists(b.rows[gained], _take(cat.offer_names, b.offer[gained]), changed, n),
            _lists(a.rows[lost], _take(cat.offer_names, a.offer[lost]), changed, n),
            _lists(a.rows[mv_a], moves, changed, n),
        ]
        columns[0] = columns[0].combine_chunks() if isinstance(columns[0], pa.ChunkedArray) else columns[0]
        columns[0] = columns[0].cast(self.schema.field(0).type)
        return pa.RecordBatch.from_arrays(columns, schema=self.schema), changed
