"""Which output folder a batch run may write, and holding it while it does.

In: DIR (`--out`), the policy and input paths, --overwrite. Out: `check_paths`
refuses a DIR that is or holds what the run reads or where the user lives;
`Claim` takes DIR for one run (an exclusive lock beside it, and DIR checked
under that lock) or refuses; `marker_text`/`replaceable` are the marker
file by which a later run knows DIR as one that pol run wrote. A refusal
(OutputRefused) is exit status 2; a folder that cannot be made, 1.

The lock is fcntl.flock on `.DIR.pol-lock` in DIR's parent, taken without
waiting and held from the first check to the commit: a second run on the
same DIR is refused at once instead of replacing the first's output. The
system drops it when the process dies, so a killed run never blocks the
next; the file itself is removed by the run that holds it (after checking,
on taking it, that the path still names the file it locked, so a run that
opened the file just before it was removed does not hold a lock on a file
nobody else can see).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import time
from pathlib import Path

MARKER = ".pol-output"
WRITTEN_BY = "pol run"


class OutputRefused(Exception):
    """DIR may not be written or replaced by this run; exit status 2."""


def lock_path(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.pol-lock"


def staging_prefix(out_dir: Path) -> str:
    """Names beside DIR that are this DIR's runs' staging folders."""
    return f".{out_dir.name}.pol-"


# ---------------------------------------------------------------- paths

def _real(path) -> Path:
    return Path(os.path.realpath(path))


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_paths(out: str, policy: str, input: str) -> None:
    """Refuse a DIR that is or holds the policy, the input, the current
    folder or the home folder, or that lies in the input folder (the next
    run would read this run's output as customers). Paths only, before
    anything is read; links are followed."""
    o = _real(out)
    pol_file, inp = _real(policy), _real(input)
    again = "choose another --out"
    if o == pol_file:
        raise OutputRefused(f"{out}: --out is the policy file; {again}")
    if o in pol_file.parents:
        raise OutputRefused(f"{out}: the output folder holds the policy file {policy}; {again}")
    if o == inp:
        what = "input folder" if inp.is_dir() else "input file"
        raise OutputRefused(f"{out}: --out is the {what}; {again}")
    if o in inp.parents:
        raise OutputRefused(f"{out}: the input {input} is inside the output folder, which the run would "
                            f"replace; {again}")
    if inp.is_dir() and inp in o.parents:
        raise OutputRefused(f"{out}: the output folder is inside the input folder {input}: the next run "
                            f"would read the output as customers; {again}")
    places = [("current folder", _real(os.getcwd()))]
    home = os.environ.get("HOME")
    if home:
        places.append(("home folder", _real(home)))
    for name, place in places:
        if o == place:
            raise OutputRefused(f"{out}: --out is the {name}; {again}")
        if o in place.parents:
            raise OutputRefused(f"{out}: the output folder holds the {name}; {again}")


# ---------------------------------------------------------------- the marker

def marker_text(files: list[str]) -> str:
    """The marker's content: who wrote DIR and the files it wrote there."""
    return json.dumps({"written_by": WRITTEN_BY, "files": sorted(files)}, indent=2) + "\n"


def replaceable(out: str, out_dir: Path) -> None:
    """Refuse to replace DIR unless pol run wrote it and it holds nothing
    else (an empty folder holds nothing to lose)."""
    try:
        names = sorted(os.listdir(out_dir))
    except OSError as e:
        raise OutputRefused(f"{out}: cannot look inside the output folder ({os.strerror(e.errno)}); "
                            "choose another --out") from None
    if not names:
        return
    try:
        marker = json.loads((out_dir / MARKER).read_text(encoding="utf-8"))
        ours = set(marker["files"]) if marker.get("written_by") == WRITTEN_BY else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        ours = None
    if ours is None:
        raise OutputRefused(f"{out}: --overwrite replaces only a folder that pol run wrote, and this one has "
                            f"no {MARKER} file (it holds {_some(names)}); remove it yourself if it may go, "
                            "or choose another --out")
    others = [n for n in names if n != MARKER and n not in ours]
    if others:
        raise OutputRefused(f"{out}: holds files that pol run did not write ({_some(others)}); --overwrite "
                            "would delete them: move them out or choose another --out")


def _some(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


# ---------------------------------------------------------------- the claim

class Claim:
    """DIR held for one run: its missing parent folders made, the lock
    taken, what killed runs left beside it swept, and DIR checked (absent;
    or, with --overwrite, a folder pol run wrote). `release` gives it back;
    the parents it made go again unless the run committed."""

    def __init__(self, out: str, out_dir: Path, overwrite: bool):
        self.out, self.out_dir, self.overwrite = out, out_dir, overwrite
        self.fd: int | None = None
        parent = out_dir.parent
        # Deepest first, so that a failed run can remove what it made.
        self.made = [d for d in (parent, *parent.parents) if not d.exists() and not d.is_symlink()]
        try:
            try:
                parent.mkdir(parents=True, exist_ok=True)
                self._lock()
                sweep(out_dir)
            except OSError as e:
                from pol.io.output_files import cannot_write
                raise cannot_write(out, e, "the output folder") from None
            self.check()
        except BaseException:
            self.release(committed=False)
            raise

    def _lock(self) -> None:
        path = lock_path(self.out_dir)
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except PermissionError:
                fd = os.open(path, os.O_RDONLY)     # another user's, left by a killed run: lockable still
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise OutputRefused(f"{self.out}: another pol run{_holder(path)} is writing this output "
                                    "folder; wait for it to end or choose another --out") from None
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)                   # removed by the run that held it: lock the new one
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass                           # only for the message of a run refused meanwhile

    def check(self) -> None:
        """DIR absent, or (--overwrite) a folder pol run wrote; again at
        commit, for what changed while the run ran."""
        d = self.out_dir
        if not (d.exists() or d.is_symlink()):
            return
        if not d.is_dir():
            raise OutputRefused(f"{self.out}: exists and is not a folder; choose another --out")
        if not self.overwrite:
            raise OutputRefused(f"{self.out}: the output folder exists; choose another or pass --overwrite")
        replaceable(self.out, d)

    def release(self, committed: bool) -> None:
        if self.fd is not None:
            try:
                os.unlink(lock_path(self.out_dir))          # while held: see the module's docstring
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        if not committed:
            for d in self.made:
                try:
                    d.rmdir()
                except OSError:
                    break
        self.made = []


def _holder(path: Path) -> str:
    """' (process N)' for the run holding the lock, when it has said so yet."""
    for _ in range(20):
        try:
            pid = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            pid = ""
        if pid.isdigit():
            return f" (process {pid})"
        time.sleep(0.01)                   # it has the lock but has not written its number yet
    return ""


def sweep(out_dir: Path) -> None:
    """Remove what killed runs left beside DIR (run under the lock, so every
    staging folder there is a dead run's), and put back a DIR that a kill
    left moved aside between the two renames of a commit."""
    from pol.io.output_files import remove
    prefix = staging_prefix(out_dir)
    for p in out_dir.parent.glob(glob_escape(prefix) + "*"):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)-(.*)", p.name)
        if not m:
            continue
        if m[2] == "old" and not (out_dir.exists() or out_dir.is_symlink()):
            os.rename(p, out_dir)
        else:
            remove(p)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)
