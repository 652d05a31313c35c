"""Explanations (engine/reference/explain.py): what `explain` finds for each offer, and
golden files of the text a marketer reads.

The golden cases are tests/golden_explain/<case>.json (the policy, the as-of
date, params and the record) beside <case>.txt (the expected text). After a
deliberate change, regenerate with POL_REGEN_GOLDEN=1 and review the diff.
"""
import datetime as dt
import json
import os
from pathlib import Path

import pytest

from pol.compiler.frontend import compile_path, compile_text
from pol.reference.explain import explain, fields_used

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden_explain"
BENCH = HERE.parent / "benchmarks" / "data" / "retention_bench.pol"
AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def offers_program():
    return compile_path(GOLDEN / "offers.pol")


def verdicts(x):
    return {v.name: v for v in x.offers}


def test_given_offers_come_first_by_rank(offers_program):
    x = explain(offers_program, {"id": 1, "arpu": 150.0, "data_gb": 9.0, "plan_gb": 10.0, "tenure": 36,
                                 "app_on": True, "sms_out": False, "contacts": 0}, AS_OF, {})
    given = [(v.name, v.rank, v.channel) for v in x.offers if v.given]
    assert given == [("flow", 1, "app"), ("gift", 2, "sms"), ("care", 3, "sms")]   # care: 195 / 10 < 20
    assert [v.name for v in x.offers][3:] == ["night", "gift2", "summer", "push_only", "later"]
    v = verdicts(x)
    assert v["gift"].control and "holdout control" in v["gift"].summary
    assert (v["night"].reason, v["night"].to) == ("category", ("flow",))
    assert "one per category (traffic) to flow (流量包)" in v["night"].summary
    assert (v["gift2"].reason, v["gift2"].to) == ("max", ("flow", "gift", "care"))
    assert v["summer"].reason == "window" and "2026-06-01 to 2026-08-31" in v["summer"].summary
    assert x.decision.offer_names == ["flow", "gift", "care"]


def test_not_eligible_names_the_failing_part_and_its_values(offers_program):
    x = explain(offers_program, {"id": 2, "data_gb": 5.0, "plan_gb": 10.0, "tenure": 30, "app_on": True,
                                 "sms_out": False, "contacts": 0}, AS_OF, {})
    flow = verdicts(x)["flow"]
    assert flow.reason == "eligible"
    (heavy,) = flow.why
    assert heavy.text == "heavy" and heavy.value is False
    (cmp,) = heavy.because
    assert cmp.text == "usage >= 0.8" and ("usage", 0.5) in cmp.inputs and ("data_gb", 5.0) in cmp.inputs
    care = verdicts(x)["care"]
    # loyal = tenure >= 24 and tier is not null: tier is null because arpu is
    (loyal,) = care.why
    assert [c.text for c in loyal.because] == ["tier is not null"]
    assert ("tier", None) in loyal.because[0].inputs
    text = str(x)
    assert "care (关怀礼包): not given: not eligible (loyal is false)" in text
    assert "      - loyal (老客户) is false, because" in text


def test_priority_null_and_no_open_channel(offers_program):
    x = explain(offers_program, {"id": 3, "arpu": None, "data_gb": 5.0, "plan_gb": 10.0, "tenure": 30,
                                 "app_on": None, "sms_out": True, "contacts": 0}, dt.date(2026, 7, 1), {})
    v = verdicts(x)
    assert v["summer"].reason == "channel"
    closed = {ch.name: ch for ch in v["summer"].closed}
    assert closed["app"].why[0].text == "app_on" and closed["app"].why[0].value is None
    assert closed["sms"].why[0].text == "sms_out" and closed["sms"].why[0].value is True
    text = str(x)
    assert "      - channel sms (短信) is closed\n          - sms_out is true" in text
    x = explain(offers_program, {"id": 3, "arpu": None, "tenure": 30, "sms_out": False, "contacts": 0},
                AS_OF, {})
    care = verdicts(x)["care"]
    assert care.reason == "eligible"           # tier is null, so not loyal: eligibility comes first
    x = explain(offers_program, {"id": 3, "arpu": 200.0, "tenure": None, "sms_out": False, "contacts": 0},
                AS_OF, {})
    assert verdicts(x)["care"].reason == "eligible"


def test_priority_null_is_traced_to_its_source():
    p = compile_text("""input t key id { id: int  a: float?  b: float? }
        channel c
        offer o "优" { eligible when true  channels c  priority a / b }""", name="p.pol")
    x = explain(p, {"id": 1, "a": 1.0, "b": 0.0}, AS_OF)
    (o,) = x.offers
    assert o.reason == "priority" and o.why[0].text == "a / b"
    assert "not given: its priority is null (a / b)" in str(x)
    assert "- a / b is null: a = 1.0, b = 0.0" in str(x)


