"""Background kernel compilation: `python -m pol.compiler.backend.warm FOLDER MARKER`,
the job on stdin.

In: on stdin, a pickle of (kernel hash, argument types) from the process
that started this one (engine/evaluation/executor.AutoExecutor, while its run
goes on with the vectorized evaluator), which has written the kernel to
FOLDER/k_<hash>.py. Out: the kernel compiled for those types, Numba's
machine code stored in FOLDER, then the empty file MARKER, to say the kernel
is ready.

The job comes through a pipe from the parent, never through a file: a file
could be replaced by someone else before it is unpickled. FOLDER must pass
the cache folder's check (pol.cachefolder), and the kernel file must hash to
the name the parent gave (cache.key covers the source), so this process
compiles the kernel its parent generated or nothing.
"""
from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    folder, marker = Path(argv[0]), Path(argv[1])
    k, sig = pickle.load(sys.stdin.buffer)
    from pol import cachefolder
    from pol.compiler.backend import cache
    if marker.parent != folder or cachefolder.problem(folder) is not None:
        return 1
    try:
        source = (folder / f"k_{k}.py").read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return 1
    if cache.key(source) != k:
        return 1
    # Lower priority: the run that asked for this is using the other cores.
    try:
        os.nice(5)
    except OSError:
        pass
    cache.load_in(source, folder).kernel.compile(sig)
    cache.touch(marker)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
