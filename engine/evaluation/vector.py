"""The vectorized evaluator: the typed IR run node by node with numpy over a
batch, for a policy whose fused kernel is not compiled yet.

It needs no compilation at all, so a policy never seen before gives its
first result at once; the fused kernel (compiler/backend/codegen.py) is the faster
tier once built and cached. Both fill the same `BatchOut` from the same
`Bound` batch, follow the same rules as compiler/backend/runtime.py, and are checked
against the reference evaluator by the same tests.

A value is a pair (values, valid): `valid` is a bool array, or None when the
value is never null. Invalid slots hold a harmless default. The operator
rules are in engine/evaluation/vector_ops.py (`RULES`, one per operator).
"""
from __future__ import annotations

import numpy as np

from pol.compiler import ir
from pol.compiler.backend.layout import NO_CHANNEL, NO_PRIORITY, NOT_ELIGIBLE
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type, micros
from pol.evaluation.bind import EPOCH as _EPOCH
from pol.evaluation.bind import Bound
from pol.evaluation.lists import ListColumn
from pol.evaluation.lists import fold as fold_list
from pol.evaluation.vector_ops import RULES, all_valid, clean, rule, truth

__all__ = ["RULES", "VectorExecutor", "evaluate_batch"]

_DTYPE = {Type.INT: np.int64, Type.FLOAT: np.float64, Type.BOOL: np.bool_,
          Type.STRING: np.int64, Type.DATE: np.int64, Type.TIMESTAMP: np.int64}


