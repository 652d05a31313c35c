"""List fields on the batch paths (LANGUAGE.md 3.3, 4.9): an Arrow list
column -> the elements and offsets the kernels and the vectorized evaluator
read, and each `any`/`all` condition's value per element.

A row's elements are `values[offsets[i]:offsets[i + 1]]`: int64, ints or
strings' codes in the batch's string table. Null elements are dropped here
(the language never sees them); a null list has no elements and is null by
the field's validity. Everything is done with Arrow and numpy over the whole
column, never a Python loop per row.

A quantifier's condition reads only the element, literals and params
(compiler/frontend/lists.py), so it is computed once per element of the
batch by the vectorized evaluator's rules (`truths`), and every evaluator
only folds each row's run of elements: 0 false, 1 true, 2 null.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pol.compiler import ir
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type

FALSE, TRUE, UNKNOWN = 0, 1, 2


class ListColumn(NamedTuple):
    """A list field's value in the vectorized evaluator."""
    values: np.ndarray      # every row's elements, one after the other
    offsets: np.ndarray     # int64[n + 1]

    def rows(self) -> np.ndarray:
        """The row of each element."""
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


def is_list(at: pa.DataType) -> bool:
    return pa.types.is_list(at) or pa.types.is_large_list(at)


def fits(element: Type, at: pa.DataType) -> bool:
    """A list column of the element type: list or large_list of strings
    (dictionary-encoded or not) or of an integer type up to uint32."""
    if not is_list(at):
        return False
    v = at.value_type
    if element == Type.STRING:
        if pa.types.is_dictionary(v):
            v = v.value_type
        return pa.types.is_string(v) or pa.types.is_large_string(v)
    return pa.types.is_integer(v) and not pa.types.is_uint64(v)


def elements(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A list column's non-null elements (an Arrow array) and its offsets."""
    n = len(col)
    flat = col.flatten()
    parent = pc.list_parent_indices(col).to_numpy(zero_copy_only=False)
    if flat.null_count:
        keep = flat.is_valid()
        flat = flat.filter(keep)
        parent = parent[keep.to_numpy(zero_copy_only=False)]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(parent, minlength=n), out=offsets[1:])
    return flat, offsets


def string_elements(flat: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(flat.type):
        flat = flat.cast(flat.type.value_type)
    return flat.cast(pa.string())


def truths(plan: KernelPlan, args: dict[str, object]) -> None:
    """Every quantifier's condition per element of its list, into `args`
    under the layout's names (the bound batch's other arguments there)."""
    from pol.evaluation.vector import element_values  # vector imports bind, which imports this
    index = {f.name: j for j, f in enumerate(plan.fields)}
    for q, name in zip(plan.quants, plan.layout.quants):
        values = args[plan.layout.fields[index[q.source.name]].values]
        assert isinstance(values, np.ndarray)
        v, m = element_values(plan, args, q.cond, values)
        out = v.astype(np.int8)
        if m is not None:
            out[~m] = UNKNOWN
        args[name] = out


def fold(truth: np.ndarray, offsets: np.ndarray, every: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row, any (every=False) or all of its elements' truths, three-valued:
    (value, known). The row's validity is the caller's to add."""
    n = len(offsets) - 1
    rows = np.repeat(np.arange(n), np.diff(offsets))
    decisive = np.bincount(rows[truth == (FALSE if every else TRUE)], minlength=n) > 0
    unknown = np.bincount(rows[truth == UNKNOWN], minlength=n) > 0
    value = ~decisive if every else decisive
    return value, decisive | ~unknown


def reference_truth(q: ir.Quantifier, element: object, params: dict) -> int:
    """One element's truth by the reference rules (the row kernel's host part)."""
    from pol.compiler.fold import quantify
    from pol.compiler.ops import fit

    def leaf(x: ir.Expr) -> object:
        if isinstance(x, ir.Literal):
            return fit(x.type, x.value)
        if isinstance(x, ir.ParamRef):
            return params[x.name]
        raise TypeError(f"not in a quantifier's condition: {type(x).__name__}")
    v = quantify(q, (element,), leaf)
    return UNKNOWN if v is None else TRUE if v else FALSE
