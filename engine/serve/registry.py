"""The policies a server holds: every version of every policy, loaded from
a file or a folder, and how they are reloaded.

A folder is served file by file: each `.pol` file that no other file of the
folder imports is a policy (in policies/telecom only retention.pol is; the
others are the modules it imports). Two files may hold two versions of one
policy (`policy retention version "2026.12"` beside `... "2026.11"`); both
are live.

Reloading (`refresh`) runs off the request path, on a worker thread: every
file is read and hashed with the files it imports; a policy whose hash
changed is checked and loaded, its row kernel compiled in a separate
process (Numba's compiler would otherwise hold the interpreter's lock
between requests) and then loaded from the disk cache, and only then is a
new `Snapshot` swapped in, by one assignment. A request reads the snapshot
once, so it sees the old set or the new, never a mix. A file that no longer
checks keeps its last good version serving; the error is kept for
`/v1/policies` and the log until the file is fixed.
"""
from __future__ import annotations

import datetime as dt
import gc
import hashlib
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from pol.serve.ledger import draws_of

log = logging.getLogger("pol.serve")


class NotLoaded(LookupError):
    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class Loaded:
    """One live version of a policy."""
    name: str
    version: str | None
    path: str
    policy: object                      # pol.Policy
    hash: str                           # sha256 of the file and everything it imports
    loaded_at: str
    capacities: dict[str, int]          # offer -> capacity, for the offers that have one
    ready: bool = False                 # the row kernel is built: decide runs compiled
    # What a given offer draws from the ledger, and the channels' capacities (ledger.draws_of)
    draws: tuple[dict, dict] = ({}, {})

    @property
    def drawn(self) -> bool:
        """Whether decisions draw from the ledger (record by record)."""
        return bool(self.capacities or self.draws[0] or self.draws[1])

    @property
    def by_record(self) -> bool:
        """Whether batches are decided record by record: when decisions draw
        from the ledger, and for a policy with a population (LANGUAGE.md
        3.14), whose batch run leaves out the customers outside it while a
        request answers every record it holds (with no offer)."""
        return self.drawn or self.policy.program.population is not None

    @property
    def engine(self) -> str:
        # Not "auto" while the kernel builds: auto would build it again on a
        # thread of this process. Where nothing may compile, auto still uses a
        # kernel that is in the disk cache.
        if self.ready:
            return "kernel"
        return "auto" if not may_compile() else "reference"


def may_compile() -> bool:
    """POL_BACKGROUND_COMPILE=0 (docs/API.md section 9): build no kernel."""
    return os.environ.get("POL_BACKGROUND_COMPILE", "1") != "0"


@dataclass(frozen=True)
class Snapshot:
    versions: dict[str, dict[str | None, Loaded]] = field(default_factory=dict)   # name -> version -> Loaded
    by_path: dict[str, Loaded] = field(default_factory=dict)
    errors: dict[str, dict] = field(default_factory=dict)       # path -> {error, at}
    generation: int = 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _freeze() -> None:
    """Move what a load made out of the collector's sight (gc.freeze): the
    objects of a policy and its kernels live as long as the version, and
    otherwise every full collection, at a random request, walks them all."""
    gc.freeze()


