"""A warm start of `decide` (issue 18): `pol.load` imports no Numba, SciPy,
pandas, pyarrow, NumPy nor pydantic, and the first decision no Numba, SciPy,
pandas, pyarrow nor NumPy on the caller's thread; the first
decisions come from the reference evaluator while the row kernel loads on
a background thread, and the later ones from the kernel, with the same
answers."""
from __future__ import annotations

import json
import os
import subprocess
import sys

POLICY = """policy warm version "1"
input customers key id {
    id: int
    plan: string
    arpu: float
}
segment big = arpu >= 100.0
score value = arpu * 2.0
channel sms
offer upgrade { eligible when big and plan == "max" channels sms priority value }
offer keep { eligible when not big channels sms priority 1 }
"""

RECORDS = [{"id": 1, "plan": "max", "arpu": 150.0}, {"id": 2, "plan": "max", "arpu": 20.0},
           {"id": 3, "plan": None, "arpu": None}]

# Which thread first imports Numba, SciPy, pandas, pyarrow, NumPy and pydantic, and
# which of them pol.load imported; then decisions until the row kernel serves them.
CHILD = r"""
import datetime as dt, importlib.abc, json, sys, threading, time
first = {}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if top in ("numba", "scipy", "pandas", "pyarrow", "numpy", "pydantic") and top not in first:
            first[top] = threading.current_thread().name
        return None
sys.meta_path.insert(0, Watch())
import pol
p = pol.load(sys.argv[1])
after_load = sorted(first)
records = json.loads(sys.argv[2])
day = dt.date(2026, 11, 1)
answers = [p.decide(r, as_of=day).model_dump(exclude={"run_id"}) for r in records]
deadline = time.monotonic() + 240
while not (p._row_executor is not None and p._row_executor.ready) and time.monotonic() < deadline:
    time.sleep(0.05)
kernel = [p.decide(r, as_of=day).model_dump(exclude={"run_id"}) for r in records]
print(json.dumps({"after_load": after_load, "first": first, "ready": p._row_executor.ready,
                  "on_kernel": p._decisions is not None, "same": answers == kernel,
                  "reference": answers == [p.decide(r, as_of=day, engine="reference").model_dump(
                      exclude={"run_id"}) for r in records]}))
"""


def _run(tmp_path, env_extra: dict) -> dict:
    policy = tmp_path / "warm.pol"
    policy.write_text(POLICY, encoding="utf-8")
    env = dict(os.environ, POL_CACHE_DIR=str(tmp_path / "cache"), **env_extra)
    out = subprocess.run([sys.executable, "-c", CHILD, str(policy), json.dumps(RECORDS)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_load_and_the_first_decisions_leave_numba_to_a_background_thread(tmp_path):
    for start in ("cold", "warm"):      # the row kernel compiled behind the decisions, then loaded from the cache
        got = _run(tmp_path, {"POL_BACKGROUND_COMPILE": "1"})
        assert got["after_load"] == [], start
        # Numba (and SciPy, which its first dispatch imports) only on the kernel's thread
        assert got["first"].get("numba") == "pol-row-kernel", (start, got)
        assert got["first"].get("scipy", "pol-row-kernel") == "pol-row-kernel", (start, got)
        assert "pandas" not in got["first"], (start, got)
        # NumPy and pyarrow too (a tenth of a second each): the reference
        # evaluator decides on plain Python values
        for late in ("numpy", "pyarrow"):
            assert got["first"].get(late, "pol-row-kernel") == "pol-row-kernel", (start, late, got)
        assert got["ready"] and got["on_kernel"], (start, got)
        assert got["same"] and got["reference"], (start, got)
    assert list((tmp_path / "cache" / "__pycache__").glob("k_*.row_kernel-*.nbi"))


def test_without_background_builds_a_cached_row_kernel_serves_the_first_decision(tmp_path):
    """POL_BACKGROUND_COMPILE=0: nothing builds behind the caller, so a row
    kernel found in the cache is loaded at the first decision and used."""
    _run(tmp_path, {"POL_BACKGROUND_COMPILE": "1"})     # fills the cache
    got = _run(tmp_path, {"POL_BACKGROUND_COMPILE": "0"})
    assert got["after_load"] == []
    assert got["first"]["numba"] == "MainThread"
    assert got["ready"] and got["on_kernel"] and got["same"] and got["reference"]
