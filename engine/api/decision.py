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

The compiled path makes its Decision lazily: it keeps the kernel's outputs
as one tuple and makes the dicts, the Assignments and the run id's text at
the first read of any field (building them eagerly took a quarter of a
decision, and a caller that reads only the offers, or nothing but the
JSON, pays for them once). Every read goes through the instance's
`__dict__`, which Decision makes a property that fills it first: attribute
access, equality, repr, model_dump and its JSON, copies, pickling, and a
Decision inside another model (pydantic-core reads `__dict__` by name).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from pol.api import ids
from pol.api.ids import decision_id, written
from pol.api.records import reader
from pol.compiler import ir
from pol.compiler.offer_settings import has_campaigns
from pol.reference.interp import RowResult, evaluate_row
from pol.reference.matching import Match, match_customer

_EPOCH = dt.date(1970, 1, 1).toordinal()


# defer_build: the schemas (validation and serialization) are built at the
# first validation or dump, not at import: a decision itself is made without
# either (_trusted, _lazy), and building them took a tenth of a warm start.
class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
    offer: str
    rank: int            # 1 = best
    channel: str
    priority: float
    control: bool = False   # a holdout: accepted, but must not be contacted
    campaign: str | None = None     # its campaign, when the offers come from several (LANGUAGE.md 8.3)
    attributes: dict[str, str | int | float | bool | dt.date] = {}   # the offer's attributes


# The instance dict's own descriptor (BaseModel's __slots__ has __dict__),
# which Decision's `__dict__` property stands in front of.
_INSTANCE_DICT = BaseModel.__dict__["__dict__"]
_PENDING = "\0pending"     # the key a lazy Decision keeps its outputs under: no field's name
# Reentrant: a finalizer or signal handler that reads another lazy Decision
# while this thread fills one must not wait for itself.
_FILLING = threading.RLock()


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)
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

    def _filled(self) -> dict:
        """The instance dict, with every field: a lazy Decision's made now
        (once: two threads reading one Decision get the same objects)."""
        d = _INSTANCE_DICT.__get__(self)
        if _PENDING in d:
            with _FILLING:
                pending = d.get(_PENDING)
                if pending is not None:
                    fill, raw = pending
                    d.update(fill(*raw))
                    del d[_PENDING]
        return d

    def _set_dict(self, values: dict) -> None:
        _INSTANCE_DICT.__set__(self, values)

    __dict__ = property(_filled, _set_dict)     # type: ignore[assignment]



