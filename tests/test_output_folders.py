"""`pol run --out DIR` destroys nothing it did not write and loses no run:
--overwrite replaces only a folder that `pol run` wrote (it holds the
marker file .pol-output and nothing but the files the marker lists); DIR
may not be or hold the policy, the input, the current folder or the home
folder; DIR and the input folder may not overlap; two runs on one DIR at
once: one writes, the other is refused; a killed run's lock does not stop
the next.

The concurrent case starts two real `pol` processes at once.
"""
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import clirun
import pyarrow.parquet as pq
import pytest
from test_run import MINI, assert_same_as_evaluate, mini_table

import pol

AS_OF = dt.date(2026, 11, 1)
MARKER = ".pol-output"
OUTPUT_FILES = {"customers.parquet", "assignments.parquet", "summary.json", MARKER}


@pytest.fixture(autouse=True)
def _kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kernels"))
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "0")


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mini")
    path = folder / "mini.pol"
    path.write_text(MINI, encoding="utf-8")
    table = mini_table(2000)
    return path, table, pol.load(path).evaluate(table, as_of=AS_OF)


def pol_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "pol", "run", *map(str, args), "--as-of", "2026-11-01"]


def pol_run(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    """In this process (tests/clirun.py); the tests of runs at the same
    time start real processes with pol_cmd."""
    return clirun.pol("run", *args, "--as-of", "2026-11-01", cwd=cwd, env=env)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def beside(out: Path) -> list[str]:
    """What pol keeps beside DIR while it runs (staging folders, the lock)."""
    return sorted(p.name for p in out.parent.glob(f".{out.name}.pol-*"))


def refused(r: subprocess.CompletedProcess, *said: str) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    message = r.stderr.strip()
    assert message.startswith("pol: error: ") and len(message.splitlines()) == 1, message
    assert "Traceback" not in r.stderr and r.stdout == ""
    for s in said:
        assert s in message, message
    return message


# ---------------------------------------------------------------- --overwrite

def test_overwrite_refuses_a_folder_pol_did_not_write(mini, tmp_path):
    """The folder holds the policy itself and a colleague's notes."""
    policy, table, _ = mini
    work = tmp_path / "work"
    work.mkdir()
    (work / "mini.pol").write_text(MINI, encoding="utf-8")
    (work / "notes.txt").write_text("do not lose", encoding="utf-8")
    data = tmp_path / "in.parquet"
    pq.write_table(table, data)
    before = snapshot(work)
    r = pol_run(policy, "--input", data, "--out", work, "--overwrite")
    refused(r, f"{work}: --overwrite replaces only a folder that pol run wrote",
            "this one has no .pol-output", "choose another --out")
    assert snapshot(work) == before and beside(work) == []


def test_overwrite_refuses_a_pol_output_holding_other_files(mini, tmp_path):
    policy, table, expected = mini
    data = tmp_path / "in.parquet"
    pq.write_table(table, data)
    out = tmp_path / "out"
    r = pol_run(policy, "--input", data, "--out", out)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    assert marker["written_by"] == "pol run"
    assert sorted(marker["files"]) == sorted(OUTPUT_FILES - {MARKER})

    (out / "analysis.xlsx").write_bytes(b"a marketer's work")
    (out / "charts").mkdir()
    before = snapshot(out)
    r = pol_run(policy, "--input", data, "--out", out, "--overwrite")
    refused(r, f"{out}: holds files that pol run did not write (analysis.xlsx, charts)",
            "--overwrite would delete them", "move them out or choose another --out")
    assert snapshot(out) == before

    (out / "analysis.xlsx").unlink()
    (out / "charts").rmdir()
    r = pol_run(policy, "--input", data, "--out", out, "--overwrite", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"customers.csv", "assignments.csv", "summary.json", MARKER}
    # and back: a CSV output, marked, is replaced by a Parquet one
    r = pol_run(policy, "--input", data, "--out", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    assert_same_as_evaluate(out, expected)
    assert beside(out) == []


def test_overwrite_replaces_an_empty_folder(mini, tmp_path):
    policy, table, expected = mini
    data = tmp_path / "in.parquet"
    pq.write_table(table, data)
    out = tmp_path / "out"
    out.mkdir()
    r = pol_run(policy, "--input", data, "--out", out, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert_same_as_evaluate(out, expected)


def test_a_file_put_in_out_while_the_run_runs_is_not_lost(mini, tmp_path):
    """DIR is checked again just before it is replaced: a file a person put
    there meanwhile makes the run fail (exit 2), and DIR stays as it is."""
    policy, _, _ = mini
    data = tmp_path / "in.parquet"
    pq.write_table(mini_table(400_000, seed=8), data)
    out = tmp_path / "out"
    r = pol_run(policy, "--input", data, "--out", out)
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen(pol_cmd(policy, "--input", data, "--out", out, "--overwrite"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not [n for n in beside(out) if not n.endswith("-lock")] and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before a file could be put in DIR"
        (out / "notes.txt").write_text("written during the run", encoding="utf-8")
        before = snapshot(out)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, err
    assert f"{out}: holds files that pol run did not write (notes.txt)" in err
    assert snapshot(out) == before and beside(out) == []


# ---------------------------------------------------------------- what DIR may not be

@pytest.mark.parametrize("case", ["the policy file", "the folder of the policy", "the input file",
                                  "the folder of the input", "the current folder",
                                  "a folder above the current one", "the home folder"])
def test_out_may_not_be_what_a_run_reads_or_where_the_user_is(mini, tmp_path, case):
    """Refused with or without --overwrite, before anything is read."""
    _, table, _ = mini
    work, place, home = tmp_path / "work", tmp_path / "place", tmp_path / "home"
    for d in (work / "data", place / "sub", home):
        d.mkdir(parents=True)
    policy = work / "mini.pol"
    policy.write_text(MINI, encoding="utf-8")
    data = work / "data" / "in.parquet"
    pq.write_table(table.slice(0, 50), data)
    (home / ".profile").write_text("keep", encoding="utf-8")
    out, said = {
        "the policy file": (policy, f"{policy}: --out is the policy file"),
        "the folder of the policy": (work, f"{work}: the output folder holds the policy file {policy}"),
        "the input file": (data, f"{data}: --out is the input file"),
        "the folder of the input": (work / "data",
                                    f"{work / 'data'}: the input {data} is inside the output folder"),
        "the current folder": (Path("."), ".: --out is the current folder"),
        # os.pardir from the run's folder, place/sub: place, in this test's temporary folder
        "a folder above the current one": (Path(os.pardir),
                                           f"{os.pardir}: the output folder holds the current folder"),
        "the home folder": (home, f"{home}: --out is the home folder"),
    }[case]
    before = [snapshot(d) for d in (work, place, home)]
    env = dict(os.environ, HOME=str(home))
    for extra in ([], ["--overwrite"]):
        r = pol_run(policy, "--input", data, "--out", out, *extra, cwd=place / "sub", env=env)
        refused(r, said, "choose another --out")
        assert [snapshot(d) for d in (work, place, home)] == before


def test_out_inside_the_input_folder_is_refused(mini, tmp_path):
    """The next run would read this run's output as customers."""
    policy, table, _ = mini
    parts = tmp_path / "parts"
    parts.mkdir()
    pq.write_table(table, parts / "part-0.parquet")
    out = parts / "results" / "out"
    r = pol_run(policy, "--input", parts, "--out", out)
    refused(r, f"{out}: the output folder is inside the input folder {parts}",
            "the next run would read the output as customers", "choose another --out")
    assert [p.name for p in parts.iterdir()] == ["part-0.parquet"]


def test_input_inside_out_is_refused(mini, tmp_path):
    policy, table, _ = mini
    out = tmp_path / "out"
    parts = out / "parts"
    parts.mkdir(parents=True)
    pq.write_table(table, parts / "part-0.parquet")
    before = snapshot(out)
    for extra in ([], ["--overwrite"]):
        r = pol_run(policy, "--input", parts, "--out", out, *extra)
        refused(r, f"{out}: the input {parts} is inside the output folder", "choose another --out")
    assert snapshot(out) == before


# ---------------------------------------------------------------- runs at the same time

@pytest.mark.parametrize("overwrite", [False, True])
def test_two_runs_on_one_out_one_writes_the_other_is_refused(mini, tmp_path, overwrite):
    policy, _, _ = mini
    table = mini_table(300_000, seed=5)
    data = tmp_path / "in.parquet"
    pq.write_table(table, data)
    out = tmp_path / "out"
    extra = []
    if overwrite:
        r = pol_run(policy, "--input", data, "--out", out)        # last night's output
        assert r.returncode == 0, r.stderr
        extra = ["--overwrite"]
    procs = [subprocess.Popen(pol_cmd(policy, "--input", data, "--out", out, *extra),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p, *p.communicate(timeout=300)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 2], [(p.returncode, err) for p, _, err in results]
    (loser,) = [err for p, _, err in results if p.returncode == 2]
    assert loser.startswith(f"pol: error: {out}: another pol run (process ") and \
        "is writing this output folder; wait for it to end or choose another --out" in loser, loser
    assert len(loser.strip().splitlines()) == 1
    # the winner's output is whole and is the policy's result
    expected = pol.load(policy).evaluate(table, as_of=AS_OF)
    summary = assert_same_as_evaluate(out, expected)
    assert summary["rows"] == 300_000
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    assert beside(out) == []                                      # no staging, no lock left


def test_a_killed_runs_lock_does_not_block_the_next_run(mini, tmp_path):
    policy, _, _ = mini
    table = mini_table(100_000, seed=6)
    data = tmp_path / "in.parquet"
    pq.write_table(table, data)
    out = tmp_path / "out"
    lock = out.parent / f".{out.name}.pol-lock"
    proc = subprocess.Popen(pol_cmd(policy, "--input", data, "--out", out),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The run writes its process number into the lock file once it holds
        # the lock; stopped there, it holds it for as long as this test needs.
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and \
                (not lock.exists() or lock.read_text() != f"{proc.pid}\n"):
            time.sleep(0.002)
        proc.send_signal(signal.SIGSTOP)
        assert proc.poll() is None and lock.read_text() == f"{proc.pid}\n", "the run took no lock"
        r = pol_run(policy, "--input", data, "--out", out)
        refused(r, f"{out}: another pol run (process {proc.pid}) is writing this output folder")
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and lock.exists()           # the dead run's lock file, locking nothing
    r = pol_run(policy, "--input", data, "--out", out)
    assert r.returncode == 0, r.stderr
    assert pq.read_metadata(out / "customers.parquet").num_rows == 100_000
    assert beside(out) == []
