"""Kernel generation: ir.Program + KernelPlan -> a Python module (as `ast`)
defining one fused, row-parallel Numba kernel.

The kernel evaluates, for each row, every let, segment, classification,
score, channel condition, and each offer's eligibility, priority and channel,
in one pass over the input columns. A policy without capacities is matched
in the same pass (`fused`): each row's candidates are ranked and walked as
LANGUAGE.md section 6 says, right where they are computed, and only the
accepted offers (already in the assignments' flat layout, engine/
arbitrate.FlatParts) and the counts leave the kernel. This is a second copy
of the per-customer walk of engine/arbitration/arbitrate.py (`match_range`), which the
vectorized evaluator uses; tests/test_matching_compiled.py keeps the two
equal. With capacities the walk is run-wide, so the kernel writes every
candidate out for engine/arbitration/arbitrate.py instead.

Safety: the module is built from `ast` nodes. Identifiers are made here
(`v12`, `x3`, `p0`); numbers become constants; strings never appear in the
code at all — a string literal is its code in the plan's string table, and
string functions read host-computed lookup tables. `ast.unparse` then gives
the file the cache imports, so Numba can cache the compiled kernel.

Every value is a pair of locals: the value and its validity (`True` when the
checker can prove it is never null). Invalid values still hold a harmless
default, so no operation can trap; errors are nulls, never exceptions.
"""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

from pol.compiler import ir
from pol.compiler.backend.plan import LOOKUPS, STRING_MAPS, KernelPlan, string_operand
from pol.compiler.types import Type, micros

CODEGEN_VERSION = "1"

RUNTIME_NAMES = (
    "add_i", "sub_i", "mul_i", "neg_i", "abs_i", "mod_i", "mod_f",
    "round_f", "round_i", "sqrt_f", "exp_f", "log_f", "pow_f", "date_ok",
    "year_of", "month_of", "day_of", "make_date", "add_months", "weekday_of", "day_of_year", "anniversary",
    "hour_of", "minute_of", "ts_date", "bit", "float_ok", "held_out", "pick", "NAN",
)


# ------------------------------------------------------------ ast shorthands

def N(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def C(value) -> ast.Constant:
    # Only numbers and booleans may become code; a string here would be a bug.
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"refusing to emit a {type(value).__name__} constant")
    return ast.Constant(value)


def call(fn: str, *args: ast.expr) -> ast.Call:
    return ast.Call(N(fn), list(args), [])


def attr_call(mod: str, fn: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Attribute(N(mod), fn, ast.Load()), list(args), [])


def assign(name: str, value: ast.expr) -> ast.Assign:
    return ast.Assign([ast.Name(name, ast.Store())], value)


def assign2(a: str, b: str, value: ast.expr) -> ast.Assign:
    return ast.Assign([ast.Tuple([ast.Name(a, ast.Store()), ast.Name(b, ast.Store())], ast.Store())], value)


def and_(*xs: ast.expr | None) -> ast.expr | None:
    """Conjunction of validity flags; None stands for 'always valid'."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    return ast.BoolOp(ast.And(), xs)


def or_(*xs: ast.expr) -> ast.expr:
    return xs[0] if len(xs) == 1 else ast.BoolOp(ast.Or(), list(xs))


def not_(x: ast.expr) -> ast.expr:
    return ast.UnaryOp(ast.Not(), x)


def cmp(op: ast.cmpop, a: ast.expr, b: ast.expr) -> ast.Compare:
    return ast.Compare(a, [op], [b])


def binop(op: ast.operator, a: ast.expr, b: ast.expr) -> ast.BinOp:
    return ast.BinOp(a, op, b)


def ifexp(c: ast.expr, a: ast.expr, b: ast.expr) -> ast.IfExp:
    return ast.IfExp(c, a, b)


def item(arr: str, *idx: ast.expr) -> ast.Subscript:
    index = idx[0] if len(idx) == 1 else ast.Tuple(list(idx), ast.Load())
    return ast.Subscript(N(arr), index, ast.Load())


def store_item(arr: str, idx: tuple[ast.expr, ...], value: ast.expr) -> ast.Assign:
    index = idx[0] if len(idx) == 1 else ast.Tuple(list(idx), ast.Load())
    return ast.Assign([ast.Subscript(N(arr), index, ast.Store())], value)


def truth(v: ast.expr, m: ast.expr | None) -> ast.expr:
    """True exactly when a bool value is valid and true."""
    return v if m is None else binop(ast.BitAnd(), m, v)


# Expressions compute with `&`, `|` and `pick` (runtime.pick, `a if c else
# b`), not with `and`, `or` and conditional expressions: the operands are
# plain values already (an invalid one holds a harmless default), and a
# branch is a basic block to Numba, whose SSA pass recurses once per block
# between a variable's definition and its use; a kernel of a thousand
# branches did not compile. (Reading the input keeps its branches: a null
# slot's string index must not be followed.)

def all_(*xs: ast.expr | None) -> ast.expr | None:
    """Conjunction of bool flags, without a branch; None stands for 'always true'."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    out = xs[0]
    for x in xs[1:]:
        out = binop(ast.BitAnd(), out, x)
    return out


