"""`pol run` end to end, as a user runs it: the command in a child process,
on every input format, on bad input, killed halfway, and checked against
`pol.load(policy).evaluate(table, as_of=...)`.

Most cases use MINI, a small policy whose capacities bind at a few thousand
rows (so the run-wide capacity walk across batches and files is exercised);
the telecom library's retention.pol is run once on generated customers and
once, larger, to be killed. Each child process costs a second or two of
start-up, so each test asserts everything one run can show.
"""
import csv
import datetime as dt
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import clirun
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from conftest import ROOT
from tables import decoded

import pol
import pol.evaluation.stream
from pol.cli.sample import generate
from pol.cli.sample_contacts import contacts

RETENTION = ROOT / "policies" / "telecom" / "retention.pol"
AS_OF = dt.date(2026, 11, 1)
OUTPUT_FILES = {"customers.parquet", "assignments.parquet", "summary.json", ".pol-output"}

MINI = """policy mini version "1"
input c key id { id: int  spend: float  plan: string  joined: date  opted_out: bool  age: int? }
param spend_line: float = 50
segment big "大客户" = spend >= spend_line
classify band "档位" { when spend >= 100 => "高"  when spend >= 50 => "中"  else => "低" }
score value = spend / 10
channel sms "短信" when not opted_out
channel store
offer upsell "升级" { category plan  eligible when big  priority spend  channels sms, store
                      capacity 40  holdout 10% }
offer gift { category plan  eligible when days_since(joined) < 90  priority 50  channels sms }
offer senior { eligible when age >= 60  priority 30  channels store  capacity 10 }
arbitrate { max 2 per customer  one per category }
"""


# ---------------------------------------------------------------- helpers

@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("kernels")


@pytest.fixture(autouse=True)
def _kernel_cache(cache_dir, monkeypatch):
    # The child processes and the in-process evaluate share one fresh cache.
    monkeypatch.setenv("POL_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "0")


def pol_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "pol", *map(str, args)]


def pol_run(*args, cwd=None) -> subprocess.CompletedProcess:
    return clirun.pol("run", *args, cwd=cwd)        # in this process: each kernel compiled once per test run


def parquet_input(tmp_path: Path, table: pa.Table) -> tuple[Path, Path]:
    """The table as tmp_path/in.parquet, and where its run's output goes."""
    data = tmp_path / "in.parquet"
    pq.write_table(table, data)
    return data, tmp_path / "out"



def assert_tables_equal(got: pa.Table, want: pa.Table) -> None:
    got, want = decoded(got), decoded(want)
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        assert got[name].type == want[name].type, name
        assert got[name].combine_chunks().equals(want[name].combine_chunks()), name


def read_output(out: Path) -> tuple[pa.Table, pa.Table, dict]:
    return (pq.read_table(out / "customers.parquet"), pq.read_table(out / "assignments.parquet"),
            json.loads((out / "summary.json").read_text(encoding="utf-8")))


def assert_same_as_evaluate(out: Path, expected) -> dict:
    customers, assignments, summary = read_output(out)
    assert_tables_equal(customers, expected.customers)
    assert_tables_equal(assignments, expected.assignments)
    for k, v in expected.summary.items():
        got = summary[k]
        if k == "history":      # pol run also says which file each history came from
            got = {name: {f: x for f, x in h.items() if f != "path"} for name, h in got.items()}
        assert got == v, k
    return summary


def staging_left(out: Path) -> list[Path]:
    return [p for p in out.parent.glob(f".{out.name}.pol-*") if p.name != f".{out.name}.pol-lock"]


def lock_left(out: Path) -> bool:
    return (out.parent / f".{out.name}.pol-lock").exists()


