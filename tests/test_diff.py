"""What-if across versions (pol.diff, `pol diff`): every change found is
checked against an oracle that runs each version on its own with
Policy.evaluate and compares the results customer by customer in plain
Python; the summary's deltas against each version's own counts.

Cases: a param change, a rule change, an offer added, versions that differ
in their input block, equal versions (no changes), capacities (a version's
results final only at the end, other versions' output spilled while it
waits), and the command: files written, CSV for spreadsheets, refusals.
"""
import datetime as dt
import json
import subprocess
import sys

import clirun
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

import pol
import pol.loop.align
from pol.cli.sample import generate
from pol.cli.sample_contacts import contacts

AS_OF = dt.date(2026, 11, 1)
RETENTION = ROOT / "policies" / "telecom" / "retention.pol"

MINI = """policy mini version "1"
input c key id { id: int  spend: float  plan: string  joined: date  opted_out: bool  age: int? }
param spend_line: float = 50
segment big "大客户" = spend >= spend_line
classify band "档位" { when spend >= 100 => "高"  when spend >= 50 => "中"  else => "低" }
score value = spend / 10
channel sms "短信" when not opted_out
channel store
offer upsell "升级" { category plan  eligible when big  priority spend  channels sms, store  holdout 10% }
offer gift { category plan  eligible when days_since(joined) < 90  priority 50  channels sms }
offer senior { eligible when age >= 60  priority 30  channels store }
arbitrate { max 2 per customer  one per category }
"""


def customers(n: int, seed: int = 1, extra: bool = False) -> pa.Table:
    rng = np.random.default_rng(seed)
    cols = {
        "id": np.arange(1, n + 1, dtype=np.int64),
        "spend": np.round(rng.uniform(0, 160, n), 1),
        "plan": pa.array(rng.choice(["a", "b"], n)),
        "joined": pa.array((AS_OF - dt.date(1970, 1, 1)).days - rng.integers(0, 200, n), pa.int32()).cast(pa.date32()),
        "opted_out": rng.random(n) < 0.2,
        "age": pa.array(rng.integers(18, 90, n), pa.int64(), mask=rng.random(n) < 0.1),
    }
    if extra:
        cols["vip"] = rng.random(n) < 0.3
    return pa.table(cols)


# ---------------------------------------------------------------- the oracle

def _by_key(result, key):
    cust = {r[key]: r for r in result.customers.to_pylist()}
    offers = {k: {} for k in cust}
    for a in result.assignments.to_pylist():
        offers[a[key]][a["offer"]] = (a["channel"], a["rank"], a["control"])
    return cust, offers


def _same(x, y):
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (np.isnan(x) and np.isnan(y))
    return x == y


def oracle(policy_a, policy_b, table, params_a=None, params_b=None, label="?", history=None):
    """The changes, computed by evaluating each version on its own."""
    ra = policy_a.evaluate(table, as_of=AS_OF, params=params_a, engine="vector", history=history)
    rb = policy_b.evaluate(table, as_of=AS_OF, params=params_b, engine="vector", history=history)
    key = policy_a.program.input.key
    ca, oa = _by_key(ra, key)
    cb, ob = _by_key(rb, key)
    pa_, pb = policy_a.plan, policy_b.plan
    segs = list(dict.fromkeys(list(pa_.segments) + list(pb.segments)))
    classes = list(dict.fromkeys(list(pa_.classifies) + list(pb.classifies)))
    scores = list(dict.fromkeys(list(pa_.scores) + list(pb.scores)))
    rows = []
    for k in table.column(key).to_pylist():
        a, b = ca[k], cb[k]
        row = {key: k, "version": label,
               "segments_in": [s for s in segs if b.get(s) and not a.get(s)],
               "segments_out": [s for s in segs if a.get(s) and not b.get(s)],
               "classes": [{"name": c, "from": a.get(c), "to": b.get(c)} for c in classes if a.get(c) != b.get(c)],
               "scores": [{"name": s, "from": a.get(s), "to": b.get(s)} for s in scores
                          if not _same(a.get(s, float("nan")) if a.get(s) is not None else float("nan"),
                                       b.get(s, float("nan")) if b.get(s) is not None else float("nan"))],
               "offers_gained": [o for o in b["offers"] if o not in oa[k]],
               "offers_lost": [o for o in a["offers"] if o not in ob[k]],
               "offers_moved": [{"offer": o, "from_channel": oa[k][o][0], "to_channel": ob[k][o][0],
                                 "from_rank": oa[k][o][1], "to_rank": ob[k][o][1],
                                 "from_control": oa[k][o][2], "to_control": ob[k][o][2]}
                                for o in a["offers"] if o in ob[k] and oa[k][o] != ob[k][o]]}
        if any(row[c] for c in row if c not in (key, "version")):
            rows.append(row)
    return rows, ra.summary, rb.summary


