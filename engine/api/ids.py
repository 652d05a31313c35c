"""Decision ids: unique text in a UUID's shape, cheap enough to draw per decision.

`uuid.uuid4()` reads the system's random source for every id: 2.5 µs, a
quarter of a decision. `decision_id()` instead joins this process's prefix,
60 random bits drawn once (and drawn again in a forked child, which would
otherwise repeat its parent's ids), with a counter of the decisions the
process has made. Ids are unique across processes and machines as long as
no two processes draw the same prefix, which is as likely as two uuid4s
sharing their first 60 bits. They are written as a version 8 UUID (RFC
9562, "custom"): 36 characters, `xxxxxxxx-xxxx-8xxx-yxxx-xxxxxxxxxxxx`,
readable by anything that reads UUIDs; the last 62 bits are the counter,
so the ids one process gives sort in the order it gave them.

    decision_id() -> str
    next(ids.tickets) -> (prefix, number)   an id drawn now, written later by written(prefix, number)
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

_prefix = ""
# (prefix, number) pairs: an id drawn now and written only when read (a
# Decision made lazily, pol.api.decision), the prefix kept with the number
# so that a fork in between does not change it. next() is atomic under the
# GIL (no Python code runs): threads draw distinct numbers. Rebound in a
# forked child: read it as `ids.tickets` at each draw.
tickets: Iterator[tuple[str, int]] = iter(())


def _draw() -> None:
    """A new prefix and a new count: at import, and in a forked child."""
    global _prefix, tickets
    r = int.from_bytes(os.urandom(8), "big")
    # 60 random bits around the version nibble, 8
    high = ((r >> 4) & ~0xFFFF) | 0x8000 | (r & 0x0FFF)
    h = f"{high:016x}"
    _prefix = f"{h[:8]}-{h[8:12]}-{h[12:16]}-"
    tickets = zip(itertools.repeat(_prefix), itertools.count())


_draw()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_draw)


def decision_id() -> str:
    return written(*next(tickets))


def written(prefix: str, n: int) -> str:
    # the variant bits 10, then the counter's 62 bits
    return f"{prefix}{0x8000 | (n >> 48) & 0x3FFF:04x}-{n & 0xFFFFFFFFFFFF:012x}"
