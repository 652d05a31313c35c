"""The kernel disk cache: a policy compiled in one process is loaded, not
compiled again, by the next one, whether started fresh, spawned or forked;
and a kernel file is named by its content, so editing a policy makes a new
one while an unchanged policy reuses its file."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

POLICY = """
input c key id { id: int  x: float?  s: string }
segment big = x > 10
score twice = x * 2
channel app
offer o "优惠" { eligible when big and s in ("全球通", "a\\"b") channels app }
"""

CHILD = """
import json, sys
import pyarrow as pa
import pol
p = pol.loads(sys.argv[1], name="cached.pol")
t = pa.table({"id": [1, 2, 3], "x": [5.0, 20.0, None], "s": ["全球通", "全球通", "x"]})
r = p.evaluate(t, as_of="2026-11-01", engine="kernel")
st = p._kernel.kernel().stats
print(json.dumps({"offers": r.customers.column("offers").to_pylist(),
                  "hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values())}))
"""


def child(cache: Path, text: str = POLICY) -> dict:
    env = dict(os.environ, POL_CACHE_DIR=str(cache), POL_BACKGROUND_COMPILE="0")
    out = subprocess.run([sys.executable, "-c", CHILD, text], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_fresh_process_loads_the_kernel_from_the_cache(tmp_path):
    first = child(tmp_path)
    assert first == {"offers": [[], ["o"], []], "hits": 0, "misses": 1}
    kernels = sorted(p.name for p in tmp_path.glob("k_*.py"))
    assert len(kernels) == 1
    second = child(tmp_path)
    assert second == {"offers": [[], ["o"], []], "hits": 1, "misses": 0}
    assert sorted(p.name for p in tmp_path.glob("k_*.py")) == kernels      # never rewritten
    # an edited policy is another kernel; the old file stays for the old policy
    edited = child(tmp_path, POLICY.replace("x > 10", "x > 1"))
    assert edited == {"offers": [["o"], ["o"], []], "hits": 0, "misses": 1}
    assert len(list(tmp_path.glob("k_*.py"))) == 2


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """A cache folder that holds the kernel, compiled by another process once per module."""
    cache = tmp_path_factory.mktemp("compiled")
    assert child(cache)["misses"] == 1
    return cache


@pytest.fixture
def cache(compiled, tmp_path) -> Path:
    """A copy of it for one test."""
    return Path(shutil.copytree(compiled, tmp_path / "cache", copy_function=shutil.copy2))


ROWS = 50_000          # enough for one row range per core: the thread pool runs


def _table():
    import pyarrow as pa
    return pa.table({"id": list(range(ROWS)), "x": [float(i % 30) for i in range(ROWS)],
                     "s": ["a\"b", "x"] * (ROWS // 2)})


def _evaluate(cache: str):
    os.environ["POL_CACHE_DIR"] = cache
    import pol
    p = pol.loads(POLICY, name="cached.pol")
    r = p.evaluate(_table(), as_of="2026-11-01", engine="kernel")
    st = p._kernel.kernel().stats
    return r.assignments.num_rows, sum(st.cache_hits.values()), sum(st.cache_misses.values())


def _evaluate_in(queue, cache: str) -> None:
    queue.put(_evaluate(cache))


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_spawned_and_forked_workers_use_the_cache(cache, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} on this platform")
    # `cache`: compiled and cached by another process
    given = sum(1 for i in range(ROWS) if i % 30 > 10 and i % 2 == 0)
    old = os.environ.get("POL_CACHE_DIR")
    try:
        # A forked worker inherits a process that has run batches on its threads.
        assert _evaluate(str(cache))[0] == given
    finally:
        if old is None:
            os.environ.pop("POL_CACHE_DIR", None)
        else:
            os.environ["POL_CACHE_DIR"] = old
    ctx = multiprocessing.get_context(method)
    queue = ctx.Queue()
    proc = ctx.Process(target=_evaluate_in, args=(queue, str(cache)))
    proc.start()
    try:
        assert queue.get(timeout=120) == (given, 1, 0)
    finally:
        proc.join(60)
        if proc.is_alive():
            proc.kill()
    assert proc.exitcode == 0


def test_the_kernel_file_holds_no_text_of_the_policy(cache):
    (kernel,) = cache.glob("k_*.py")
    text = kernel.read_text(encoding="utf-8")
    for s in ("全球通", 'a"b', "优惠", "big", "twice"):
        assert s not in text
