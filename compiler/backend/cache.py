"""Content-addressed kernel files: generated source -> a module whose Numba
function caches its machine code beside it.

Numba caches only functions that live in a file, so each kernel is written
to `<folder>/k_<hash>.py`, named by the hash of everything that decides its
code (the generated source, which already reflects the policy's meaning,
plus the source of the runtime helpers and of the walk it calls, and the
Numba and Python versions). The folder is the cache folder (pol.cachefolder)
when it is safe to use, else a private temporary folder of this process,
removed at exit, else none: the kernel is then compiled in memory, for this
process only.

Nothing is trusted for its name. Before a kernel runs, the file's bytes are
compared with the source this process generated, and the module is compiled
from that source rather than imported from the file (so no `.pyc` is read
either); a file that differs (planted, truncated, half-written) is written
anew. Numba's index and data files in `__pycache__` are pickles that Numba
loads itself: only the folder check protects them. One that does not load
(truncated, corrupt) is dropped and the kernel compiled and saved again; a
save that fails (disk full) leaves the kernel compiled in memory.

Files are written atomically and a correct file is never rewritten, so
concurrent processes may share a folder. Numba keeps one compiled
specialization per input schema (argument types) in its index there.
"""
from __future__ import annotations

import ast
import atexit
import hashlib
import importlib
import inspect
import os
import re
import shutil
import sys
import tempfile
import threading
import types
from pathlib import Path
from typing import Any

from pol import cachefolder

# The entry points a kernel module defines (compiler/backend/codegen.py): a
# batch kernel or a row kernel, one per module.
FUNCTIONS = ("kernel", "row_kernel")
# `from pol.x.y import ...` at the start of a line of generated source
_FROM_POL = re.compile(r"^from (pol(?:\.\w+)+) import", re.MULTILINE)

# Reentrant: loading a row kernel module imports the matcher module (walk.matcher()).
_lock = threading.RLock()
_modules: dict[str, types.ModuleType] = {}
_private_lock = threading.Lock()
_private: Path | None = None
_private_tried = False

# Held for the whole of every build of a row kernel (engine/evaluation/row.py),
# and of Numba's import on a background thread (engine/api/policy.py), and by
# a fork while it forks: the building thread does not exist in the child,
# and the locks it holds (Numba's compiler lock, this module's, the import
# locks of half-imported modules) would stay locked there forever.
BUILDING = threading.Lock()
# logging's and the thread pools' fork hooks take their own locks, which the
# building thread may need (Numba's import logs): registered before this
# one, they run after it (Python runs the `before` hooks last registered
# first), so a fork waits for the build without holding them.
import concurrent.futures.thread  # noqa: E402,F401
import logging  # noqa: E402,F401

if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=BUILDING.acquire, after_in_parent=BUILDING.release,
                        after_in_child=BUILDING.release)


def key(source: str) -> str:
    # Imported here: the front end loads pol.cachefolder without Numba.
    import numba

    from pol.compiler.backend import runtime, views, walk
    h = hashlib.sha256()
    # The helpers a kernel calls are compiled into it, and Numba's cache
    # checks only the kernel's own file: their source is part of the key
    # (the views' only for the row kernels that import them: the batch
    # kernels' keys stay what they were).
    helpers = [runtime, walk] + ([views] if "pol.compiler.backend.views" in source else [])
    # Any other module of pol the source imports its helpers from (a
    # history scan's, engine/evaluation/history_scan.py): named by the
    # source itself, so the compiler depends on no part of the engine.
    named = {h.__name__ for h in helpers} | {views.__name__}
    helpers += [importlib.import_module(m) for m in sorted(set(_FROM_POL.findall(source)) - named)]
    for part in (source, *map(inspect.getsource, helpers), numba.__version__, sys.version):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:24]


def folder() -> Path | None:
    """Where this process keeps kernel files; None: in memory only."""
    import numba
    if numba.config.CACHE_DIR:
        # NUMBA_CACHE_DIR: Numba keeps its index and data files there
        # instead of in __pycache__, so that folder must be safe as well.
        if cachefolder.usable(Path(numba.config.CACHE_DIR), numba_files=False, label="NUMBA_CACHE_DIR") is None:
            return None
    return cachefolder.usable() or _private_folder()


def path_for(source: str) -> Path | None:
    """The kernel's file; None when kernels are compiled in memory."""
    where = folder()
    return where / f"k_{key(source)}.py" if where is not None else None


def is_cached(source: str, functions: tuple[str, ...] = FUNCTIONS) -> bool:
    """Whether the kernel file holds this source and Numba has an index for
    one of its functions (`k_<hash>.kernel-<line>.py311.nbi` for a batch
    kernel, `k_<hash>.row_kernel-<line>.py311.nbi` for a row kernel)."""
    path = path_for(source)
    if path is None or _read(path) != source.encode("utf-8"):
        return False
    index = _index_folder(path)
    return any(any(index.glob(f"{path.stem}.{name}-*.nbi")) for name in functions)


