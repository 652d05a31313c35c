"""Background kernel compilation: `python -m pol.compiler.backend.warm FOLDER MARKER`,
the job on stdin.

In: on stdin, a pickle of (checked program, kernel plan, codegen.source's
options, argument types) from the process that started this one
(engine/evaluation/executor.AutoExecutor, while its run goes on with the
vectorized evaluator). Out: the kernel's source generated here (a second or
more for a large policy, which the run's first result does not wait for),
written to FOLDER/k_<hash>.py, compiled for those types, Numba's machine
code stored in FOLDER, then the empty file MARKER, to say the kernel is
ready (MARKER is named by the program: compiler/backend/identity.py); or,
when generating or compiling fails (a RecursionError in Numba's SSA pass
for a function too large, or any other error), the file MARKER with the
suffix `.failed` holding the error in one line, and exit status 2.

The job comes through a pipe from the parent, never through a file: a file
could be replaced by someone else before it is unpickled. FOLDER must pass
the cache folder's check (pol.cachefolder), and the module is compiled from
the source generated here (cache.load_in), not imported from the file, so
this process compiles the kernel of its parent's program or nothing.
"""
from __future__ import annotations

import concurrent.futures
import os
import pickle
import sys
import types
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    folder, marker = Path(argv[0]), Path(argv[1])
    program, plan, options, sig = pickle.load(sys.stdin.buffer)
    from pol import cachefolder
    from pol.compiler.backend import cache, codegen, split
    if marker.parent != folder or cachefolder.problem(folder) is not None:
        return 1
    # Lower priority: the run that asked for this is using the other cores.
    _lower_priority()
    # A split kernel's stages compile in processes of their own, started now
    # so that they import Numba while this one generates the source.
    pool = None
    if split.needed(program, options.get("split_at")) and (os.cpu_count() or 1) > 1:
        pool = _pool(os.cpu_count() or 1)
    try:
        source = codegen.source(program, plan, **options)
        module = cache.load_in(source, folder)
        if pool is not None and getattr(module, "STAGES", 0) > 1:
            k = cache.key(source)
            compile_stages(pool, folder, k, stage_signature(module, sig), module)
            # The entry point too, in a worker: its Numba has typed and
            # lowered this kind of code already, a fresh one takes half as
            # long again (50 offers x 300 segments: 5.4 against 7.9 s of CPU).
            pool.submit(_compile_stage, (folder, k, sig, -1)).result()
        else:
            module.kernel.compile(sig)
    except Exception as e:      # RecursionError, Numba's errors: said, never silent
        failed(marker, e)
        return 2
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    cache.touch(marker)
    return 0


def _lower_priority() -> None:
    try:
        os.nice(5)
    except OSError:
        pass


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


def _pool(cores: int) -> concurrent.futures.ProcessPoolExecutor:
    """Worker processes, one per core, started at once (a first job starts
    them all) and importing what a stage's compile needs."""
    import multiprocessing
    context = multiprocessing.get_context("spawn")     # no fork of a process holding LLVM
    pool = concurrent.futures.ProcessPoolExecutor(cores, mp_context=context, initializer=_prepare)
    pool.submit(int)
    return pool


def _prepare() -> None:
    _lower_priority()
    import numba  # noqa: F401

    from pol.compiler.backend import cache  # noqa: F401


def compile_stages(pool: concurrent.futures.ProcessPoolExecutor, folder: Path, k: str, sig: tuple[Any, ...],
                   module: types.ModuleType) -> None:
    """Each stage of a split kernel compiled in a worker process, into
    Numba's cache in FOLDER, from which the kernel's compile then loads them:
    compile time is Numba's, in Python, and a core each divides it. The
    largest first (by their bytecode, which grows with their statements), so
    that the last to finish is a small one and the cores end together."""
    stages = sorted(range(module.STAGES), key=lambda j: -len(getattr(module, f"stage{j}").py_func.__code__.co_code))
    for done in pool.map(_compile_stage, [(folder, k, sig, j) for j in stages]):
        assert done


def _compile_stage(job: tuple[Path, str, tuple[Any, ...], int]) -> bool:
    folder, k, sig, j = job
    from pol.compiler.backend import cache
    source = (folder / f"k_{k}.py").read_bytes().decode("utf-8")
    if cache.key(source) != k:
        raise ValueError("the kernel file changed while its stages compiled")
    module = cache.load_in(source, folder)
    # j < 0: the entry point, its stages from Numba's cache
    (module.kernel if j < 0 else getattr(module, f"stage{j}")).compile(sig)
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
