"""The reference evaluator: a checked ir.Program and one customer record ->
every value the policy computes for that customer (RowResult), with a trace
that says why conditions failed.

Written from LANGUAGE.md (sections 4, 5 and 9), one plain Python rule per
operator, so that it can serve as the oracle the compiled kernels are
measured against. Speed is not a goal; being obviously right is. The
record is read by pol.api.records, as every evaluator reads it.

    evaluate_row(program, record, as_of, params)    -> RowResult
    read_record(program, record)                    -> the record as the policy reads it (pol.api.records)

Its parts, importable from here too: the operator rules (compiler/ops.py: RULES,
apply_op), expressions (expr.py: Env, eval_expr), policy text (render.py:
render, value_text) and traces (trace.py: Culprit, why_not, null_sources,
values_behind, inputs_of).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from pol.api.params import resolve_params
from pol.api.records import read_record, reader
from pol.compiler import ir, offer_settings
from pol.compiler.ops import RULES, apply_op, read_field
from pol.reference.experiments import arms
from pol.reference.expr import Env, eval_expr
from pol.reference.render import render, value_text
from pol.reference.trace import Culprit, inputs_of, null_sources, values_behind, why_not

__all__ = ["OfferState", "Trace", "RowResult", "in_window", "evaluate_row", "read_record",
           "Env", "eval_expr", "RULES", "apply_op", "read_field", "render", "value_text",
           "Culprit", "inputs_of", "null_sources", "values_behind", "why_not"]


@dataclass(frozen=True)
class OfferState:
    """One offer for one customer, before matching."""
    name: str
    in_window: bool
    eligible: bool | None
    priority: float | None
    channel: str | None       # the first open channel, in the offer's order
    candidate: bool


@dataclass(frozen=True)
class Trace:
    """Why things came out as they did, for `explain` and test reports.

    whens: classification -> index of the `when` that matched, -1 for the
    `else`, None when nothing matched. The other maps hold only what failed:
    segments that are false, channels that are closed, offers whose
    `eligible` is not true (why_not), offers whose priority is null
    (null_sources)."""
    whens: dict[str, int | None]
    segments: dict[str, tuple[Culprit, ...]]
    channels: dict[str, tuple[Culprit, ...]]
    eligible: dict[str, tuple[Culprit, ...]]
    priority: dict[str, tuple[Culprit, ...]]


@dataclass(frozen=True)
class RowResult:
    key: object
    as_of: dt.date
    fields: dict[str, object]      # the record as read: every input field, None for null
    params: dict[str, object]
    values: dict[str, object]      # every let, segment, classification and score
    channels: dict[str, bool]      # open or not
    offers: dict[str, OfferState]  # declaration order
    env: Env
    trace: Trace | None = None
    arms: dict[str, str] = field(default_factory=dict)   # experiment -> arm (or "control")
    # LANGUAGE.md 3.14: outside the population a customer is in no output,
    # and no offer is a candidate
    in_population: bool = True

    def candidates(self) -> list[OfferState]:
        return [o for o in self.offers.values() if o.candidate]



def _events(program: ir.Program, history, key) -> tuple[dict, dict]:
    """(events per history, histories by name) for the Env."""
    if history is None:
        history = {}
    if not isinstance(history, Mapping):
        from pol.errors import ArgumentError
        raise ArgumentError(f"history must be a dict of history name -> list of events, not "
                            f"{type(history).__name__}", argument="history")
    from pol.reference.history import read_events
    declared = {h.name: h for h in program.histories}
    for name in history:
        if name not in declared:
            from pol.errors import ArgumentError
            raise ArgumentError(f"the policy declares no history '{name}'", argument="history")
    return {name: read_events(program, name, ev, key) for name, ev in history.items()}, declared


def in_window(offer: ir.Offer, as_of: dt.date) -> bool:
    return ((offer.valid_from is None or offer.valid_from <= as_of)
            and (offer.valid_to is None or as_of <= offer.valid_to))


def channel_of(o: ir.Offer, open_: Mapping[str, bool], rank: int | None) -> str | None:
    """The offer's channel (LANGUAGE.md 6.1): the one the customer's value
    names (`rank`, its position in the offer's list: ir.Offer.prefer) when it
    is open, else the first open one of the list; None when none is open."""
    if rank is not None and rank >= 0 and open_[o.channels[rank]]:
        return o.channels[rank]
    return next((c for c in o.channels if open_[c]), None)


def evaluate_row(program: ir.Program, record: Mapping, as_of: dt.date, params: Mapping | None = None,
                 *, trace: bool = True, extra: str = "error", history: Mapping | None = None) -> RowResult:
    """Everything the policy computes for one customer, before offer matching.

    record: field -> value as pol.api.records reads it (None, or left out,
    for null; DataError for a value of the wrong kind; `extra` says what an
    undeclared field does). params: overrides of the declared defaults,
    converted as pol.api.params does, before the record is read.
    trace=False skips the explanations. history: {history name: this
    customer's events, a list of records} (LANGUAGE.md section 12); a
    history left out has no events."""
    params = resolve_params(program, dict(params or {}))
    program = offer_settings.with_params(program, params)         # offers' windows from params
    fields = reader(program, extra).read(record)
    drawn = arms(program, fields.get(program.input.key)) if program.experiments else {}
    decls: dict[str, object] = {}
    exprs: dict[str, ir.Expr] = {d.name: d.expr for d in program.lets + program.segments}
    # an experiment reads as its arm (LANGUAGE.md section 13)
    env = Env({**fields, **drawn} if drawn else fields, params, as_of, decls, exprs,
              *_events(program, history, fields.get(program.input.key)))
    by_name = {d.name: d for d in program.lets + program.segments + program.classifies + program.scores}
    whens: dict[str, int | None] = {}

    for name in program.order:
        d = by_name[name]
        if isinstance(d, ir.Segment):
            decls[name] = eval_expr(d.expr, env) is True      # null: not in the segment
        elif isinstance(d, ir.Classify):
            index = next((k for k, w in enumerate(d.whens) if eval_expr(w.cond, env) is True), None)
            if index is None and d.default is not None:
                index = -1
            whens[name] = index
            decls[name] = None if index is None else d.default if index == -1 else d.whens[index].value
        else:       # let or score (a score's expression is float already)
            decls[name] = eval_expr(d.expr, env)

    inside = program.population is None or eval_expr(program.population.cond, env) is True
    channels = {c.name: c.cond is None or eval_expr(c.cond, env) is True for c in program.channels}
    offers: dict[str, OfferState] = {}
    for o in program.offers:
        eligible = eval_expr(o.eligible, env)
        priority = eval_expr(o.priority, env)
        channel = channel_of(o, channels, eval_expr(o.prefer, env) if o.prefer is not None else None)
        window = in_window(o, as_of)
        offers[o.name] = OfferState(o.name, window, eligible, priority, channel,
                                    inside and window and eligible is True and priority is not None
                                    and channel is not None)

    tr = None
    if trace:
        tr = Trace(
            whens=whens,
            segments={s.name: why_not(s.expr, env) for s in program.segments if not decls[s.name]},
            channels={c.name: why_not(c.cond, env) for c in program.channels if not channels[c.name]},
            eligible={o.name: why_not(o.eligible, env) for o in program.offers
                      if offers[o.name].eligible is not True},
            priority={o.name: null_sources(o.priority, env) for o in program.offers
                      if offers[o.name].priority is None},
        )
    values = {name: decls[name] for name in program.order}
    return RowResult(fields.get(program.input.key), as_of, fields, params, values,
                     channels, offers, env, tr, drawn, inside)
