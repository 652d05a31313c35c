"""Treatment against control (`pol effect`, pol.loop.effect): a planted
uplift is found within its interval and no uplift gives an interval over
0 (pol run -> pol gen --outcomes -> pol effect, as a user runs them); the
counts, rates and statistics against a plain computation and SciPy called
directly; groups per segment and --by column; decision logs in place of a
run; outcomes per offer, a numeric metric; experiments: each arm against its
control group and the other arms, all its customers, planted uplifts per
arm found; clear errors (no controls, a missing metric, duplicate outcomes,
an experiment or arm the run does not have)."""
import json

import clirun
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy import stats

from pol.loop.effect import MIN_GROUP

POLICY = """policy camp version "1"
input c key id { id: int  spend: float  region: string }
segment big "大客户" = spend >= 50
classify band "档位" { when spend >= 100 => "高"  else => "低" }
channel sms "短信"
offer upsell "升级" { eligible when spend >= 20  priority spend  channels sms  holdout 30% }
offer gift "礼品" { eligible when spend < 20  priority 10  channels sms }
arbitrate { max 2 per customer }
"""
N = 20_000


def pol_cmd(*args, cwd):
    return clirun.pol(*args, cwd=cwd)           # in this process: the kernel compiled once per test run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A pol run of the campaign over N customers."""
    tmp = tmp_path_factory.mktemp("effect")
    (tmp / "camp.pol").write_text(POLICY, encoding="utf-8")
    (tmp / "nohold.pol").write_text(POLICY.replace("  holdout 30%", ""), encoding="utf-8")
    rng = np.random.default_rng(3)
    pq.write_table(pa.table({"id": np.arange(1, N + 1), "spend": np.round(rng.uniform(0, 150, N), 1),
                             "region": rng.choice(["华北", "华南", "西部"], N)}), tmp / "in.parquet")
    env_args = dict(cwd=tmp)
    for policy, out in (("camp.pol", "run"), ("nohold.pol", "run_nohold")):
        r = pol_cmd("run", policy, "--input", "in.parquet", "--out", out, "--as-of", "2026-11-01", **env_args)
        assert r.returncode == 0, r.stderr
    return tmp


def _all_row(out_dir, offer="upsell"):
    rows = json.loads((out_dir / "effect.json").read_text(encoding="utf-8"))["rows"]
    return next(r for r in rows if r["offer"] == offer and r["group_by"] == "all")


@pytest.mark.parametrize("uplift", [0.05, 0.0])
def test_a_planted_uplift_is_recovered(run_dir, uplift):
    tmp = run_dir
    outcomes = tmp / f"outcomes_{uplift}.parquet"
    r = pol_cmd("gen", "--outcomes", outcomes, "--run", "run", "--uplift", f"upsell={uplift}", "--seed", 11, cwd=tmp)
    assert r.returncode == 0, r.stderr
    out = tmp / f"effect_{uplift}"
    r = pol_cmd("effect", "--run", "run", "--outcomes", outcomes, "--out", out, cwd=tmp)
    assert r.returncode == 0, r.stderr
    row = _all_row(out)
    assert row["kind"] == "rate" and row["warning"] is None
    assert row["control"] > 4000 and row["treated"] > 10000
    assert row["uplift_low"] <= uplift <= row["uplift_high"]
    assert row["uplift_high"] - row["uplift_low"] < 0.03            # narrow enough to mean something
    if uplift:
        assert row["uplift_low"] > 0 and row["p_value"] < 0.001
        assert row["relative_low"] > 0
    else:
        assert row["p_value"] > 0.05 and row["relative_low"] < 0 < row["relative_high"]
    assert (out / "effect.parquet").is_file()
    assert pq.read_table(out / "effect.parquet").to_pylist()[0] == \
        json.loads((out / "effect.json").read_text(encoding="utf-8"))["rows"][0]
    line = next(x for x in r.stdout.splitlines() if x.startswith("  upsell"))
    assert "升级" in line and f"{row['treated']:,}" in line
    assert "No control group (the offer has no holdout): gift" in r.stdout


