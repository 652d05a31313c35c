"""Load test of `pol serve` on the bench policy, on loopback, with wrk.

    python benchmarks/bench_serve.py [--workers 2] [--seconds 10] [--soak 120] [--reloads 20]

Starts `pol serve` on a copy of benchmarks/data/retention_bench.pol (in a
temporary folder, 127.0.0.1, a free port), waits until its row kernel is
built, and drives it with wrk (Debian's `wrk` package; a C load generator
with keep-alive connections and latency percentiles). Every run is bounded
in time (-d) and in requests (the Lua script stops a thread at its share of
--max-requests); nothing leaves 127.0.0.1. Phases:

  1. single decisions: POST /v1/decide, records of the bench generator;
  2. batches: POST /v1/decide/batch, 1,000 records as JSON, and 10,000 as an Arrow IPC stream;
  3. hot reloads: single decisions while the policy file is rewritten --reloads times
     (two versions taking turns; both compiled before, as a marketer's second edit would be
     after the first), counting failed requests and comparing p99 with phase 1;
  4. soak: single decisions for --soak seconds, the workers' resident memory sampled.

Prints one JSON object per phase, then a Markdown table for benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
POLICY = ROOT / "benchmarks" / "data" / "retention_bench.pol"
AS_OF = "2026-11-01"

LUA = r"""
local bodies = {}
local path = os.getenv("BENCH_PATH")
local kind = os.getenv("BENCH_TYPE")
local limit = tonumber(os.getenv("BENCH_LIMIT") or "0")
local f = io.open(os.getenv("BENCH_BODIES"), "rb")
if kind == "application/json" then
  for line in f:lines() do bodies[#bodies + 1] = line end
else
  bodies[1] = f:read("*a")
end
f:close()
local i = 0
local count = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", path, {["Content-Type"] = kind}, bodies[i])
end
response = function(status, headers, body)
  count = count + 1
  if limit > 0 and count >= limit then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_s": %.3f, "non_2xx": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
"""


def records(n: int) -> list[dict]:
    import pol
    from benchmarks.data import bench_customers
    columns = pol.load(POLICY).columns
    table = bench_customers.generate(n, seed=11).select(columns)
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in table.to_pylist()]


def wrk(url: str, path: str, bodies: Path, kind: str, seconds: float, connections: int, max_requests: int,
        script: Path) -> dict:
    env = {**os.environ, "BENCH_PATH": path, "BENCH_TYPE": kind, "BENCH_BODIES": str(bodies),
           "BENCH_LIMIT": str(max_requests)}
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk said:\n{out.stdout}\n{out.stderr}")
    result = json.loads(line[6:])
    result["rps"] = round(result["requests"] / result["duration_s"], 1)
    result["failed"] = sum(result[k] for k in ("non_2xx", "connect", "read", "write", "timeout"))
    return result


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its worker processes."""
    total = 0
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            pids += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--max-requests", type=int, default=2_000_000)
    ap.add_argument("--reloads", type=int, default=20)
    ap.add_argument("--soak", type=float, default=120)
    args = ap.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="pol-bench-serve-"))
    folder = work / "policies"
    folder.mkdir()
    text = POLICY.read_text(encoding="utf-8")
    variants = [text, text.replace("param churn_days: int = 30", "param churn_days: int = 31")]
    assert variants[0] != variants[1]
    policy = folder / "retention_bench.pol"
    script = work / "bench.lua"
    script.write_text(LUA, encoding="utf-8")
    rows = records(20_000)
    singles = work / "singles.jsonl"
    singles.write_text("".join(json.dumps({"record": r, "as_of": AS_OF}) + "\n" for r in rows[:5000]))
    batch = work / "batch.jsonl"
    batch.write_text(json.dumps({"records": rows[:1000], "as_of": AS_OF}) + "\n")
    import pol
    from benchmarks.data import bench_customers
    table = bench_customers.generate(10_000, seed=11).select(pol.load(POLICY).columns)
    arrow = work / "batch.arrow"
    with ipc.new_stream(str(arrow), table.schema) as w:
        w.write_table(table)
    # Both versions compiled into the cache first (as after a marketer's first
    # edit), their row kernels and their batch kernels for the two input
    # schemas a batch arrives in: the Arrow table's, and the one the server
    # makes of JSON records.
    from pol.serve.deciding import ARROW_TYPES
    p = pol.load(POLICY)
    json_schema = pa.schema([(f.name, ARROW_TYPES[f.type.value]) for f in p.program.input.fields])
    json_table = pa.table({f.name: pa.array([r[f.name] for r in rows[:100]]).cast(json_schema.field(f.name).type)
                           for f in p.program.input.fields})
    for v in variants:
        policy.write_text(v, encoding="utf-8")
        version = pol.load(policy).compile(decide=True)
        version.evaluate(table.slice(0, 100), as_of=AS_OF, engine="kernel")
        version.evaluate(json_table, as_of=AS_OF, engine="kernel")
    policy.write_text(variants[0], encoding="utf-8")

    port = 18000 + os.getpid() % 1000
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "pol", "serve", str(folder), "--port", str(port),
                               "--workers", str(args.workers), "--state", str(work / "state"),
                               "--log-level", "warning"], stdout=subprocess.DEVNULL, start_new_session=True)
    results = {}
    try:
        ready = 0        # every worker answers "kernel": asked until 20 answers in a row say so
        for _ in range(1200):
            try:
                got = requests.get(url + "/v1/policies", timeout=2).json()
                ready = ready + 1 if all(p["engine"] == "kernel" for p in got["policies"]) else 0
            except (requests.ConnectionError, ValueError, KeyError):
                ready = 0
            if ready >= 20:
                break
            time.sleep(0.25)
        wrk(url, "/v1/decide", singles, "application/json", 3, args.connections, 0, script)      # warm-up

        results["single"] = wrk(url, "/v1/decide", singles, "application/json", args.seconds, args.connections,
                                args.max_requests, script)
        print(json.dumps({"phase": "single", **results["single"]}), flush=True)
        r = wrk(url, "/v1/decide/batch", batch, "application/json", args.seconds, 4, args.max_requests, script)
        r["decisions_per_s"] = round(r["rps"] * 1000)
        results["batch_json"] = r
        print(json.dumps({"phase": "batch_json_1000", **r}), flush=True)
        r = wrk(url + "/v1/decide/batch?as_of=" + AS_OF, "/v1/decide/batch?as_of=" + AS_OF, arrow,
                "application/vnd.apache.arrow.stream", args.seconds, 4, args.max_requests, script)
        r["decisions_per_s"] = round(r["rps"] * 10_000)
        results["batch_arrow"] = r
        print(json.dumps({"phase": "batch_arrow_10000", **r}), flush=True)

        stop = threading.Event()
        reloaded = []

        def edit():
            gap = max(args.seconds * 2 / max(args.reloads, 1), 0.5)
            for i in range(args.reloads):
                if stop.wait(gap):
                    return
                policy.write_text(variants[(i + 1) % 2], encoding="utf-8")
                reloaded.append(time.monotonic())
        editor = threading.Thread(target=edit)
        editor.start()
        r = wrk(url, "/v1/decide", singles, "application/json", args.seconds * 2 + 5, args.connections,
                args.max_requests, script)
        stop.set()
        editor.join()
        gen = requests.get(url + "/v1/policies", timeout=5).json()["generation"]
        r.update(edits=len(reloaded), generation=gen, p99_vs_steady=round(r["p99_ms"] / results["single"]["p99_ms"], 2))
        results["reloads"] = r
        print(json.dumps({"phase": "reloads", **r}), flush=True)

        samples = []
        done = threading.Event()

        def sample():
            while not done.wait(5):
                samples.append(rss_mb(server.pid))
        sampler = threading.Thread(target=sample)
        sampler.start()
        r = wrk(url, "/v1/decide", singles, "application/json", args.soak, args.connections, 0, script)
        done.set()
        sampler.join()
        r.update(rss_mb_first=samples[0] if samples else None, rss_mb_last=samples[-1] if samples else None,
                 rss_mb_max=max(samples) if samples else None, rss_mb_samples=samples)
        results["soak"] = r
        print(json.dumps({"phase": "soak", **r}), flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
        shutil.rmtree(work, ignore_errors=True)

    s, b, a, rl, so = (results[k] for k in ("single", "batch_json", "batch_arrow", "reloads", "soak"))
    print("\n| phase | requests/s | decisions/s | p50 ms | p99 ms | failed |\n| --- | --- | --- | --- | --- | --- |")
    print(f"| single `/v1/decide` | {s['rps']:,.0f} | {s['rps']:,.0f} | {s['p50_ms']} | {s['p99_ms']} | {s['failed']} |")
    print(f"| batch, JSON, 1,000 records | {b['rps']:,.1f} | {b['decisions_per_s']:,} | {b['p50_ms']} | "
          f"{b['p99_ms']} | {b['failed']} |")
    print(f"| batch, Arrow, 10,000 records | {a['rps']:,.1f} | {a['decisions_per_s']:,} | {a['p50_ms']} | "
          f"{a['p99_ms']} | {a['failed']} |")
    print(f"| single, {rl['edits']} reloads | {rl['rps']:,.0f} | {rl['rps']:,.0f} | {rl['p50_ms']} | "
          f"{rl['p99_ms']} ({rl['p99_vs_steady']}x steady) | {rl['failed']} |")
    print(f"| soak {args.soak:.0f} s | {so['rps']:,.0f} | {so['rps']:,.0f} | {so['p50_ms']} | {so['p99_ms']} | "
          f"{so['failed']} |")
    print(f"\nmemory over the soak (server and workers): first {so['rss_mb_first']} MB, last {so['rss_mb_last']} MB, "
          f"max {so['rss_mb_max']} MB")


if __name__ == "__main__":
    main()
