"""The one door from the Spark engine into the single-machine engine.

Everything engine/spark needs from engine/evaluation, engine/arbitration and
engine/io is imported here and nowhere else in engine/spark, wrapped where
the Spark side needs a slightly different cut (a batch's candidates with
their input positions, a batch matched with some rows decided elsewhere).
No rule is written here: each function calls the engine's own.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pol.arbitration.arbitrate import (
    Flat,
    MatchJob,
    Rules,
    _funnel,
    collect_candidates,
    flat_of_pairs,
)
from pol.arbitration.optimal import Labels, walk_run
from pol.compiler import offer_settings
from pol.compiler.backend.layout import NOT_ELIGIBLE
from pol.evaluation.assignment_columns import AssignmentColumns
from pol.evaluation.bind import EPOCH, bind, check_nulls, check_schema
from pol.evaluation.experiments import Arms
from pol.evaluation.history import PER_KEY, used_fields, view
from pol.evaluation.history import by_key as aggregate_by_key
from pol.evaluation.history import given as given_histories
from pol.evaluation.stream import (
    BatchOut,
    Names,
    Stream,
    _match_batch,
    active_offers,
    batches_of,
    customer_columns,
    keys_of,
    output_batches,
    output_schemas,
)
from pol.evaluation.summary import FUNNEL, Counts
from pol.io.input_files import list_files
from pol.io.output_files import OUTPUTS, Staging, Writer, cannot_write

__all__ = ["PER_KEY", "Arms", "Batches", "Candidates", "Counts", "FUNNEL", "OUTPUTS", "Rules", "Staging", "Writer",
           "aggregate_by_key", "batches_of", "cannot_write", "check_nulls", "check_schema", "given_histories",
           "list_files", "output_schemas", "used_fields", "view", "walk"]


@dataclass
class Candidates:
    """Candidate pairs (customer, offer) in the global walk's terms: `pos` is
    the customer's input position, `ctrl` its holdout mark, `room` the
    customer's room on its channel under an in-run contact cap (NaN: none),
    `cost` the pair's cost in the budget's units (Rules.pair_costs: its
    customer's when computed, LANGUAGE.md 3.11)."""
    pos: np.ndarray       # int64
    offer: np.ndarray     # int16
    chan: np.ndarray      # int8
    prio: np.ndarray      # float64
    ctrl: np.ndarray      # bool
    room: np.ndarray      # float64
    cost: np.ndarray      # int64

    FIELDS = ("pos", "offer", "chan", "prio", "ctrl", "room", "cost")

    def to_batch(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_arrays([pa.array(getattr(self, f)) for f in self.FIELDS], list(self.FIELDS))

    @staticmethod
    def of_table(t: pa.Table) -> Candidates:
        dtypes = (np.int64, np.int16, np.int8, np.float64, np.bool_, np.float64, np.int64)
        return Candidates(*(t.column(f).to_numpy().astype(d, copy=False) for f, d in zip(Candidates.FIELDS, dtypes)))


def walk(c: Candidates, rules: Rules, funnel: np.ndarray, program, names: list[str]) -> tuple[np.ndarray, dict | None]:
    """The run-wide walk of LANGUAGE.md section 6 (arbitrate.walk_global) over
    candidates sorted by position: which pairs are accepted. Adds the walk's
    counts (accepted, controls, lost_to_*) to `funnel`. Under `maximize
    priority`, section 6.7's allocation, and its report (`names`: the
    offers) for the summary."""
    accepted, allocation = walk_run(c.pos, c.offer, c.chan, c.prio, c.ctrl, c.room, c.cost, rules, names, funnel,
                                    Labels.of(program))
    return accepted, allocation.to_dict() if allocation is not None else None


class Batches:
    """One policy run over batches whose rows carry input positions: the
    engine's evaluator, matching and output columns, batch by batch. Holds
    the run's counts (the summary)."""

    def __init__(self, policy, as_of: dt.date, params: dict):
        self.policy = policy
        # capacities, holdouts and windows from params, as the local stream takes them
        # (without the population: worker.population_fn left out its rows before any batch comes here);
        # the lowered program, as the local stream's: each history aggregate an input field
        # (the driver joined their columns to the customers: engine/spark/history.py)
        self.program = dataclasses.replace(offer_settings.with_params(policy.lowered.program, params),
                                           population=None)
        self.plan = policy.plan
        self.rules = Rules.of(self.program)
        self.extra = AssignmentColumns(self.program)
        self.params = params
        self.as_of = as_of
        self.active = active_offers(self.program, as_of)
        self.today = (as_of - EPOCH).days
        self.counts = Counts.empty(self.plan)
        self._offers = Names(self.plan.offers)
        self._channels = Names(self.plan.channels)
        self.arms = Arms(self.program)      # experiments: each row's arm, drawn from its key

    def stream(self, sink):
        """The engine's streaming core, for a policy without capacities: each
        batch evaluated and matched on its own (the fused kernel)."""
        s = Stream(self.program, self.plan, self.policy._executor("kernel"), self.as_of, self.params, sink)
        s.counts = self.counts
        return s

    def _evaluate(self, batch: pa.RecordBatch, path: str | None, row_base: int) -> tuple[BatchOut, dict, object]:
        check_schema(self.program, batch.schema, path)
        check_nulls(self.program, batch, path, row_base)
        key = batch.column(self.program.input.key)
        if self.arms:
            batch = self.arms.extend(batch, keys_of(key))
        bound = bind(self.program, self.plan, batch, self.params)
        out = BatchOut(self.plan, batch.num_rows)
        self.policy._executor("kernel")(bound, self.active, self.today, out, None)
        cols = customer_columns(self.program, self.plan, key, out)
        for x in self.program.experiments:
            cols[x.name] = batch.column(x.name)
        if self.extra.carry:
            cols.update(self.extra.carried(batch))
        return out, cols, key

    def candidates(self, batch: pa.RecordBatch, pos: np.ndarray, constrained: np.ndarray,
                   path: str | None = None, row_base: int = 0) -> Candidates:
        """Every candidate pair of the batch's customers that have a candidate
        for an offer with a capacity (those customers must go through the
        global walk); counts nothing."""
        out, _, key = self._evaluate(batch, path, row_base)
        has = ((out.cchan >= 0) & constrained[None, :]).any(axis=1)
        rows = np.flatnonzero(has)
        keys = keys_of(key.take(pa.array(rows)))
        r = self.rules
        local, offer, chan, prio, ctrl, room = collect_candidates(
            out.cprio[rows], out.cchan[rows], 0, r.holdout_bp, r.holdout_state, keys.is_int, keys.ints,
            keys.offsets, keys.data, r.room_of, np.ascontiguousarray(out.scores[:, rows]),
            np.zeros_like(self.counts.funnel))
        if len(room) != len(local):         # no in-run contact caps: no rooms
            room = np.full(len(local), np.nan)
        cost = r.pair_costs(offer, rows[local], out.scores)
        if len(cost) != len(local):         # no budget: no costs
            cost = np.zeros(len(local), np.int64)
        return Candidates(pos[rows][local], offer, chan, prio, ctrl, room, cost)

    def finish(self, batch: pa.RecordBatch, pos: np.ndarray, walked: np.ndarray, accepted: Candidates,
               path: str | None = None, row_base: int = 0) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """A batch's customers and assignments, with capacities: the customers
        in `walked` (sorted positions) take the pairs of `accepted` (sorted by
        position) that the global walk gave them, and the walk's counts are
        the driver's; every other customer is matched on its own, as without
        capacities."""
        out, cols, key = self._evaluate(batch, path, row_base)
        n = batch.num_rows
        lo, hi = np.searchsorted(walked, [pos.min(), pos.max() + 1]) if n else (0, 0)
        is_walked = np.isin(pos, walked[lo:hi])
        if is_walked.any():
            # eligible, deliverable and candidates are counted for every
            # customer here; the walked ones are then hidden from the per-row
            # matching, which counts the rest of the funnel.
            _funnel(0, int(is_walked.sum()), np.ascontiguousarray(out.cchan[is_walked]), self.counts.funnel)
            out.cchan[is_walked] = NOT_ELIGIBLE
        flat = self._match(out, key)
        if is_walked.any():
            lo, hi = np.searchsorted(accepted.pos, [pos.min(), pos.max() + 1])
            apos = accepted.pos[lo:hi]
            mine = np.isin(apos, pos)
            order = np.argsort(pos, kind="stable")
            local = order[np.searchsorted(pos, apos[mine], sorter=order)]
            pick = np.arange(lo, hi)[mine]
            walked_flat = flat_of_pairs(local, accepted.offer[pick], accepted.chan[pick], accepted.prio[pick],
                                        accepted.ctrl[pick], np.ones(len(pick), np.bool_), n,
                                        self.counts.by_channel)
            flat = _merge(flat, walked_flat, n)
        self.counts.add_outputs(out, [cols[s] for s in self.plan.segments])
        ints = key.to_numpy() if pa.types.is_integer(key.type) else None
        return output_batches(self.program, cols, ints, flat, self._offers, self._channels, self.extra)

    def _match(self, out: BatchOut, key) -> Flat:
        return _match_batch(out, MatchJob(self.rules, keys_of(key), self.counts.funnel, self.counts.by_channel))


def _merge(a: Flat, b: Flat, n: int) -> Flat:
    """Two batches' worth of assignments over disjoint rows (matched here, and
    given by the global walk) as one, in (row, rank) order."""
    rows = np.concatenate([a.rows, b.rows])
    order = np.argsort(rows, kind="stable")       # each row's entries come from one side, in rank order
    cols = [np.concatenate([x, y])[order] for x, y in
            ((a.rows, b.rows), (a.rank, b.rank), (a.offer, b.offer), (a.chan, b.chan), (a.prio, b.prio),
             (a.ctrl, b.ctrl))]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(cols[0], minlength=n), out=offsets[1:])
    return Flat(*cols, offsets)

