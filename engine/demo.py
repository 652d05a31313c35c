"""`pol demo`: the built-in default run. Generates sample customers in a
temporary folder, runs the telecom policy library on them with `pol run`,
and prints the summary a marketer reads."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

POLICY = Path(__file__).resolve().parent.parent / "policies" / "telecom" / "retention.pol"


def main(rows: int = 1_000_000) -> int:
    from pol.run import run_command
    from pol.sample import write
    if not POLICY.exists():
        print(f"pol: error: the telecom policies are not beside this installation ({POLICY}); "
              "install from a clone of the repository with 'pip install -e .'", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="pol-demo-") as tmp:
        t0 = time.perf_counter()
        data = write(rows, Path(tmp) / "customers.parquet")
        print(f"generated {rows:,} sample customers in {time.perf_counter() - t0:.1f}s: {data}")
        print(f"running {POLICY.relative_to(POLICY.parent.parent.parent)} as of 2026-11-01\n")
        return run_command(str(POLICY), str(data), str(Path(tmp) / "out"), as_of="2026-11-01")