class _Unfilled:
    """A field of Decision, read where the instance dict lacks it: a lazy
    Decision's, until it is filled. A descriptor without __set__, so a filled
    dict's value comes first and this runs no more (a descriptor's call is
    a fifth of a __getattr__'s); read from the class, it is not there, as a
    field is not, so that pydantic, collecting the fields of a subclass or
    a rebuild, takes no default from it."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, cls=None):
        if obj is None:
            raise AttributeError(self.name)
        return obj._filled()[self.name]


for _name in Decision.model_fields:
    setattr(Decision, _name, _Unfilled(_name))
_FIELDS_SET = frozenset(Decision.model_fields)
_SET_FIELDS = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def _lazy(fill, raw: tuple) -> Decision:
    """A Decision whose fields are `fill(*raw)`, made at their first read
    (as _trusted makes one, without a second call: this runs per decision)."""
    m = Decision.__new__(Decision)
    _INSTANCE_DICT.__set__(m, {_PENDING: (fill, raw)})
    _SET_FIELDS(m, set(_FIELDS_SET))
    _SET_EXTRA(m, None)
    _SET_PRIVATE(m, None)
    return m


def _trusted(cls, values: dict):
    """A model of values that are already of its fields' types, all given:
    what model_construct makes, without its pass over every field's aliases
    and defaults, which takes three times as long (about as long as reading
    the record, for a Decision and again for each Assignment); its slots set
    through their descriptors, without object.__setattr__'s look-up of each.
    tests/test_records.py checks such models equal, and dump as, validated
    ones."""
    m = cls.__new__(cls)
    _INSTANCE_DICT.__set__(m, values)
    _SET_FIELDS(m, set(values))
    _SET_EXTRA(m, None)
    _SET_PRIVATE(m, None)
    return m


def with_costs(d: Decision, costs: dict[str, float | None]) -> Decision:
    """The decision carrying the customer's computed cost of each offer
    under a `budget B cost EXPR` (LANGUAGE.md 3.11), which a ledger takes
    from its budget: kept out of the model's fields (and its JSON), since
    only a ledger reads it."""
    if costs:
        _SET_PRIVATE(d, {"costs": costs})
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
    # Made as the compiled path makes its fields (_trusted, no validation):
    # the checker types every value already (scores and priorities FLOAT,
    # segments bool), and validating the first decision would build the
    # models' schemas, a tenth of a warm start (defer_build above);
    # tests/test_records.py checks these equal, and dump as, validated ones.
    return with_costs(_trusted(Decision, {
        "key": row.key,
        "segments": {s.name: row.values[s.name] for s in program.segments},
        "classifications": {c.name: row.values[c.name] for c in program.classifies},
        "scores": {s.name: row.values[s.name] for s in program.shown_scores},
        "offers": [_trusted(Assignment, {"offer": a.offer, "rank": a.rank, "channel": a.channel,
                                         "priority": a.priority, "control": a.control,
                                         "campaign": campaign_of(program, offers[a.offer]),
                                         "attributes": dict(offers[a.offer].attributes)})
                   for a in match.accepted],
        "policy": program.name, "version": program.version, "as_of": row.as_of, "run_id": decision_id(),
        "arms": dict(row.arms),
    }), {o: row.values.get(s) for o, s in program.arbitrate.cost_scores})


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
        self._max_n = program.arbitrate.max_per_customer
        self._readers: dict[str, object] = {}
        self._packers: dict[str, object] = {}       # per `extra`: the executor's RecordPacker, or None

    def decide(self, record: Mapping, as_of: dt.date, params: dict, active, extra: str = "error",
               history=None) -> Decision:
        """One customer. `params`: every param's value, resolved already;
        `active`: the offers in their valid window (and not exhausted)."""
        read = self._readers.get(extra)
        if read is None:
            read = self._readers[extra] = reader(self.program, extra)     # checks `extra`
            self._packers[extra] = self.executor.packer(read.fields, read.key_index, extra)
        today = as_of.toordinal() - _EPOCH
        packer = self._packers[extra]
        if packer is not None and not history:
            # checked and packed in one pass; a record of other types reads as below
            done = self.executor.decide(packer, record, today, params, active)
            if done is not None:
                out, key = done
                return self._made(out.read(), (key, out.n, as_of, ()))
        values = read.values(record)
        key = values[read.key_index]
        if self.history_columns or history:
            from pol.reference.history import column_values
            values = values + column_values(self.program, self.history_columns, history, key, as_of)
        drawn = self._draw(key) if self._draw is not None else []
        if drawn:
            values = values + drawn
        out = self.executor.evaluate(values, today, params, active, key)
        return self._made(out.read(), (key, out.n, as_of, drawn))

    def _made(self, raw: tuple, rest: tuple) -> Decision:
        """The lazy Decision of the kernel's outputs `raw`, with the customer's
        computed costs (with_costs) read from them now: a ledger reads them
        at once, and they are the few hidden scores of a computed budget."""
        key, n, as_of, drawn = rest
        d = _lazy(self._fields, (key, raw, n, as_of, drawn, *next(ids.tickets)))
        if self._costs:
            with_costs(d, {o: (None if raw[k] != raw[k] else raw[k]) for o, k in self._costs})
        return d

    def _fields(self, key, raw: tuple, n: int, as_of: dt.date, drawn, prefix: str, number: int) -> dict:
        """A Decision's fields, in their order, from what the kernel wrote
        (RowOutputs.read: scores, classes, segments, then the accepted
        offers' columns of max_n slots each)."""
        s, c = self._n_scores, self._n_scores + len(self._classes)
        g = c + len(self._segments)
        offers = []
        if n:
            m = self._max_n
            channels, table = self._channels, self._offers
            for rank, (k, ch, p, control) in enumerate(zip(raw[g:g + n], raw[g + m:g + m + n],
                                                           raw[g + 2 * m:g + 2 * m + n],
                                                           raw[g + 3 * m:g + 3 * m + n]), start=1):
                name, campaign, attributes = table[k]
                offers.append(_trusted(Assignment, {"offer": name, "rank": rank, "channel": channels[ch],
                                                    "priority": p, "control": control, "campaign": campaign,
                                                    "attributes": dict(attributes)}))
        return {
            "key": key,
            "segments": dict(zip(self._segments, raw[c:g])),
            "classifications": {name: (labels[k] if k >= 0 else None)
                                for (name, labels), k in zip(self._classes, raw[s:c])},
            "scores": {name: (None if raw[k] != raw[k] else raw[k]) for k, name in self._scores},
            "offers": offers,
            "policy": self.program.name, "version": self.program.version, "as_of": as_of,
            "run_id": written(prefix, number), "arms": dict(zip(self._experiments, drawn)),
        }
