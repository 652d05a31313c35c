"""A budget's costs in whole units (LANGUAGE.md 3.11): ir.Arbitrate -> the
budget and the constant costs as integers, and a computed cost (one
customer's value of `budget B cost EXPR`, a float) -> the same units.

Every walk adds and compares integers, so a budget is reached exactly,
whatever the evaluator. A computed cost counts in ten-thousandths: its
float times 10,000, rounded half to even (`cost_units` for one value,
`cost_units_array` for a batch's: the same IEEE product and the same
rounding, pinned to each other by tests/test_costexpr.py). A null,
not-a-number or negative cost is refused: it counts as the budget plus one,
which no budget left can hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

from pol.compiler import ir

if TYPE_CHECKING:
    import numpy as np

# A computed cost's smallest step, in money.
STEP = Fraction(1, 10_000)
_PER_MONEY = 10_000.0
_CAP = 2.0 ** 62            # rounded values above this are above any budget (constraints._MOST)


def scaled(budget: Fraction, costs: list[Fraction]) -> tuple[int, list[int]]:
    """The budget and costs as whole multiples of the smallest unit they
    need (a cost above the budget as budget + 1: it never fits)."""
    unit = math.lcm(budget.denominator, *(c.denominator for c in costs))
    b = int(budget * unit)
    return b, [min(int(c * unit), b + 1) for c in costs]


def unit_costs(a: ir.Arbitrate) -> list[Fraction]:
    """The costs whose decimals the budget's unit must count: the constant
    ones, and a ten-thousandth when costs are computed."""
    return [c for _, c in a.cost] + ([STEP] if a.cost_scores else [])


@dataclass(frozen=True)
class Units:
    """The budget in whole units of the smallest decimal its costs need."""
    unit: int                   # units in one unit of money
    budget: int                 # the budget, in units
    fixed: dict[str, int]       # each constant cost (budget + 1 when above it)
    step: int                   # units in a ten-thousandth (a computed cost's step)

    @property
    def refused(self) -> int:
        """The cost of a pair the budget always refuses."""
        return self.budget + 1


def units_of(a: ir.Arbitrate) -> Units | None:
    """The block's budget in whole units; None without a budget."""
    if a.budget is None:
        return None
    costs = unit_costs(a)
    unit = math.lcm(a.budget.denominator, *(c.denominator for c in costs))
    budget, amounts = scaled(a.budget, costs)
    fixed = dict(zip((o for o, _ in a.cost), amounts))      # the constant costs come first
    return Units(unit, budget, fixed, unit // STEP.denominator if a.cost_scores else 0)


def cost_units(value: float | None, u: Units) -> int:
    """One computed cost in units: refused when null, not a number or below 0."""
    if value is None or math.isnan(value) or value < 0:
        return u.refused
    f = value * _PER_MONEY
    if math.isinf(f):
        return u.refused
    r = min(round(f), int(_CAP))        # round(): half to even, exactly on the float
    return u.refused if r > u.budget // u.step else r * u.step


def cost_units_array(values: np.ndarray, u: Units) -> np.ndarray:
    """`cost_units` of every value (float64, NaN for null) at once."""
    # imported here: the checker imports this module, and a warm start no NumPy
    import numpy as np
    values = np.asarray(values, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.minimum(np.rint(values * _PER_MONEY), _CAP)      # rint: half to even; NaN stays NaN
        ok = values >= 0                                        # False for NaN
    whole = np.where(ok, r, 0.0).astype(np.int64)
    ok &= whole <= u.budget // u.step
    return np.where(ok, np.where(ok, whole, 0) * u.step, np.int64(u.refused)).astype(np.int64)


def money(units: int, u: Units) -> Fraction:
    """Units back as the exact amount of money."""
    return Fraction(units, u.unit)
