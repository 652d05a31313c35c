"""The cache folder never runs what pol did not write: a kernel file, a
`.pyc` or the grammar's tables planted or damaged in it are never executed
(the file is rebuilt); a folder others could write to is not used (one
warning line, and the run is still right); an unusable folder (under a file,
read-only, full) means running without the cache, never a traceback; the
background compiler takes its job through a pipe, not a file; a second
process finds a cached row kernel."""
from __future__ import annotations

import importlib.util
import json
import os
import pickle
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pytest

POLICY = """
input c key id { id: int  x: float?  s: string }
segment big = x > 10
score twice = x * 2
channel app
offer o "优惠" { eligible when big and s in ("全球通", "a\\"b") channels app }
"""
EXPECTED = [[], ["o"], []]

CHILD = """
import json, sys
import pyarrow as pa
import pol
p = pol.loads(sys.argv[1], name="cached.pol")
t = pa.table({"id": [1, 2, 3], "x": [5.0, 20.0, None], "s": ["全球通", "全球通", "x"]})
r = p.evaluate(t, as_of="2026-11-01", engine="kernel")
st = p._kernel.kernel().stats
print(json.dumps({"offers": r.customers.column("offers").to_pylist(),
                  "hits": sum(st.cache_hits.values()), "misses": sum(st.cache_misses.values())}))
"""

ROW_CHILD = """
import json, sys
import pol
p = pol.loads(sys.argv[1], name="cached.pol")
record = {"id": 2, "x": 20.0, "s": "全球通"}
if sys.argv[2] == "compile":
    p.decide(record, engine="kernel")
    print(json.dumps({}))
else:
    ready = p._row_ready()                      # found in the cache, not compiled here
    got = p.decide(record).model_dump(exclude={"run_id"})           # each decision has its own run id
    same = got == p.decide(record, engine="reference").model_dump(exclude={"run_id"})
    print(json.dumps({"ready": ready, "same": same}))
"""


