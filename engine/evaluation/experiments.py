"""Experiments on the batch paths (LANGUAGE.md section 13): every row's arm
drawn from its key once per batch, by the compiled hash
(compiler/backend/runtime.py `draw_arms`, the holdouts' `fnv1a`), and
handed to the kernels as the extra input field of each experiment
(compiler/backend/experiments.py). The same column is the arm in the
customers output, and the run counts customers per arm for the summary.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from pol.arbitration.arbitrate import Keys
from pol.compiler import ir
from pol.compiler.backend.runtime import FNV_OFFSET, draw_arms, fnv1a

ARM_TYPE = pa.dictionary(pa.int16(), pa.string())


def _state(prefix: str) -> np.uint64:
    data = np.frombuffer(prefix.encode("utf-8"), np.uint8)
    return np.uint64(fnv1a(FNV_OFFSET, data, 0, len(data)))


class Arms:
    """The experiments of a program, ready to draw arms; counts what it drew."""

    def __init__(self, program: ir.Program):
        self.experiments = program.experiments
        self._states = [_state(x.prefix) for x in self.experiments]
        self._bounds = [np.array(x.bounds, np.int64) for x in self.experiments]
        self._values = [pa.array(x.values, pa.string()) for x in self.experiments]
        self.counts = [np.zeros(len(x.values), np.int64) for x in self.experiments]

    def __bool__(self) -> bool:
        return bool(self.experiments)

    def codes(self, keys: Keys, n: int) -> list[np.ndarray]:
        """Per experiment, each row's arm as an index into its values."""
        out = []
        for state, bounds in zip(self._states, self._bounds):
            codes = np.empty(n, np.int16)
            draw_arms(state, bounds, keys.is_int, keys.ints, keys.offsets, keys.data, n, codes)
            out.append(codes)
        return out

    def extend(self, batch: pa.RecordBatch, keys: Keys) -> pa.RecordBatch:
        """The batch with one arm column per experiment (named after it),
        counted into `counts`."""
        n = batch.num_rows
        arrays, names = list(batch.columns), list(batch.schema.names)
        for j, codes in enumerate(self.codes(keys, n)):
            self.counts[j] += np.bincount(codes, minlength=len(self.counts[j]))
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(codes), self._values[j], safe=False))
            names.append(self.experiments[j].name)
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def of_key(self, key: int | str | None) -> list[str]:
        """One customer's arms, in declaration order (the row kernel's extra
        fields); a customer without a key is in every control group."""
        if key is None:
            return [ir.CONTROL for _ in self.experiments]
        codes = self.codes(Keys.of_record(key), 1)
        return [x.values[c[0]] for x, c in zip(self.experiments, codes)]

    def summary(self) -> dict[str, dict[str, int]]:
        """Customers per arm (and control) of each experiment."""
        return {x.name: dict(zip(x.values, (int(c) for c in counts)))
                for x, counts in zip(self.experiments, self.counts)}
