"""The cache folder: where pol keeps what it builds once and reuses (kernel
modules, Numba's compiled code for them, the grammar's parse tables).

In: the environment. `POL_CACHE_DIR` names the folder; without it,
`$XDG_CACHE_HOME/pol-engine/kernels`, else `~/.cache/pol-engine/kernels`.
Out: `usable()`, the folder (resolved) when it is safe to load code from,
else None after one warning line on stderr (once per process). Callers then
run without a cache; nothing fails for want of one.

What is loaded from the folder is checked by its users (compiler/backend/cache.py
compares a kernel file with the source it must hold, dsl/tables.py reads the
parse tables as JSON, never pickled). What cannot be checked that way is
Numba's own index and data files in `__pycache__`, which Numba unpickles: they
are safe only because nobody else can write there. So a folder is used only
when it and its `__pycache__` belong to this user and no one else may write
to them, and no one else may replace them either: every folder above must
belong to this user or to root and be writable by no one else, unless it has
the sticky bit (as /tmp has), or is writable only by the user's own group.

Imports nothing beyond the standard library: dsl/ uses it without loading
the compiler or Numba.
"""
from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

ENV = "POL_CACHE_DIR"

_lock = threading.Lock()
_decided: dict[str, Path | None] = {}
_warned = False


def location() -> Path:
    """The cache folder the environment asks for (it may not exist yet)."""
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pol-engine" / "kernels"


def usable(where: Path | None = None, numba_files: bool = True, label: str = "the cache folder") -> Path | None:
    """The cache folder (or `where`), made if missing (private: mode 0700),
    when it is safe to use; else None, after one warning line. With
    `numba_files`, the same holds for its `__pycache__`, where Numba keeps
    its files. Decided once per folder and process."""
    where = location() if where is None else where
    with _lock:
        key = str(where)
        if key not in _decided:
            _decided[key] = _open(where, numba_files, label)
        return _decided[key]


def problem(folder: Path) -> str | None:
    """Why an existing folder must not hold code pol loads, or None when it may."""
    st = os.stat(folder)
    if not stat.S_ISDIR(st.st_mode):
        return "it is not a folder"
    if not hasattr(os, "geteuid"):       # not POSIX: no owners and modes to go by
        return None if os.access(folder, os.W_OK) else "you cannot write to it"
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"it belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"others can write to it (mode {stat.S_IMODE(st.st_mode):o})"
    for parent in Path(os.path.realpath(folder)).parents:
        pst = os.stat(parent)
        if pst.st_uid not in (0, uid):
            return f"the folder above it, {shown(parent)}, belongs to another user (uid {pst.st_uid})"
        sticky = pst.st_mode & stat.S_ISVTX
        if pst.st_mode & 0o002 and not sticky:
            return f"anyone can write to the folder above it, {shown(parent)}"
        if pst.st_mode & 0o020 and not sticky and pst.st_gid != os.getegid():
            return f"a group can write to the folder above it, {shown(parent)}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return "you cannot write to it"
    return None


def warn(message: str) -> None:
    """One line on stderr, the first time in this process only."""
    global _warned
    if _warned:
        return
    _warned = True
    try:
        print(f"pol: warning: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):      # no stderr (a daemon): nothing to tell
        pass


def _open(where: Path, numba_files: bool, label: str) -> Path | None:
    try:
        _make_private(where)
        real = Path(os.path.realpath(where))
        why = problem(real)
        if why is None and numba_files:
            numba_files = real / "__pycache__"
            _make_private(numba_files)
            why = problem(numba_files)
            if why is not None:
                why = f"its __pycache__ folder: {why}"
    except OSError as e:
        why = e.strerror or str(e)
        why = why[:1].lower() + why[1:]
    if why is None:
        return real
    fix = f"set {ENV} to a private folder of your own" if label == "the cache folder" \
        else f"point {label} at a private folder of your own, or unset it"
    warn(f"not using {label} {shown(where)}: {why}; running without a cache ({fix})")
    return None


def _make_private(folder: Path) -> None:
    """Make the folder and any missing folder above it, readable by this user only."""
    missing: list[Path] = []
    p = folder
    while not os.path.lexists(p):
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass


def shown(path: Path) -> str:
    # the warning stays one line whatever the folder is called
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(path))
