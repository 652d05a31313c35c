"""Background kernel compilation: `python -m pol.compiler.backend.warm KERNEL SIG MARKER`.

Compiles the cached kernel module KERNEL for the argument types pickled in
SIG, so that Numba stores the machine code in its disk cache, then creates
MARKER to say the kernel is ready. Started by engine/executor.AutoExecutor
while the run goes on with the vectorized evaluator.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    kernel_path, sig_path, marker = argv
    try:
        with open(sig_path, "rb") as f:
            sig = pickle.load(f)
    finally:
        os.unlink(sig_path)
    # Lower priority: the run that asked for this is using the other cores.
    try:
        os.nice(5)
    except OSError:
        pass
    path = Path(kernel_path)
    name = f"pol_kernel_{path.stem[2:]}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    mod.kernel.compile(sig)
    Path(marker).touch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
