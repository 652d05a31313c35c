"""Background kernel compilation: `python -m pol.compiler.backend.warm FOLDER MARKER`,
the job on stdin.

In: on stdin, a pickle of (kernel hash, argument types) from the process
that started this one (engine/evaluation/executor.AutoExecutor, while its run
goes on with the vectorized evaluator), which has written the kernel to
FOLDER/k_<hash>.py. Out: the kernel compiled for those types, Numba's
machine code stored in FOLDER, then the empty file MARKER, to say the kernel
is ready; or, when Numba fails (a RecursionError in its SSA pass for a
function too large, or any other error), the file MARKER with the suffix
`.failed` holding the error in one line, and exit status 2.

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
import types
from pathlib import Path
from typing import Any


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
    try:
        module = cache.load_in(source, folder)
        stages = getattr(module, "STAGES", 0)
        if stages > 1 and (os.cpu_count() or 1) > 1:
            compile_stages(folder, k, stage_signature(module, sig), stages)
        module.kernel.compile(sig)      # the stages from Numba's cache when compiled above
    except Exception as e:      # RecursionError, Numba's errors: said, never silent
        failed(marker, e)
        return 2
    cache.touch(marker)
    return 0


def stage_signature(module: types.ModuleType, sig: tuple[Any, ...]) -> tuple[Any, ...]:
    """The argument types of a split kernel's stages (compiler/backend/split.py),
    from the kernel's: its first CORE, the block buffers, and unfused its
    candidate outputs."""
    import numba
    import numpy as np

    def block(dtype: Any) -> Any:
        return numba.typeof(np.empty((1, 1), dtype))

    buffers = (block(np.float64), block(np.int64), block(np.bool_))
    tail = (block(np.int64), block(np.float64)) if module.FUSED else tuple(sig[module.CORE:])
    return tuple(sig[:module.CORE]) + buffers + tail


def compile_stages(folder: Path, k: str, sig: tuple[Any, ...], stages: int) -> None:
    """Each stage of a split kernel compiled in a process of its own, one per
    core, into Numba's cache in FOLDER, from which the kernel's compile then
    loads them: compile time is Numba's, in Python, and a core each divides it."""
    import concurrent.futures
    import multiprocessing
    workers = min(os.cpu_count() or 1, stages)
    context = multiprocessing.get_context("spawn")     # no fork of a process holding LLVM
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        for done in pool.map(_compile_stage, [(folder, k, sig, j) for j in range(stages)]):
            assert done


def _compile_stage(job: tuple[Path, str, tuple[Any, ...], int]) -> bool:
    folder, k, sig, j = job
    from pol.compiler.backend import cache
    try:
        os.nice(5)
    except OSError:
        pass
    source = (folder / f"k_{k}.py").read_bytes().decode("utf-8")
    if cache.key(source) != k:
        raise ValueError("the kernel file changed while its stages compiled")
    getattr(cache.load_in(source, folder), f"stage{j}").compile(sig)
    return True


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception as `Type: first line of its message`, at most `limit` characters."""
    text = str(e).strip().splitlines()
    line = f"{type(e).__name__}: {text[0]}" if text else type(e).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def failure_path(marker: Path) -> Path:
    """Where a failed compile says why, beside the marker it never wrote."""
    return marker.with_suffix(".failed")


def failed(marker: Path, e: BaseException) -> None:
    """The failure in one line, for the run that started this one (and the
    next runs, which then do not try again): engine/evaluation/executor.py."""
    try:
        failure_path(marker).write_text(one_line(e), encoding="utf-8")
    except OSError:
        pass


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
