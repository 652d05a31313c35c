"""Run summaries: counts per segment, classification value, offer and
channel, and each offer's funnel; accumulated batch by batch, then rendered
as a dict (summary.json) or as text a marketer reads."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from pol.compiler.backend.layout import FUNNEL
from pol.compiler.backend.plan import KernelPlan

__all__ = ["FUNNEL", "Counts"]


@njit(cache=True, nogil=True)
def _count_codes(codes, counts):
    """counts[c] += how often code c occurs; the null code -1 counts last.
    (np.bincount would first copy the int16 codes to int64: 4x slower.)"""
    last = len(counts) - 1
    for c in codes:
        counts[c if c >= 0 else last] += 1


@dataclass
class Counts:
    plan: KernelPlan
    customers: int
    segments: np.ndarray        # int64[S]
    classes: list               # per classification: int64[values + 1], last = null
    funnel: np.ndarray          # int64[K, len(FUNNEL)]
    by_channel: np.ndarray      # int64[K, channels, 2]: accepted to contact, controls
    allocation: dict | None = None  # optimal mode's report (engine/arbitration/optimal.Allocation)
    outside: int | None = None      # rows read outside the population (LANGUAGE.md 3.14); None: no population

    @staticmethod
    def empty(plan: KernelPlan) -> Counts:
        K, H = len(plan.offers), len(plan.channels)
        return Counts(plan, 0, np.zeros(len(plan.segments), np.int64),
                      [np.zeros(len(v) + 1, np.int64) for v in plan.class_values],
                      np.zeros((K, len(FUNNEL)), np.int64), np.zeros((K, H, 2), np.int64))

    def add_outputs(self, out, segment_columns: list) -> None:
        """One batch's customers: `out` as an evaluator wrote it, its segments
        as the Arrow columns of the output (their bitmaps count fastest)."""
        self.customers += out.segs.shape[1]
        self.segments += np.array([c.true_count for c in segment_columns], np.int64)
        for k, counts in enumerate(self.classes):
            _count_codes(out.classes[k], counts)

    def to_dict(self, labels: dict[str, str | None]) -> dict:
        p = self.plan
        offers = {}
        for k, name in enumerate(p.offers):
            offers[name] = {
                "label": labels.get(name),
                **{f: int(self.funnel[k, j]) for j, f in enumerate(FUNNEL)},
                "by_channel": {c: int(self.by_channel[k, h, 0]) for h, c in enumerate(p.channels)
                               if self.by_channel[k, h, 0]},
            }
        channels = {c: int(self.by_channel[:, h, 0].sum()) for h, c in enumerate(p.channels)}
        classes = {}
        for k, name in enumerate(p.classifies):
            vals = {v: int(self.classes[k][j]) for j, v in enumerate(p.class_values[k])}
            if self.classes[k][-1]:
                vals["null"] = int(self.classes[k][-1])
            classes[name] = {"label": labels.get(name), "counts": vals}
        return {
            "customers": self.customers,
            "segments": {s: {"label": labels.get(s), "count": int(self.segments[k])}
                         for k, s in enumerate(p.segments)},
            "classifications": classes,
            "offers": offers,
            "channels": channels,
            "assignments": int(self.funnel[:, 3].sum()),
            "controls": int(self.funnel[:, 4].sum()),
            **({"allocation": dict(self.allocation)} if self.allocation is not None else {}),
            **({"outside_population": self.outside} if self.outside is not None else {}),
        }
