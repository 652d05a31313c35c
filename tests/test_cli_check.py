"""`pol check` and `pol graph` as a user runs them: what they print, where,
and the exit status (0 ok, 1 a policy problem, 2 a usage error)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pol.cli.main import main

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "retention_bench.pol"
SUMMARY = ("ok \u2014 25 fields, 2 params, 5 lets, 11 segments, 2 classifications, 2 scores, "
           "4 channels, 14 offers, 0 tests")
BROKEN = """input c key id {
    id: int
    age: int?
}
segment adult = age > "18"
let x = nope
"""


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as e:          # argparse's usage errors
        status = e.code
    out = capsys.readouterr()
    return status, out.out, out.err


def test_check_the_bench_policy(capsys):
    status, out, err = run(capsys, "check", str(BENCH))
    assert status == 0 and err == ""
    assert out == f"{BENCH}: {SUMMARY}\n"


def test_check_reports_every_error_on_stderr(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.pol").write_text(BROKEN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "check", "broken.pol")
    assert status == 1 and out == ""
    assert err == """broken.pol:5:21: error[E-TYPE-002]: cannot compare int with string
   5 | segment adult = age > "18"
     |                     ^
   hint: write the number without quotes: 18

broken.pol:6:9: error[E-NAME-001]: unknown name 'nope'
   6 | let x = nope
     |         ^^^^
   hint: declare it as a field of the input block, a param or a let

2 errors
"""


def test_check_several_files(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.pol").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "good.pol").write_text("input c key id { id: int }\nsegment s = id > 3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "check", "good.pol", "broken.pol", "missing.pol")
    assert status == 1
    assert out == ("good.pol: ok \u2014 1 field, 0 params, 0 lets, 1 segment, 0 classifications, 0 scores, "
                   "0 channels, 0 offers, 0 tests\n")
    assert "broken.pol:5:21: error[E-TYPE-002]" in err
    assert "pol: error: cannot check 'missing.pol': no such file" in err


def test_missing_file(capsys, tmp_path):
    status, out, err = run(capsys, "check", str(tmp_path / "nope.pol"))
    assert status == 1 and out == ""
    assert err.strip() == f"pol: error: cannot check '{tmp_path / 'nope.pol'}': no such file"


def test_warnings_do_not_fail(tmp_path, capsys, monkeypatch):
    (tmp_path / "w.pol").write_text("input c key id { id: int  age: int? }\nsegment s \"S\" = age == null\n",
                                    encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "check", "w.pol")
    assert status == 0 and out.startswith("w.pol: ok")
    assert err.startswith("w.pol:2:21: warning[W-NULL-001]")


@pytest.mark.parametrize("argv", [["check"], ["graph"], ["check", "--nope", "x.pol"],
                                  ["graph", "x.pol", "--format", "png"], ["frobnicate"]])
def test_usage_errors_exit_2(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2 and "usage: pol" in err


def test_graph_dot_and_mermaid(capsys):
    status, out, _ = run(capsys, "graph", str(BENCH))
    assert status == 0
    assert out.startswith("digraph policy {") and '"arpu_3m" -> "tier";' in out
    assert '"call" -> "retention_pack";' in out
    status, out, _ = run(capsys, "graph", str(BENCH), "--format", "mermaid")
    assert status == 0 and out.startswith("flowchart LR")
    assert '["arpu_3m (let)"]' in out and " --> " in out


def test_graph_of_a_broken_policy(tmp_path, capsys, monkeypatch):
    (tmp_path / "broken.pol").write_text(BROKEN, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "graph", "broken.pol")
    assert status == 1 and out == "" and "broken.pol:5:21: error[E-TYPE-002]" in err


def test_as_a_command_no_traceback(tmp_path):
    """One real process per outcome: the entry point a user types."""
    (tmp_path / "broken.pol").write_text('input c key id { id: int }\nsegment s = id >\n', encoding="utf-8")
    good = subprocess.run([sys.executable, "-m", "pol", "check", str(BENCH)], capture_output=True, text=True)
    assert good.returncode == 0 and good.stdout.endswith(SUMMARY + "\n")
    bad = subprocess.run([sys.executable, "-m", "pol", "check", "broken.pol"], capture_output=True, text=True,
                         cwd=tmp_path)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("broken.pol:2:17: error[E-SYNTAX-013]: missing a value after '>'")


def test_a_file_that_is_not_a_policy_is_never_quoted(tmp_path, capsys):
    secret = tmp_path / "notes.txt"
    secret.write_text("password=hunter2\n", encoding="utf-8")
    status, out, err = run(capsys, "check", str(secret))
    assert status == 1
    assert "E-FILE-002" in err and "hunter2" not in out + err


def test_graph_of_a_folder_says_it_is_a_folder(tmp_path, capsys):
    status, out, err = run(capsys, "graph", str(tmp_path))
    assert status == 1 and "it is a folder" in err