def any_(*xs: ast.expr) -> ast.expr:
    out = xs[0]
    for x in xs[1:]:
        out = binop(ast.BitOr(), out, x)
    return out


def pick(c: ast.expr, a: ast.expr, b: ast.expr) -> ast.Call:
    return call("pick", c, _typed(a), _typed(b))


def _typed(x: ast.expr) -> ast.expr:
    # Numba types an int constant by its value, and compiles a helper anew
    # for each value it is called with: a classification of 1,000 rules
    # compiled `pick` 1,000 times. As an int64 it is one type.
    if isinstance(x, ast.Constant) and type(x.value) is int:
        return attr_call("np", "int64", x)
    return x


_GENERATED_NAME = re.compile(r"[a-z][a-z0-9_]*")


def template(text: str, **subs) -> list[ast.stmt]:
    """Statements from a fixed template written in this module, with its
    upper-case placeholders replaced: a string by that generated name (never
    user text: it must look like one of ours), a number by a constant, an
    ast node as it is, and a placeholder standing alone as a statement by a
    list of statements."""
    for v in subs.values():
        if isinstance(v, str) and not _GENERATED_NAME.fullmatch(v):
            raise ValueError(f"not a generated name: {v!r}")

    class Fill(ast.NodeTransformer):
        def visit_Expr(self, node: ast.Expr):
            if isinstance(node.value, ast.Name) and isinstance(subs.get(node.value.id), list):
                return subs[node.value.id]
            return self.generic_visit(node)

        def visit_Name(self, node: ast.Name):
            if node.id not in subs:
                return node
            v = subs[node.id]
            if isinstance(v, str):
                return ast.Name(v, node.ctx)
            if isinstance(v, ast.AST):
                return v
            return C(v)

    return Fill().visit(ast.parse(textwrap.dedent(text))).body


DEFAULTS = {Type.INT: 0, Type.FLOAT: 0.0, Type.BOOL: False, Type.STRING: 0, Type.DATE: 0, Type.TIMESTAMP: 0}

_CMP = {"eq": ast.Eq, "ne": ast.NotEq, "lt": ast.Lt, "le": ast.LtE, "gt": ast.Gt, "ge": ast.GtE}
_ARITH = {"add": ast.Add, "sub": ast.Sub, "mul": ast.Mult, "div": ast.Div}


@dataclass(frozen=True)
class Value:
    v: ast.expr
    m: ast.expr | None     # None: never null
    # A float result whose finiteness is not checked yet: it is null when
    # not finite, beyond what `m` says (see _Gen.settle).
    pending: bool = False


# ------------------------------------------------------------ the generator

