"""The decision log: one JSON line per decision, the way `pol effect
--decisions` reads them (engine/loop/exposures.py: `key` and
`offers` [{offer, control}], one folder of files per policy).

A line:

    {"time": "2026-11-01T08:00:00.123Z", "policy": "retention", "version": "2026.11",
     "arm": "champion", "key": 3, "as_of": "2026-11-01",
     "offers": [{"offer": "retention_pack", "rank": 1, "channel": "call", "priority": 60.0, "control": false}],
     "latency_ms": 0.21, "request": "5f0c...", "worker": 4121}

(with `"experiments": {"care_ab": "voucher"}` after `offers` when the
policy has experiments: the customer's arms, which `pol effect` measures.)

Requests only put the line's data on a queue; a background thread encodes
and writes it, so a slow disk never holds a request. Each worker writes its
own files, DIR/POLICY/decisions-START-PID-N.jsonl, written as
`.decisions-....jsonl.open` (a name `pol effect` skips) and renamed when
complete: after LOG_ROTATE_BYTES or LOG_ROTATE_S, and at shutdown, which
drains the queue first. Shadow decisions go to DIR/POLICY/_shadow/, which
`pol effect` also skips: a shadow customer was never treated.
Should the queue ever hold 1,000,000 writes (a request's lines are one), further lines are dropped
and counted (pol_decision_log_dropped_total), rather than taking memory
without bound.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import re
import threading
import time

import orjson

log = logging.getLogger("pol.serve")
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


class _File:
    def __init__(self, folder: str, stamp: str, n: int):
        os.makedirs(folder, exist_ok=True)
        name = f"decisions-{stamp}-{os.getpid()}-{n:04d}.jsonl"
        self.final = os.path.join(folder, name)
        self.open_path = os.path.join(folder, f".{name}.open")
        self.f = open(self.open_path, "ab")     # noqa: SIM115 - closed in close()
        self.bytes = 0
        self.started = time.monotonic()

    def close(self) -> None:
        self.f.close()
        if self.bytes:
            os.replace(self.open_path, self.final)
        else:
            os.unlink(self.open_path)


class DecisionLog:
    def __init__(self, folder: str, rotate_bytes: int, rotate_s: float, on_drop=None, max_queued: int = 1_000_000):
        self.folder = folder
        self.rotate_bytes = rotate_bytes
        self.rotate_s = rotate_s
        self.on_drop = on_drop or (lambda n: None)
        # A deque, drained every 50 ms: a queue.Queue wakes the writer at every
        # put, and the thread switches that cost took more than the decision.
        self._q: collections.deque = collections.deque()
        self._max = max_queued
        self._stop = threading.Event()
        self._files: dict[str, _File] = {}
        self._n = 0
        self._stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        self._thread = threading.Thread(target=self._run, name="pol-decision-log", daemon=True)
        self._thread.start()

    def write(self, policy: str, shadow: bool, lines: list[dict]) -> None:
        """Queue decisions of one policy (never blocks)."""
        if len(self._q) >= self._max:
            self.on_drop(len(lines))
        else:
            self._q.append((policy, shadow, lines))

    def write_encoded(self, policy: str, shadow: bool, data: bytes) -> None:
        """Queue lines already encoded (newline-terminated JSON)."""
        if len(self._q) >= self._max:
            self.on_drop(data.count(b"\n"))
        else:
            self._q.append((policy, shadow, data))

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued, then close and rename the files."""
        self._stop.set()
        self._thread.join(timeout)

    def _file(self, policy: str, shadow: bool) -> _File:
        k = policy + ("/_shadow" if shadow else "")
        f = self._files.get(k)
        now = time.monotonic()
        if f is not None and (f.bytes >= self.rotate_bytes or (f.bytes and now - f.started >= self.rotate_s)):
            f.close()
            f = None
        if f is None:
            self._n += 1
            folder = os.path.join(self.folder, _SAFE.sub("_", policy), *(["_shadow"] if shadow else []))
            f = self._files[k] = _File(folder, self._stamp, self._n)
        return f

    def _rotate_idle(self) -> None:
        now = time.monotonic()
        for k, f in list(self._files.items()):
            if f.bytes and now - f.started >= self.rotate_s:
                f.close()
                del self._files[k]

    def _run(self) -> None:
        dumps = orjson.dumps
        while True:
            stopping = self._stop.wait(0.05)
            wrote = False
            while self._q:
                policy, shadow, lines = self._q.popleft()
                try:
                    f = self._file(policy, shadow)
                    data = lines if isinstance(lines, bytes) else b"".join(dumps(line) + b"\n" for line in lines)
                    f.f.write(data)
                    f.bytes += len(data)
                    wrote = True
                except Exception:      # a full disk must not stop the server; it is in the log
                    log.exception("the decision log could not be written")
            if wrote:
                self._flush()
            else:
                self._rotate_idle()
            if stopping and not self._q:
                break
        for f in self._files.values():
            try:
                f.close()
            except OSError:
                log.exception("the decision log could not be closed")
        self._files.clear()

    def _flush(self) -> None:
        for f in self._files.values():
            f.f.flush()
