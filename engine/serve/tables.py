"""A run's output (`Policy.evaluate`'s customers and assignments) in the
shapes the server answers and logs: decide's Decisions as plain data, one
Arrow table with each customer's offers as a list of structs, and decision
log lines made column by column; and decisions back into that table.
"""
from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from pol.api.decision import campaign_of
from pol.api.ids import decision_id

# What a decision log line and an Arrow answer say of each offer. The
# offer's campaign and attributes are the policy's constants: the JSON
# answers carry them (as decide does); logs and Arrow answers name the offer.
LOGGED = ("offer", "rank", "channel", "priority", "control")


def logged(offers: list[dict]) -> list[dict]:
    return [{n: a[n] for n in LOGGED} for a in offers]


def _text(col: pa.Array) -> pa.Array:
    return col.cast(pa.string()) if not pa.types.is_dictionary(col.type) else col.dictionary_decode()


def log_lines(result, head: dict, tail: dict) -> bytes | None:
    """A run's decision log lines, made column by column (Arrow compute): the
    same JSON as the line-by-line path, 10x faster. None for a string key,
    which needs JSON's escapes (the line-by-line path writes those)."""
    c = result.customers.combine_chunks()
    keys = c.column(0).chunk(0) if c.num_rows else None
    if keys is None or not pa.types.is_integer(keys.type):
        return None
    a = result.assignments.combine_chunks()
    empty = pa.scalar("")

    def col(name):
        return _text(a.column(name).chunk(0)) if a.num_rows else pa.array([], pa.string())
    # Offer and channel names are policy names (letters, digits, _): nothing to escape.
    frag = pc.binary_join_element_wise('{"offer":"', col("offer"), '","rank":', col("rank"), ',"channel":"',
                                       col("channel"), '","priority":', col("priority"), ',"control":',
                                       col("control"), "}", empty)
    lengths = c.column("offers").chunk(0).value_lengths().fill_null(0)
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(lengths.cast(pa.int64()))])
    offers = pc.binary_join(pa.LargeListArray.from_arrays(offsets, frag), ",")
    prefix = orjson.dumps(head)[:-1].decode() + ',"key":'
    suffix = "," + orjson.dumps(tail)[1:].decode()
    names = list(result.summary.get("experiments") or {})
    if names:
        # Experiment and arm names are policy names too ("control" for the control group).
        parts = []
        for k, name in enumerate(names):
            parts += [("," if k else "") + orjson.dumps(name).decode() + ':"', _text(c.column(name).chunk(0)), '"']
        arms = pc.binary_join_element_wise(*parts, empty)
        lines = pc.binary_join_element_wise(prefix, keys.cast(pa.string()), ',"offers":[', offers,
                                            '],"experiments":{', arms, "}" + suffix, empty)
    else:
        lines = pc.binary_join_element_wise(prefix, keys.cast(pa.string()), ',"offers":[', offers, "]" + suffix,
                                            empty)
    return ("\n".join(lines.to_pylist()) + "\n").encode()


def arms_of(result) -> list[dict]:
    """Each customer's arm of every experiment, as decide's `arms` (empty
    dicts for a policy without experiments)."""
    names = list(result.summary.get("experiments") or {})
    n = result.customers.num_rows
    if not names:
        return [{}] * n
    columns = [result.customers.column(x).cast(pa.string()).to_pylist() for x in names]
    return [dict(zip(names, row)) for row in zip(*columns)]


def offers_of(result) -> tuple[list, list[list[dict]]]:
    """A run's keys and each customer's offers (as decide's Assignments, plain data)."""
    c = result.customers
    a = result.assignments.to_pydict()
    keys = c.column(0).to_pylist()
    counts = c.column("offers").combine_chunks().value_lengths().fill_null(0).to_pylist() if c.num_rows else []
    rows = [dict(zip(LOGGED, r)) for r in zip(*(a[n] for n in LOGGED))]
    out = []
    j = 0
    for n in counts:
        out.append(rows[j:j + n])
        j += n
    return keys, out


