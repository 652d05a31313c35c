"""Single-customer decisions: a record -> a pydantic `Decision` (segments,
classifications, scores, accepted offers in rank order).

Two paths give the same Decision: the compiled row kernel (engine/evaluation/row.py),
used once it is built, and the reference evaluator
(engine/reference/interp.py + engine/reference/matching.py), `decide`. Both
read the record with pol.api.records, so they accept and refuse the same
records with the same DataError. Capacities do not apply to one customer
(LANGUAGE.md section 6); holdouts do: a control is in the offers, marked
`control`.

A Decision is JSON as it is: `decision.model_dump_json()`, or
`json.dumps(decision.model_dump(mode="json"))`.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from pol.api.ids import decision_id
from pol.api.records import reader
from pol.compiler import ir
from pol.evaluation.assignment_columns import has_campaigns
from pol.reference.interp import RowResult, evaluate_row
from pol.reference.matching import Match, match_customer

_EPOCH = dt.date(1970, 1, 1).toordinal()


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)
    offer: str
    rank: int            # 1 = best
    channel: str
    priority: float
    control: bool = False   # a holdout: accepted, but must not be contacted
    campaign: str | None = None     # its campaign, when the offers come from several (LANGUAGE.md 8.3)
    attributes: dict[str, str | int | float | bool | dt.date] = {}   # the offer's attributes


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: int | str | None
    segments: dict[str, bool]
    classifications: dict[str, str | None]
    scores: dict[str, float | None]
    offers: list[Assignment]
    policy: str | None = None       # the policy's name and version (its header)
    version: str | None = None
    as_of: dt.date | None = None
    run_id: str | None = None       # unique per decision, for the decision log (pol.api.ids)
    arms: dict[str, str] = {}       # experiment -> the customer's arm, or "control" (LANGUAGE.md 13)

    def __eq__(self, other) -> bool:
        # Two decisions are equal when they decide the same: each has its own run id.
        if not isinstance(other, Decision):
            return NotImplemented
        mine = {k: v for k, v in self.__dict__.items() if k != "run_id"}
        return mine == {k: v for k, v in other.__dict__.items() if k != "run_id"}

    __hash__ = None

    @property
    def offer_names(self) -> list[str]:
        return [a.offer for a in self.offers]


def _trusted(cls, values: dict):
    """A model of values that are already of its fields' types, all given:
    what model_construct makes, without its pass over every field's aliases
    and defaults, which takes three times as long (about as long as reading
    the record, for a Decision and again for each Assignment).
    tests/test_records.py checks such models equal, and dump as, validated
    ones."""
    m = cls.__new__(cls)
    object.__setattr__(m, "__dict__", values)
    object.__setattr__(m, "__pydantic_fields_set__", set(values))
    object.__setattr__(m, "__pydantic_extra__", None)
    object.__setattr__(m, "__pydantic_private__", None)
    return m


def with_costs(d: Decision, costs: dict[str, float | None]) -> Decision:
    """The decision carrying the customer's computed cost of each offer
    under a `budget B cost EXPR` (LANGUAGE.md 3.11), which a ledger takes
    from its budget: kept out of the model's fields (and its JSON), since
    only a ledger reads it."""
    if costs:
        object.__setattr__(d, "__pydantic_private__", {"costs": costs})
    return d


def costs_of(d: Decision) -> dict[str, float | None]:
    """The costs `with_costs` gave the decision; none for another policy."""
    return (d.__pydantic_private__ or {}).get("costs", {})


def campaign_of(program: ir.Program, offer: ir.Offer) -> str | None:
    """An offer's campaign as the assignments say it: only where the offers come from several."""
    return offer.campaign if has_campaigns(program) else None


def decision_of(program: ir.Program, row: RowResult, match: Match) -> Decision:
    """A Decision from the reference evaluator's row and its match."""
    offers = {o.name: o for o in program.offers}
    return with_costs(Decision(
        key=row.key,
        segments={s.name: row.values[s.name] for s in program.segments},
        classifications={c.name: row.values[c.name] for c in program.classifies},
        scores={s.name: row.values[s.name] for s in program.shown_scores},
        offers=[Assignment(offer=a.offer, rank=a.rank, channel=a.channel, priority=a.priority,
                           control=a.control, campaign=campaign_of(program, offers[a.offer]),
                           attributes=dict(offers[a.offer].attributes)) for a in match.accepted],
        policy=program.name, version=program.version, as_of=row.as_of, run_id=decision_id(),
        arms=dict(row.arms),
    ), {o: row.values.get(s) for o, s in program.arbitrate.cost_scores})


