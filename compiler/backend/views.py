"""The row kernel's arrays as views of its one buffer without reference
counts (compiler/backend/codegen.py, `_carve`):

    iv = carray(byte_at(mem, 8), (12,), np.int64)

`mem[8:104].view(np.int64)` makes an array that shares the buffer's
reference count: Numba counts it up and down for each of the twenty views,
checks the view's size and alignment, and that took about 0.8 µs of a
decision (measured: a kernel made of the views alone, 1.5 µs against 0.7 µs
with carray, and 0.4-0.7 µs for the call with no views at all). A
`numba.carray` over the buffer's address is an array with no owner: the
kernel's caller keeps the buffer alive for the whole call, and nothing the
kernel makes of it outlives the call (it returns a count). The offsets come
from layout.row_parts, which aligns every part to its item size.

The kernel cache key includes this file's source for a kernel that imports
it (compiler/backend/cache.py).
"""
from __future__ import annotations

from typing import Any

from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["byte_at", "carray"]


@intrinsic
def byte_at(typingctx: Any, array: Any, offset: Any) -> Any:
    """The address of byte `offset` of a uint8 array's data, as a void
    pointer for carray (no bounds check: the offsets are the layout's)."""
    if not (isinstance(array, types.Array) and array.dtype == types.uint8 and isinstance(offset, types.Integer)):
        return None
    sig = types.voidptr(array, offset)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.bitcast(builder.gep(data, [args[1]]), cgutils.voidptr_t)
    return sig, codegen
