"""A progress line for long runs, on stderr: rows done and rows/s, plus a bar,
percent and ETA when the total is known up front (Parquet and Arrow IPC
metadata). Nothing at all when stderr is not a terminal, so the logs of a
nightly job hold only the summary and errors.

    bar = Progress(total=30_000_000)     # enabled=None: only on a terminal
    bar.update(rows_done)                # redraws at most every 0.2 s
    bar.phase("writing")                 # what happens after the last batch
    bar.close()                          # erases the line; safe to call twice
"""
from __future__ import annotations

import os
import shutil
import sys
import time


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):         # closed or replaced streams
        return False


def _columns(stream) -> int:
    """The width of the terminal the bar is drawn on: stderr's own, since
    stdout may be redirected to a file; 80 where it reports none (a pty
    whose size was never set says 0)."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns if columns > 0 else shutil.get_terminal_size((80, 24)).columns


def rate_text(rows_per_second: float) -> str:
    if rows_per_second >= 1e6:
        return f"{rows_per_second / 1e6:.1f}M rows/s"
    if rows_per_second >= 1e3:
        return f"{rows_per_second / 1e3:.0f}k rows/s"
    return f"{rows_per_second:.0f} rows/s"


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    minutes, s = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    WIDTH = 24          # of the bar itself

    def __init__(self, total: int | None = None, enabled: bool | None = None, stream=None,
                 every: float = 0.2):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.total = total or None
        self.every = every
        self.start = time.perf_counter()
        self.last = float("-inf")
        self.rows = 0
        self.shown = False

    def line(self, rows: int, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        rate = rows / elapsed
        if not self.total:
            return f"{rows:,} rows  {rate_text(rate)}  {duration_text(elapsed)}"
        frac = min(rows / self.total, 1.0)
        filled = int(frac * self.WIDTH)
        eta = (self.total - rows) / rate if rate > 0 else 0.0
        return (f"{rows:,} / {self.total:,} rows  [{'#' * filled}{'.' * (self.WIDTH - filled)}] "
                f"{frac:4.0%}  {rate_text(rate)}  ETA {duration_text(max(eta, 0.0))}")

    def update(self, rows: int) -> None:
        self.rows = rows
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self.last < self.every and rows != self.total:
            return
        self.last = now
        self._draw(self.line(rows, now))

    def phase(self, text: str) -> None:
        """After the last batch: the rows read, and what the run does now."""
        if self.enabled:
            self._draw(f"{self.rows:,} rows read; {text}...")

    def _draw(self, text: str) -> None:
        columns = _columns(self.stream)
        # Clipped to the terminal: a wrapped line could not be redrawn by '\r'.
        self.stream.write("\r\033[K" + text[:max(columns - 1, 10)])
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False