class _Gen:
    def __init__(self, program: ir.Program, plan: KernelPlan, fused: bool = False):
        self.program = program
        self.plan = plan
        self.fused = fused
        self.body: list[ast.stmt] = []
        self.n = 0
        self.decls: dict[str, Value] = {}
        self.fields: dict[str, Value] = {}

    def tmp(self) -> tuple[str, str]:
        self.n += 1
        return f"v{self.n}", f"m{self.n}"

    def emit(self, stmt: ast.stmt) -> None:
        self.body.append(stmt)

    def bind(self, v: ast.expr, m: ast.expr | None) -> Value:
        """Store a value (and its validity) in fresh locals."""
        vn, mn = self.tmp()
        self.emit(assign(vn, v))
        if m is None:
            return Value(N(vn), None)
        self.emit(assign(mn, m))
        return Value(N(vn), N(mn))

    def checked(self, pair: ast.expr, *valid: ast.expr | None) -> Value:
        """A runtime helper returning (value, ok), anded with operand validity."""
        vn, mn = self.tmp()
        self.emit(assign2(vn, mn, pair))
        if any(x is not None for x in valid):
            return Value(N(vn), self.bind(all_(N(mn), *valid), None).v)
        return Value(N(vn), N(mn))

    # -- leaves

    def load_record(self) -> None:
        """Fields of one record packed by the host: ints, dates, bools and
        string codes in `iv`, floats in `fv`, validity in `ok` (any field of
        a hand-made record may be missing, so all may be null)."""
        for j, f in enumerate(self.plan.fields):
            if f.type == Type.FLOAT:
                v = item("fv", C(j))
            elif f.type == Type.BOOL:
                v = cmp(ast.NotEq(), item("iv", C(j)), C(0))
            else:
                v = item("iv", C(j))
            self.fields[f.name] = self.bind(v, item("ok", C(j)))

    def load_fields(self) -> None:
        i = N("i")
        for j, f in enumerate(self.plan.fields):
            x = f"x{j}"
            m = None
            if f.nullable:
                m = or_(not_(N(f"xh{j}")), call("bit", N(f"xv{j}"), binop(ast.Add(), N(f"xo{j}"), i)))
                m = self.bind(m, None).v
            if f.type == Type.BOOL:
                v = call("bit", N(x), binop(ast.Add(), N(f"xb{j}"), i))
            elif f.type == Type.STRING:
                # A null slot's dictionary index is undefined: never follow it.
                v = item(f"xr{j}", item(x, i))
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
                self.body.extend(template("nf += not float_ok(V)", V=val.v.id))
            if f.type == Type.FLOAT and f.nullable:
                # NaN and infinities read as null; the host has already refused
                # them in non-nullable float fields.
                self.emit(assign(val.m.id, and_(val.m, call("float_ok", val.v))))
            if val.m is not None:
                # Keep invalid slots at a fixed default so they cannot trap later.
                self.emit(assign(val.v.id, ifexp(val.m, val.v, C(DEFAULTS[f.type]))))
            self.fields[f.name] = val

    def expr(self, e: ir.Expr) -> Value:
        return self.settle(self.lazy(e))

    def lazy(self, e: ir.Expr) -> Value:
        """The code of an expression, its operands' first, on a stack of our
        own rather than Python's: an expression may nest thousands of levels
        (a long sum is left-nested). `todo` holds nodes to visit and, as
        (node,), nodes whose operands are done; their Values wait at the end
        of `done`. Each rule gets its operands' Values unsettled (see settle)."""
        todo: list = [e]
        done: list[Value] = []
        while todo:
            x = todo.pop()
            if type(x) is tuple:
                x = x[0]
                k = len(ir.children(x))
                args = done[-k:]
                del done[-k:]
                done.append(getattr(self, "x_" + type(x).__name__)(x, args))
                continue
            kids = ir.children(x)
            if kids:
                todo.append((x,))
                todo.extend(reversed(kids))
            else:
                done.append(getattr(self, "x_" + type(x).__name__)(x))
        return done[0]

    def settle(self, x: Value) -> Value:
        """Apply a pending finiteness check (LANGUAGE.md section 5).

        A non-finite float stays non-finite through +, -, *, unary minus,
        abs and as a dividend (inf - inf and inf * 0 are NaN), so a tree of
        those is checked once, where its value is used otherwise. In the
        bench kernel 32 checks become 14; they had taken a sixth of its time."""
        if not x.pending:
            return x
        _, mn = self.tmp()
        self.emit(assign(mn, all_(x.m, call("float_ok", x.v))))
        return Value(x.v, N(mn))

    def x_Literal(self, e: ir.Literal) -> Value:
        if e.value is None:
            return Value(C(DEFAULTS[e.type]), C(False))
        if e.type == Type.STRING:
            return Value(C(self.plan.literal_code(e.value)), None)
        if e.type == Type.DATE:
            return Value(C(_days(e.value)), None)
        if e.type == Type.TIMESTAMP:
            return Value(C(micros(e.value)), None)
        if e.type == Type.FLOAT:
            return Value(C(float(e.value)), None)
        return Value(C(e.value), None)

    def x_FieldRef(self, e: ir.FieldRef) -> Value:
        return self.fields[e.name]

    def x_ParamRef(self, e: ir.ParamRef) -> Value:
        k = [p.name for p in self.plan.params].index(e.name)
        return Value(N(f"p{k}"), N(f"pm{k}"))

    def x_DeclRef(self, e: ir.DeclRef) -> Value:
        return self.decls[e.name]

    def x_Today(self, e: ir.Today) -> Value:
        return Value(N("today"), None)

    def x_If(self, e: ir.If, args: list[Value]) -> Value:
        c, t, f = (self.settle(a) for a in args)
        cond = self.bind(truth(c.v, c.m), None).v
        m = None
        if t.m is not None or f.m is not None:
            m = pick(cond, t.m or C(True), f.m or C(True))
        return self.bind(pick(cond, t.v, f.v), m)

    def x_InSet(self, e: ir.InSet, args: list[Value]) -> Value:
        x = self.settle(args[0])
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
        x = self.settle(args[0])
        if x.m is None:
            return Value(C(e.negated), None)
        return self.bind(x.m if e.negated else not_(x.m), None)

    def x_Call(self, e: ir.Call, args: list[Value]) -> Value:
        op = e.op
        if op in ("and", "or"):
            return self._logic(op, [self.settle(a) for a in args])
        if op == "coalesce":
            return self._coalesce([self.settle(a) for a in args])
        t = e.type
        if t == Type.FLOAT and op in ("add", "sub", "mul", "div", "neg", "abs"):
            args = list(args)
            if op == "div":               # x / inf is 0: a divisor is checked first
                args[1] = self.settle(args[1])
            pending = True if op in _ARITH else args[0].pending
        else:
            args = [self.settle(a) for a in args]
            pending = False
        ms = [a.m for a in args]
        vs = [a.v for a in args]
        at = [a.type for a in e.args]
        if op in _CMP:
            return self.bind(cmp(_CMP[op](), vs[0], vs[1]), all_(*ms))
        if op == "between":
            return self.bind(all_(cmp(ast.LtE(), vs[1], vs[0]), cmp(ast.LtE(), vs[0], vs[2])), all_(*ms))
        if op == "not":
            return self.bind(not_(vs[0]), ms[0])
        if op == "to_float":
            return self.bind(attr_call("np", "float64", vs[0]), ms[0])
        if op in ("add", "sub") and at[0] == Type.DATE:
            if at[1] == Type.DATE:        # date - date: days, always in range
                return self.bind(binop(ast.Sub(), vs[0], vs[1]), all_(*ms))
            r = self.checked(call(op + "_i", vs[0], vs[1]), *ms)
            return self.checked(call("date_ok", r.v), r.m)
        if op in ("add", "sub", "mul") and t == Type.INT:
            return self.checked(call(op + "_i", vs[0], vs[1]), *ms)
        if op in _ARITH:                  # float arithmetic; `/` guards its divisor
            if op == "div":
                safe = self.bind(pick(cmp(ast.Eq(), vs[1], C(0.0)), C(1.0), vs[1]), None)
                r = self.bind(binop(ast.Div(), vs[0], safe.v), all_(*ms, cmp(ast.NotEq(), vs[1], C(0.0))))
            else:
                r = self.bind(binop(_ARITH[op](), vs[0], vs[1]), all_(*ms))
            return Value(r.v, r.m, pending)
        if op == "mod":
            return self.checked(call("mod_i" if t == Type.INT else "mod_f", vs[0], vs[1]), *ms)
        if op == "neg":
            if t == Type.INT:
                return self.checked(call("neg_i", vs[0]), ms[0])
            r = self.bind(ast.UnaryOp(ast.USub(), vs[0]), ms[0])
            return Value(r.v, r.m, pending)
        if op == "abs":
            if t == Type.INT:
                return self.checked(call("abs_i", vs[0]), ms[0])
            r = self.bind(call("abs", vs[0]), ms[0])
            return Value(r.v, r.m, pending)
        if op in ("floor", "ceil"):
            if t == Type.INT:
                return Value(vs[0], ms[0])
            return self.bind(attr_call("np", op, vs[0]), ms[0])
        if op == "round":
            fn = "round_i" if t == Type.INT else "round_f"
            return self.checked(call(fn, vs[0], vs[1]), *ms)
        if op in ("min", "max"):
            acc = vs[0]
            better = ast.Lt if op == "min" else ast.Gt
            for v in vs[1:]:
                acc = self.bind(pick(cmp(better(), v, acc), v, acc), None).v
            return Value(acc, self.all_of(ms))
        if op == "clamp":
            lo = self.bind(pick(cmp(ast.Gt(), vs[1], vs[0]), vs[1], vs[0]), None)
            return self.bind(pick(cmp(ast.Lt(), vs[2], lo.v), vs[2], lo.v), all_(*ms))
        if op in ("sqrt", "exp", "log"):
            return self.checked(call(op + "_f", vs[0]), ms[0])
        if op == "pow":
            return self.checked(call("pow_f", vs[0], vs[1]), *ms)
        if op in ("year", "month", "day", "weekday", "hour", "minute"):
            return self.bind(call(op + "_of", vs[0]), ms[0])
        if op in ("day_of_year", "ts_date"):
            return self.bind(call(op, vs[0]), ms[0])
        if op in ("make_date", "add_months", "anniversary"):
            return self.checked(call(op, *vs), *ms)
        if op in LOOKUPS or op in STRING_MAPS:
            i = string_operand(e)
            return self.bind(item(f"l{self.plan.lut_index(e)}", vs[i]), ms[i])
        raise NotImplementedError(f"no kernel rule for operator {op!r}")

    # Flags of many operands (validity of a 1,000-argument min, an `in`
    # list of 1,000 values) are combined a few at a time, one statement per
    # few: a single `a & b & ...` nests one level per operand.
    _FEW = 8

    def all_of(self, flags: list) -> ast.expr | None:
        """The conjunction of flags (None: always true), as a local when long."""
        flags = [x for x in flags if x is not None]
        if not flags:
            return None
        acc = None
        for k in range(0, len(flags), self._FEW):
            acc = self.bind(all_(acc, *flags[k:k + self._FEW]), None).v
        return acc

    def any_of(self, flags: list) -> ast.expr:
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
            out = self.bind(pick(x.m, x.v, out.v), None if out.m is None else any_(x.m, out.m))
        return out

    # -- declarations

    def declarations(self) -> None:
        p = self.program
        index = {d.name: d for d in (*p.lets, *p.segments, *p.classifies, *p.scores)}
        seg_pos = {s: k for k, s in enumerate(self.plan.segments)}
        cls_pos = {c: k for k, c in enumerate(self.plan.classifies)}
        score_pos = {s: k for k, s in enumerate(self.plan.scores)}
        i = N("i")
        for name in p.order:
            d = index[name]
            if isinstance(d, ir.Let):
                self.decls[name] = self.expr(d.expr)
            elif isinstance(d, ir.Segment):
                x = self.expr(d.expr)
                val = self.bind(truth(x.v, x.m), None)
                self.decls[name] = val
                self.emit(store_item("segs", (C(seg_pos[name]), i), val.v))
            elif isinstance(d, ir.Score):
                x = self.expr(d.expr)
                self.decls[name] = x
                out = x.v if x.m is None else pick(x.m, x.v, N("NAN"))
                self.emit(store_item("scores", (C(score_pos[name]), i), out))
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
        self.emit(store_item("classes", (C(pos), N("i")), local))
        return self.bind(v, m)

    def offers(self) -> None:
        p = self.program
        i = N("i")
        open_ = {}
        for ch in p.channels:
            if ch.cond is None:
                open_[ch.name] = C(True)
            else:
                x = self.expr(ch.cond)
                open_[ch.name] = self.bind(truth(x.v, x.m), None).v
        for k, o in enumerate(p.offers):
            el = self.expr(o.eligible)
            pr = self.expr(o.priority)
            eligible = self.bind(all_(item("active", C(k)), truth(el.v, el.m)), None)
            # the first open channel: from the last to the first, one statement each
            cv = Value(C(-2), None)
            for c in reversed(o.channels):
                cv = self.bind(pick(open_[c], C(self.plan.channels.index(c)), cv.v), None)
            # -3 not eligible, -2 no open channel, -1 priority null, else the channel
            state = pick(not_(eligible.v), C(-3),
                         pick(cmp(ast.Lt(), cv.v, C(0)), C(-2),
                              pick(pr.m, cv.v, C(-1)) if pr.m is not None else cv.v))
            sv = self.bind(state, None)
            if self.fused:
                self.body.extend(template(_CANDIDATE, S=sv.v.id, P=pr.v, K=k, F=f"f{k}"))
                continue
            self.emit(store_item("cchan", (i, C(k)), sv.v))
            nan = N("NAN")
            self.emit(store_item("cprio", (i, C(k)),
                                 ifexp(cmp(ast.GtE(), sv.v, C(0)), pr.v, nan)))

    def walk(self) -> None:
        """Rank the row's candidates and accept them (fused kernels only)."""
        holdouts = any(o.holdout_bp is not None for o in self.program.offers)
        control = template(_HELD_OUT if holdouts else _NO_HOLDOUT)
        self.body.extend(template(_WALK, MAXN=self.program.arbitrate.max_per_customer, CONTROL=control))

    def prologue(self) -> list[ast.stmt]:
        K = len(self.program.offers)
        out = template(_PROLOGUE, K=K, K1=max(K, 1), H=len(self.program.channels),
                       MAXN=self.program.arbitrate.max_per_customer)
        for k in range(K):
            out += template("F = np.int64(0)", F=f"f{k}")
        return out

    def epilogue(self) -> list[ast.stmt]:
        out = []
        for k in range(len(self.program.offers)):
            out += template(_UNPACK, K=k, F=f"f{k}")
        return out + template("funnel += lost\nby_channel += bych\nnonfinite[0] += nf")


