"""A Numba function's own body run as Python, for work too small to wait
for its compile.

The vectorized evaluator's first result must not wait for Numba: compiling
the matcher's `match_range` (compiler/backend/walk.py) takes 3-4 s, once per
kernel folder, and a policy never seen is to give its first 1,000 rows in
under 3 s (benchmarks/README.md, large policies). Its Python body walks
those rows in a fraction of a second. One definition: `plain` runs the
jitted function's `py_func`, with every jitted function it calls (held_out,
hash_key ...) replaced the same way, so each rule still exists once.
"""
from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any

import numpy as np
from numba.core.dispatcher import Dispatcher


def plain(dispatcher: Dispatcher) -> Callable[..., Any]:
    """`dispatcher`'s function as Python, under Numba's error model
    (error_model='numpy': no warnings; unsigned hashes wrap around)."""
    f = _python(dispatcher)

    def run(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return f(*args)
    return run


@functools.cache
def _python(dispatcher: Dispatcher) -> types.FunctionType:
    f = dispatcher.py_func
    names = dict(f.__globals__)
    for name in f.__code__.co_names:
        if isinstance(names.get(name), Dispatcher):
            names[name] = _python(names[name])
    return types.FunctionType(f.__code__, names, f.__name__, f.__defaults__, f.__closure__)
