"""`pol demo`: the built-in default run. Generates sample customers in a
temporary folder, runs the telecom policy library (shipped inside the
package, pol.policies) on them with `pol run`, and prints the summary a
marketer reads."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pol.policies import path as library_path

POLICY = library_path("telecom/retention.pol")


def main(rows: int = 1_000_000) -> int:
    from pol.cli.run import run_command
    from pol.cli.sample import write
    with tempfile.TemporaryDirectory(prefix="pol-demo-") as tmp:
        t0 = time.perf_counter()
        data = write(rows, Path(tmp) / "customers.parquet")
        print(f"generated {rows:,} sample customers in {time.perf_counter() - t0:.1f}s: {data}")
        print(f"running the telecom library ({POLICY}) as of 2026-11-01\n")
        return run_command(str(POLICY), str(data), str(Path(tmp) / "out"), as_of="2026-11-01")
