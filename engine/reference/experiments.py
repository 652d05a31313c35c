"""The oracle of experiments (LANGUAGE.md section 13): a customer's arm from
their key, in plain Python, with the holdout hash's oracle
(engine/reference/matching.py `fnv1a64`, `mix64`)."""
from __future__ import annotations

from pol.compiler import ir
from pol.reference.matching import fnv1a64, key_text, mix64


def bucket(x: ir.Experiment, key) -> int:
    """mix64(fnv1a64(UTF-8 of "NAME:[SALT:]KEY")) mod 10000."""
    return mix64(fnv1a64(f"{x.prefix}{key_text(key)}".encode())) % 10000


def arm_of(x: ir.Experiment, key) -> str:
    """The arm the customer with this key is in, or "control" (also for a
    customer without a key: there is nothing stable to draw from)."""
    if key is None:
        return ir.CONTROL
    h = bucket(x, key)
    total = 0
    for arm, bp in x.arms:
        total += bp
        if h < total:
            return arm
    return ir.CONTROL


def arms(program: ir.Program, key) -> dict[str, str]:
    """Every experiment's arm for this key, in declaration order."""
    return {x.name: arm_of(x, key) for x in program.experiments}
