"""Experiments (LANGUAGE.md section 13): declarations, the arms offers, params
and tests name, checked.

An experiment is read in expressions as a string, its customer's arm
(compiler/frontend/expressions.py makes it a FieldRef of the experiment's
name, and the batch paths give that field as a column). What the arms
change is desugared here into what every evaluator already knows:

* `arm E.A` in an offer is `E == "A" and ELIGIBLE`: a customer of another
  arm or of the control group is not eligible;
* a param with `{ E.A: V }` reads as `if E == "A" then V else PARAM`;
* `expect arm E.A` is `expect E == "A"`, `expect control E` is
  `expect E == "control"`.

Codes:
  E-EXP-001 shares that do not add up to 100%
  E-EXP-002 a share outside 0%..100%, or finer than 0.01%
  E-EXP-003 an arm named twice or called `control`, a second `control`
  E-EXP-004 an experiment without arms
  E-EXP-005 `E.A` naming no experiment, or no arm of it
  E-EXP-006 a param's value given twice for one arm
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pol.compiler import ir
from pol.compiler.frontend.context import CheckContext
from pol.compiler.frontend.literals import LiteralRules
from pol.compiler.types import Type
from pol.dsl import ast
from pol.dsl.source import Span

S, B = Type.STRING, Type.BOOL
_WHOLE = Decimal(10000)


def check_experiments(ck: CheckContext, items: Sequence[object]) -> list[ir.Experiment]:
    """Every experiment of the namespace, checked; also kept in ck.experiments."""
    out: list[ir.Experiment] = []
    ck.experiments = {}
    for item in items:
        if isinstance(item, ast.Experiment) and ck.space.get(item.name) is item:
            x = _experiment(ck, item)
            if x is not None:
                ck.experiments[x.name] = x
                out.append(x)
    return out


def _experiment(ck: CheckContext, d: ast.Experiment) -> ir.Experiment | None:
    arms: list[tuple[str, int]] = []
    seen: dict[str, Span | None] = {}
    control: ast.Share | None = None
    total = 0
    ok = True
    for share in d.shares:
        bp = _basis_points(ck, share.percent)
        if bp is None:
            ok = False
            continue
        total += bp
        if share.arm is None:
            if control is not None:
                ck.error("E-EXP-003", f"experiment '{d.name}' has a second control share", share.span,
                         "give the control group one share", related=((control.span, "the first is here"),))
                ok = False
            control = share
        elif share.arm == ir.CONTROL:
            ck.error("E-EXP-003", "an arm cannot be called 'control'", share.span,
                     f"the control group is written 'control {share.percent.text}'; name the arm otherwise")
            ok = False
        elif share.arm in seen:
            ck.error("E-EXP-003", f"arm '{share.arm}' is declared twice", share.span,
                     "give each arm one share", related=((seen[share.arm], "the first is here"),))
            ok = False
        else:
            seen[share.arm] = share.span
            arms.append((share.arm, bp))
    if not d.shares or (ok and not arms):
        ck.error("E-EXP-004", f"experiment '{d.name}' has no arms", d.span,
                 "e.g. experiment care_ab salt \"2026-11\" { arm a 45%  arm b 45%  control 10% }")
        return None
    if ok and total != _WHOLE:
        ck.error("E-EXP-001", f"the shares of experiment '{d.name}' add up to {_percent(total)}, not 100%",
                 d.span, f"every customer is in one arm or the control group: "
                 f"{'take' if total > _WHOLE else 'add'} {_percent(abs(total - int(_WHOLE)))} "
                 f"{'from' if total > _WHOLE else 'to'} the shares")
        return None
    if not ok:
        return None
    control_bp = _basis_points(ck, control.percent) if control is not None else 0
    return ir.Experiment(d.name, d.label, d.salt, tuple(arms), control_bp or 0, d.span)


def _basis_points(ck: CheckContext, n: ast.Number) -> int | None:
    percent = Decimal(n.text.replace("_", "")[:-1])
    bp = percent * 100
    if not 0 <= percent <= 100:
        ck.error("E-EXP-002", f"a share is from 0% to 100%, not {n.text}", n.span,
                 "the shares of the arms and the control add up to 100%")
        return None
    if bp != bp.to_integral_value():
        ck.error("E-EXP-002", f"a share is a whole number of hundredths of a percent, not {n.text}", n.span,
                 "customers are drawn by a hash modulo 10,000: write at most two decimals (33.33%)")
        return None
    return int(bp)


def _percent(bp: int) -> str:
    return f"{(Decimal(bp) / 100).normalize():f}%"


def arm_of(ck: CheckContext, experiment: str, arm: str | None, span: Span | None) -> ir.Experiment | None:
    """The experiment `E` of `E.A` (or of `control E`), its arm checked; None reported."""
    x = ck.experiments.get(experiment)
    if x is None:
        if isinstance(ck.space.get(experiment), ast.Experiment):
            return None             # its own error is reported
        guess = ck.suggest(experiment, ck.names_of(ast.Experiment)) if experiment else None
        ck.error("E-EXP-005", f"'{experiment}' is not an experiment" if experiment else
                 f"'{arm}' names no experiment", span,
                 f"did you mean '{guess}'?" if guess else "write EXPERIMENT.ARM, e.g. care_ab.a, "
                 "with the experiment declared: experiment care_ab { ... }")
        return None
    if arm is not None and arm not in dict(x.arms):
        names = [a for a, _ in x.arms]
        guess = ck.suggest(arm, names)
        ck.error("E-EXP-005", f"experiment '{x.name}' has no arm '{arm}'", span,
                 (f"did you mean '{x.name}.{guess}'? " if guess else "") + "its arms are " + ", ".join(names)
                 + ("; the control group gets none of the arms' offers" if arm == ir.CONTROL else ""))
        return None
    return x


def is_arm(x: ir.Experiment, arm: str, span: Span | None) -> ir.Expr:
    """`E == "A"`: the customer is in that arm (or the control, A = control)."""
    return ir.Call(B, "eq", (ir.FieldRef(S, x.name, span), ir.Literal(S, arm, span)), span)


def restrict(ck: CheckContext, offer: ast.Offer,
             eligible: ir.Expr | None) -> tuple[ir.Expr | None, tuple[str, str] | None]:
    """An offer's eligible condition with its `arm E.A` (if it has one) in front."""
    prop = next((p for p in offer.props if isinstance(p, ast.ArmOf)), None)
    if prop is None:
        return eligible, None
    x = arm_of(ck, prop.experiment, prop.arm, prop.name_span)
    if x is None or eligible is None:
        return None, None
    return ir.Call(B, "and", (is_arm(x, prop.arm, prop.span), eligible), eligible.span), (x.name, prop.arm)


