"""The per-row code of a kernel: ir.Program + KernelPlan -> statements that
read one row's fields, compute every declaration and write each offer's
candidate state (compiler/backend/codegen.py assembles them into kernels).

Every value is a pair of locals: the value and its validity (`None` when the
checker can prove it is never null). Invalid values still hold a harmless
default, so no operation can trap; errors are nulls, never exceptions.

Operators: compiler/backend/kernel_ops.py `RULES` maps every operator of
signatures.OPS to the function that emits it; an operator without a rule fails at
import, not in a kernel.
"""
from __future__ import annotations

import ast
import datetime as dt

from pol.compiler import ir
from pol.compiler.backend import layout as names
from pol.compiler.backend.astgen import (
    C,
    N,
    Value,
    all_,
    and_,
    any_,
    assign,
    assign2,
    attr_call,
    binop,
    call,
    cmp,
    const_flag,
    ifexp,
    item,
    not_,
    or_,
    pick,
    store_item,
    template,
    truth,
)
from pol.compiler.backend.kernel_ops import ARITH, rule
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type, micros

DEFAULTS = {Type.INT: 0, Type.FLOAT: 0.0, Type.BOOL: False, Type.STRING: 0, Type.DATE: 0, Type.TIMESTAMP: 0}



# Per offer, in kernels that match: count it in the funnel's packed counter
# (codegen.FUSED_MAX_ROWS says why packed) and append it to the row's
# candidates, which compiler/backend/walk.py ranks and walks.
CANDIDATE = """
F += fw[min(S, 0) + 3]
if S >= 0:
    co[nc] = K
    cp[nc] = P
    cs[nc] = S
    nc += 1
"""


def local(x: ast.expr) -> str:
    """The name of a local the emitter made (Emitter.bind)."""
    assert isinstance(x, ast.Name)
    return x.id


def _days(d: dt.date) -> int:
    return (d - dt.date(1970, 1, 1)).days


