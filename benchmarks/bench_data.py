"""Input tables for the benchmarks: the bench customer generator, cached.

`bench_table(n, seed=7, as_of=AS_OF) -> pyarrow.Table` returns the table that
`benchmarks/data/bench_customers.generate(n, seed, as_of)` makes. Generated tables
are kept as Parquet under the temp dir (`$POL_BENCH_DATA_DIR` to choose
another), keyed by n, seed and as-of date, since a million rows take several
seconds to generate and every benchmark process needs them. `BENCH_POLICY`
is the path of the bench policy.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BENCH_POLICY = Path(__file__).resolve().parent / "data" / "retention_bench.pol"
AS_OF = dt.date(2026, 11, 1)


def generator():
    """The module that makes the bench customers, loaded from its file so that
    every script here runs however it is started (`python benchmarks/x.py`,
    `python -m benchmarks.x`, pytest)."""
    import importlib.util
    import sys
    name = "pol_bench_customers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH_POLICY.parent / "bench_customers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def cache_dir() -> Path:
    d = Path(os.environ.get("POL_BENCH_DATA_DIR") or Path(tempfile.gettempdir()) / "pol-bench-data")
    d.mkdir(parents=True, exist_ok=True)
    return d


def bench_table(n: int, seed: int = 7, as_of: dt.date = AS_OF, *, cache: bool = True) -> pa.Table:
    """`n` generated customers; from the Parquet cache when present."""
    if not cache:
        return generator().generate(n, seed=seed, as_of=as_of)
    path = cache_dir() / f"customers_n{n}_seed{seed}_{as_of.isoformat()}.parquet"
    if path.exists():
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowInvalid):
            pass  # a truncated file from a killed run: regenerate it
    table = generator().generate(n, seed=seed, as_of=as_of)
    # Written under a unique name and renamed so that concurrent processes
    # (pytest-xdist workers) never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    os.close(fd)
    try:
        pq.write_table(table, tmp, row_group_size=1 << 20)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return table