class Planted:
    """Unpickling this creates `path`: proof that a pickle ran."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def run(cache: Path, script: str = CHILD, *args: str, prefix: tuple = (), preexec=None,
        env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environ.update(POL_CACHE_DIR=str(cache), POL_BACKGROUND_COMPILE="0", **(env or {}))
    return subprocess.run([*prefix, sys.executable, "-c", script, POLICY, *args], env=environ,
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec)


def result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def warnings(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.strip()]


def check_policy(cache: Path, folder: Path) -> subprocess.CompletedProcess:
    (folder / "p.pol").write_text(POLICY, encoding="utf-8")
    env = dict(os.environ, POL_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "pol", "check", "p.pol"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """A cache folder that holds the kernel, compiled once per module."""
    cache = tmp_path_factory.mktemp("compiled") / "cache"
    assert result(run(cache)) == {"offers": EXPECTED, "hits": 0, "misses": 1}
    return cache


@pytest.fixture
def cache(compiled, tmp_path) -> Path:
    """A copy of it for one test to damage."""
    return Path(shutil.copytree(compiled, tmp_path / "cache", copy_function=shutil.copy2))


# ---------------------------------------------------------------- planted files

def test_a_line_planted_in_a_cached_kernel_does_not_run(cache, tmp_path):
    (kernel,) = cache.glob("k_*.py")
    original = kernel.read_bytes()
    ran = tmp_path / "planted-line-ran"
    kernel.write_bytes(original + f"\nopen({str(ran)!r}, 'w').close()\n".encode())
    assert result(run(cache))["offers"] == EXPECTED
    assert not ran.exists()
    assert kernel.read_bytes() == original                   # rebuilt


def test_a_planted_pyc_does_not_run(cache, tmp_path):
    (kernel,) = cache.glob("k_*.py")
    ran = tmp_path / "planted-pyc-ran"
    code = compile(f"open({str(ran)!r}, 'w').close()\n", str(kernel), "exec")
    st = kernel.stat()
    # a .pyc Python's importer would take for the kernel: its header names
    # the source's mtime and size
    from importlib._bootstrap_external import _code_to_timestamp_pyc
    pyc = Path(importlib.util.cache_from_source(str(kernel)))
    pyc.parent.mkdir(exist_ok=True)
    pyc.write_bytes(_code_to_timestamp_pyc(code, int(st.st_mtime), st.st_size))
    assert result(run(cache))["offers"] == EXPECTED
    assert not ran.exists()


def test_a_pickle_planted_as_the_grammar_tables_does_not_run(tmp_path):
    cache = tmp_path / "cache"
    first = check_policy(cache, tmp_path)
    assert first.returncode == 0, first.stderr
    tables = [p for p in cache.iterdir() if p.name.startswith("grammar")]
    assert tables
    ran = tmp_path / "planted-pickle-ran"
    for p in tables:
        # Lark's cache format: a hash line, then pickles
        p.write_bytes(b"0" * 64 + b"\n" + pickle.dumps(Planted(ran)) + pickle.dumps(Planted(ran)))
    out = check_policy(cache, tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("p.pol: ok"), out.stderr
    assert "Traceback" not in out.stderr
    assert not ran.exists()
    # rebuilt: the tables are data again
    for p in tables:
        assert p.read_bytes()[:1] == b"{" and json.loads(p.read_bytes())


# ---------------------------------------------------------------- folders others can write

def _open_folder(tmp_path: Path, how: str) -> Path:
    cache = tmp_path / "above" / "cache"
    cache.mkdir(parents=True, mode=0o700)
    if how == "world-writable":
        cache.chmod(0o777)
    elif how == "group-writable":
        cache.chmod(0o770)
    elif how == "someone else's":
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder to another user")
        os.chown(cache, 1, 1)
    elif how == "writable folder above":
        cache.parent.chmod(0o777)
    elif how == "writable __pycache__":
        (cache / "__pycache__").mkdir(mode=0o700)
        (cache / "__pycache__").chmod(0o777)
    return cache


@pytest.mark.parametrize("how", ["world-writable", "group-writable", "someone else's", "writable folder above",
                                 "writable __pycache__"])
def test_a_folder_others_can_write_is_not_used(tmp_path, how):
    cache = _open_folder(tmp_path, how)
    before = sorted(p.name for p in cache.rglob("*"))
    # `pol check`: the grammar tables are not kept there
    out = check_policy(cache, tmp_path)
    assert out.returncode == 0 and out.stdout.startswith("p.pol: ok")
    (line,) = warnings(out)
    assert line.startswith(f"pol: warning: not using the cache folder {cache}: ")
    assert "running without a cache" in line
    assert sorted(p.name for p in cache.rglob("*")) == before
    if how in ("world-writable", "group-writable", "someone else's"):
        # a run that compiles a kernel: right, one warning line for the
        # whole process, nothing written there
        proc = run(cache)
        assert result(proc)["offers"] == EXPECTED
        assert warnings(proc) == [line]
        assert sorted(p.name for p in cache.rglob("*")) == before


def test_a_new_folder_is_made_private(tmp_path):
    cache = tmp_path / "new" / "cache"
    out = check_policy(cache, tmp_path)
    assert out.returncode == 0 and warnings(out) == []
    for folder in (cache.parent, cache, cache / "__pycache__"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p for p in cache.iterdir() if p.name.startswith("grammar")]


# ---------------------------------------------------------------- unusable folders

def _no_dac_override() -> tuple:
    """Run as root without the right to ignore file modes, so that a
    read-only folder is read-only to the run."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("root ignores file modes, and setpriv is not there to stop it")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def _small_files():
    # files over 100 kB cannot be written: the grammar tables (250 kB) and
    # Numba's data file (160 kB) fail as on a full disk; Python ignores SIGXFSZ
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


