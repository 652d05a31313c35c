"""The global walk on the driver, for policies with capacities.

Only customers with a candidate for an offer with a capacity travel: for
each, every candidate pair (position, offer, channel, priority, holdout
mark, room under the in-run contact caps, cost under a budget, read on the
executor from the customer's hidden scores when computed per customer:
36 bytes), collected from the
executors as Arrow. The driver sorts
them by position and runs the engine's walk (adapter.walk, LANGUAGE.md
section 6: priority, then offer order, then input position). Out: the walked
customers' positions, the pairs accepted, the walk's funnel counts and,
under `maximize priority`, the allocation's report (LANGUAGE.md 6.7).
Every other customer's offers depend on that customer alone and are matched
in its partition.

Cost: the walk is a sort of the pairs (O(p log p)) and one pass; memory on
the driver about 40 bytes a pair during the walk (benchmarks/README.md has
the figures at 1M and 10M pairs).
"""
from __future__ import annotations

import numpy as np

from pol.spark.adapter import Candidates, Counts, walk
from pol.spark.worker import CANDIDATE_SCHEMA, candidates_fn


def global_walk(run) -> tuple[np.ndarray, Candidates, np.ndarray, dict | None]:
    from pyspark.sql.pandas.types import from_arrow_schema
    table = run.input.data.mapInArrow(candidates_fn(run.job), from_arrow_schema(CANDIDATE_SCHEMA)).toArrow()
    pairs = Candidates.of_table(table)
    # Stable: a customer's pairs stay in offer order, as collect_candidates wrote them.
    order = np.argsort(pairs.pos, kind="stable")
    pairs = Candidates(*(getattr(pairs, f)[order] for f in Candidates.FIELDS))
    funnel = np.zeros_like(Counts.empty(run.policy.plan).funnel)
    accepted, allocation = walk(pairs, run.rules, funnel, run.program, list(run.policy.plan.offers))
    walked = np.unique(pairs.pos)
    return walked, Candidates(*(getattr(pairs, f)[accepted] for f in Candidates.FIELDS)), funnel, allocation
