"""A progress bar on stderr for terminals: rows, rows/s and, when the total is
known, percent and ETA. Silent when stderr is not a terminal."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, enabled: bool = True, every: float = 0.2):
        self.total = total
        self.enabled = enabled
        self.every = every
        self.start = time.perf_counter()
        self.last = 0.0
        self.shown = False

    def update(self, rows: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < self.every and rows != self.total:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = rows / elapsed
        line = f"{rows:>14,} rows  {rate / 1e6:6.2f}M rows/s"
        if self.total:
            frac = min(rows / self.total, 1.0)
            filled = int(frac * 30)
            eta = (self.total - rows) / rate if rate else 0
            line = f"[{'#' * filled}{'.' * (30 - filled)}] {frac:6.1%} " + line + f"  ETA {eta:5.1f}s"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