# Per offer, in fused kernels: count it in the funnel and append it to the
# row's candidates. The funnel's first three counts (eligible, deliverable,
# candidates: LANGUAGE.md section 6) share one int64 per offer, 21 bits each,
# added from a table indexed by the state: three separate counters per offer
# cost a fifth of the bench kernel's time. A kernel call may count at most
# FUSED_MAX_ROWS rows (engine/evaluation/executor.py splits larger ranges).
_CANDIDATE = """
F += fw[min(S, 0) + 3]
if S >= 0:
    co[nc] = K
    cp[nc] = P
    cs[nc] = S
    nc += 1
"""

FUSED_MAX_ROWS = (1 << 21) - 1

_PROLOGUE = """
co = np.empty(K1, np.int64)
cp = np.empty(K1, np.float64)
cs = np.empty(K1, np.int64)
nf = 0
lost = np.zeros((K, 9), np.int64)
bych = np.zeros((K, H, 2), np.int64)
w = start * MAXN
fw = np.array([0, 1, 1 + (1 << 21), 1 + (1 << 21) + (1 << 42)], np.int64)
"""

_UNPACK = """
lost[K, 0] += F & 2097151
lost[K, 1] += (F >> 21) & 2097151
lost[K, 2] += F >> 42
"""

# Candidates were appended in declaration order; a stable insertion sort by
# priority (highest first) gives the rank order of section 6. Then each is
# accepted unless the customer's maximum, one of its categories or exclusive
# lines is taken. Funnel columns as engine/arbitrate.FUNNEL numbers them.
_WALK = """
for wa in range(1, nc):
    wo = co[wa]
    wp = cp[wa]
    ws = cs[wa]
    wb = wa
    while wb > 0 and cp[wb - 1] < wp:
        co[wb] = co[wb - 1]
        cp[wb] = cp[wb - 1]
        cs[wb] = cs[wb - 1]
        wb -= 1
    co[wb] = wo
    cp[wb] = wp
    cs[wb] = ws
taken = 0
cats = np.int64(0)
excl = np.int64(0)
for wb in range(nc):
    wk = co[wb]
    wc = category[wk]
    if taken >= MAXN:
        lost[wk, 5] += 1
    elif wc >= 0 and (cats >> wc) & 1:
        lost[wk, 6] += 1
    elif (excl & exclusive[wk]) != 0:
        lost[wk, 7] += 1
    else:
        a_row[w] = i
        a_rank[w] = taken + 1
        a_offer[w] = wk
        a_chan[w] = cs[wb]
        a_prio[w] = cp[wb]
        CONTROL
        lost[wk, 3] += 1
        taken += 1
        w += 1
        if wc >= 0:
            cats |= np.int64(1) << wc
        excl |= exclusive[wk]
a_end[i] = w
"""

