"""`@node`: a frozen dataclass whose equality, hash and repr are three
functions shared by every node class, instead of three methods compiled for
each.

`@dataclass(frozen=True)` writes six methods per class as source text and
compiles each with `exec` (__init__, __repr__, __eq__, __hash__,
__setattr__, __delattr__). The syntax tree and the IR declare about a
hundred node classes, and compiling their methods took about a tenth of a
second of every start-up that checks a policy (`pol check`, `pol.load`).
`node` leaves the dataclass what is the class's own (its __init__, its
frozen attributes, `fields()`, `replace()`, `__match_args__`) and gives it
the comparisons and text the dataclass would, read through one getter of
its fields per class (operator.attrgetter, made without compiling): equal
when of the same class and equal in every compared field, hashed by the
fields the dataclass would hash, shown as `Name(field=value, ...)` with the
fields it would show; its docstring, where the body has none, the text the
dataclass would give. A method the class body defines itself is kept, as a
dataclass keeps it. tests/test_node.py holds them to the stdlib's own.
"""
from __future__ import annotations

import inspect
import reprlib
from collections.abc import Callable
from dataclasses import MISSING, Field, dataclass, field, fields
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_):       # what type checkers read; nothing at run time
        return lambda f: f

T = TypeVar("T", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
def node(cls: T) -> T:
    """The class as `@dataclass(frozen=True)` makes it, its __eq__, __hash__
    and __repr__ shared."""
    own = cls.__dict__
    # what the dataclass keeps of the body's own (its rule for __hash__: a
    # body that defines __eq__ alone has __hash__ None, which is no choice,
    # and gets the fields' hash)
    keep_eq, keep_repr = "__eq__" in own, "__repr__" in own
    keep_hash = "__hash__" in own and not (own["__hash__"] is None and keep_eq)
    undocumented = not own.get("__doc__")
    if undocumented:
        cls.__doc__ = "-"       # written below: the dataclass would ask inspect.signature
    cls = dataclass(frozen=True, eq=False, repr=False)(cls)
    fs = fields(cls)
    if undocumented:
        cls.__doc__ = _signature(cls, fs)
    cls._node_compared = _getter([f.name for f in fs if f.compare])
    cls._node_hashed = _getter([f.name for f in fs if (f.compare if f.hash is None else f.hash)])
    cls._node_shown = tuple(f.name for f in fs if f.repr)
    if not keep_eq:
        cls.__eq__ = _eq
    if not keep_hash:
        cls.__hash__ = _hash
    if not keep_repr:
        cls.__repr__ = _repr
    return cls


def _signature(cls: type, fs: tuple[Field, ...]) -> str:
    """The text a dataclass gives a class without a docstring, `Name(a: 'int', b: 'str' = 'x')`,
    written from the fields where each is a plain one annotated as text (the
    annotations of a module with `from __future__ import annotations`), which
    inspect.signature would take a fifth of the class's making to give."""
    if not all(isinstance(f.type, str) and f.init and not f.kw_only for f in fs):
        return cls.__name__ + str(inspect.signature(cls)).replace(" -> None", "")
    return f"{cls.__name__}({', '.join(f'{f.name}: {f.type!r}' + _default(f) for f in fs)})"


def _default(f: Field) -> str:
    if f.default is not MISSING:
        return f" = {f.default!r}"
    return " = <factory>" if f.default_factory is not MISSING else ""


def _getter(names: list[str]) -> Callable[[object], tuple]:
    """The fields' values as a tuple (attrgetter gives one value, not a tuple, for one name)."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = attrgetter(names[0])
        return lambda x: (one(x),)
    return lambda x: ()


# Each reads its getter from the instance's own class: a subclass that is a
# node has its own fields. The getters are read through the class, where a
# function is not bound to the instance.

def _eq(self, other):
    if other.__class__ is self.__class__:
        compared = self.__class__._node_compared
        return compared(self) == compared(other)
    return NotImplemented


def _hash(self) -> int:
    return hash(self.__class__._node_hashed(self))


@reprlib.recursive_repr()
def _repr(self) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__class__._node_shown)
    return f"{self.__class__.__qualname__}({shown})"
