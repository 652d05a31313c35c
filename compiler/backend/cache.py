"""Content-addressed kernel files: generated source -> an importable module
whose Numba functions cache their machine code beside it.

Numba cannot cache functions made by `exec`, so each kernel is written once
to `<cache dir>/k_<hash>.py`, named by the hash of everything that decides
its code (the generated source, which already reflects the policy's meaning,
plus the runtime helpers' source and the Numba and Python versions), and
imported from there. Files are written atomically and never rewritten, so
concurrent processes may share a cache directory. Numba keeps one compiled
specialization per input schema (argument types) in its own index there.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile
import threading
from pathlib import Path


_lock = threading.Lock()
_modules: dict[str, object] = {}


def cache_dir() -> Path:
    """`POL_CACHE_DIR`, else the user's cache folder."""
    env = os.environ.get("POL_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pol-engine" / "kernels"


def key(source: str) -> str:
    # Imported here: the front end asks for cache_dir() without loading Numba.
    import numba

    from pol.compiler.backend import runtime
    h = hashlib.sha256()
    for part in (source, inspect.getsource(runtime), numba.__version__, sys.version):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:24]


def path_for(source: str) -> Path:
    return cache_dir() / f"k_{key(source)}.py"


def is_cached(source: str) -> bool:
    """Whether the kernel file exists and Numba has an index for it."""
    p = path_for(source)
    return p.exists() and any((p.parent / "__pycache__").glob(f"{p.stem}.kernel-*.nbi"))


def load(source: str):
    """Import the module for this kernel source, writing it first if needed."""
    k = key(source)
    with _lock:
        mod = _modules.get(k)
        if mod is not None:
            return mod
        path = path_for(source)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(source)
            # A link fails if another process got there first; its file has the
            # same content, and rewriting it would change the mtime that Numba's
            # own cache checks.
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        name = f"pol_kernel_{k}"
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        # Numba's cached code finds its globals by module name on reload.
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        _modules[k] = mod
        return mod