@pytest.mark.parametrize("how", ["under a file", "read-only", "disk full", "unsafe NUMBA_CACHE_DIR"])
def test_an_unusable_folder_means_running_without_the_cache(tmp_path, how):
    prefix, preexec = (), None
    env = {}
    if how == "under a file":
        (tmp_path / "file").write_text("not a folder\n")
        cache = tmp_path / "file" / "cache"
        env = {"TMPDIR": str(tmp_path / "tmp")}
        (tmp_path / "tmp").mkdir()
    elif how == "read-only":
        cache = tmp_path / "cache"
        cache.mkdir(mode=0o700)
        (cache / "__pycache__").mkdir(mode=0o700)
        cache.chmod(0o500)
        prefix = _no_dac_override()
    elif how == "disk full":
        cache = tmp_path / "cache"
        preexec = _small_files
    else:
        # Numba would keep the kernel's machine code there: compiled in memory
        cache = tmp_path / "cache"
        numba_dir = tmp_path / "numba"
        numba_dir.mkdir(mode=0o777)
        numba_dir.chmod(0o777)
        env = {"NUMBA_CACHE_DIR": str(numba_dir)}
    proc = run(cache, prefix=prefix, preexec=preexec, env=env)
    assert result(proc)["offers"] == EXPECTED
    lines = warnings(proc)
    assert len(lines) <= 1 and all(line.startswith("pol: warning: ") for line in lines), lines
    if how != "disk full":
        assert len(lines) == 1 and "running without a cache" in lines[0]
    if how == "under a file":
        # the kernel was compiled in a private temporary folder, removed at exit
        assert list((tmp_path / "tmp").iterdir()) == []
    if how == "unsafe NUMBA_CACHE_DIR":
        assert lines[0].startswith(f"pol: warning: not using NUMBA_CACHE_DIR {numba_dir}: others can write")
        assert not list(tmp_path.rglob("k_*"))


def test_damaged_numba_files_are_rebuilt(cache, tmp_path):
    for suffix in ("nbi", "nbc"):
        (entry,) = (cache / "__pycache__").glob(f"k_*.kernel-*.{suffix}")
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])               # truncated
        assert result(run(cache))["offers"] == EXPECTED
    (kernel,) = cache.glob("k_*.py")
    kernel.write_bytes(kernel.read_bytes()[:100])
    # the kernel file written anew, and Numba's entry saved anew
    assert result(run(cache)) == {"offers": EXPECTED, "hits": 1, "misses": 0}
    # the parse tables: Lark's, and the fast loop's (dsl/tables.py)
    grammar = sorted(p for p in cache.iterdir() if p.name.startswith("grammar"))
    assert len(grammar) == 2
    for tables in grammar:
        tables.write_bytes(tables.read_bytes()[:1000])
    assert check_policy(cache, tmp_path).returncode == 0
    assert all(json.loads(tables.read_bytes()) for tables in grammar)


# ---------------------------------------------------------------- row kernel, background compiler

def test_a_second_process_finds_the_cached_row_kernel(tmp_path):
    cache = tmp_path / "cache"
    result(run(cache, ROW_CHILD, "compile"))
    assert list((cache / "__pycache__").glob("k_*.row_kernel-*.nbi"))
    assert result(run(cache, ROW_CHILD, "use")) == {"ready": True, "same": True}


def test_the_background_compiler_takes_its_job_through_a_pipe(tmp_path, monkeypatch):
    import pol
    from pol.evaluation import executor
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "1")
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    started = []
    real_popen = subprocess.Popen

    def popen(args, **kwargs):
        # what lies in the temporary folder when the child starts
        started.append((list(args), kwargs.get("stdin"), sorted(p.name for p in temp.iterdir())))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(executor.subprocess, "Popen", popen)
    p = pol.loads(POLICY, name="bg.pol")
    t = pa.table({"id": [1, 2, 3], "x": [5.0, 20.0, None], "s": ["全球通", "全球通", "x"]})
    assert p.evaluate(t, as_of="2026-11-01", engine="auto").customers.column("offers").to_pylist() == EXPECTED
    ((args, stdin, files),) = started
    assert files == [] and stdin == subprocess.PIPE          # no job file anyone could replace
    assert not any(a.endswith(".pickle") for a in args)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "cache").glob("p_*.ready")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list((tmp_path / "cache").glob("p_*.ready")), "the background compiler did not finish"
    assert list((tmp_path / "cache" / "__pycache__").glob("k_*.kernel-*.nbi"))