class Emitter:
    def __init__(self, program: ir.Program, plan: KernelPlan, fused: bool = False):
        self.program = program
        self.plan = plan
        self.fused = fused
        self.body: list[ast.stmt] = []
        self.n = 0
        self.decls: dict[str, Value] = {}
        self.fields: dict[str, Value] = {}
        # a list field's elements and this row's run of them: (values, start, stop)
        self.lists: dict[str, tuple[ast.expr, ast.expr, ast.expr]] = {}
        # expressions already in a local (see _local), once the fields are read
        self.shared: dict[str, str] = {}
        self.sharing = True

    def tmp(self) -> tuple[str, str]:
        self.n += 1
        return f"v{self.n}", f"m{self.n}"

    def emit(self, stmt: ast.stmt) -> None:
        self.body.append(stmt)

    def bind(self, v: ast.expr, m: ast.expr | None) -> Value:
        """Store a value (and its validity) in fresh locals. A local or a
        constant is not copied into another (a `let` of a field, a validity
        passed on unchanged), and a validity that is the constant True is
        none: each statement costs Numba's typing time (see astgen.const_flag)."""
        vn, mn = self.tmp()
        if not isinstance(v, ast.Name):
            v = self._local(vn, v)
        if m is None or const_flag(m) is True:
            return Value(v, None)
        if not isinstance(m, (ast.Name, ast.Constant)):
            m = self._local(mn, m)
        return Value(v, m)

    def _local(self, name: str, x: ast.expr) -> ast.Name:
        """`x` in a new local, or the local an equal expression was given
        before: the body is straight-line and its locals are assigned once,
        so an expression that reads no array has one value per row (the same
        `days_until(contract_end)` in twenty segments is computed once). The
        fields' own locals are reassigned as they are read: not shared."""
        key = ast.dump(x) if self.sharing and not any(isinstance(n, ast.Subscript) for n in ast.walk(x)) else None
        if key is not None and key in self.shared:
            return N(self.shared[key])
        self.emit(assign(name, x))
        if key is not None:
            self.shared[key] = name
        return N(name)

    def checked(self, pair: ast.expr, *valid: ast.expr | None) -> Value:
        """A runtime helper returning (value, ok), anded with operand validity."""
        vn, mn = self.tmp()
        self.emit(assign2(vn, mn, pair))
        if any(x is not None for x in valid):
            return Value(N(vn), self.bind(all_(N(mn), *valid), None).v)
        return Value(N(vn), N(mn))

    # -- leaves

    def load_record(self) -> None:
        """Fields of one record packed by the host (layout.record_slots): ints,
        dates, bools and string codes in `iv`, floats in `fv`, validity in `ok` (any field of
        a hand-made record may be missing, so all may be null)."""
        ok = names.RECORD[2]
        slots = names.record_slots(tuple(f.type for f in self.plan.fields))
        self.sharing = False
        for j, f in enumerate(self.plan.fields):
            if f.type.element is not None:      # its one row's elements: arguments of their own
                self.fields[f.name] = self.list_field(f.name, self.plan.layout.fields[j], C(0),
                                                      item(ok, C(j)))
                continue
            array, k = slots[j]
            v: ast.expr = item(array, C(k))
            if f.type == Type.BOOL:
                v = cmp(ast.NotEq(), v, C(0))
            self.fields[f.name] = self.bind(v, item(ok, C(j)))
        self.sharing = True

    def load_fields(self) -> None:
        i = N("i")
        self.sharing = False
        for f, a in zip(self.plan.fields, self.plan.layout.fields):
            x = a.values
            m: ast.expr | None = None
            v: ast.expr
            if a.validity is not None:
                assert a.has_nulls is not None and a.validity_offset is not None
                m = or_(not_(N(a.has_nulls)), call("bit", N(a.validity), binop(ast.Add(), N(a.validity_offset), i)))
                m = self.bind(m, None).v
            if a.offsets is not None:
                self.fields[f.name] = self.list_field(f.name, a, i, m)
                continue
            if a.bit_offset is not None:
                v = call("bit", N(x), binop(ast.Add(), N(a.bit_offset), i))
            elif a.remap is not None:
                # A null slot's dictionary index is undefined: never follow it.
                v = item(a.remap, item(x, i))
                if m is not None:
                    v = ifexp(m, v, C(0))
            elif f.type == Type.FLOAT:
                v = attr_call("np", "float64", item(x, i))
            else:
                v = attr_call("np", "int64", item(x, i))
            val = self.bind(v, m)
            if self.fused and f.type == Type.FLOAT and not f.nullable:
                # The host refuses non-finite values here; a fused kernel
                # counts them as it reads, saving the host a pass.
                self.body.extend(template("nf += not float_ok(V)", V=local(val.v)))
            if f.type == Type.FLOAT and val.m is not None:
                # NaN and infinities read as null; the host has already refused
                # them in non-nullable float fields.
                self.emit(assign(local(val.m), and_(val.m, call("float_ok", val.v))))
            if val.m is not None:
                # Keep invalid slots at a fixed default so they cannot trap later.
                self.emit(assign(local(val.v), ifexp(val.m, val.v, C(DEFAULTS[f.type]))))
            self.fields[f.name] = val
        self.sharing = True

    def list_field(self, name: str, a: names.FieldArgs, row: ast.expr, m: ast.expr | None) -> Value:
        """A list field of row `row`: its run of elements in self.lists; its
        Value is the run's start (read by nothing but the list rules) and validity."""
        assert a.offsets is not None
        start = self.bind(item(a.offsets, row), None).v
        stop = self.bind(item(a.offsets, binop(ast.Add(), row, C(1))), None).v
        self.lists[name] = (N(a.values), start, stop)
        return Value(start, m)

    def expr(self, e: ir.Expr) -> Value:
        return self.check_finite(self.lazy(e))

    def lazy(self, e: ir.Expr) -> Value:
        """The code of an expression, its operands' first (ir.bottom_up). Each
        rule gets its operands' Values unchecked (see check_finite)."""
        return ir.bottom_up(e, self._rule)

    def _rule(self, node: ir.Expr, args: list[Value]) -> Value:
        rule = getattr(self, "x_" + type(node).__name__)
        value: Value = rule(node, args) if ir.children(node) else rule(node)
        return value

    def check_finite(self, x: Value) -> Value:
        """Apply a pending finiteness check (LANGUAGE.md section 5).

        A non-finite float stays non-finite through +, -, *, unary minus,
        abs and as a dividend (inf - inf and inf * 0 are NaN), so a tree of
        those is checked once, where its value is used otherwise. In the
        bench kernel 32 checks become 14; they had taken a sixth of its time."""
        if not x.pending:
            return x
        _, mn = self.tmp()
        valid = all_(x.m, call("float_ok", x.v))
        assert valid is not None
        self.emit(assign(mn, valid))
        return Value(x.v, N(mn))

    def x_Literal(self, e: ir.Literal) -> Value:
        if e.value is None:
            return Value(C(DEFAULTS[e.type]), C(False))
        if isinstance(e.value, str):
            return Value(C(self.plan.literal_code(e.value)), None)
        if isinstance(e.value, dt.datetime):          # a timestamp (before dt.date: a datetime is one)
            return Value(C(micros(e.value)), None)
        if isinstance(e.value, dt.date):
            return Value(C(_days(e.value)), None)
        if e.type == Type.FLOAT:
            return Value(C(float(e.value)), None)
        return Value(C(e.value), None)

    def x_FieldRef(self, e: ir.FieldRef) -> Value:
        return self.fields[e.name]

    def x_ParamRef(self, e: ir.ParamRef) -> Value:
        k = [p.name for p in self.plan.params].index(e.name)
        a = self.plan.layout.params[k]
        if e.type.element is not None:      # a list: its array, read by `member` alone, never null
            return Value(N(a.value), None)
        return Value(N(a.value), N(a.valid))

    def x_Quantifier(self, e: ir.Quantifier, args: list[Value]) -> Value:
        # the host computed the condition per element (engine/evaluation/lists.py): fold this row's
        _, start, stop = self.lists[e.source.name]
        truth = N(self.plan.layout.quants[self.plan.quants.index(e)])
        return self.checked(call("quantify", truth, start, stop, C(e.every)), args[0].m)

    def x_Element(self, e: ir.Element) -> Value:
        raise AssertionError("`it` is read by the host (engine/evaluation/lists.py), never by a kernel")

    def x_DeclRef(self, e: ir.DeclRef) -> Value:
        return self.decls[e.name]

    def x_Today(self, e: ir.Today) -> Value:
        return Value(N(names.TODAY), None)

    def x_If(self, e: ir.If, args: list[Value]) -> Value:
        c, t, f = (self.check_finite(a) for a in args)
        cond = self.bind(truth(c.v, c.m), None).v
        m = None
        if t.m is not None or f.m is not None:
            m = pick(cond, t.m or C(True), f.m or C(True))
        return self.bind(pick(cond, t.v, f.v), m)

    def x_InSet(self, e: ir.InSet, args: list[Value]) -> Value:
        x = self.check_finite(args[0])
        if e.operand.type == Type.STRING:
            consts = [C(self.plan.literal_code(s)) for s in e.values]
        elif e.operand.type == Type.DATE:
            consts = [C(_days(d)) for d in e.values]
        elif e.operand.type == Type.TIMESTAMP:
            consts = [C(micros(t)) for t in e.values]
        elif e.operand.type == Type.FLOAT:
            consts = [C(float(v)) for v in e.values]
        else:
            consts = [C(v) for v in e.values]
        test = self.any_of([cmp(ast.Eq(), x.v, c) for c in consts]) if consts else C(False)
        return self.bind(not_(test) if e.negated else test, x.m)

    def x_IsNull(self, e: ir.IsNull, args: list[Value]) -> Value:
        x = self.check_finite(args[0])
        if x.m is None:
            return Value(C(e.negated), None)
        return self.bind(x.m if e.negated else not_(x.m), None)

    def x_Call(self, e: ir.Call, args: list[Value]) -> Value:
        op = e.op
        if op in ("and", "or"):
            return self._logic(op, [self.check_finite(a) for a in args])
        if op == "coalesce":
            return self._coalesce([self.check_finite(a) for a in args])
        if e.type == Type.FLOAT and op in ("add", "sub", "mul", "div", "neg", "abs"):
            args = list(args)
            if op == "div":               # x / inf is 0: a divisor is checked first
                args[1] = self.check_finite(args[1])
            pending = True if op in ARITH else args[0].pending
        else:
            args = [self.check_finite(a) for a in args]
            pending = False
        return rule(op)(self, e, [a.v for a in args], [a.m for a in args], pending)

    # Flags of many operands (validity of a 1,000-argument min, an `in`
    # list of 1,000 values) are combined a few at a time, one statement per
    # few: a single `a & b & ...` nests one level per operand.
    _FEW = 8

    def all_of(self, flags: list[ast.expr | None]) -> ast.expr | None:
        """The conjunction of flags (None: always true), as a local when long."""
        given = [x for x in flags if x is not None]
        if not given:
            return None
        acc: ast.expr | None = None
        for k in range(0, len(given), self._FEW):
            conj = all_(acc, *given[k:k + self._FEW])
            assert conj is not None
            acc = self.bind(conj, None).v
        return acc

    def any_of(self, flags: list[ast.expr]) -> ast.expr:
        if len(flags) <= self._FEW:
            return any_(*flags)
        acc = self.bind(any_(*flags[:self._FEW]), None).v
        for k in range(self._FEW, len(flags), self._FEW):
            acc = self.bind(any_(acc, *flags[k:k + self._FEW]), None).v
        return acc

    def _logic(self, op: str, vals: list[Value]) -> Value:
        """A chain of and (or): one pair at a time, each step its own
        statements, so the code stays flat however long the chain."""
        acc = vals[0]
        for b in vals[1:]:
            acc = self._logic2(op, acc, b)
        return acc

    def _logic2(self, op: str, a: Value, b: Value) -> Value:
        if a.m is None and b.m is None:
            node = ast.BitAnd() if op == "and" else ast.BitOr()
            return self.bind(binop(node, a.v, b.v), None)
        am, bm = a.m or C(True), b.m or C(True)
        if op == "and":
            # false wins over null; both true is true; otherwise null
            known = any_(all_(am, bm), all_(am, not_(a.v)), all_(bm, not_(b.v)))
            value = all_(truth(a.v, a.m), truth(b.v, b.m))
        else:
            known = any_(all_(am, bm), all_(am, a.v), all_(bm, b.v))
            value = any_(truth(a.v, a.m), truth(b.v, b.m))
        return self.bind(value, known)

    def _coalesce(self, vals: list[Value]) -> Value:
        """The first valid argument: from the last to the first, each a
        statement of its own (not one nested conditional, which Python
        cannot compile past a few hundred arguments). Arguments after one
        that is never null cannot matter."""
        first_sure = next((k for k, x in enumerate(vals) if x.m is None), len(vals) - 1)
        vals = vals[:first_sure + 1]
        out = vals[-1]
        for x in reversed(vals[:-1]):
            assert x.m is not None         # arguments before the first never-null one
            out = self.bind(pick(x.m, x.v, out.v), None if out.m is None else any_(x.m, out.m))
        return out

    # -- declarations

    def declarations(self, only: list[str] | None = None) -> None:
        """Every declaration in dependency order, or those named in `only`
        (compiler/backend/split.py: one stage's share, in that order)."""
        p = self.program
        decls: list[ir.Let | ir.Segment | ir.Classify | ir.Score] = [*p.lets, *p.segments, *p.classifies, *p.scores]
        index = {d.name: d for d in decls}
        seg_pos = {s: k for k, s in enumerate(self.plan.segments)}
        cls_pos = {c: k for k, c in enumerate(self.plan.classifies)}
        score_pos = {s: k for k, s in enumerate(self.plan.scores)}
        i = N("i")
        for name in p.order if only is None else only:
            d = index[name]
            if isinstance(d, ir.Let):
                self.decls[name] = self.expr(d.expr)
            elif isinstance(d, ir.Segment):
                x = self.expr(d.expr)
                val = self.bind(truth(x.v, x.m), None)
                self.decls[name] = val
                self.emit(store_item(names.SEGS, (C(seg_pos[name]), i), val.v))
            elif isinstance(d, ir.Score):
                x = self.expr(d.expr)
                self.decls[name] = x
                out = x.v if x.m is None else pick(x.m, x.v, N("NAN"))
                self.emit(store_item(names.SCORES, (C(score_pos[name]), i), out))
            elif isinstance(d, ir.Classify):
                self.decls[name] = self._classify(d, cls_pos[name])

    def _classify(self, d: ir.Classify, pos: int) -> Value:
        conds = []
        for w in d.whens:
            x = self.expr(w.cond)
            conds.append(truth(x.v, x.m))
        values = d.values
        v: ast.expr = C(self.plan.literal_code(d.default) if d.default is not None else 0)
        m: ast.expr = C(d.default is not None)
        local: ast.expr = C(values.index(d.default) if d.default is not None else -1)
        # From the last rule to the first, so that the first rule that holds
        # is taken last; statements in a row, each to new locals, not a chain
        # of elifs, which would nest as deep as the rules are many.
        for w, c in reversed(list(zip(d.whens, conds))):
            hit = self.bind(c, None).v
            v = self.bind(pick(hit, C(self.plan.literal_code(w.value)), v), None).v
            if d.default is None:
                m = self.bind(any_(hit, m), None).v
            local = self.bind(pick(hit, C(values.index(w.value)), local), None).v
        self.emit(store_item(names.CLASSES, (C(pos), N("i")), local))
        return self.bind(v, m)

    def offers(self, only: range | None = None) -> None:
        """Every offer's candidate state, or those of the offers in `only`."""
        p = self.program
        open_: dict[str, ast.expr] = {}
        for ch in p.channels:
            if ch.cond is None:
                open_[ch.name] = C(True)
            else:
                x = self.expr(ch.cond)
                open_[ch.name] = self.bind(truth(x.v, x.m), None).v
        for k in range(len(p.offers)) if only is None else only:
            o = p.offers[k]
            el = self.expr(o.eligible)
            pr = self.expr(o.priority)
            eligible = self.bind(all_(item(names.ACTIVE, C(k)), truth(el.v, el.m)), None)
            # the first open channel: from the last to the first, one statement each
            cv = Value(C(names.NO_CHANNEL), None)
            for c in reversed(o.channels):
                cv = self.bind(pick(open_[c], C(self.plan.channels.index(c)), cv.v), None)
            if o.prefer is not None:
                # the customer's own channel first, when listed and open (LANGUAGE.md 6.1)
                rank = self.expr(o.prefer)
                for j, c in enumerate(o.channels):
                    hit = all_(cmp(ast.Eq(), rank.v, C(j)), rank.m, open_[c])
                    cv = self.bind(pick(hit, C(self.plan.channels.index(c)), cv.v), None)
            # the candidate state (compiler/backend/layout.py)
            state = pick(not_(eligible.v), C(names.NOT_ELIGIBLE),
                         pick(cmp(ast.Lt(), cv.v, C(0)), C(names.NO_CHANNEL),
                              pick(pr.m, cv.v, C(names.NO_PRIORITY)) if pr.m is not None else cv.v))
            self.candidate(k, self.bind(state, None).v, pr.v)

    def candidate(self, k: int, state: ast.expr, prio: ast.expr) -> None:
        """Offer k's candidate state and priority, to the walk or written out."""
        if self.fused:
            self.body.extend(template(CANDIDATE, S=local(state), P=prio, K=k, F=f"f{k}"))
            return
        i = N("i")
        self.emit(store_item(names.CCHAN, (i, C(k)), state))
        self.emit(store_item(names.CPRIO, (i, C(k)), ifexp(cmp(ast.GtE(), state, C(0)), prio, N("NAN"))))