def _rows(changes: pa.Table) -> list[dict]:
    out = changes.to_pylist()
    for r in out:
        for s in r["scores"]:
            for side in ("from", "to"):
                if s[side] is not None and np.isnan(s[side]):
                    s[side] = None
    return out


def check_against_oracle(result, policy_a, policy_b, table, params_a=None, params_b=None, version=0,
                         history=None):
    label = result.summary["versions"][version + 1]["label"]
    want, sa, sb = oracle(policy_a, policy_b, table, params_a, params_b, label, history)
    got = [r for r in _rows(result.changes) if r["version"] == label]
    assert got == want
    assert result.summary["runs"][0]["offers"] == sa["offers"]
    assert result.summary["runs"][version + 1]["segments"] == sb["segments"]
    d = result.summary["deltas"][version]
    for s, x in d["segments"].items():
        base = sa["segments"].get(s, {}).get("count", 0)
        value = sb["segments"].get(s, {}).get("count", 0)
        assert x["count"] == {"base": base, "value": value, "delta": value - base}, s
    for o, x in d["offers"].items():
        for f in ("eligible", "accepted", "controls", "lost_to_max", "lost_to_category"):
            base, value = sa["offers"].get(o, {}).get(f, 0), sb["offers"].get(o, {}).get(f, 0)
            assert x[f] == {"base": base, "value": value, "delta": value - base}, (o, f)
    assert result.summary["changes"][version]["customers_changed"] == len(want)
    return want


# ---------------------------------------------------------------- pol.diff

def test_a_param_change():
    mini = pol.loads(MINI)
    table = customers(3000)
    result = pol.diff([mini, mini], table, as_of=AS_OF, params=[None, {"spend_line": 80}], engine="vector")
    want = check_against_oracle(result, mini, mini, table, None, {"spend_line": 80})
    assert want and all(r["segments_out"] == ["big"] for r in want)
    assert result.summary["deltas"][0]["segments"]["big"]["count"]["delta"] < 0
    assert result.summary["versions"][1]["label"] == "mini 1 (spend_line=80)"
    assert result.summary["versions"][1]["params"] == {"spend_line": 80.0}


def test_a_rule_change_and_several_versions():
    a = pol.loads(MINI)
    b = pol.loads(MINI.replace("max 2 per customer", "max 1 per customer"), name="b.pol")
    c = pol.loads(MINI.replace('when spend >= 100 => "高"', 'when spend >= 120 => "高"')
                  .replace("score value = spend / 10", "score value = spend / 8"), name="c.pol")
    table = customers(2500, seed=2)
    result = pol.diff([a, b, c], table, as_of=AS_OF, engine="vector")
    check_against_oracle(result, a, b, table, version=0)
    want_c = check_against_oracle(result, a, c, table, version=1)
    # Every customer's score changed (spend 0 is 0 either way); the class only for 100 <= spend < 120.
    spend = dict(zip(table["id"].to_pylist(), table["spend"].to_pylist()))
    assert {r["id"] for r in want_c if r["classes"]} == {k for k, s in spend.items() if 100 <= s < 120}
    assert len(want_c) == sum(1 for s in spend.values() if s > 0)
    lost = result.summary["deltas"][0]["lost"]["max"]
    assert lost["base"] == 0 and lost["value"] > 0


def test_an_offer_added():
    a = pol.loads(MINI)
    b = pol.loads(MINI + 'offer newbie "新人礼" { eligible when days_since(joined) < 30  priority 90  channels sms }\n',
                  name="b.pol")
    table = customers(2000, seed=3)
    result = pol.diff([a, b], table, as_of=AS_OF, engine="vector")
    want = check_against_oracle(result, a, b, table)
    assert any("newbie" in r["offers_gained"] for r in want)
    newbie = result.summary["deltas"][0]["offers"]["newbie"]
    assert newbie["label"] == "新人礼" and newbie["accepted"]["base"] == 0 and newbie["accepted"]["value"] > 0


def test_versions_may_read_different_fields():
    a = pol.loads(MINI)
    b = pol.loads(MINI.replace("age: int? }", "age: int?  vip: bool }")
                  .replace("segment big", "segment vip_big = vip and spend >= 30\nsegment big"), name="b.pol")
    table = customers(1500, seed=4, extra=True)
    result = pol.diff([a, b], table, as_of=AS_OF, engine="vector")
    want = check_against_oracle(result, a, b, table)
    assert want and all(r["segments_in"] == ["vip_big"] for r in want)
    with pytest.raises(pol.DataError, match="vip"):
        pol.diff([a, b], customers(100), as_of=AS_OF, engine="vector")


