"""Building generated code safely: `ast` shorthands for the code generator
(compiler/backend/codegen.py, emitter.py), fixed templates with generated
names filled in, and `Value`, an emitted value with its validity.

Only numbers and booleans may become constants (`C` refuses anything else),
and a template's placeholders take only names that look like the
generator's own: no user text can become code.
"""
from __future__ import annotations

import ast
import re
import sys
import textwrap
from dataclasses import dataclass
from typing import overload

# ------------------------------------------------------------ ast shorthands

def N(name: str) -> ast.Name:
    return ast.Name(name, ast.Load())


def C(value: object) -> ast.Constant:
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


@overload
def and_(x: ast.expr, /, *xs: ast.expr | None) -> ast.expr: ...
@overload
def and_(*xs: ast.expr | None) -> ast.expr | None: ...
def and_(*xs: ast.expr | None) -> ast.expr | None:
    """Conjunction of validity flags; None stands for 'always valid'."""
    given = [x for x in xs if x is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]
    return ast.BoolOp(ast.And(), given)


def or_(*xs: ast.expr) -> ast.expr:
    return xs[0] if len(xs) == 1 else ast.BoolOp(ast.Or(), list(xs))


def not_(x: ast.expr) -> ast.expr:
    if const_flag(x) is not None:
        return C(not const_flag(x))
    return ast.UnaryOp(ast.Not(), x)


def const_flag(x: ast.expr | None) -> bool | None:
    """A flag's value when it is the constant True or False (a literal, a
    never-null operand's validity), else None. Each generated statement costs
    Numba about 10 ms of typing (benchmarks/README.md, large policies), so
    constant flags are folded where they are combined, not left to LLVM."""
    if isinstance(x, ast.Constant) and type(x.value) is bool:
        return x.value
    return None


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
    return v if m is None or const_flag(m) is True else all_(m, v)


# Expressions compute with `&`, `|` and `pick` (runtime.pick, `a if c else
# b`), not with `and`, `or` and conditional expressions: the operands are
# plain values already (an invalid one holds a harmless default), and a
# branch is a basic block to Numba, whose SSA pass recurses once per block
# between a variable's definition and its use; a kernel of a thousand
# branches did not compile. (Reading the input keeps its branches: a null
# slot's string index must not be followed.)

@overload
def all_(x: ast.expr, /, *xs: ast.expr | None) -> ast.expr: ...
@overload
def all_(*xs: ast.expr | None) -> ast.expr | None: ...
def all_(*xs: ast.expr | None) -> ast.expr | None:
    """Conjunction of bool flags, without a branch; None stands for 'always true'."""
    given = [x for x in xs if x is not None]
    if not given:
        return None
    return _folded(given, ast.BitAnd(), absorbing=False)


def any_(*xs: ast.expr) -> ast.expr:
    """Disjunction of bool flags, without a branch (constants folded)."""
    return _folded(list(xs), ast.BitOr(), absorbing=True)


def _folded(xs: list[ast.expr], op: ast.operator, absorbing: bool) -> ast.expr:
    """x op y op ...: a constant `absorbing` decides it; the other constant
    drops out (`&` of flags: False absorbs, True drops; `|` the reverse)."""
    if any(const_flag(x) is absorbing for x in xs):
        return C(absorbing)
    flags = [x for x in xs if const_flag(x) is None]
    if not flags:
        return C(not absorbing)
    out = flags[0]
    for x in flags[1:]:
        out = binop(op, out, x)
    return out


def pick(c: ast.expr, a: ast.expr, b: ast.expr) -> ast.expr:
    a, b = _typed(a), _typed(b)
    if const_flag(c) is not None and _same_constant_type(a, b):
        return a if const_flag(c) else b      # an offer's first channel that is always open
    return call("pick", c, a, b)


def _same_constant_type(a: ast.expr, b: ast.expr) -> bool:
    """Both constants of one type, so that picking either needs no unifying
    of types (pick of an int64 and a float64 is a float64)."""
    def kind(x: ast.expr) -> object:
        if isinstance(x, ast.Constant):
            return type(x.value)
        if isinstance(x, ast.Call) and ast.dump(x.func) == ast.dump(attr_call("np", "int64").func) \
                and isinstance(x.args[0], ast.Constant):
            return "int64"
        return None
    return kind(a) is not None and kind(a) == kind(b)


def _typed(x: ast.expr) -> ast.expr:
    # Numba types an int constant by its value, and compiles a helper anew
    # for each value it is called with: a classification of 1,000 rules
    # compiled `pick` 1,000 times. As an int64 it is one type.
    if isinstance(x, ast.Constant) and type(x.value) is int:
        return attr_call("np", "int64", x)
    return x


_GENERATED_NAME = re.compile(r"[a-z][a-z0-9_]*")


def template(text: str, **subs: object) -> list[ast.stmt]:
    """Statements from a fixed template written in this module, with its
    upper-case placeholders replaced: a string by that generated name (never
    user text: it must look like one of ours), a number by a constant, an
    ast node as it is, and a placeholder standing alone as a statement by a
    list of statements."""
    for v in subs.values():
        if isinstance(v, str) and not _GENERATED_NAME.fullmatch(v):
            raise ValueError(f"not a generated name: {v!r}")

    class Fill(ast.NodeTransformer):
        def visit_Expr(self, node: ast.Expr) -> ast.AST | list[ast.stmt]:
            if isinstance(node.value, ast.Name):
                stmts = subs.get(node.value.id)
                if isinstance(stmts, list):
                    return stmts
            return self.generic_visit(node)

        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id not in subs:
                return node
            v = subs[node.id]
            if isinstance(v, str):
                return ast.Name(v, node.ctx)
            if isinstance(v, ast.AST):
                return v
            return C(v)

    module = Fill().visit(ast.parse(textwrap.dedent(text)))
    assert isinstance(module, ast.Module)
    return module.body




@dataclass(frozen=True)
class Value:
    v: ast.expr
    m: ast.expr | None     # None: never null
    # A float result whose finiteness is not checked yet: it is null when
    # not finite, beyond what `m` says (see Emitter.check_finite).
    pending: bool = False


def jitted(name: str, params: tuple[str, ...] | list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    """A kernel function: cached on disk, without the GIL, numpy's error model
    (a division by zero is the emitter's to check), no bounds checks."""
    options = [ast.keyword("cache", C(True)), ast.keyword("nogil", C(True)),
               ast.keyword("error_model", ast.Constant("numpy")), ast.keyword("boundscheck", C(False))]
    fn = ast.FunctionDef(
        name=name,
        args=ast.arguments([], [ast.arg(a) for a in params], None, [], [], None, []),
        body=body,
        decorator_list=[ast.Call(N("njit"), [], options)],
        returns=None,
    )
    if sys.version_info >= (3, 12):
        fn.type_params = []          # a field since 3.12, which ast.unparse reads
    return fn