def mini_table(n: int = 3000, seed: int = 1) -> pa.Table:
    """Customers for MINI: keys out of order, nulls where the policy allows
    them, and a column the policy does not read."""
    rng = np.random.default_rng(seed)
    ages = rng.integers(18, 90, n)
    return pa.table({
        "note": pa.array([f"n{k}" for k in range(n)]),
        "id": pa.array(rng.permutation(n) * 7 + 3, pa.int64()),
        "spend": pa.array(np.round(rng.lognormal(3.8, 0.6, n), 2)),
        "plan": pa.array(rng.choice(["基础", "畅享", "尊享"], n)),
        "joined": pa.array([AS_OF - dt.timedelta(days=int(d)) for d in rng.integers(0, 400, n)], pa.date32()),
        "opted_out": pa.array(rng.random(n) < 0.2),
        "age": pa.array(ages, pa.int32(), mask=rng.random(n) < 0.1),
    })


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """(policy path, table, expected Result) for MINI over mini_table()."""
    folder = tmp_path_factory.mktemp("mini")
    path = folder / "mini.pol"
    path.write_text(MINI, encoding="utf-8")
    table = mini_table()
    expected = pol.load(path).evaluate(table, as_of=AS_OF)
    # The cases below are only worth something if capacities and holdouts bite.
    assert expected.summary["offers"]["upsell"]["lost_to_capacity"] > 0
    assert expected.summary["offers"]["senior"]["lost_to_capacity"] > 0
    assert expected.summary["offers"]["upsell"]["controls"] > 0
    return path, table, expected


def with_column(table: pa.Table, name: str, values) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def write_ipc_stream(table: pa.Table, path: Path, chunk: int = 700) -> None:
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
        for b in table.to_batches(max_chunksize=chunk):
            w.write_batch(b)


def split(table: pa.Table, cuts: list[int]) -> list[pa.Table]:
    bounds = [0, *cuts, table.num_rows]
    return [table.slice(a, b - a) for a, b in zip(bounds, bounds[1:])]


# ---------------------------------------------------------------- good runs