def test_equal_versions_change_nothing():
    mini = pol.loads(MINI)
    result = pol.diff([mini, mini, pol.loads(MINI)], customers(2000), as_of=AS_OF, engine="vector")
    assert result.changes.num_rows == 0
    assert [c["customers_changed"] for c in result.summary["changes"]] == [0, 0]
    for d in result.summary["deltas"]:
        assert all(x["count"]["delta"] == 0 for x in d["segments"].values())
        assert all(x[f]["delta"] == 0 for x in d["offers"].values() for f in ("eligible", "accepted"))
    # Equal versions still need telling apart.
    assert [v["label"] for v in result.summary["versions"]] == ["#1 mini 1", "#2 mini 1", "#3 mini 1"]


CAPPED = MINI.replace("holdout 10% }", "holdout 10%  capacity 300 }")


def test_capacities_are_final_only_at_the_end(monkeypatch):
    """The capped version emits in finish(); the other's output waits,
    spilled to disk past a bound, and every row is compared once."""
    monkeypatch.setattr(pol.loop.align, "SPILL_ROWS", 700)
    spilled = []
    spill = pol.loop.align.Outputs._spill
    monkeypatch.setattr(pol.loop.align.Outputs, "_spill", lambda self: (spilled.append(1), spill(self)))
    plain, capped = pol.loads(MINI), pol.loads(CAPPED, name="capped.pol")
    table = customers(4000, seed=5)
    batches = table.to_batches(max_chunksize=500)
    result = pol.diff([plain, capped, plain], batches, as_of=AS_OF, engine="vector")
    want = check_against_oracle(result, plain, capped, table)
    assert any("upsell" in r["offers_lost"] for r in want)
    assert result.summary["deltas"][0]["capacity"]["upsell"] == {
        "capacity_base": None, "capacity_value": 300, "base": result.summary["runs"][0]["offers"]["upsell"]["accepted"],
        "value": 300, "delta": 300 - result.summary["runs"][0]["offers"]["upsell"]["accepted"]}
    assert result.summary["changes"][1]["customers_changed"] == 0
    assert len(spilled) == 2            # both uncapped versions waited on disk
    # The capped version as the base: the others wait for it.
    result = pol.diff([capped, plain], batches, as_of=AS_OF, engine="vector")
    check_against_oracle(result, capped, plain, table)


def test_the_telecom_library_with_a_param_change():
    policy = pol.load(RETENTION)
    table = generate(6000, seed=9)
    history = {"contacts": contacts(table, AS_OF, seed=9)}
    result = pol.diff([policy, policy], table, as_of=AS_OF, params=[None, {"churn_days": 45}], engine="vector",
                      history=history)
    want = check_against_oracle(result, policy, policy, table, None, {"churn_days": 45}, history=history)
    assert any("churn_warning" in r["segments_out"] for r in want)
    assert not any(r["segments_in"] for r in want)


def test_arguments_are_checked():
    mini = pol.loads(MINI)
    with pytest.raises(pol.ArgumentError, match="two policies or more"):
        pol.diff([mini], customers(10), as_of=AS_OF)
    with pytest.raises(pol.ArgumentError, match="one per version"):
        pol.diff([mini, mini], customers(10), as_of=AS_OF, params=[{}])
    with pytest.raises(pol.ParamError, match="nope"):
        pol.diff([mini, mini], customers(10), as_of=AS_OF, params={"nope": 1})


# ---------------------------------------------------------------- pol diff

def pol_cmd(*args, cwd=None):
    return clirun.pol(*args, cwd=cwd)           # in this process: the kernels compiled once per test run


def pol_sub(*args, cwd=None):
    """`pol` in a child process: what it leaves in the folder, cache included."""
    return subprocess.run([sys.executable, "-m", "pol", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "0")
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "a.pol").write_text(MINI, encoding="utf-8")
    (tmp_path / "b.pol").write_text(CAPPED.replace('version "1"', 'version "2"'), encoding="utf-8")
    table = customers(3000, seed=6)
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=1000)
    return tmp_path, table


def test_the_command_writes_changes_and_summary(files):
    tmp, table = files
    r = pol_cmd("diff", "a.pol", "b.pol", "a.pol", "--input", "in.parquet", "--out", "d", "--as-of", "2026-11-01",
                "--param", "3:spend_line=80", "--no-progress", cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp / "d").iterdir()) == [".pol-output", "changes.parquet", "summary.json"]
    summary = json.loads((tmp / "d" / "summary.json").read_text(encoding="utf-8"))
    labels = [v["label"] for v in summary["versions"]]
    assert labels == ["mini 1", "mini 2", "mini 1 (spend_line=80)"]
    changes = pq.read_table(tmp / "d" / "changes.parquet")
    a, b = pol.load(tmp / "a.pol"), pol.load(tmp / "b.pol")
    want_b = oracle(a, b, table, label=labels[1])[0]
    want_c = oracle(a, a, table, None, {"spend_line": 80}, label=labels[2])[0]
    assert _rows(changes) == sorted(want_b + want_c, key=lambda r: (r["id"], labels.index(r["version"])))
    assert "Customers whose results differ from the base" in r.stdout
    row = next(line.split() for line in r.stdout.splitlines() if line.startswith("  mini 2 "))
    assert row[2] == f"{len(want_b):,}"         # customers whose results differ
    assert "capacity used upsell" in r.stdout