_NO_HOLDOUT = """
a_ctrl[w] = False
bych[wk, cs[wb], 0] += 1
"""

_HELD_OUT = """
ctrl = held_out(wk, i, holdout_bp, holdout_state, key_is_int, key_ints, key_offsets, key_data)
a_ctrl[w] = ctrl
if ctrl:
    lost[wk, 4] += 1
    bych[wk, cs[wb], 1] += 1
else:
    bych[wk, cs[wb], 0] += 1
"""


def _days(d) -> int:
    import datetime as dt
    return (d - dt.date(1970, 1, 1)).days


FUSED_OUTPUTS = ["category", "exclusive", "holdout_bp", "holdout_state", "key_is_int", "key_ints",
                 "key_offsets", "key_data", "a_row", "a_rank", "a_offer", "a_chan", "a_prio", "a_ctrl",
                 "a_end", "funnel", "by_channel", "nonfinite"]


def argument_names(plan: KernelPlan, fused: bool = False) -> list[str]:
    names = ["start", "stop", "today"]
    for k, _ in enumerate(plan.params):
        names += [f"p{k}", f"pm{k}"]
    for j, f in enumerate(plan.fields):
        names.append(f"x{j}")
        if f.type == Type.BOOL:
            names.append(f"xb{j}")
        if f.type == Type.STRING:
            names.append(f"xr{j}")
        if f.nullable:
            names += [f"xv{j}", f"xo{j}", f"xh{j}"]
    names += [f"l{k}" for k, _ in enumerate(plan.luts)]
    names += ["active", "segs", "classes", "scores"]
    names += FUSED_OUTPUTS if fused else ["cprio", "cchan"]
    return names