def test_retention_run_matches_evaluate_with_summary_and_progress_bar(tmp_path):
    """The main policy over generated customers, stderr on a terminal."""
    table = generate(3000, seed=3)
    data = tmp_path / "customers.parquet"
    pq.write_table(table, data)
    events = contacts(table, AS_OF, seed=3)      # contact.pol's caps read the contact log
    log = tmp_path / "contacts.parquet"
    pq.write_table(events, log)
    out = tmp_path / "out"
    master, slave = pty.openpty()
    chunks = []

    def drain():
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:          # EIO: the child closed the terminal
                return
            if not b:
                return
            chunks.append(b)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    proc = subprocess.Popen(pol_cmd("run", RETENTION, "--input", data, "--out", out, "--as-of", "2026-11-01",
                                    "--history", f"contacts={log}"),
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    stdout, _ = proc.communicate(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, terminal
    assert "3,000 / 3,000 rows" in terminal and "100%" in terminal       # the bar, on a terminal
    assert "rows read; matching capacities and writing..." in terminal
    assert "Traceback" not in terminal

    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    assert staging_left(out) == []
    expected = pol.load(RETENTION).evaluate(table, as_of=AS_OF, history={"contacts": events})
    summary = assert_same_as_evaluate(out, expected)
    assert summary["rows"] == summary["customers"] == 3000
    assert summary["history"]["contacts"]["events"] == events.num_rows
    assert f"History  contacts: {events.num_rows:,} events" in stdout
    assert summary["as_of"] == "2026-11-01" and summary["input_format"] == "parquet"
    assert summary["params"]["churn_days"] == 30 and summary["policy"] == "telecom_retention"
    assert summary["controls"] > 0                                          # the holdouts are there

    # The summary a marketer reads says what summary.json holds.
    assert "Policy   telecom_retention, version 2026.11" in stdout      # labels as wide as "History"
    assert "As of    2026-11-01" in stdout
    assert "Input    " in stdout and ": 3,000 customers" in stdout
    lines = stdout.splitlines()
    seg = summary["segments"]["churn_warning"]
    assert any(ln.split()[:3] == ["churn_warning", "离网预警", f"{seg['count']:,}"] for ln in lines)
    total = [ln for ln in lines if ln.split()[:1] == ["total"]]
    assert total and total[0].split()[-1] == f"{sum(summary['channels'].values()):,}"
    assert f"plus {summary['controls']:,} controls" in stdout
    funnel = summary["offers"]["flow_worry_free"]
    assert any(ln.split()[:7] == ["flow_worry_free", "流量无忧包", *(f"{funnel[k]:,}" for k in (
        "eligible", "deliverable", "candidates", "accepted", "controls"))] for ln in lines)


def _mini_input(kind: str, table: pa.Table, tmp: Path) -> Path:
    if kind == "feather":
        path = tmp / "customers.feather"
        feather.write_feather(table, path, chunksize=1000)            # Arrow IPC file, three batches
    elif kind == "arrow-stream":
        path = tmp / "customers.arrow"                                  # the IPC stream format, no footer
        write_ipc_stream(table, path)
    elif kind == "csv":
        path = tmp / "customers.csv"
        # Columns in another order than the input block: CSV is read by name.
        pacsv.write_csv(table.select(["age", "plan", "id", "note", "spend", "opted_out", "joined"]), path)
    elif kind == "csv-folder":
        path = tmp / "parts"
        path.mkdir()
        for k, part in enumerate(split(table, [1000, 1001, 2500])):
            pacsv.write_csv(part, path / f"part-{k}.csv")
    else:
        raise AssertionError(kind)
    return path


@pytest.mark.parametrize("kind", ["feather", "arrow-stream", "csv", "csv-folder"])
def test_every_input_format_gives_the_evaluate_result(mini, tmp_path, kind):
    policy, table, expected = mini
    data = _mini_input(kind, table, tmp_path)
    out = tmp_path / "out"
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                            # not a terminal: no progress bar, no noise
    summary = assert_same_as_evaluate(out, expected)
    assert summary["input_format"] == ("csv" if kind.startswith("csv") else "ipc")
    assert summary["files"] == (4 if kind == "csv-folder" else 1)


def test_splitting_the_input_into_files_changes_nothing(mini, tmp_path):
    """One Parquet file, then the same rows in uneven parts (a nested folder,
    with the marker and hidden files that Spark and editors leave)."""
    policy, table, expected = mini
    single = tmp_path / "all.parquet"
    pq.write_table(table, single, row_group_size=500)
    parts = tmp_path / "parts"
    (parts / "b").mkdir(parents=True)
    pieces = split(table, [1, 1200, 1201, 2999])
    for k, piece in enumerate(pieces):           # files are taken in the order of their paths
        pq.write_table(piece, parts / f"a-part-{k}.parquet" if k < 2 else parts / "b" / f"part-{k}.parquet")
    (parts / "_SUCCESS").write_text("")
    pq.write_table(table.slice(0, 5), parts / ".partial.parquet")       # skipped: a leading '.'
    pq.write_table(table.slice(0, 5), parts / "_tmp.parquet")            # skipped: a leading '_'

    outs = []
    for name, data in (("one", single), ("many", parts)):
        out = tmp_path / name
        r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01")
        assert r.returncode == 0, r.stderr
        outs.append(out)
    one, many = (read_output(o) for o in outs)
    assert many[2]["files"] == len(pieces) and one[2]["files"] == 1
    assert one[0].equals(many[0]) and one[1].equals(many[1])
    assert_same_as_evaluate(outs[1], expected)
    for k in ("segments", "classifications", "offers", "channels", "customers", "assignments", "controls"):
        assert one[2][k] == many[2][k], k


def test_format_csv_writes_readable_csv(mini, tmp_path):
    policy, table, expected = mini
    data, out = parquet_input(tmp_path, table)
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01", "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"customers.csv", "assignments.csv", "summary.json", ".pol-output"}
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["output_format"] == "csv"
    assert "Output  " in r.stdout and "(csv)" in r.stdout
    with open(out / "customers.csv", newline="", encoding="utf-8") as f:
        customers = list(csv.DictReader(f))
    with open(out / "assignments.csv", newline="", encoding="utf-8") as f:
        assignments = list(csv.DictReader(f))
    want = decoded(expected.customers).to_pylist()
    assert list(customers[0]) == ["id", "big", "band", "value", "offers"]
    assert len(customers) == len(want) == table.num_rows
    for got, w in zip(customers, want):
        assert int(got["id"]) == w["id"]
        assert got["band"] == w["band"]                                  # names, not dictionary codes
        assert got["big"] == ("true" if w["big"] else "false")
        assert float(got["value"]) == pytest.approx(w["value"])
        assert got["offers"] == "|".join(w["offers"])
    want = decoded(expected.assignments).to_pylist()
    assert list(assignments[0]) == ["id", "offer", "rank", "channel", "priority", "control"]
    assert [(int(a["id"]), a["offer"], int(a["rank"]), a["channel"], a["control"]) for a in assignments] == \
        [(w["id"], w["offer"], w["rank"], w["channel"], "true" if w["control"] else "false") for w in want]


def test_format_arrow_writes_the_batches_as_arrow_ipc_files(mini, tmp_path):
    """The same tables as the Parquet output, column types included (dictionary
    names stay dictionaries), readable by any Arrow reader."""
    policy, table, expected = mini
    data, out = parquet_input(tmp_path, table)
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01", "--format", "arrow")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == {"customers.arrow", "assignments.arrow", "summary.json", ".pol-output"}
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["output_format"] == "arrow"
    assert "(arrow)" in r.stdout
    with pa.memory_map(str(out / "customers.arrow")) as source:
        customers = pa.ipc.open_file(source).read_all()
    assert_tables_equal(customers, expected.customers)
    assignments = feather.read_table(out / "assignments.arrow")
    assert_tables_equal(assignments, expected.assignments)
    assert assignments.schema.field("offer").type == expected.assignments.schema.field("offer").type


def test_param_override_changes_the_result(mini, tmp_path):
    policy, table, expected = mini
    data, out = parquet_input(tmp_path, table)
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01", "--param", "spend_line=80")
    assert r.returncode == 0, r.stderr
    raised = pol.load(policy).evaluate(table, as_of=AS_OF, params={"spend_line": 80})
    summary = assert_same_as_evaluate(out, raised)
    assert summary["params"] == {"spend_line": 80.0}
    assert "spend_line = 80.0" in r.stdout
    assert summary["segments"]["big"]["count"] < expected.summary["segments"]["big"]["count"]


@pytest.mark.parametrize("args, status, said", [
    (["--param", "spend_lin=3"], 1, ["unknown param 'spend_lin'", "did you mean 'spend_line'?"]),
    (["--param", "spend_line=lots"], 1, ["param 'spend_line' is float", '"lots"']),
    (["--param", "spend_line"], 2, ["--param needs NAME=VALUE", "'spend_line'"]),
    (["--as-of", "2026-02-30"], 2, ["--as-of '2026-02-30' is not a date: there is no such day"]),
])
def test_bad_param_or_date_is_refused_naming_it(mini, tmp_path, args, status, said):
    policy, table, _ = mini
    data, out = parquet_input(tmp_path, table.slice(0, 10))
    r = pol_run(policy, "--input", data, "--out", out, *args)
    assert r.returncode == status
    for s in said:
        assert s in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not out.exists() and staging_left(out) == []


def test_existing_out_is_refused_then_replaced_with_overwrite(mini, tmp_path):
    policy, table, expected = mini
    data, out = parquet_input(tmp_path, table)
    out.mkdir()
    (out / "keep.txt").write_text("last night's run", encoding="utf-8")
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01")
    assert r.returncode == 2
    assert f"{out}: the output folder exists" in r.stderr and "--overwrite" in r.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text(encoding="utf-8") == "last night's run"

    # Not a folder pol run wrote: --overwrite refuses it too (tests/test_output_folders.py).
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01", "--overwrite")
    assert r.returncode == 2
    assert "--overwrite replaces only a folder that pol run wrote" in r.stderr
    assert (out / "keep.txt").read_text(encoding="utf-8") == "last night's run"

    (out / "keep.txt").unlink()
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01")
    assert r.returncode == 2                                         # empty, but there
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01", "--overwrite")
    assert r.returncode == 0, r.stderr                               # a folder pol run wrote is replaced
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES          # replaced, not merged
    assert_same_as_evaluate(out, expected)
    assert staging_left(out) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out"]

    # Reading last night's output to replace it would delete the input.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    r = pol_run(policy, "--input", out / "customers.parquet", "--out", out, "--overwrite")
    assert r.returncode == 2
    assert "is inside the output folder, which the run would replace" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_killed_run_leaves_no_output_and_a_rerun_succeeds(tmp_path):
    data = tmp_path / "big.parquet"
    pq.write_table(generate(400_000, seed=11), data)
    log = tmp_path / "contacts.parquet"
    pq.write_table(contacts(generate(0), AS_OF), log)     # an empty contact log
    out = tmp_path / "out"
    proc = subprocess.Popen(pol_cmd("run", RETENTION, "--input", data, "--out", out, "--as-of", "2026-11-01",
                                    "--history", f"contacts={log}"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Kill it once it is writing: its staging folder has appeared beside DIR.
        deadline = time.monotonic() + 120
        while not staging_left(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
        assert staging_left(out), "no staging folder appeared"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()                           # nothing where the output would be
    assert len(staging_left(out)) == 1               # only the hidden staging folder of the dead run
    assert lock_left(out)                            # and its lock file, which locks nothing now

    r = pol_run(RETENTION, "--input", data, "--out", out, "--as-of", "2026-11-01", "--history", f"contacts={log}")
    assert r.returncode == 0, r.stderr
    assert {p.name for p in out.iterdir()} == OUTPUT_FILES
    customers, _, summary = read_output(out)
    assert customers.num_rows == summary["rows"] == 400_000
    assert staging_left(out) == [] and not lock_left(out)   # the rerun swept the dead run's leftovers


def test_the_library_without_its_contact_log_is_refused_saying_how(tmp_path):
    """contact.pol's caps read the contact log: a run that forgot it is
    refused, never run as if nobody had been contacted (LANGUAGE.md 12.3)."""
    data = tmp_path / "customers.parquet"
    pq.write_table(generate(20, seed=3), data)
    r = pol_run(RETENTION, "--input", data, "--out", tmp_path / "out", "--as-of", "2026-11-01")
    assert r.returncode == 2 and not (tmp_path / "out").exists()
    assert "the policy reads history 'contacts': give its events with --history contacts=PATH" in r.stderr


# ---------------------------------------------------------------- bad input

def _bad_input(case: str, table: pa.Table, tmp: Path) -> tuple[Path, list[str]]:
    """The input for one bad case and what its message must say."""
    small = table.slice(0, 20)
    if case == "missing column":
        p = tmp / "c.parquet"
        pq.write_table(small.drop(["spend"]), p)
        return p, ["column 'spend' (float) is missing from the input"]
    if case == "wrong type":
        p = tmp / "c.parquet"
        pq.write_table(with_column(small, "spend", small["spend"].cast(pa.string())), p)
        return p, ["column 'spend' has type string, but the policy declares it float"]
    if case == "null in a non-nullable field":
        p = tmp / "c.parquet"
        spend = small["spend"].to_pylist()
        spend[3] = spend[8] = None
        ids = small["id"].to_pylist()
        pq.write_table(with_column(small, "spend", pa.array(spend)), p)
        return p, ["column 'spend' is a non-nullable field but holds 2 null values",
                   f"keys {ids[3]}, {ids[8]}", "'spend: float?'"]
    if case == "null key in the second file":
        p = tmp / "parts"
        p.mkdir()
        first, second = split(small, [10])
        pq.write_table(first, p / "part-0.parquet")
        ids = second["id"].to_pylist()
        ids[2] = None
        pq.write_table(with_column(second, "id", pa.array(ids, pa.int64())), p / "part-1.parquet")
        return p, ["part-1.parquet: column 'id' is the key but holds 1 null value (first at rows 3)",
                   "every customer needs a key"]
    if case == "empty parquet":
        p = tmp / "c.parquet"
        pq.write_table(table.slice(0, 0), p)
        return p, ["the input holds no rows"]
    if case == "empty csv":
        p = tmp / "c.csv"
        p.write_bytes(b"")
        return p, ["the file is empty (not even a header line)"]
    if case == "empty folder":
        p = tmp / "parts"
        p.mkdir()
        (p / "_SUCCESS").write_text("")
        return p, ["the folder holds no .parquet, .arrow/.feather/.ipc or .csv files"]
    if case in ("truncated parquet", "corrupt parquet"):
        good = tmp / "good.bin"
        pq.write_table(table, good)
        data = good.read_bytes()
        good.unlink()
        p = tmp / "c.parquet"
        p.write_bytes(data[:len(data) // 2] if case == "truncated parquet"
                      else data[:4] + bytes(len(data) - 12) + data[-8:])
        return p, ["corrupt or truncated Parquet file"]
    if case == "csv row with too many fields":
        p = tmp / "c.csv"
        pacsv.write_csv(small, p)
        lines = p.read_text(encoding="utf-8").splitlines()
        lines[4] += ",surplus"
        p.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return p, ["line 5 has 8 fields, but the header has 7"]
    if case == "csv value of the wrong type":
        p = tmp / "c.csv"
        # A quoted field spanning two lines before the bad row: records and lines differ.
        notes = pa.array(["two\nlines"] + [f"n{k}" for k in range(1, 20)])
        pacsv.write_csv(with_column(small, "note", notes), p)
        lines = p.read_text(encoding="utf-8").split("\n")
        header = next(csv.reader([lines[0]]))
        k = header.index("spend")
        row = next(csv.reader([lines[5]]))
        row[k] = "lots"
        lines[5] = ",".join(row)
        p.write_text("\n".join(lines), encoding="utf-8")
        return p, ["column 'spend', line 6: 'lots' is not a number"]
    if case == "no such path":
        return tmp / "nowhere" / "c.parquet", ["no such file or folder"]
    if case == "link to nothing in a folder":
        p = tmp / "parts"
        p.mkdir()
        pq.write_table(small, p / "part-0.parquet")
        (p / "part-1.parquet").symlink_to(tmp / "gone.parquet")
        return p, ["part-1.parquet: cannot be read: a link to a file that does not exist"]
    if case == "permission denied":
        if os.geteuid() == 0:
            pytest.skip("root reads any file")
        p = tmp / "c.parquet"
        pq.write_table(small, p)
        p.chmod(0)
        return p, ["cannot be read (permission denied)"]
    raise AssertionError(case)


BAD_INPUTS = ["missing column", "wrong type", "null in a non-nullable field", "null key in the second file",
              "empty parquet", "empty csv", "empty folder", "truncated parquet", "corrupt parquet",
              "csv row with too many fields", "csv value of the wrong type", "no such path",
              "link to nothing in a folder", "permission denied"]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_clear_message_and_nothing_written(mini, tmp_path, case):
    policy, table, _ = mini
    data, said = _bad_input(case, table, tmp_path)
    out = tmp_path / "runs" / "out"                     # its parent folder does not exist yet either
    r = pol_run(policy, "--input", data, "--out", out, "--as-of", "2026-11-01")
    assert r.returncode == 1, r.stdout + r.stderr
    message = r.stderr.strip()
    assert "Traceback" not in r.stderr and len(message.splitlines()) == 1, message
    assert message.startswith("pol: error: ")
    assert data.name in message                               # the file (or folder) is named
    for s in said:
        assert s in message
    assert r.stdout == ""
    assert not (tmp_path / "runs").exists()


def test_an_output_folder_that_cannot_be_written(mini, tmp_path):
    policy, table, _ = mini
    data = tmp_path / "in.parquet"
    pq.write_table(table.slice(0, 20), data)
    out = data / "out"                                  # inside a file
    r = pol_run(policy, "--input", data, "--out", out)
    assert r.returncode == 1
    assert f"{out}: cannot write the output folder (a part of its path is a file, not a folder)" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]
    assert pq.read_table(data).num_rows == 20


def test_a_disk_that_fills_up_midway_leaves_nothing(mini, tmp_path, monkeypatch, capsys):
    """A write that fails on the writer thread (here: the disk is full after
    the first batch) ends the run with one line; no output, no staging."""
    import errno

    import pol.io.output_files
    from pol.cli.run import run_command
    policy, table, _ = mini
    data, out = parquet_input(tmp_path, table)
    real = pol.io.output_files.pq.ParquetWriter
    writes = []

    class FillsUp(real):
        def write_batch(self, batch, *args, **kwargs):
            writes.append(batch.num_rows)
            if len(writes) > 2:
                raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
            return super().write_batch(batch, *args, **kwargs)

    monkeypatch.setattr(pol.io.output_files.pq, "ParquetWriter", FillsUp)
    monkeypatch.setattr(pol.evaluation.stream, "MAX_BATCH_ROWS", 500)         # several batches from 3,000 rows
    assert run_command(str(policy), str(data), str(out), "2026-11-01", progress=False) == 1
    err = capsys.readouterr().err
    assert err == f"pol: error: {out}: cannot write the output (No space left on device)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_policy_error_gives_the_rendered_diagnostics(mini, tmp_path):
    _, table, _ = mini
    data = tmp_path / "in.parquet"
    pq.write_table(table.slice(0, 20), data)
    (tmp_path / "bad.pol").write_text("input c key id { id: int  spend: float }\nsegment big = spnd > 100\n",
                                      encoding="utf-8")
    r = pol_run("bad.pol", "--input", data, "--out", "out", cwd=tmp_path)
    assert r.returncode == 1
    assert "bad.pol:2:15: error[E-NAME-001]: unknown name 'spnd'" in r.stderr
    assert "   2 | segment big = spnd > 100" in r.stderr
    assert "\n     |               ^^^^" in r.stderr
    assert "did you mean 'spend'?" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pol", "in.parquet"]


def test_reading_a_parquet_file_holds_a_bounded_amount_of_memory(tmp_path):
    """Row group after row group, the memory held stays that of the few in
    flight, however many the file has (pyarrow's pre-buffering would keep
    every byte read until the file is closed)."""
    from pol.io.input_files import Input, read_batches
    program = pol.loads("input c key id { id: int  x: float }").program
    groups, rows = 48, 100_000
    path = tmp_path / "wide.parquet"
    rng = np.random.default_rng(1)
    with pq.ParquetWriter(path, pa.schema([("id", pa.int64()), ("x", pa.float64())]),
                          compression="none") as w:
        for g in range(groups):
            w.write_table(pa.table({"id": np.arange(g * rows, (g + 1) * rows),
                                    "x": rng.random(rows)}))
    file_bytes = groups * rows * 16
    (file,) = Input(program, str(path)).files
    before, held, seen = pa.total_allocated_bytes(), [], 0
    for batch in read_batches(program, file):
        seen += batch.num_rows
        held.append(pa.total_allocated_bytes() - before)
        del batch
    assert seen == groups * rows
    # a few batches of 2^19 rows in flight (8 MiB each), never the whole file (73 MiB)
    assert max(held) < file_bytes * 0.6
