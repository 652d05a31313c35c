"""The `pol` command as a user runs it: check, graph, test, explain, gen."""
import json

import clirun
import pyarrow.parquet as pq
from conftest import BENCH_POLICY, ROOT

TELECOM = ROOT / "policies" / "telecom"


def pol(*args, cwd=None, env=None):
    # in this process (tests/clirun.py); tests/test_cli_check.py runs the entry point itself
    return clirun.pol(*args, cwd=cwd, env=dict(POL_BACKGROUND_COMPILE="0", **(env or {})))


def test_check_ok_prints_a_summary():
    r = pol("check", BENCH_POLICY)
    assert r.returncode == 0, r.stderr
    assert "25 fields, 2 params, 5 lets, 11 segments, 2 classifications, 2 scores, 4 channels, 14 offers" \
        in r.stdout


def test_check_reports_errors_with_caret_and_exit_1(tmp_path):
    bad = tmp_path / "bad.pol"
    bad.write_text('input c key id { id: int  arpu: float }\nsegment rich = arpu_m1 > 100\n', encoding="utf-8")
    r = pol("check", "bad.pol", cwd=tmp_path)
    assert r.returncode == 1
    assert "bad.pol:2:16: error[E-NAME-001]: unknown name 'arpu_m1'" in r.stderr
    assert "   2 | segment rich = arpu_m1 > 100" in r.stderr
    assert "^^^^^^^" in r.stderr
    assert "Traceback" not in r.stderr


def test_check_missing_file():
    r = pol("check", "no/such.pol")
    assert r.returncode == 1 and "no such file" in r.stderr and "Traceback" not in r.stderr


def test_usage_error_exits_2():
    assert pol("frobnicate").returncode == 2
    assert pol("run", BENCH_POLICY).returncode == 2          # --input and --out are required


def test_graph_dot_and_mermaid():
    r = pol("graph", BENCH_POLICY)
    assert r.returncode == 0
    assert '"arpu_3m" -> "tier"' in r.stdout and r.stdout.startswith("digraph policy {")
    r = pol("graph", BENCH_POLICY, "--format", "mermaid")
    assert r.returncode == 0 and r.stdout.startswith("flowchart LR")


def test_policy_tests_pass_and_fail(tmp_path):
    r = pol("test", ROOT / "policies")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")
    broken = tmp_path / "t.pol"
    broken.write_text("""input c key id { id: int  x: int }
segment big = x > 10
test "big" { given { id: 1, x: 5 } expect big }
test "small" { given { id: 2, x: 5 } expect not big }
""", encoding="utf-8")
    r = pol("test", broken)
    assert r.returncode == 1
    assert "1 passed, 1 failed" in r.stdout
    assert "t.pol:3:1" in r.stdout and "big" in r.stdout


def test_gen_then_explain_by_key(tmp_path):
    out = tmp_path / "c.parquet"
    r = pol("gen", 500, out, "--seed", 3)
    assert r.returncode == 0, r.stderr
    t = pq.read_table(out)
    assert t.num_rows == 500 and "storage_used_pct" in t.column_names
    log = tmp_path / "c.contacts.parquet"        # the contact log that contact.pol reads, beside them
    assert f"contacts of the last 90 days to {log}" in r.stdout
    assert pq.read_table(log).column_names == ["customer_id", "sent_at", "campaign", "channel", "family", "outcome"]
    r = pol("explain", TELECOM / "retention.pol", "--input", out, "--key", 7, "--as-of", "2026-11-01",
            "--history", f"contacts={log}")
    assert r.returncode == 0, r.stderr
    assert "customer id = 7" in r.stdout and "\nOffers\n" in r.stdout
    assert 'count(contacts where family == "流量" and outcome == "refused" within 90 days) < 2' in r.stdout


def test_explain_record_json():
    record = {"id": 9, "data_gb": 18, "plan_data_gb": 20, "app_active": True, "do_not_disturb": False,
              "tenure_months": 30, "last_active": "2026-10-30"}
    r = pol("explain", TELECOM / "retention.pol", "--record", json.dumps(record), "--as-of", "2026-11-01")
    assert r.returncode == 0, r.stderr
    assert "flow_worry_free (流量无忧包): given, rank 1, via app" in r.stdout
    r = pol("explain", TELECOM / "retention.pol", "--record", "{not json")
    assert r.returncode == 1 and "not valid JSON" in r.stderr


def test_gen_is_deterministic(tmp_path):
    from pol.cli.sample import generate
    a, b = generate(1000, seed=5), generate(1000, seed=5)
    assert a.equals(b)
    assert not a.equals(generate(1000, seed=6))
    import pol as pol_mod
    program = pol_mod.load(TELECOM / "customer.pol").program
    assert a.column_names == [f.name for f in program.input.fields]
