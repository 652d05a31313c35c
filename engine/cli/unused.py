"""Modules that a local `pol run` process never uses, refused at import.

Two libraries pol does not call are imported for it by the ones it does,
at a cost a short run pays in full (benchmarks/README.md, the population
scan: 0.5-0.6 s of a 1.7 s run's CPU):

* pandas: pyarrow's pandas shim imports it the first time any Python or
  NumPy value becomes an Arrow array or scalar (`pa.array`, `pa.scalar`,
  and `import pyarrow.dataset`, whose module makes a scalar), only to ask
  whether the value is a pandas object. A run's values never are.
* scipy: Numba imports it to check its version, and `scipy.linalg` when
  its target context loads, to find a BLAS for `np.dot` and its kind.
  The kernels call no BLAS function; without one Numba says so only if a
  function that needs it is compiled.

Both treat a failed import as "not installed", which is what they are to
the run. Only for a process of its own: once pyarrow's shim has found no
pandas it does not fully recover when pandas arrives later (a Series'
nulls would become NaN), so a caller's process, a test or a notebook,
keeps them. An import already done is left as it is.
"""
from __future__ import annotations

import sys

UNUSED = ("pandas", "scipy")


class _Refuse:
    """A finder first in sys.meta_path that finds the unused modules to be
    missing. Not a None in sys.modules, Python's own way: Cython's import
    (pyarrow's shim) takes a None found there for the module itself."""

    names: frozenset[str] = frozenset()

    @classmethod
    def find_spec(cls, name: str, path=None, target=None):
        if name.partition(".")[0] in cls.names:
            raise ModuleNotFoundError(f"No module named '{name}' (pol run does not use it)", name=name)
        return None


def refuse() -> None:
    """From now on, `import NAME` of an unused module not yet imported
    raises ModuleNotFoundError in this process."""
    _Refuse.names = frozenset(n for n in UNUSED if n not in sys.modules)
    if _Refuse not in sys.meta_path:
        sys.meta_path.insert(0, _Refuse)