def test_the_command_writes_csv_for_spreadsheets(files):
    tmp, table = files
    r = pol_cmd("diff", "a.pol", "a.pol", "--input", "in.parquet", "--out", "d", "--as-of", "2026-11-01",
                "--param", "2:spend_line=120", "--format", "csv", cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert (tmp / "d" / "changes.csv").read_bytes().startswith(b"\xef\xbb\xbf\"id\",\"version\",")    # BOM: Excel reads UTF-8
    rows = pacsv.read_csv(tmp / "d" / "changes.csv").to_pylist()
    want = oracle(pol.load(tmp / "a.pol"), pol.load(tmp / "a.pol"), table, None, {"spend_line": 120})[0]
    assert len(rows) == len(want) and rows[0]["id"] == want[0]["id"]
    assert {r["segments_out"] for r in rows} == {"big"}
    moved = [r["offers_moved"] for r in rows if r["offers_moved"]]
    assert moved and all(" → " in m and "#" in m for m in moved)


def test_the_command_reads_csv_input_once_for_versions_that_read_different_fields(files):
    """CSV is typed by the declared fields of every version (the union)."""
    tmp, _ = files
    (tmp / "c.pol").write_text(MINI.replace("age: int? }", "age: int?  vip: bool }")
                               .replace("segment big", "segment vip_big = vip\nsegment big"), encoding="utf-8")
    table = customers(800, seed=8, extra=True)
    pacsv.write_csv(table, tmp / "in.csv")
    r = pol_cmd("diff", "a.pol", "c.pol", "--input", "in.csv", "--out", "d", "--as-of", "2026-11-01", cwd=tmp)
    assert r.returncode == 0, r.stderr
    want = oracle(pol.load(tmp / "a.pol"), pol.load(tmp / "c.pol"), table, label="mini 1 (c.pol)")[0]
    got = _rows(pq.read_table(tmp / "d" / "changes.parquet"))
    assert got == want and all(r["segments_in"] == ["vip_big"] for r in got)


def test_the_command_refuses_and_leaves_nothing(files):
    tmp, _ = files
    r = pol_sub("diff", "a.pol", "--input", "in.parquet", "--out", "d", cwd=tmp)
    assert r.returncode == 2 and r.stderr.startswith("pol: error: pol diff needs two policies")
    r = pol_sub("diff", "a.pol", "b.pol", "--input", "in.parquet", "--out", "d", "--param", "3:spend_line=1", cwd=tmp)
    assert r.returncode == 2 and "there is no version 3" in r.stderr
    r = pol_sub("diff", "a.pol", "b.pol", "--input", "in.parquet", "--out", "d", "--param", "nope=1", cwd=tmp)
    assert r.returncode == 1 and "unknown param 'nope'" in r.stderr
    (tmp / "c.pol").write_text(MINI.replace("age: int? }", "age: int?  vip: bool }"), encoding="utf-8")
    r = pol_sub("diff", "a.pol", "c.pol", "--input", "in.parquet", "--out", "d", cwd=tmp)
    assert r.returncode == 1 and "column 'vip'" in r.stderr and "Traceback" not in r.stderr
    r = pol_sub("diff", "a.pol", "b.pol", "--input", "in.parquet", "--out", "in.parquet", cwd=tmp)
    assert r.returncode == 2 and "--out is the input file" in r.stderr
    assert not (tmp / "d").exists()
    assert sorted(p.name for p in tmp.iterdir() if not p.name.startswith(".")) == \
        ["a.pol", "b.pol", "c.pol", "cache", "in.parquet"]


def test_a_policy_with_a_population_is_refused_by_name():
    """Its outputs leave rows out, which the row-by-row comparison cannot line up (LANGUAGE.md 3.14)."""
    text = "policy p\ninput c key id { id: int  x: int }\nchannel sms\noffer o { eligible when x > 1  channels sms }\n"
    with pytest.raises(pol.ArgumentError, match="'q' states a population"):
        pol.diff([pol.loads(text), pol.loads(text.replace("policy p", "policy q") + "population when x > 0\n")],
                 pa.table({"id": [1], "x": [2]}), as_of="2026-11-01")
