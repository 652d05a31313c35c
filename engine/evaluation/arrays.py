"""Arrow arrays made from their buffers, for the paths that a user waits
on at start-up (a first decision, a first batch).

`pa.array(...)` of anything asks pyarrow's pandas shim whether the value
is a pandas object, and the shim's first question imports pandas: 0.2-0.7 s
of a warm start that never touches pandas. Building the array from its
buffers asks nothing.

    strings(values) -> pa.StringArray of `values` (str, no nulls), in order
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def strings(values: Sequence[str]) -> pa.StringArray:
    data = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(data) + 1, np.int32)
    np.cumsum(np.fromiter(map(len, data), np.int32, len(data)), out=offsets[1:])
    return pa.StringArray.from_buffers(len(data), pa.py_buffer(offsets), pa.py_buffer(b"".join(data)))