def param_arms(ck: LiteralRules, item: ast.Param, t: Type) -> tuple[tuple[str, str, object], ...] | None:
    """A param's values per arm, checked against its type; None when one is wrong."""
    out: list[tuple[str, str, object]] = []
    seen: dict[tuple[str, str], Span | None] = {}
    ok = True
    for a in item.arms:
        x = arm_of(ck, a.experiment, a.arm, a.span)
        if x is None:
            ok = False
            continue
        if (a.experiment, a.arm) in seen:
            ck.error("E-EXP-006", f"param '{item.name}' is given twice for arm {a.experiment}.{a.arm}", a.span,
                     "keep one value per arm", related=((seen[(a.experiment, a.arm)], "the first is here"),))
            ok = False
            continue
        seen[(a.experiment, a.arm)] = a.span
        value, good = ck.value(a.value, t, f"param '{item.name}' for arm {a.experiment}.{a.arm}")
        if not good:
            ok = False
            continue
        out.append((a.experiment, a.arm, value))
    return tuple(out) if ok else None


def param_read(p: ir.Param, experiments: dict[str, ir.Experiment], span: Span | None) -> ir.Expr:
    """A param read where it is named: its value per arm, then the param itself."""
    e: ir.Expr = ir.ParamRef(p.type, p.name, span)
    for experiment, arm, value in reversed(p.arms):
        x = experiments[experiment]
        e = ir.If(p.type, is_arm(x, arm, span), ir.Literal(p.type, value, span), e, span)
    return e


def expect_arm(ck: CheckContext, item: ast.ExpectArm) -> ir.ExpectExpr | None:
    """`expect arm E.A` / `expect control E` as the expectation `E == "A"`."""
    x = arm_of(ck, item.experiment, item.arm, item.name_span)
    if x is None:
        return None
    arm = item.arm if item.arm is not None else ir.CONTROL
    text = f"arm {x.name}.{arm}" if item.arm is not None else f"control {x.name}"
    return ir.ExpectExpr(is_arm(x, arm, item.span), text, item.span)