def is_ready(source: str, functions: tuple[str, ...]) -> bool:
    """Whether this source's module is loaded in this process already, or
    its functions are compiled in the cache folder (is_cached)."""
    with _lock:
        if key(source) in _modules:
            return True
    return is_cached(source, functions)


def load(source: str) -> types.ModuleType:
    """The module for this kernel source, its file written first if needed."""
    return load_in(source, folder())


def write(source: str) -> Path | None:
    """The kernel's file, written if needed, for a process that compiles it
    (warm.py); None when kernels are compiled in memory."""
    where = folder()
    return _written(where / f"k_{key(source)}.py", source) if where is not None else None


def load_in(source: str, where: Path | None) -> types.ModuleType:
    """The same in a given folder (None: in memory); the background compiler
    (warm.py) uses the folder of the process that started it."""
    k = key(source)
    with _lock:
        mod = _modules.get(k)
        if mod is not None:
            return mod
        path = _written(where / f"k_{k}.py", source) if where is not None else None
        mod = _module(f"pol_kernel_{k}", source, path)
        _modules[k] = mod
        return mod


def touch(path: Path | None) -> None:
    """Create an empty marker file; never through a link, never an error."""
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600))
    except OSError:
        pass


# ---------------------------------------------------------------- files

def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _written(path: Path, source: str) -> Path | None:
    """The path, once it holds exactly `source`; None when it cannot be written."""
    data = source.encode("utf-8")
    present = _read(path)
    if present == data:
        return path
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".py")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            if present is None:
                # A link fails if another process got there first; its file
                # is then kept when it is right, so that its stamp, which
                # Numba's index records, does not change.
                os.link(tmp, path)
            else:
                os.replace(tmp, path)
        except FileExistsError:
            if _read(path) != data:
                os.replace(tmp, path)
    except OSError as e:
        cachefolder.warn(f"cannot write a kernel into {cachefolder.shown(path.parent)}: "
                         f"{e.strerror or e}; compiling it in memory")
        return None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def _private_folder() -> Path | None:
    """This process's own temporary kernel folder (mode 0700), removed at exit."""
    global _private, _private_tried
    with _private_lock:
        if not _private_tried:
            _private_tried = True
            try:
                where = Path(tempfile.mkdtemp(prefix="pol-kernels-"))
            except OSError:
                return None
            atexit.register(_remove, where, os.getpid())
            if cachefolder.usable(where) is not None:
                _private = where
        return _private


def _remove(where: Path, owner: int) -> None:
    if os.getpid() == owner:        # not from a forked child
        shutil.rmtree(where, ignore_errors=True)


def _index_folder(path: Path) -> Path:
    """Where Numba keeps the index for functions in `path`."""
    import numba
    if numba.config.CACHE_DIR:
        from numba.core.caching import UserProvidedCacheLocator
        sub: str = UserProvidedCacheLocator.get_suitable_cache_subpath(str(path))
        return Path(numba.config.CACHE_DIR) / sub
    return path.parent / "__pycache__"


# ---------------------------------------------------------------- modules

def _module(name: str, source: str, path: Path | None) -> types.ModuleType:
    if path is None:
        code = compile(_without_disk_cache(source), f"<pol kernel {name}>", "exec", dont_inherit=True)
    else:
        # Numba finds the file (for its cache) from the code's file name.
        code = compile(source, str(path), "exec", dont_inherit=True)
    mod = types.ModuleType(name)
    if path is not None:
        mod.__file__ = str(path)
    # Numba's cached code finds its globals by module name on reload.
    sys.modules[name] = mod
    exec(code, mod.__dict__)
    for value in list(vars(mod).values()):
        # this module's own Numba functions, not the runtime helpers it imports
        if getattr(getattr(value, "py_func", None), "__module__", None) == name:
            _guard(value)
    return mod


def _without_disk_cache(source: str) -> ast.Module:
    """The kernel with `cache=False`: with no file, Numba cannot cache it."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "cache":
            node.value = ast.copy_location(ast.Constant(False), node.value)
    return tree


def _guard(dispatcher: Any) -> None:
    """Numba's cache entry for this function: one that does not load is
    dropped (Numba then compiles and saves it anew), one that cannot be saved
    is not; neither reaches the run as an error."""
    numba_cache = getattr(dispatcher, "_cache", None)
    if numba_cache is None or not hasattr(numba_cache, "load_overload"):
        return
    load, save = numba_cache.load_overload, numba_cache.save_overload

    def load_overload(sig: Any, target_context: Any) -> Any:
        try:
            return load(sig, target_context)
        except Exception:
            index = getattr(getattr(numba_cache, "_cache_file", None), "_index_path", None)
            if index:
                try:
                    os.unlink(index)
                except OSError:
                    pass
            return None

    def save_overload(sig: Any, data: Any) -> None:
        try:
            save(sig, data)
        except Exception as e:
            cachefolder.warn(f"cannot save a compiled kernel in the cache folder: {e}; "
                             "it is compiled again next time")

    numba_cache.load_overload = load_overload
    numba_cache.save_overload = save_overload
