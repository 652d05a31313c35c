"""The assignments' columns after the fixed ones (LANGUAGE.md section 8.3):
`campaign` (when the offers come from more than one campaign), one column
per offer attribute (null where an offer lacks it), and the input fields the
policy carries, each typed as its input block declares it.

Everything here is per offer or per input row: an assignment's values are
taken from per-offer arrays by its offer code, and from the batch's columns
by its row, with Arrow's `take`; no Python per row.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from pol.compiler import ir
from pol.compiler.offer_settings import has_campaigns
from pol.io.columns import ARROW

# Carried input columns travel with the customer columns (through the spill
# file of a run with capacities) under names no field can have.
CARRIED = "\x00carry:"


def fields(program: ir.Program) -> list[pa.Field]:
    out = []
    if has_campaigns(program):
        out.append(pa.field("campaign", pa.dictionary(pa.int32(), pa.string())))
    out += [pa.field(name, ARROW[t]) for name, t in program.attributes]
    types = {f.name: f.type for f in program.input.fields}
    out += [pa.field(name, ARROW[types[name]]) for name in program.carry]
    return out


class AssignmentColumns:
    """Per-offer arrays, made once per run."""

    def __init__(self, program: ir.Program):
        self.campaign = None
        if has_campaigns(program):
            names = list(dict.fromkeys(o.campaign or program.name for o in program.offers))
            self.campaign = (np.array([names.index(o.campaign or program.name) for o in program.offers],
                                      np.int32), pa.array(names, pa.string()))
        self.attributes = []
        for name, t in program.attributes:
            values = [dict(o.attributes).get(name) for o in program.offers]
            self.attributes.append((name, pa.array(values, ARROW[t])))
        types = {f.name: f.type for f in program.input.fields}
        self.carry = [(name, ARROW[types[name]]) for name in program.carry]

    def carried(self, batch: pa.RecordBatch) -> dict:
        """The carried input columns of a batch, to travel with its customer columns."""
        return {CARRIED + name: batch.column(name) for name, _ in self.carry}

    def columns(self, offers: np.ndarray, rows: np.ndarray, cols: dict) -> dict:
        """The extra columns of the assignments whose offer codes are `offers`
        and input rows (within the batch) `rows`."""
        out = {}
        if self.campaign is not None:
            codes, names = self.campaign
            out["campaign"] = pa.DictionaryArray.from_arrays(pa.array(codes[offers]), names, safe=False)
        if self.attributes:
            index = pa.array(offers)
            for name, values in self.attributes:
                out[name] = values.take(index)
        if self.carry:
            index = pa.array(rows)
            for name, t in self.carry:
                col = cols[CARRIED + name]
                if pa.types.is_dictionary(col.type):
                    col = col.dictionary_decode()
                out[name] = col.take(index).cast(t)
        return out


def run_metadata(program: ir.Program, as_of, run_id: str) -> dict[str, str]:
    """What identifies a run in every output: the policy's name and version
    (its `policy` header, else the file's name and no version), the as-of
    date and the run's id. Parquet files keep it as key-value metadata under
    `pol.<name>`."""
    meta = {"policy": program.name, "version": program.version, "as_of": as_of.isoformat(), "run_id": run_id}
    return {k: v for k, v in meta.items() if v is not None}


def with_run_metadata(schema: pa.Schema, meta: dict[str, str]) -> pa.Schema:
    return schema.with_metadata({**(schema.metadata or {}),
                                 **{f"pol.{k}".encode(): v.encode() for k, v in meta.items()}})


def without_carried(cols: dict) -> dict:
    """The customer columns alone."""
    return {k: v for k, v in cols.items() if not k.startswith(CARRIED)}
