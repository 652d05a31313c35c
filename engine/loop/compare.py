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
        self.scores = _union(p.scores for p in plans)
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


class Side:
    """One version's chunk, in the catalog's codes."""

    def __init__(self, catalog: Catalog, customers: pa.Table, assignments: pa.Table):
        n = self.n = customers.num_rows
        names = set(customers.column_names)
        self.segs = np.zeros((n, len(catalog.segments)), np.bool_)
        for j, s in enumerate(catalog.segments):
            if s in names:
                self.segs[:, j] = _bools(customers.column(s))
        self.cls = np.full((n, len(catalog.classes)), -1, np.int64)
        for j, c in enumerate(catalog.classes):
            if c in names:
                index = {v: code for (cc, v), code in catalog.value_code.items() if cc == c}
                self.cls[:, j] = _dictionary_codes(customers.column(c), index, n)
        self.scores = np.full((n, len(catalog.scores)), np.nan)
        for j, s in enumerate(catalog.scores):
            if s in names:
                self.scores[:, j] = _floats(customers.column(s))
        lengths = pc.fill_null(pc.list_value_length(customers.column("offers")), 0)
        self.rows = np.repeat(np.arange(n, dtype=np.int64), lengths.to_numpy(zero_copy_only=False))
        m = assignments.num_rows
        self.offer = _dictionary_codes(assignments.column("offer"), {o: k for k, o in enumerate(catalog.offers)}, m)
        self.chan = _dictionary_codes(assignments.column("channel"),
                                      {c: k for k, c in enumerate(catalog.channels)}, m)
        self.rank = assignments.column("rank").to_numpy().astype(np.int32)
        self.ctrl = _bools(assignments.column("control"))


def _lists(rows: np.ndarray, values: pa.Array, changed: np.ndarray, n: int) -> pa.ListArray:
    """Entries (sorted by row) as one list per changed row."""
    counts = np.bincount(rows, minlength=n)[changed]
    offsets = np.zeros(len(changed) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _take(names: pa.Array, codes: np.ndarray) -> pa.Array:
    return names.take(pa.array(codes, mask=codes < 0)) if len(codes) else pa.array([], names.type)


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
        seg_in_r, seg_in_c = np.nonzero(b.segs & ~a.segs)
        seg_out_r, seg_out_c = np.nonzero(a.segs & ~b.segs)
        cls_r, cls_c = np.nonzero(a.cls != b.cls)
        same = (a.scores == b.scores) | (np.isnan(a.scores) & np.isnan(b.scores))
        sc_r, sc_c = np.nonzero(~same)

        # Offers, keyed row * K + offer (an offer is given at most once a customer).
        K = max(len(cat.offers), 1)
        ka, kb = a.rows * K + a.offer, b.rows * K + b.offer
        a_in_b, b_in_a = np.isin(ka, kb), np.isin(kb, ka)
        lost, gained = np.flatnonzero(~a_in_b), np.flatnonzero(~b_in_a)
        both_a = np.flatnonzero(a_in_b)
        order = np.argsort(kb, kind="stable")
        both_b = order[np.searchsorted(kb[order], ka[both_a])]
        moved = (a.chan[both_a] != b.chan[both_b]) | (a.rank[both_a] != b.rank[both_b]) | \
                (a.ctrl[both_a] != b.ctrl[both_b])
        mv_a, mv_b = both_a[moved], both_b[moved]

        per_row = {
            "segments_changed": np.union1d(seg_in_r, seg_out_r), "classes_changed": np.unique(cls_r),
            "scores_changed": np.unique(sc_r),
            "offers_changed": np.unique(np.concatenate([a.rows[lost], b.rows[gained], a.rows[mv_a]])),
        }
        changed = np.unique(np.concatenate(list(per_row.values())))
        for name, rows in per_row.items():
            self.counts[name] += len(rows)
        self.counts["customers_changed"] += len(changed)
        self.counts["offers_gained"] += len(gained)
        self.counts["offers_lost"] += len(lost)
        self.counts["offers_moved"] += len(mv_a)
        if not len(changed):
            return None

        cls_from = np.where(a.cls[cls_r, cls_c] >= 0, a.cls[cls_r, cls_c], -1)
        cls_to = np.where(b.cls[cls_r, cls_c] >= 0, b.cls[cls_r, cls_c], -1)
        classes = pa.StructArray.from_arrays(
            [_take(cat.class_names, cls_c), _take(cat.class_values, cls_from), _take(cat.class_values, cls_to)],
            fields=list(CHANGE))
        scores = pa.StructArray.from_arrays(
            [_take(cat.score_names, sc_c), pa.array(a.scores[sc_r, sc_c], from_pandas=True),
             pa.array(b.scores[sc_r, sc_c], from_pandas=True)], fields=list(SCORE_CHANGE))
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
