"""The telecom library (policies/telecom, dispatch.pol) with and without its
`capacity` lines: what a policy with capacities costs over the same policy
without them (issue 18: at most 1.3x).

    python benchmarks/bench_telecom.py                 # 2M rows, 5 rounds
    python benchmarks/bench_telecom.py --rows 500000 --repeat 3 --profile

The input is the telecom sample generator's (engine/cli/sample.py, the one
`pol gen` uses), cached as Parquet beside the bench tables (bench_data.py),
with its contact log (engine/cli/sample_contacts.py, as `pol demo` makes it):
the library reads it, and under `max 2` its limits give each customer a room
per channel that the walks count (LANGUAGE.md 14.1).
The policy without capacities is the library copied into a temporary folder
with each offer's `capacity N` line removed, nothing else. Both are compiled
first, then evaluated in turn in this one process (kernel engine, same
in-memory table), so that a slow spell of the machine hits both; the figures
are the median and the best round of each, wall and CPU time of the process.
`--profile` then prints where one run of each spends its time (cProfile,
whose own cost is small here: a few hundred Python calls a run).
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_data import cache_dir  # noqa: E402

LIBRARY = Path(__file__).resolve().parent.parent / "policies" / "telecom"
AS_OF = dt.date(2026, 11, 1)
# An offer's own capacity (`capacity 20000`), not the arbitrate block's
# channel capacities (`capacity sms 100`).
_CAPACITY = re.compile(r"(?m)^[ \t]*capacity[ \t]+\d+[^\n]*$")


def telecom_table(n: int, seed: int = 7) -> pa.Table:
    from pol.cli import sample
    path = cache_dir() / f"telecom_n{n}_seed{seed}_{AS_OF.isoformat()}.parquet"
    if not path.exists():
        tmp = path.with_suffix(".tmp.parquet")
        sample.save(sample.generate(n, seed, AS_OF), tmp)
        tmp.replace(path)
    return pq.read_table(path)


def without_capacities(folder: Path) -> Path:
    """The library copied into `folder` with every offer capacity removed."""
    for f in LIBRARY.glob("*.pol"):
        (folder / f.name).write_text(_CAPACITY.sub("", f.read_text(encoding="utf-8")), encoding="utf-8")
    return folder / "dispatch.pol"


def timed(policy, table: pa.Table, history: dict) -> tuple[float, float, int]:
    t0, c0 = time.perf_counter(), time.process_time()
    result = policy.evaluate(table, as_of=AS_OF, engine="kernel", history=history)
    return time.perf_counter() - t0, time.process_time() - c0, result.assignments.num_rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)

    import pol
    from pol.cli.sample_contacts import contacts
    table = telecom_table(args.rows)
    # The library reads its contact log (contact.pol): the sample's, as `pol demo` makes it
    history = {"contacts": contacts(table, AS_OF)}
    with tempfile.TemporaryDirectory() as tmp:
        policies = {"without capacities": pol.load(without_capacities(Path(tmp))),
                    "with capacities": pol.load(LIBRARY / "dispatch.pol")}
        capped = {name: [o.name for o in p.program.offers if o.capacity is not None] for name, p in policies.items()}
        assert not capped["without capacities"] and capped["with capacities"], capped
        for p in policies.values():      # compile (or load from the cache) and warm up
            p.evaluate(table.slice(0, 1000), as_of=AS_OF, engine="kernel", history=history)
        wall: dict[str, list[float]] = {n: [] for n in policies}
        cpu: dict[str, list[float]] = {n: [] for n in policies}
        given: dict[str, int] = {}
        for _ in range(args.repeat):
            for name, p in policies.items():
                w, c, given[name] = timed(p, table, history)
                wall[name].append(w)
                cpu[name].append(c)
        print(f"telecom library, {args.rows:,} rows, kernel engine, {args.repeat} rounds "
              f"(capped offers: {', '.join(capped['with capacities'])})")
        print(f"{'':20} {'wall median':>12} {'best':>8} {'rows/s':>8} {'CPU median':>11} {'best':>8} assignments")
        for name in policies:
            wm, wb = statistics.median(wall[name]), min(wall[name])
            print(f"{name:20} {wm:11.3f}s {wb:7.3f}s {args.rows / wm / 1e6:7.2f}M {statistics.median(cpu[name]):10.3f}s "
                  f"{min(cpu[name]):7.3f}s {given[name]:,}")
        a, b = "with capacities", "without capacities"
        print(f"with / without: wall {statistics.median(wall[a]) / statistics.median(wall[b]):.2f}x median, "
              f"{min(wall[a]) / min(wall[b]):.2f}x best; CPU {statistics.median(cpu[a]) / statistics.median(cpu[b]):.2f}x "
              f"median, {min(cpu[a]) / min(cpu[b]):.2f}x best (target: at most 1.3x)")
        if args.profile:
            import cProfile
            import pstats
            for name, p in policies.items():
                prof = cProfile.Profile()
                prof.runcall(p.evaluate, table, as_of=AS_OF, engine="kernel", history=history)
                print(f"\n--- {name}: where one run's time goes (tottime)")
                pstats.Stats(prof).sort_stats("tottime").print_stats(14)


if __name__ == "__main__":
    main()
