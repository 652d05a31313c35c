"""Single-customer decisions: a record -> a pydantic `Decision` (segments,
classifications, scores, accepted offers in rank order).

Two paths give the same Decision: the compiled row kernel (engine/evaluation/row.py),
used once it is compiled and cached, and the reference evaluator
(engine/reference/interp.py + engine/reference/matching.py), `decide`. Capacities do not apply
to one customer (LANGUAGE.md section 6); holdouts do: a control is in the
offers, marked `control`.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Mapping

from pydantic import BaseModel, ConfigDict

from pol.compiler import ir
from pol.reference.interp import RowResult, evaluate_row
from pol.reference.matching import Match, is_control, match_customer


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)
    offer: str
    rank: int            # 1 = best
    channel: str
    priority: float
    control: bool = False   # a holdout: accepted, but must not be contacted


class Decision(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: int | str | None
    segments: dict[str, bool]
    classifications: dict[str, str | None]
    scores: dict[str, float | None]
    offers: list[Assignment]

    @property
    def offer_names(self) -> list[str]:
        return [a.offer for a in self.offers]


def decision_of(program: ir.Program, row: RowResult, match: Match) -> Decision:
    """A Decision from the reference evaluator's row and its match."""
    return Decision(
        key=row.key,
        segments={s.name: row.values[s.name] for s in program.segments},
        classifications={c.name: row.values[c.name] for c in program.classifies},
        scores={s.name: row.values[s.name] for s in program.scores},
        offers=[Assignment(offer=a.offer, rank=a.rank, channel=a.channel, priority=a.priority,
                           control=a.control) for a in match.accepted],
    )


def decide(program: ir.Program, record: Mapping, as_of: dt.date, params: Mapping | None = None) -> Decision:
    """One customer on the reference evaluator. `params`: overrides of the
    declared defaults (converted as pol.api.params does)."""
    row = evaluate_row(program, record, as_of, params, trace=False)
    return decision_of(program, row, match_customer(program, row))


# The name engine/api/policy.py uses for the reference path.
decide_reference = decide


def decide_compiled(executor, program: ir.Program, record: dict, as_of: dt.date, params: dict,
                    active) -> Decision:
    """One customer on the compiled row kernel (engine/evaluation/row.py)."""
    plan = executor.plan
    today = (as_of - dt.date(1970, 1, 1)).days
    out = executor.run(record, today, params, active)
    key = record.get(program.input.key)
    segs = out.segs[:, 0].tolist()
    classes = out.classes[:, 0].tolist()
    scores = out.scores[:, 0].tolist()
    offers = []
    for rank, (k, c, p) in enumerate(executor.match(out, program.arbitrate.max_per_customer), start=1):
        o = program.offers[k]
        offers.append(Assignment.model_construct(offer=o.name, rank=rank, channel=plan.channels[c],
                                                 priority=p, control=is_control(o, key)))
    return Decision.model_construct(
        key=key,
        segments=dict(zip(plan.segments, segs)),
        classifications={name: (plan.class_values[j][c] if c >= 0 else None)
                         for j, (name, c) in enumerate(zip(plan.classifies, classes))},
        scores={name: (None if math.isnan(v) else v) for name, v in zip(plan.scores, scores)},
        offers=offers,
    )