def test_params_and_exclusive(offers_program):
    rec = {"id": 4, "arpu": 50.0, "data_gb": 0.5, "plan_gb": 10.0, "tenure": 12, "app_on": False,
           "sms_out": False, "contacts": 2}
    x = explain(offers_program, rec, AS_OF, {"max_contacts": 5})
    v = verdicts(x)
    assert v["gift"].given and (v["gift2"].reason, v["gift2"].to) == ("exclusive", ("gift",))
    assert "lost under exclusive gift, gift2 to gift (回馈)" in v["gift2"].summary
    x = explain(offers_program, rec, AS_OF, {"max_contacts": 1})
    assert x.params["max_contacts"] == 1
    assert verdicts(x)["gift"].reason == "channel"


def test_values_used_and_classifications(offers_program):
    assert fields_used(offers_program) == ["arpu", "data_gb", "plan_gb", "tenure", "app_on", "sms_out", "contacts"]
    x = explain(offers_program, {"id": 5, "arpu": 150.0}, AS_OF, {})
    (tier,) = x.classifications
    assert (tier.value, tier.when, tier.where) == ("金卡", 1, "tiers.pol:4")
    assert 'tier (星级) = "金卡": when arpu >= 100.0 (tiers.pol:4)' in str(x)
    x = explain(offers_program, {"id": 5}, AS_OF, {})
    assert "tier (星级) = null: no `when` matched and there is no else" in str(x)
    assert "  data_gb = null" in str(x)


def test_bench_explanation_mentions_every_offer():
    program = compile_path(BENCH)
    record = json.loads((GOLDEN / "bench_gold.json").read_text(encoding="utf-8"))["record"]
    x = explain(program, _typed(program, record), AS_OF, {})
    assert {v.name for v in x.offers} == {o.name for o in program.offers}
    assert all(v.summary for v in x.offers)
    assert x.decision.offer_names == [v.name for v in x.offers if v.given]


# ---------------------------------------------------------------- golden files

def _typed(program, record: dict) -> dict:
    types = {f.name: f.type.value for f in program.input.fields}
    return {k: dt.date.fromisoformat(v) if types.get(k) == "date" and isinstance(v, str) else v
            for k, v in record.items()}


CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))


@pytest.mark.parametrize("case", CASES)
def test_golden_explanation(case):
    spec = json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8"))
    program = compile_path(BENCH if spec["policy"] == "bench" else GOLDEN / spec["policy"])
    text = str(explain(program, _typed(program, spec["record"]), dt.date.fromisoformat(spec["as_of"]),
                       spec.get("params", {})))
    expected = GOLDEN / f"{case}.txt"
    if os.environ.get("POL_REGEN_GOLDEN"):
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"no golden file yet: run with POL_REGEN_GOLDEN=1 and review {expected.name}"
    assert text == expected.read_text(encoding="utf-8")


def test_attributes_and_campaign_are_in_the_explanation(tmp_path):
    (tmp_path / "packs.pol").write_text(
        'policy packs\ninput c key id { id: int  x: float? }\nchannel sms\n'
        'offer a "A" { eligible when x > offer.floor channels sms attributes { code: "P1", floor: 10 } '
        'priority 100 - offer.floor }\n', encoding="utf-8")
    (tmp_path / "run.pol").write_text('policy run\nimport "packs.pol" as packs\n', encoding="utf-8")
    program = compile_path(tmp_path / "run.pol")
    x = explain(program, {"id": 1, "x": 20.0}, AS_OF, {})
    (v,) = x.offers
    assert (v.name, v.campaign, v.attributes, v.priority) == ("packs.a", "packs", {"code": "P1", "floor": 10}, 90.0)
    assert '      code = "P1", floor = 10' in str(x).splitlines()
    assert x.to_dict()["offers"][0]["attributes"] == {"code": "P1", "floor": 10}
    assert x.decision.offers[0].campaign == "packs" and x.decision.offers[0].attributes["code"] == "P1"


def test_a_list_param_shows_its_values_and_why_a_membership_failed():
    program = compile_text('input t key id { id: int  plan: string?  region: int }\n'
                           'param vip: list<string> = ["全球通", "动感地带"]\n'
                           'param regions: list<int> = []\n'
                           'channel sms\n'
                           'offer care { eligible when plan in vip and region not in regions channels sms }\n'
                           'offer other { eligible when plan not in vip channels sms }\n', name="l.pol")
    x = explain(program, {"id": 1, "plan": "神州行", "region": 5}, AS_OF, {"regions": [5, 6]})
    text = str(x)
    assert 'vip = ["全球通", "动感地带"]' in text and "regions = [5, 6]" in text
    assert 'plan in vip is false: plan = "神州行", vip = ["全球通", "动感地带"]' in text
    assert "region not in regions" in text
    assert verdicts(x)["other"].given and not verdicts(x)["care"].given