def _bits(buf: np.ndarray, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(buf, bitorder="little", count=offset + n)[offset:].astype(np.bool_)


class _Eval:
    def __init__(self, program: ir.Program | None, plan: KernelPlan, bound: Bound, today: int):
        self.program = program
        self.plan = plan
        self.n = bound.n
        self.today = today
        self.decls: dict[str, tuple] = {}
        self.fields = self._fields(bound) if program is not None else {}
        self.params = {p.name: (bound.args[a.value], bound.args[a.valid])
                       for p, a in zip(plan.params, plan.layout.params)}
        self.luts = [bound.args[name] for name in plan.layout.luts]
        self.quants = [bound.args[name] for name in plan.layout.quants] if program is not None else []
        self.element: tuple | None = None       # `it`, over the elements of a list (element_values)

    def _fields(self, bound: Bound) -> dict:
        out = {}
        args = bound.args
        n = self.n
        for f, names in zip(self.plan.fields, self.plan.layout.fields):
            x = args[names.values]
            if f.type.element is not None:
                m = None
                if f.nullable and args[names.has_nulls]:
                    m = _bits(args[names.validity], args[names.validity_offset], n)
                out[f.name] = (ListColumn(x, args[names.offsets]), m)
                continue
            if f.type == Type.BOOL:
                v = _bits(x, args[names.bit_offset], n)
            elif f.type == Type.STRING:
                v = None
            else:
                v = x.astype(_DTYPE[f.type], copy=False)
            m = None
            if f.nullable and args[names.has_nulls]:
                m = _bits(args[names.validity], args[names.validity_offset], n)
            if f.type == Type.STRING:
                v = args[names.remap][np.where(m, x, 0) if m is not None else x]
            if f.type == Type.FLOAT and f.nullable:
                m = all_valid(m, np.isfinite(v))
            out[f.name] = clean(v, m)
        return out

    def full(self, value, t: Type):
        return np.full(self.n, value, _DTYPE[t])

    def expr(self, e: ir.Expr):
        """(values, valid) of an expression over the batch."""
        return ir.bottom_up(e, self._rule)

    def _rule(self, node: ir.Expr, args: list):
        rule = getattr(self, "x_" + type(node).__name__)
        return rule(node, args) if ir.children(node) else rule(node)

    def x_Literal(self, e: ir.Literal):
        if e.value is None:
            return self.full(0, e.type), np.zeros(self.n, np.bool_)
        if e.type == Type.STRING:
            return self.full(self.plan.literal_code(e.value), e.type), None
        if e.type == Type.DATE:
            return self.full((e.value - _EPOCH).days, e.type), None
        if e.type == Type.TIMESTAMP:
            return self.full(micros(e.value), e.type), None
        return self.full(e.value, e.type), None

    def x_FieldRef(self, e):
        return self.fields[e.name]

    def x_Element(self, e):
        return self.element

    def x_Quantifier(self, e: ir.Quantifier, args):
        (col, m), = args
        value, known = fold_list(self.quants[self.plan.quants.index(e)], col.offsets, e.every)
        return value, (known if m is None else known & m)

    def x_ParamRef(self, e):
        v, ok = self.params[e.name]
        if e.type.element is not None:      # a list, read by `member` alone: its values as bound
            return v, None
        return self.full(v, e.type), (None if ok else np.zeros(self.n, np.bool_))

    def x_DeclRef(self, e):
        return self.decls[e.name]

    def x_Today(self, e):
        return self.full(self.today, Type.DATE), None

    def x_If(self, e: ir.If, args):
        (cv, cm), (tv, tm), (fv, fm) = args
        c = truth(cv, cm)
        m = None
        if tm is not None or fm is not None:
            m = np.where(c, tm if tm is not None else True, fm if fm is not None else True)
        return np.where(c, tv, fv), m

    def x_InSet(self, e: ir.InSet, args):
        (v, m), = args
        t = e.operand.type
        if t == Type.STRING:
            vals = [self.plan.literal_code(s) for s in e.values]
        elif t == Type.DATE:
            vals = [(d - _EPOCH).days for d in e.values]
        elif t == Type.TIMESTAMP:
            vals = [micros(d) for d in e.values]
        else:
            vals = list(e.values)
        hit = np.isin(v, np.array(vals, _DTYPE[t])) if vals else np.zeros(self.n, np.bool_)
        return (~hit if e.negated else hit), m

    def x_IsNull(self, e: ir.IsNull, args):
        (_, m), = args
        valid = np.ones(self.n, np.bool_) if m is None else m
        return (valid if e.negated else ~valid), None

    def x_Call(self, e: ir.Call, args):
        with np.errstate(all="ignore"):
            return rule(e.op)(self, e, args)


def element_values(plan: KernelPlan, args: dict, cond: ir.Expr, values: np.ndarray) -> tuple:
    """(values, valid) of an any/all condition over a list's elements, `it`
    being each element (engine/evaluation/lists.truths): it reads only the
    element, literals, params and lookups, from the bound arguments `args`."""
    ev = _Eval(None, plan, Bound(len(values), args, None), 0)
    ev.element = (values, None)
    return ev.expr(cond)


def evaluate_batch(program: ir.Program, plan: KernelPlan, bound: Bound, active: np.ndarray, today: int,
                   out) -> None:
    """Fill `out` (engine/evaluation/stream.BatchOut) for one bound batch."""
    ev = _Eval(program, plan, bound, today)
    index = {d.name: d for d in (*program.lets, *program.segments, *program.classifies, *program.scores)}
    seg_pos = {s: k for k, s in enumerate(plan.segments)}
    cls_pos = {c: k for k, c in enumerate(plan.classifies)}
    score_pos = {s: k for k, s in enumerate(plan.scores)}
    n = bound.n
    for name in program.order:
        d = index[name]
        if isinstance(d, ir.Let):
            ev.decls[name] = ev.expr(d.expr)
        elif isinstance(d, ir.Segment):
            v = truth(*ev.expr(d.expr))
            ev.decls[name] = (v, None)
            out.segs[seg_pos[name]] = v
        elif isinstance(d, ir.Score):
            v, m = ev.expr(d.expr)
            ev.decls[name] = (v, m)
            out.scores[score_pos[name]] = v if m is None else np.where(m, v, np.nan)
        else:
            values = d.values
            code = np.full(n, plan.literal_code(d.default) if d.default is not None else 0, np.int64)
            local = np.full(n, values.index(d.default) if d.default is not None else -1, np.int16)
            valid = np.full(n, d.default is not None)
            undecided = np.ones(n, np.bool_)
            for w in d.whens:
                hit = truth(*ev.expr(w.cond)) & undecided
                code[hit] = plan.literal_code(w.value)
                local[hit] = values.index(w.value)
                valid |= hit
                undecided &= ~hit
            ev.decls[name] = (code, None if valid.all() else valid)
            out.classes[cls_pos[name]] = local
    open_ = {}
    for ch in program.channels:
        open_[ch.name] = np.ones(n, np.bool_) if ch.cond is None else truth(*ev.expr(ch.cond))
    for k, o in enumerate(program.offers):
        eligible = truth(*ev.expr(o.eligible)) & bool(active[k])
        pv, pm = ev.expr(o.priority)
        chan = np.full(n, NO_CHANNEL, np.int8)
        for c in reversed(o.channels):
            chan = np.where(open_[c], np.int8(plan.channels.index(c)), chan)
        if o.prefer is not None:
            # the customer's own channel first, when listed and open (LANGUAGE.md 6.1)
            rv, rm = ev.expr(o.prefer)
            for j, c in enumerate(o.channels):
                hit = (rv == j) & open_[c] if rm is None else (rv == j) & open_[c] & rm
                chan = np.where(hit, np.int8(plan.channels.index(c)), chan)
        state = np.where(eligible, chan, np.int8(NOT_ELIGIBLE))
        if pm is not None:
            state = np.where((state >= 0) & ~pm, np.int8(NO_PRIORITY), state)
        out.cchan[:, k] = state
        out.cprio[:, k] = np.where(state >= 0, pv, np.nan)


class VectorExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan):
        self.program = program
        self.plan = plan

    def __call__(self, bound: Bound, active, today: int, out, job=None) -> None:
        # Matching runs after, on the candidates (engine/arbitration/arbitrate.py).
        evaluate_batch(self.program, self.plan, bound, active, today, out)
