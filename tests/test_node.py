"""dsl/node.py: the syntax tree's and the IR's nodes compare, hash and show
exactly as `@dataclass(frozen=True)` would make them, and stay frozen.

Each node of the telecom library's trees, before and after checking, is
held against a twin made by the stdlib from the same fields."""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from pol.compiler import ir
from pol.compiler.frontend import compile_path
from pol.dsl import ast, ast_expr
from pol.dsl.node import node
from pol.dsl.parser import parse
from pol.dsl.source import Source, Span

TELECOM = Path(__file__).resolve().parent.parent / "policies" / "telecom"
_TWINS: dict[type, type] = {}


def _twin_class(cls: type) -> type:
    """The stdlib's frozen dataclass of the same name and fields."""
    if cls not in _TWINS:
        spec = [(f.name, f.type, dataclasses.field(default=f.default, default_factory=f.default_factory,
                                                   compare=f.compare, hash=f.hash, repr=f.repr))
                for f in dataclasses.fields(cls)]
        twin = dataclasses.make_dataclass(cls.__name__, spec, frozen=True)
        twin.__qualname__ = cls.__qualname__
        _TWINS[cls] = twin
    return _TWINS[cls]


def _twin(x):
    return _twin_class(type(x))(**{f.name: getattr(x, f.name) for f in dataclasses.fields(x)})


def _nodes(root) -> list:
    """Every node under root (tuples and lists followed), each once."""
    seen, out, todo = set(), [], [root]
    while todo:
        x = todo.pop()
        if isinstance(x, (tuple, list)):
            todo.extend(x)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type) and id(x) not in seen:
            seen.add(id(x))
            out.append(x)
            todo.extend(getattr(x, f.name) for f in dataclasses.fields(x))
    return out


def _library_nodes() -> list:
    out = []
    for path in sorted(TELECOM.glob("*.pol")):
        tree, problems = parse(Source(str(path), path.read_text(encoding="utf-8")))
        assert tree is not None and not problems
        out += _nodes(tree)
    out += _nodes(compile_path(TELECOM / "dispatch.pol"))
    return [x for x in out if type(x).__module__ in (ast.__name__, ast_expr.__name__, ir.__name__)]


NODES = _library_nodes()


def test_every_node_class_is_a_node():
    for module in (ast, ast_expr, ir):
        for cls in vars(module).values():
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                assert "_node_compared" in cls.__dict__, cls
    assert len({type(x) for x in NODES}) > 40       # the library reaches most kinds


def test_a_node_without_a_docstring_has_the_dataclass_s():
    for module in (ast, ast_expr, ir):
        for cls in vars(module).values():
            if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__:
                if cls.__doc__.startswith(cls.__name__ + "("):     # none in the body
                    assert cls.__doc__ == _twin_class(cls).__doc__, cls    # a made class has none either
    # beside a factory and a keyword-only field, the stdlib's own way
    import dataclasses as dc

    @node
    class Odd:
        a: int
        b: list = dc.field(default_factory=list)
        c: str = dc.field(default="x", kw_only=True)
    assert Odd.__doc__ == "Odd(a: 'int', b: 'list' = <factory>, *, c: 'str' = 'x')"


def test_nodes_show_and_hash_as_the_stdlib_dataclass():
    for x in NODES:
        twin = _twin(x)
        assert repr(x) == repr(twin)
        assert hash(x) == hash(twin)
        assert x == x and not (x != x)


def test_nodes_compare_as_the_stdlib_dataclass():
    by_class: dict[type, list] = {}
    for x in NODES:
        by_class.setdefault(type(x), []).append(x)
    for cls, xs in by_class.items():
        for a, b in itertools.islice(itertools.combinations(xs[:40], 2), 300):
            assert (a == b) == (_twin(a) == _twin(b)), cls
            assert (a != b) == (_twin(a) != _twin(b)), cls
    # a node is never equal to one of another class, even with the same fields
    date, stamp = ast.DateLit("2026-01-01"), ast.TimestampLit("2026-01-01")
    assert date != stamp and stamp != date and date.__eq__(stamp) is NotImplemented


def test_spans_are_left_out_of_equality_and_hash():
    a = ast.Name("x")
    b = dataclasses.replace(a, span=Span("f.pol", 3, 4, 3, 5))
    assert a == b and hash(a) == hash(b)
    assert repr(a) == repr(b) == "Name(name='x')"


def test_nodes_stay_frozen():
    x = ast.Name("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.name = "y"        # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del x.name          # type: ignore[misc]


def test_a_body_s_own_methods_are_kept():
    @node
    class Own:
        a: int
        b: int = 0

        def __eq__(self, other):
            return isinstance(other, Own) and self.a == other.a

        def __repr__(self) -> str:
            return "own"

    @node
    class Hashed:
        a: int

        def __hash__(self) -> int:
            return 7

    assert Own(1, 2) == Own(1, 3) and repr(Own(1)) == "own"
    assert hash(Own(1, 2)) == hash((1, 2))      # a body's __eq__ alone: the fields' hash, as a dataclass
    assert hash(Hashed(1)) == 7 and Hashed(1) == Hashed(1) != Hashed(2)
    assert repr(Hashed(1)) == f"{Hashed.__qualname__}(a=1)"