def decisions_of(entry, result) -> list[dict]:
    """A run's customers and assignments as decide's Decisions (plain data)."""
    program = entry.policy.program
    c = result.customers.to_pydict()
    keys, offers = offers_of(result)
    parts = []
    for group in (program.segments, program.classifies, program.shown_scores):
        names = [d.name for d in group]
        parts.append((names, list(zip(*(c[n] for n in names))) if names else [()] * len(keys)))
    (sn, sv), (cn, cv), (scn, scv) = parts
    nan_free = [tuple(None if v != v else v for v in row) for row in scv]     # NaN is null, as decide says
    xn = [x.name for x in program.experiments]          # each experiment's arm column
    xv = list(zip(*(c[n] for n in xn))) if xn else [()] * len(keys)
    extra = {o.name: {"campaign": campaign_of(program, o), "attributes": dict(o.attributes)}
             for o in program.offers}
    head = {"policy": program.name, "version": program.version, "as_of": result.as_of}
    return [{"key": k, "segments": dict(zip(sn, s)), "classifications": dict(zip(cn, cl)),
             "scores": dict(zip(scn, sc)), "offers": [{**a, **extra[a["offer"]]} for a in o],
             **head, "run_id": decision_id(), "arms": dict(zip(xn, x))}
            for k, s, cl, sc, o, x in zip(keys, sv, cv, nan_free, offers, xv)]


def _offers_type(assignments_schema: pa.Schema) -> pa.DataType:
    return pa.list_(pa.struct([assignments_schema.field(n) for n in ("offer", "rank", "channel", "priority",
                                                                    "control")]))


def table_of_result(result) -> pa.Table:
    """The run's customers, with `offers` the list of each customer's
    assignments (offer, rank, channel, priority, control) in rank order."""
    c = result.customers.combine_chunks()
    a = result.assignments.combine_chunks()
    names = c.column("offers").chunk(0) if c.num_rows else pa.array([], c.schema.field("offers").type)
    lengths = names.value_lengths().fill_null(0).to_numpy(zero_copy_only=False) if c.num_rows else []
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int32))
    parts = [a.column(n).combine_chunks() if a.num_rows else pa.array([], a.schema.field(n).type)
             for n in ("offer", "rank", "channel", "priority", "control")]
    structs = pa.StructArray.from_arrays(parts, fields=[a.schema.field(n) for n in
                                                        ("offer", "rank", "channel", "priority", "control")])
    offers = pa.ListArray.from_arrays(offsets, structs)
    return c.set_column(c.schema.get_field_index("offers"), "offers", offers)


def table_of(entry, decisions: list[dict], key_type: pa.DataType) -> pa.Table:
    """Decisions as the table table_of_result makes (the per-record path)."""
    from pol.evaluation.stream import output_schemas
    policy = entry.policy
    c_schema, a_schema = output_schemas(policy.program, policy.plan, key_type)
    cols = {}
    key = policy.program.input.key
    cols[key] = pa.array([d["key"] for d in decisions], c_schema.field(key).type)
    arm_names = {x.name for x in policy.program.experiments}
    for f in c_schema:
        if f.name in (key, "offers"):
            continue
        part = "segments" if pa.types.is_boolean(f.type) else "arms" if f.name in arm_names else \
            "classifications" if pa.types.is_dictionary(f.type) else "scores"
        values = [d[part][f.name] for d in decisions]
        cols[f.name] = pa.array(values, f.type.value_type if pa.types.is_dictionary(f.type) else f.type) \
            .cast(f.type)
    offers_t = pa.list_(pa.struct([pa.field(n, pa.string() if pa.types.is_dictionary(a_schema.field(n).type)
                                            else a_schema.field(n).type)
                                   for n in ("offer", "rank", "channel", "priority", "control")]))
    cols["offers"] = pa.array([d["offers"] for d in decisions], offers_t).cast(_offers_type(a_schema))
    schema = pa.schema([f if f.name != "offers" else pa.field("offers", _offers_type(a_schema)) for f in c_schema])
    return pa.Table.from_arrays([cols[f.name] for f in schema], schema=schema)