def decide(program: ir.Program, record: Mapping, as_of: dt.date, params: Mapping | None = None,
           extra: str = "error", exhausted=(), history: Mapping | None = None) -> Decision:
    """One customer on the reference evaluator. `params`: overrides of the
    declared defaults (converted as pol.api.params does); `exhausted`: offers
    whose capacity is used up; `history`: this customer's events per history."""
    row = evaluate_row(program, record, as_of, params, trace=False, extra=extra, history=history)
    return decision_of(program, row, match_customer(program, row, exhausted=exhausted))


# The name engine/api/policy.py uses for the reference path.
decide_reference = decide


class CompiledDecisions:
    """`decide` on the compiled row kernel (engine/evaluation/row.py) for one
    policy, with what every decision shares made once: the record readers,
    the names of the outputs, each offer's campaign and attributes.
    `history_columns`: the aggregates the kernel reads as extra fields
    (compiler/backend/history.py), computed per decision from the
    customer's events; `arms` (engine/evaluation/experiments.Arms) draws the
    customer's arm of each experiment, the fields after them."""

    def __init__(self, executor, program: ir.Program, history_columns=(), arms=None):
        plan = executor.plan
        self.executor = executor
        self.program = program
        self.history_columns = history_columns
        self.arms = arms
        self._draw = arms.of_key if arms else None       # asked once: Arms.__bool__ is a call
        self._experiments = tuple(x.name for x in program.experiments)
        several = has_campaigns(program)
        # (offer, campaign, attributes) per offer index; the attributes are
        # copied into each Assignment, which a caller may change
        self._offers = tuple((plan.offers[k], o.campaign if several else None, o.attributes)
                             for k, o in enumerate(program.offers))
        self._channels = tuple(plan.channels)
        self._segments = tuple(plan.segments)
        self._classes = tuple(zip(plan.classifies, plan.class_values))
        self._scores = tuple((k, s) for k, s in enumerate(plan.scores) if not ir.hidden(s))
        self._n_scores = len(plan.scores)       # every score, hidden ones too, lies in the outputs
        self._costs = tuple((o, list(plan.scores).index(s)) for o, s in program.arbitrate.cost_scores)
        self._readers: dict[str, object] = {}

    def decide(self, record: Mapping, as_of: dt.date, params: dict, active, extra: str = "error",
               history=None) -> Decision:
        """One customer. `params`: every param's value, resolved already;
        `active`: the offers in their valid window (and not exhausted)."""
        read = self._readers.get(extra)
        if read is None:
            read = self._readers[extra] = reader(self.program, extra)     # checks `extra`
        values = read.values(record)
        key = values[read.key_index]
        if self.history_columns or history:
            from pol.reference.history import column_values
            values = values + column_values(self.program, self.history_columns, history, key, as_of)
        drawn = self._draw(key) if self._draw is not None else []
        if drawn:
            values = values + drawn
        out = self.executor.evaluate(values, as_of.toordinal() - _EPOCH, params, active, key)
        offers = []
        if out.n:
            channels, table = self._channels, self._offers
            for rank, (k, c, p, control) in enumerate(out.accepted(), start=1):
                name, campaign, attributes = table[k]
                offers.append(_trusted(Assignment, {"offer": name, "rank": rank, "channel": channels[c],
                                                    "priority": p, "control": control, "campaign": campaign,
                                                    "attributes": dict(attributes)}))
        declared = out.declared()
        s, c = self._n_scores, self._n_scores + len(self._classes)
        costs = {o: (None if declared[k] != declared[k] else declared[k]) for o, k in self._costs}
        return with_costs(_trusted(Decision, {
            "key": key,
            "segments": dict(zip(self._segments, declared[c:])),
            "classifications": {name: (labels[k] if k >= 0 else None)
                                for (name, labels), k in zip(self._classes, declared[s:c])},
            "scores": {name: (None if declared[k] != declared[k] else declared[k]) for k, name in self._scores},
            "offers": offers,
            "policy": self.program.name, "version": self.program.version, "as_of": as_of,
            "run_id": decision_id(), "arms": dict(zip(self._experiments, drawn)),
        }), costs)