def test_figures_against_a_plain_computation(run_dir):
    tmp = run_dir
    r = pol_cmd("gen", "--outcomes", "o.parquet", "--run", "run", "--uplift", "upsell=0.08", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = pol_cmd("effect", "--run", "run", "--outcomes", "o.parquet", "--out", "e", "--by", "band", cwd=tmp)
    assert r.returncode == 0, r.stderr
    rows = pq.read_table(tmp / "e" / "effect.parquet").to_pylist()
    a = pq.read_table(tmp / "run" / "assignments.parquet")
    a = a.filter(pc.equal(a["offer"].cast(pa.string()), "upsell"))
    c = pq.read_table(tmp / "run" / "customers.parquet")
    o = pq.read_table(tmp / "o.parquet")
    response = dict(zip(o["id"].to_pylist(), o["response"].to_pylist()))
    band = dict(zip(c["id"].to_pylist(), c["band"].cast(pa.string()).to_pylist()))
    big = dict(zip(c["id"].to_pylist(), c["big"].to_pylist()))
    groups = {("all", "all"): lambda k: True, ("segment", "big"): lambda k: big[k],
              ("band", "高"): lambda k: band[k] == "高", ("band", "低"): lambda k: band[k] == "低"}
    for (group_by, group), inside in groups.items():
        t = np.array([response[k] for k, ctl in zip(a["id"].to_pylist(), a["control"].to_pylist())
                      if not ctl and inside(k)], float)
        ctl_ = np.array([response[k] for k, ctl in zip(a["id"].to_pylist(), a["control"].to_pylist())
                         if ctl and inside(k)], float)
        row = next(r for r in rows if r["offer"] == "upsell" and (r["group_by"], r["group"]) == (group_by, group))
        assert (row["treated"], row["control"]) == (len(t), len(ctl_))
        assert row["treated_value"] == pytest.approx(t.mean()) and row["control_value"] == pytest.approx(ctl_.mean())
        want = stats.ttest_ind(t, ctl_, equal_var=False)
        ci = want.confidence_interval(0.95)
        assert (row["p_value"], row["uplift_low"], row["uplift_high"]) == pytest.approx((want.pvalue, ci.low, ci.high))
        rr = stats.contingency.relative_risk(int(t.sum()), len(t), int(ctl_.sum()), len(ctl_)).confidence_interval()
        assert (row["relative_low"], row["relative_high"]) == pytest.approx((rr.low - 1, rr.high - 1))
    # The segment 'big' and the --by column's values are groups; gift has no control group.
    assert {(r["group_by"], r["group"]) for r in rows if r["offer"] == "upsell"} == set(groups)
    gift = next(r for r in rows if r["offer"] == "gift" and r["group_by"] == "all")
    assert gift["control"] == 0 and gift["warning"].startswith("no control group") and gift["uplift"] is None


def test_too_small_groups_are_flagged(run_dir):
    """Fewer than 30 in a group, or fewer than 5 responders expected."""
    from pol.loop.effect import warning
    assert warning({"treated": 500, "control": MIN_GROUP - 1, "treated_value": 0.5, "control_value": 0.5}, True)
    assert warning({"treated": 500, "control": 40, "treated_value": 0.05, "control_value": 0.05}, True) \
        .startswith("too few to tell: 2.0 responders")
    assert warning({"treated": 500, "control": 400, "treated_value": 0.1, "control_value": 0.1}, True) is None
    assert warning({"treated": 500, "control": 40, "treated_value": 0.05, "control_value": 0.05}, False) is None


def test_no_controls_is_a_clear_error(run_dir):
    tmp = run_dir
    r = pol_cmd("gen", "--outcomes", "o2.parquet", "--run", "run_nohold", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = pol_cmd("effect", "--run", "run_nohold", "--outcomes", "o2.parquet", "--out", "e2", cwd=tmp)
    assert r.returncode == 1
    assert r.stderr.startswith("pol: error: run_nohold: the run holds no controls") and "holdout" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp / "e2").exists()


def test_decision_logs_per_offer_outcomes_and_a_numeric_metric(run_dir, tmp_path):
    """Decision logs of pol serve in place of a run; outcomes per customer
    and offer; revenue (a mean); a customer decided twice counts once."""
    a = pq.read_table(run_dir / "run" / "assignments.parquet").to_pylist()
    logs = tmp_path / "logs"
    logs.mkdir()
    by_key: dict = {}
    for x in a:
        by_key.setdefault(x["id"], []).append({"offer": x["offer"], "control": x["control"]})
    keys = sorted(by_key)
    half = len(keys) // 2
    for name, part in (("a.jsonl", keys[:half]), ("b.jsonl", keys[half:] + keys[:50])):
        (logs / name).write_text("".join(json.dumps({"key": k, "offers": by_key[k], "served_ms": 1}) + "\n"
                                         for k in part), encoding="utf-8")
    rng = np.random.default_rng(5)
    ids = np.array([x["id"] for x in a])
    offers = [x["offer"] for x in a]
    control = np.array([x["control"] for x in a])
    revenue = np.round(rng.gamma(2, 10, len(a)) + np.where(control, 0, 3.0), 2)
    pq.write_table(pa.table({"customer": ids, "offer": offers, "revenue": revenue}), tmp_path / "rev.parquet")
    r = pol_cmd("effect", "--decisions", logs, "--outcomes", "rev.parquet", "--metric", "revenue",
                "--key", "customer", "--out", "e", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    info = json.loads((tmp_path / "e" / "effect.json").read_text(encoding="utf-8"))
    assert info["kind"] == "mean" and info["exposures"] == len(a) and info["without_outcome"] == 0
    row = next(x for x in info["rows"] if x["offer"] == "upsell")
    up = [x["offer"] == "upsell" for x in a]
    t, c = revenue[np.array(up) & ~control], revenue[np.array(up) & control]
    assert (row["treated"], row["control"]) == (len(t), len(c))
    assert row["uplift"] == pytest.approx(t.mean() - c.mean())
    assert row["uplift_low"] < 3.0 < row["uplift_high"] and row["relative_low"] < row["relative_uplift"] < row["relative_high"]
    assert {x["group_by"] for x in info["rows"]} == {"all"}          # logs have no segments


def test_bad_outcomes_are_clear_errors(run_dir, tmp_path):
    pq.write_table(pa.table({"id": [1, 2, 2], "response": [0, 1, 1]}), tmp_path / "dup.parquet")
    pq.write_table(pa.table({"id": [1, 2], "bought": [0, 1]}), tmp_path / "nometric.parquet")
    pq.write_table(pa.table({"id": [1, 2], "response": ["yes", "no"]}), tmp_path / "text.parquet")
    run = run_dir / "run"
    for name, want in (("dup.parquet", "keys have more than one outcome row (e.g. 2)"),
                       ("nometric.parquet", "has no column 'response'"),
                       ("text.parquet", "the metric must be numbers")):
        r = pol_cmd("effect", "--run", run, "--outcomes", name, "--out", "e", cwd=tmp_path)
        assert r.returncode == 1 and want in r.stderr and r.stderr.startswith("pol: error: "), (name, r.stderr)
    r = pol_cmd("effect", "--run", run, "--outcomes", "dup.parquet", "--out", "e", "--by", "nope", cwd=tmp_path)
    assert r.returncode == 1
    r = pol_cmd("effect", "--run", run, "--decisions", run, "--outcomes", "dup.parquet", "--out", "e", cwd=tmp_path)
    assert r.returncode == 2
    r = pol_cmd("gen", "--outcomes", "x.parquet", "--run", run, "--uplift", "upsell=lots", cwd=tmp_path)
    assert r.returncode == 2 and "--uplift needs OFFER=NUMBER" in r.stderr
    r = pol_cmd("gen", "--outcomes", "x.parquet", "--run", run, "--uplift", "nothing=0.1", cwd=tmp_path)
    assert r.returncode == 1 and "no customer of the run was given that offer" in r.stderr
    assert not (tmp_path / "e").exists() and not (tmp_path / "x.parquet").exists()


def test_a_run_written_as_arrow_gives_the_same_effect(run_dir):
    tmp = run_dir
    r = pol_cmd("run", "camp.pol", "--input", "in.parquet", "--out", "run_arrow", "--as-of", "2026-11-01",
                "--format", "arrow", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = pol_cmd("gen", "--outcomes", "oa.parquet", "--run", "run", "--uplift", "upsell=0.05", cwd=tmp)
    assert r.returncode == 0, r.stderr
    for run, out in (("run", "ep"), ("run_arrow", "ea")):
        r = pol_cmd("effect", "--run", run, "--outcomes", "oa.parquet", "--out", out, cwd=tmp)
        assert r.returncode == 0, r.stderr
    rows = [json.loads((tmp / out / "effect.json").read_text(encoding="utf-8"))["rows"] for out in ("ep", "ea")]
    assert rows[0] == rows[1] and any(row["treated"] > 0 for row in rows[0])


# ---------------------------------------------------------------- experiments
EXPERIMENT = """policy ab version "1"
input c key id { id: int  spend: float }
segment big "大客户" = spend >= 50
experiment care_ab "关怀A/B" salt "s1" {
    arm voucher 45%
    arm data 45%
    control 10%
}
experiment split salt "s2" {
    arm left 50%
    arm right 50%
}
channel sms "短信"
offer upsell "升级" { eligible when spend >= 20  priority spend  channels sms }
offer voucher_sms "话费券" { eligible when spend >= 60  priority 5  channels sms  arm care_ab.voucher }
offer data_sms "流量" { eligible when spend >= 60  priority 5  channels sms  arm care_ab.data }
arbitrate { max 2 per customer }
"""


@pytest.fixture(scope="module")
def ab_dir(run_dir):
    """A run of a campaign with an experiment with a control group (care_ab)
    and one without (split), and no offer holding anyone out."""
    (run_dir / "ab.pol").write_text(EXPERIMENT, encoding="utf-8")
    r = pol_cmd("run", "ab.pol", "--input", "in.parquet", "--out", "run_ab", "--as-of", "2026-11-01", cwd=run_dir)
    assert r.returncode == 0, r.stderr
    return run_dir


def _arm_rows(out_dir, experiment):
    rows = json.loads((out_dir / "effect.json").read_text(encoding="utf-8"))["rows"]
    return {(r["arm"], r["against"]): r for r in rows if r["experiment"] == experiment and r["group_by"] == "all"}


def test_a_planted_uplift_per_arm_is_recovered_and_no_uplift_covers_0(ab_dir):
    """Intention to treat: every customer of the arm gets the uplift, offered
    or not; the voucher arm's is found within its interval against the
    control group, the data arm's interval covers 0, and arm against arm
    finds the difference."""
    tmp = ab_dir
    r = pol_cmd("gen", "--outcomes", "ab.parquet", "--run", "run_ab", "--uplift", "care_ab.voucher=0.05",
                "--seed", 5, cwd=tmp)
    assert r.returncode == 0, r.stderr
    assert "for every customer of the arm: care_ab.voucher +5.0 points" in r.stdout
    r = pol_cmd("effect", "--run", "run_ab", "--outcomes", "ab.parquet", "--out", "e_ab", cwd=tmp)
    assert r.returncode == 0, r.stderr
    rows = _arm_rows(tmp / "e_ab", "care_ab")
    assert set(rows) == {("voucher", "control"), ("data", "control"), ("data", "voucher")}
    voucher, data, pair = rows["voucher", "control"], rows["data", "control"], rows["data", "voucher"]
    summary = json.loads((tmp / "run_ab" / "summary.json").read_text(encoding="utf-8"))["experiments"]["care_ab"]
    # Every customer of the run, not only those given an offer.
    assert (voucher["treated"], voucher["control"], data["treated"]) == \
        (summary["voucher"], summary["control"], summary["data"])
    assert voucher["kind"] == "rate" and voucher["warning"] is None and voucher["offer"] is None
    assert voucher["uplift_low"] <= 0.05 <= voucher["uplift_high"] and voucher["p_value"] < 0.001
    assert data["uplift_low"] <= 0 <= data["uplift_high"] and data["warning"] is None
    assert pair["uplift_low"] <= -0.05 <= pair["uplift_high"] and pair["uplift_high"] < 0
    # The experiment without a control share: its arms against each other only.
    split = _arm_rows(tmp / "e_ab", "split")
    assert list(split) == [("right", "left")] and split["right", "left"]["uplift_low"] <= 0 <= \
        split["right", "left"]["uplift_high"]
    info = json.loads((tmp / "e_ab" / "effect.json").read_text(encoding="utf-8"))
    assert info["experiments"]["care_ab"] == summary and info["experiments"]["split"]["control"] == 0
    # No offer holds anyone out: the experiments are still measured.
    assert "No control group (the offer has no holdout): upsell" in r.stdout
    assert "Experiment care_ab on response" in r.stdout and "Experiment split on response" in r.stdout
    line = next(x for x in r.stdout.splitlines() if x.startswith("  voucher  control"))
    assert f"{voucher['treated']:,}" in line and "<0.001" in line


def test_arm_figures_against_a_plain_computation(ab_dir):
    """Counts, rates and Welch's test per arm and group, from the customers'
    arm column and SciPy called directly."""
    tmp = ab_dir
    r = pol_cmd("gen", "--outcomes", "ab2.parquet", "--run", "run_ab", "--uplift", "care_ab.data=0.04",
                "--uplift", "upsell=0.02", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = pol_cmd("effect", "--run", "run_ab", "--outcomes", "ab2.parquet", "--out", "e_ab2", "--experiment",
                "care_ab", "--by", "split", cwd=tmp)
    assert r.returncode == 0, r.stderr
    rows = [x for x in pq.read_table(tmp / "e_ab2" / "effect.parquet").to_pylist() if x["experiment"]]
    assert {x["experiment"] for x in rows} == {"care_ab"}
    c = pq.read_table(tmp / "run_ab" / "customers.parquet")
    o = pq.read_table(tmp / "ab2.parquet")
    response = dict(zip(o["id"].to_pylist(), o["response"].to_pylist()))
    ids = c["id"].to_pylist()
    arm = c["care_ab"].cast(pa.string()).to_pylist()
    split = c["split"].cast(pa.string()).to_pylist()
    big = c["big"].to_pylist()
    groups = {("all", "all"): lambda i: True, ("segment", "big"): lambda i: big[i],
              ("split", "left"): lambda i: split[i] == "left", ("split", "right"): lambda i: split[i] == "right"}
    assert {(x["group_by"], x["group"]) for x in rows} == set(groups)
    for (group_by, group), inside in groups.items():
        def values(which, inside=inside):
            return np.array([response[k] for i, k in enumerate(ids) if arm[i] == which and inside(i)], float)
        for x in (x for x in rows if (x["group_by"], x["group"]) == (group_by, group)):
            t, ctl = values(x["arm"]), values(x["against"])
            assert (x["treated"], x["control"]) == (len(t), len(ctl))
            assert x["treated_value"] == pytest.approx(t.mean()) and x["control_value"] == pytest.approx(ctl.mean())
            want = stats.ttest_ind(t, ctl, equal_var=False)
            ci = want.confidence_interval(0.95)
            assert (x["p_value"], x["uplift_low"], x["uplift_high"]) == pytest.approx((want.pvalue, ci.low, ci.high))
    data = next(x for x in rows if (x["arm"], x["against"], x["group_by"]) == ("data", "control", "all"))
    assert data["uplift_low"] <= 0.04 <= data["uplift_high"]


def test_experiment_errors_name_what_the_run_has(ab_dir, run_dir):
    tmp = ab_dir
    r = pol_cmd("gen", "--outcomes", "ab3.parquet", "--run", "run_ab", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = pol_cmd("effect", "--run", "run_ab", "--outcomes", "ab3.parquet", "--out", "e_x", "--experiment", "care",
                cwd=tmp)
    assert r.returncode == 1 and not (tmp / "e_x").exists()
    assert r.stderr.strip() == ("pol: error: run_ab: --experiment care: no experiment 'care' in the run; "
                                "the experiments there: care_ab, split")
    # A run without experiments: none measured by default, and naming one says so.
    r = pol_cmd("gen", "--outcomes", "o4.parquet", "--run", "run", "--uplift", "upsell=0.05", cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = pol_cmd("effect", "--run", "run", "--outcomes", "o4.parquet", "--out", "e4", cwd=tmp)
    assert r.returncode == 0, r.stderr
    info = json.loads((tmp / "e4" / "effect.json").read_text(encoding="utf-8"))
    assert info["experiments"] == {} and all(x["experiment"] is None for x in info["rows"])
    assert "Experiment" not in r.stdout
    r = pol_cmd("effect", "--run", "run", "--outcomes", "o4.parquet", "--out", "e5", "--experiment", "care_ab",
                cwd=tmp)
    assert r.returncode == 1 and "no experiment 'care_ab' in the run; there are none" in r.stderr
    # An uplift for an arm the run does not have lists the arms it has.
    r = pol_cmd("gen", "--outcomes", "x.parquet", "--run", "run_ab", "--uplift", "care_ab.sms=0.1", cwd=tmp)
    assert r.returncode == 1 and not (tmp / "x.parquet").exists()
    assert "care_ab.voucher, care_ab.data, split.left, split.right" in r.stderr
    # Outcomes per customer and offer cannot measure an arm's customers without an offer.
    pq.write_table(pa.table({"id": [1, 2], "offer": ["upsell", "upsell"], "response": [1, 0]}), tmp / "po.parquet")
    r = pol_cmd("effect", "--run", "run_ab", "--outcomes", "po.parquet", "--out", "e6", "--experiment", "care_ab",
                cwd=tmp)
    assert r.returncode == 1 and "one outcome per customer" in r.stderr


def test_customers_without_an_outcome_count_as_0_or_are_dropped(ab_dir):
    """--missing applies to the arms' customers as to the offers: a responders
    list (only the 1s) counts everyone else as 0; with drop, only customers
    with an outcome row are measured."""
    tmp = ab_dir
    c = pq.read_table(tmp / "run_ab" / "customers.parquet", columns=["id", "care_ab"])
    ids = np.array(c["id"].to_pylist())
    arm = np.array(c["care_ab"].cast(pa.string()).to_pylist())
    listed = ids % 3 == 0
    pq.write_table(pa.table({"id": ids[listed], "response": (ids[listed] % 2).astype(np.int8)}), tmp / "some.parquet")
    for missing in ("zero", "drop"):
        r = pol_cmd("effect", "--run", "run_ab", "--outcomes", "some.parquet", "--out", f"e_m{missing}",
                    "--missing", missing, "--experiment", "care_ab", cwd=tmp)
        assert r.returncode == 0, r.stderr
        row = _arm_rows(tmp / f"e_m{missing}", "care_ab")["voucher", "control"]
        inside = (arm == "voucher") & (listed if missing == "drop" else True)
        control = (arm == "control") & (listed if missing == "drop" else True)
        assert (row["treated"], row["control"]) == (inside.sum(), control.sum())
        values = np.where(listed, ids % 2, 0)
        assert row["treated_value"] == pytest.approx(values[inside].mean())