def test_the_parser_finds_its_cache_folder_without_the_compiler(tmp_path):
    script = ("import sys, pol.dsl.parser\n"
              "print(sorted(m for m in sys.modules if m.startswith(('pol.compiler', 'numba'))))")
    env = dict(os.environ, POL_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert [p for p in (tmp_path / "cache").iterdir() if p.name.startswith("grammar")]


def test_the_background_compiler_runs_only_the_kernel_it_generates(compiled, tmp_path, monkeypatch):
    """warm.py generates the kernel from the program its parent sends through
    the pipe and compiles that source: a line planted in the kernel's file
    never runs (the file is written anew), and a marker outside the folder
    it was given is refused."""
    import pol
    folder = Path(shutil.copytree(compiled, tmp_path / "cache"))
    (kernel,) = folder.glob("k_*.py")
    ran = tmp_path / "planted-line-ran"
    kernel.write_bytes(kernel.read_bytes() + f"\nopen({str(ran)!r}, 'w').close()\n".encode())
    monkeypatch.setenv("POL_CACHE_DIR", str(folder))
    p = pol.loads(POLICY, name="cached.pol")
    asked: list = []
    monkeypatch.setattr(p._auto, "start_background", asked.append)
    p.evaluate(pa.table({"id": [1], "x": [5.0], "s": ["x"]}), as_of="2026-11-01", engine="auto")
    if not asked:       # the kernel's marker is there: nothing to ask the background for
        (sig,) = p._kernel._signatures.values()
    else:
        (sig,) = asked
    k = p._kernel
    job = pickle.dumps((k._program, k.plan, k.options, sig))
    marker = k.marker(sig)
    marker.unlink(missing_ok=True)      # written by the fixture's run on the kernel
    elsewhere = tmp_path / "elsewhere.ready"
    proc = subprocess.run([sys.executable, "-m", "pol.compiler.backend.warm", str(folder), str(elsewhere)],
                          input=job, capture_output=True, timeout=120)
    assert (proc.returncode, proc.stderr) == (1, b"")          # refused, quietly
    proc = subprocess.run([sys.executable, "-m", "pol.compiler.backend.warm", str(folder), str(marker)],
                          input=job, capture_output=True, timeout=240)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert marker.exists() and not ran.exists()
    assert kernel.read_text(encoding="utf-8") == k.source


def test_a_first_decision_imports_no_pandas(tmp_path):
    """pyarrow's `pa.array` imports pandas (a fifth of a second or more) to
    ask whether its value is a pandas object: a warm start of `decide`
    makes no Arrow array of a policy without string functions, and one of
    strings from its buffers (pol.evaluation.arrays) when it must."""
    script = (
        "import sys, datetime as dt, pol\n"
        "from pol.evaluation.arrays import strings\n"
        "p = pol.loads('policy s version \"1\"\\ninput t key id { id: int  plan: string }\\n"
        "segment big = plan == \"max\"\\nchannel c\\noffer o { eligible when big channels c priority 1 }\\n',"
        " name='s.pol')\n"
        "print(p.decide({'id': 1, 'plan': 'max'}, as_of=dt.date(2026, 11, 1)).offer_names)\n"
        "print(strings(['a', '全球通', '']).to_pylist(), strings([]).to_pylist())\n"
        "print('pandas' in sys.modules)")
    env = dict(os.environ, POL_CACHE_DIR=str(tmp_path / "cache"), POL_BACKGROUND_COMPILE="0")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["['o']", "['a', '全球通', ''] []", "False"]