def row_argument_names(plan: KernelPlan) -> list[str]:
    names = ["today"]
    for k, _ in enumerate(plan.params):
        names += [f"p{k}", f"pm{k}"]
    names += ["iv", "fv", "ok"]
    names += [f"l{k}" for k, _ in enumerate(plan.luts)]
    names += ["active", "segs", "classes", "scores", "cprio", "cchan"]
    return names


def generate(program: ir.Program, plan: KernelPlan, parallel: bool = False, row: bool = False,
             fused: bool = False) -> ast.Module:
    """The batch kernel `kernel(start, stop, ...)`, or with `row` the
    single-record kernel `row_kernel(today, ...)` that `decide` calls.
    `fused`: match offers in the kernel (only for policies without capacities).

    The batch kernel releases the GIL and the engine runs it on row ranges
    from a thread pool, one range per core. Numba's own `parallel=True`
    gives the same speed but took six times longer to compile (30 s against
    5 s for the bench policy), so it is off by default."""
    if fused and (row or parallel or any(o.capacity is not None for o in program.offers)):
        raise ValueError("only a sequential batch kernel of a policy without capacities can be fused")
    g = _Gen(program, plan, fused)
    if row:
        g.load_record()
    else:
        g.load_fields()
    g.declarations()
    if fused:
        g.emit(assign("nc", C(0)))
    g.offers()
    if fused:
        g.walk()
    if row:
        body = [assign("i", C(0))] + g.body
        name, args = "row_kernel", row_argument_names(plan)
        options = [ast.keyword("cache", C(True)), ast.keyword("nogil", C(True)),
                   ast.keyword("error_model", ast.Constant("numpy")), ast.keyword("boundscheck", C(False))]
    else:
        body = [ast.For(ast.Name("i", ast.Store()), call("prange", N("start"), N("stop")), g.body, [])]
        if fused:
            body = g.prologue() + body + g.epilogue()
        name, args = "kernel", argument_names(plan, fused)
        options = [ast.keyword("cache", C(True)), ast.keyword("nogil", C(True)),
                   ast.keyword("parallel", C(parallel)), ast.keyword("error_model", ast.Constant("numpy")),
                   ast.keyword("boundscheck", C(False))]
    fn = ast.FunctionDef(
        name=name,
        args=ast.arguments([], [ast.arg(a) for a in args], None, [], [], None, []),
        body=body,
        decorator_list=[ast.Call(N("njit"), [], options)],
        returns=None, type_params=[],
    )
    header = [
        ast.Expr(ast.Constant("Generated by pol.compiler.backend.codegen; do not edit.")),
        ast.Import([ast.alias("numpy", "np")]),
        ast.ImportFrom("numba", [ast.alias("njit"), ast.alias("prange")], 0),
        ast.ImportFrom("pol.compiler.backend.runtime", [ast.alias(n) for n in RUNTIME_NAMES], 0),
    ]
    module = ast.Module(header + [fn], [])
    return ast.fix_missing_locations(module)


def source(program: ir.Program, plan: KernelPlan, parallel: bool = False, row: bool = False,
           fused: bool = False) -> str:
    return ast.unparse(generate(program, plan, parallel, row, fused)) + "\n"
