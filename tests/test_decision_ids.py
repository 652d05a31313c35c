"""Decision ids (pol.api.ids): unique within a process, across its threads
and across a fork; written as version 8 UUIDs; counted in the order given."""
from __future__ import annotations

import multiprocessing
import threading
import uuid

from pol.api.ids import decision_id


def test_ids_are_version_8_uuids_given_in_order():
    ids = [decision_id() for _ in range(1000)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(len(i) == 36 and str(u) == i for i, u in zip(ids, parsed))
    assert {u.version for u in parsed} == {8} and {u.variant for u in parsed} == {uuid.RFC_4122}
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert len({i[:19] for i in ids}) == 1          # one process, one prefix


def test_threads_never_draw_the_same_id():
    got: list[list[str]] = [[] for _ in range(4)]

    def draw(out):
        out.extend(decision_id() for _ in range(20_000))
    threads = [threading.Thread(target=draw, args=(out,)) for out in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for out in got for i in out]
    assert len(set(every)) == len(every) == 80_000


def _child(q):
    q.put([decision_id() for _ in range(3)])


def test_a_forked_child_draws_another_prefix():
    ctx = multiprocessing.get_context("fork")
    mine = [decision_id() for _ in range(3)]
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    theirs = q.get(timeout=60)
    p.join(60)
    assert {i[:19] for i in theirs} != {i[:19] for i in mine}
    assert not set(theirs) & set(mine)