def _files(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted(p for p in target.rglob("*.pol")
                      if p.is_file() and not any(part.startswith(".") for part in p.relative_to(target).parts))
    return [target]


def _hash(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(str(p).encode())
        try:
            h.update(Path(p).read_bytes())
        except OSError:
            h.update(b"\0missing")
    return h.hexdigest()


def compile_elsewhere(path: str) -> str | None:
    """Build the policy's kernels into the disk cache in a child process;
    None when done, else what went wrong (the parent then compiles in-process)."""
    code = "import sys, pol; pol.load(sys.argv[1]).compile(decide=True)"
    try:
        run = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if run.returncode == 0 else (run.stderr.strip().splitlines() or ["failed"])[-1]


class Registry:
    def __init__(self, target: str, in_subprocess: bool = True, on_reload=None):
        self.target = Path(target)
        self.snapshot = Snapshot()
        self.in_subprocess = in_subprocess
        self.on_reload = on_reload or (lambda name, version, ok: None)
        self._lock = threading.Lock()            # one refresh at a time
        self._known: dict[str, tuple[str, tuple]] = {}   # path -> (hash, files) of the last attempt

    # ------------------------------------------------------------ reading
    def lookup(self, name: str | None, version: str | None, pinned: bool):
        """(name, versions of the policy), or NotLoaded with the message a client sees."""
        snap = self.snapshot
        if name is None:
            if len(snap.versions) != 1:
                names = ", ".join(sorted(snap.versions)) or "none is loaded"
                raise NotLoaded(f"name the policy: this server holds {names}", "policy")
            name = next(iter(snap.versions))
        versions = snap.versions.get(name)
        if versions is None:
            names = ", ".join(sorted(snap.versions)) or "none is loaded"
            raise NotLoaded(f"no policy '{name}' is loaded; this server holds {names}", "policy")
        if pinned and version not in versions:
            have = ", ".join(repr(v) for v in sorted(versions, key=str))
            raise NotLoaded(f"policy '{name}' has no version {version!r} loaded; it has {have}", "version")
        return name, versions

    def listing(self) -> list[dict]:
        snap = self.snapshot
        out = []
        for path in sorted(set(snap.by_path) | set(snap.errors)):
            e = snap.by_path.get(path)
            err = snap.errors.get(path)
            out.append({
                "path": path,
                "name": e.name if e else None, "version": e.version if e else None,
                "hash": e.hash if e else None, "loaded_at": e.loaded_at if e else None,
                "engine": e.engine if e else None,
                "capacities": e.capacities if e else {},
                "last_error": err,
            })
        return out

    # ------------------------------------------------------------ loading
    def refresh(self, build: bool = True) -> list[str]:
        """Read every file again; load what changed, and with `build` compile
        it before the swap. Returns what happened, one line each (the server
        logs them)."""
        with self._lock:
            # A load is a tenth of a second of Python on this thread; requests
            # waiting for the interpreter get it back every 0.5 ms instead of 5.
            previous = sys.getswitchinterval()
            sys.setswitchinterval(min(previous, 0.0005))
            try:
                return self._refresh(build)
            finally:
                sys.setswitchinterval(previous)

    def _refresh(self, build: bool) -> list[str]:
        import pol
        old = self.snapshot
        files = _files(self.target)
        events: list[str] = []
        by_path = dict(old.by_path)
        errors = dict(old.errors)
        present = {str(p) for p in files}
        for path in list(by_path):
            if path not in present:
                e = by_path.pop(path)
                events.append(f"{path}: removed; {e.name} {e.version} unloaded")
        for path in list(errors):
            if path not in present:
                errors.pop(path)
        imported: set[str] = set()
        fresh: list[str] = []
        failed: list[str] = []
        for p in files:
            path = str(p)
            known = self._known.get(path)
            deps = known[1] if known else (path,)
            digest = _hash(deps)
            if known and known[0] == digest:
                e = by_path.get(path)
                if e is not None:
                    imported.update(str(Path(f)) for f in e.policy.program.files[1:])
                continue
            try:
                policy = pol.load(path)
            except Exception as exc:     # a policy error, an unreadable file: reported, never fatal
                if isinstance(exc, OSError):
                    text = f"cannot read: {exc.strerror or exc}"
                elif isinstance(exc, pol.PolicyError):
                    text = str(exc)
                else:
                    text = f"cannot load: {type(exc).__name__}: {exc}"
                # Hashed with the files it last imported: a fix in any of them tries again.
                deps = tuple(dict.fromkeys((path, *deps)))
                self._known[path] = (_hash(deps), deps)
                if path in by_path:
                    imported.update(str(Path(f)) for f in by_path[path].policy.program.files[1:])
                errors[path] = {"error": text, "at": _now()}
                failed.append(path)
                continue
            deps = tuple(str(Path(f)) for f in policy.program.files)
            imported.update(deps[1:])
            digest = _hash(deps)
            self._known[path] = (digest, deps)
            caps = {o.name: o.capacity for o in policy.program.offers if o.capacity is not None}
            by_path[path] = Loaded(policy.name, policy.version, path, policy, digest, _now(), caps,
                                   draws=draws_of(policy.program))
            errors.pop(path, None)
            fresh.append(path)
        # Only now is it known which files are modules of others: those are not
        # served, and their kernels are not built.
        for path in fresh:
            if path in imported:
                continue
            entry = by_path[path]
            if build:
                self._build(entry)
            events.append(f"{path}: loaded {entry.name} version {entry.version} ({entry.hash[:12]}, {entry.engine})")
            self.on_reload(entry.name, entry.version, True)
        # A module's error is reported once, in the policies that import it.
        for path in failed:
            if path in imported:
                continue
            keeps = "; the loaded version keeps serving" if path in by_path else ""
            events.append(f"{path}: does not check{keeps}:\n{errors[path]['error']}")
            self.on_reload(by_path[path].name if path in by_path else None, None, False)
        # A file another file imports is a module of that policy, not a policy.
        served = {path: e for path, e in by_path.items() if path not in imported}
        versions: dict[str, dict[str | None, Loaded]] = {}
        for path in sorted(served):
            e = served[path]
            same = versions.setdefault(e.name, {})
            if e.version in same:
                errors[path] = {"error": f"{same[e.version].path} already serves {e.name} version "
                                         f"{e.version!r}; give this file another version", "at": _now()}
                events.append(f"{path}: not served: {errors[path]['error']}")
                continue
            same[e.version] = e
        self.snapshot = Snapshot(versions, served, {p: v for p, v in errors.items() if p not in imported},
                                 old.generation + 1)
        if fresh:
            _freeze()
        return events

    def _build(self, entry: Loaded) -> None:
        """Compile the row kernel before the version takes requests: in a child
        process, then loaded from the disk cache here (milliseconds)."""
        if not may_compile():
            return
        if self.in_subprocess and not entry.policy.decide_compiled():
            why = compile_elsewhere(entry.path)
            if why is not None:
                log.warning("%s: the kernel did not compile in a child process (%s); "
                            "the reference evaluator answers until it does", entry.path, why)
                return
        try:
            entry.policy.compile(decide=True)
            entry.ready = True
        except Exception as e:     # the reference evaluator still answers
            log.warning("%s: the kernel did not load (%s); the reference evaluator answers", entry.path, e)

    def start_background_builds(self) -> None:
        """At start-up the server answers at once on the reference evaluator
        while the kernels build here."""
        def build(entries):
            for e in entries:
                self._build(e)
            _freeze()
        pending = [e for vs in self.snapshot.versions.values() for e in vs.values() if not e.ready]
        if pending:
            threading.Thread(target=build, args=(pending,), name="pol-serve-build", daemon=True).start()
