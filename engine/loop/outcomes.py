"""Outcomes with a known, planted effect, for trying `pol effect` out and
for checking that it finds what was planted.

In: a `pol run` output folder, the uplift per offer (added to the response
probability of customers given the offer and not held out) or per
experiment arm (`EXPERIMENT.ARM`: added for every customer of the arm,
offered or not, the effect an experiment measures), a base rate, a seed.
Out: a table of every customer of the run: its key and `response` (0/1),
drawn with probability base rate + the uplifts of the offers it was
treated with and of its arms (clipped to [0, 1]); controls get the base
rate for that offer. The same arguments always give the same outcomes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.errors import DataError


def planted(run_dir: str, uplift: dict[str, float], base_rate: float = 0.1, seed: int = 7,
            metric: str = "response") -> pa.Table:
    from pol.loop.exposures import _read, _run_file, from_run
    exposures = from_run(run_dir)
    key = exposures.key
    cpath = _run_file(Path(run_dir), "customers")
    if cpath is None:
        raise DataError("holds no customers.parquet or customers.csv: is it the output folder of a pol run?",
                        path=run_dir)
    keys = _read(cpath, columns=[key]).column(key).combine_chunks()
    offers = set(pc.unique(exposures.table.column("offer")).to_pylist())
    arms = {f"{x}.{a}": (x, a) for x, values in exposures.experiments.items() for a in values[:-1]}
    unknown = [o for o in uplift if o not in offers and o not in arms]
    if unknown:
        what = f"no customer of the run was given that offer (given: {', '.join(sorted(offers)) or 'none'})"
        if "." in unknown[0] or arms:
            what += f"; nor is it an arm of the run's experiments ({', '.join(arms) or 'none'})"
        raise DataError(f"--uplift {unknown[0]}: {what}", path=run_dir)
    p = np.full(len(keys), float(base_rate))
    for name, u in uplift.items():
        if name in arms and name not in offers:
            x, a = arms[name]
            inside = pc.equal(exposures.customers.column(x).cast(pa.string()), a)
            at = np.flatnonzero(pc.fill_null(inside, False).to_numpy(zero_copy_only=False))
            k = pc.index_in(exposures.customers.column(key).take(pa.array(at)), value_set=keys)
            np.add.at(p, k.to_numpy(zero_copy_only=False).astype(np.int64), float(u))
    t = exposures.table.filter(pc.invert(exposures.table.column("control")))
    for offer, u in ((o, u) for o, u in uplift.items() if o in offers):
        treated = t.filter(pc.equal(t.column("offer"), offer)).column(key)
        at = pc.index_in(treated, value_set=keys).to_numpy(zero_copy_only=False)
        np.add.at(p, at.astype(np.int64), float(u))
    rng = np.random.default_rng(seed)
    response = (rng.random(len(keys)) < np.clip(p, 0.0, 1.0)).astype(np.int8)
    return pa.table({key: keys, metric: response})


def write(table: pa.Table, path: str | Path) -> Path:
    """Parquet, or CSV for a path ending in .csv."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


def parse_uplift(items) -> dict[str, float]:
    """OFFER=0.05 items -> {offer: 0.05}; ValueError with the item at fault."""
    out = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        try:
            if not eq or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--uplift needs OFFER=NUMBER or EXPERIMENT.ARM=NUMBER (e.g. retention_pack=0.05, "
                             f"care_ab.voucher=0.05), got '{item}'") from None
        if not -1 <= out[name.strip()] <= 1:
            raise ValueError(f"--uplift {item}: an uplift is a change of probability, between -1 and 1")
    return out
