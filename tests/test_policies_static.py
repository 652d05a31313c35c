"""The telecom policy library (policies/telecom): every file checks on its
own without errors or warnings, carries a header comment and at least five
tests of its own (dispatch.pol, which only combines campaigns, two), and its
tests pass; retention.pol, the program `pol run` and `pol demo` use, brings
in every topic file and holds the arbitration that issue 6 asks for;
dispatch.pol runs it with the care campaign as one program (issue 13)."""
import datetime as dt
from pathlib import Path

import pytest

from pol.compiler.frontend import check_path, compile_path
from pol.testing.policytest import run_tests

ROOT = Path(__file__).resolve().parents[1]
TELECOM = ROOT / "policies" / "telecom"
FILES = sorted(TELECOM.glob("*.pol"))
RETENTION_OFFERS = {"retention_pack", "handset_free", "handset_discount", "prepaid_bonus", "data_marketing_pack",
                    "data_discount", "voice_local_pack", "voice_ld_pack", "voice_roam_pack", "service_trial",
                    "service_discount"}


def test_the_library_has_a_file_per_topic():
    assert {f.name for f in FILES} == {"customer.pol", "contact.pol", "tiers.pol", "vad.pol", "value.pol",
                                       "lifecycle.pol", "risk.pol", "triggers.pol", "retention.pol",
                                       "care.pol", "dispatch.pol"}
CAMPAIGNS = {"care.pol", "dispatch.pol"}      # built on retention.pol's files, not part of it


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_checks_alone_without_errors_or_warnings(path):
    front = check_path(path)
    assert front.ok, "\n".join(map(str, front.diagnostics.items))
    assert not front.diagnostics.warnings, "\n".join(map(str, front.diagnostics.warnings))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_opens_with_a_header_comment(path):
    head = path.read_text(encoding="utf-8").splitlines()[:3]
    assert all(line.startswith("#") for line in head), head


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_has_five_tests_of_its_own_and_they_pass(path):
    program = compile_path(path)
    outcomes = run_tests(program, dt.date(2026, 11, 1), only_file=str(path))
    assert len(outcomes) >= (2 if path.name == "dispatch.pol" else 5)
    failed = [str(o) for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)


def test_only_customer_pol_declares_the_input_and_campaigns_extend_it():
    """The record is described once; a campaign adds only nullable fields
    of its own (data the warehouse view does not have yet)."""
    shared = {f.name for f in compile_path(TELECOM / "customer.pol").input.fields}
    for path in FILES:
        if path.name not in {"customer.pol"} | CAMPAIGNS:
            assert "\ninput " not in path.read_text(encoding="utf-8"), path.name
    for name in CAMPAIGNS:
        fields = compile_path(TELECOM / name).input.fields
        extra = [f for f in fields if f.name not in shared]
        assert extra and all(f.nullable for f in extra), name


def test_retention_brings_in_every_file_and_arbitrates():
    program = compile_path(TELECOM / "retention.pol")
    assert {Path(f).name for f in program.files} == {f.name for f in FILES} - CAMPAIGNS
    arb = program.arbitrate
    assert arb.max_per_customer == 2 and arb.one_per_category
    assert any({"retention_pack", "handset_free"} <= set(line) for line in arb.exclusive)
    offers = {o.name: o for o in program.offers}
    assert all(o.category for o in offers.values()), "every offer belongs to a category"
    assert {name for name, o in offers.items() if o.holdout_bp} == RETENTION_OFFERS
    assert all(offers[name].holdout_bp == 500 for name in RETENTION_OFFERS)        # 5%
    capped = {name: o.capacity for name, o in offers.items() if o.capacity is not None}
    assert capped == {"retention_pack": 20000, "handset_free": 5000}
    assert all(offers[name].channels[0] == "call" for name in capped), "the capacities cap outbound calls"


def test_only_retention_pol_arbitrates():
    """The other files keep the default (one offer a customer), so that
    importing them never brings in a second `arbitrate`."""
    for path in FILES:
        if path.name not in ("retention.pol", "dispatch.pol"):
            arb = compile_path(path).arbitrate
            assert (arb.max_per_customer, arb.one_per_category, arb.exclusive) == (1, False, ()), path.name


def test_readme_explains_every_file():
    readme = (ROOT / "policies" / "README.md").read_text(encoding="utf-8")
    for path in FILES:
        assert f"`{path.name}`" in readme, path.name


def test_dispatch_runs_every_campaign_as_one_program():
    """dispatch.pol on the sample customers: one arbitration over the
    retention run's offers and the care campaign's (its occasions: the
    sample has no network figures); each line says its
    campaign, the offer's code and family, and carries the phone number;
    the fields the warehouse view lacks read as null and are reported."""
    from pol.api.policy import load
    from pol.cli.sample import generate
    from pol.cli.sample_contacts import contacts
    policy = load(TELECOM / "dispatch.pol")
    program = policy.program
    assert {o.campaign for o in program.offers} == {"lifecycle", "risk", "triggers", "care"}
    assert all(dict(o.attributes).keys() == {"code", "family"} for o in program.offers)
    assert program.carry == ("msisdn", "home_store")
    table = generate(3000, seed=3)
    history = {"contacts": contacts(table, dt.date(2026, 11, 1), seed=3)}
    result = policy.evaluate(table, as_of=dt.date(2026, 11, 1), engine="vector", history=history)
    a = result.assignments
    assert a.column_names[6:] == ["campaign", "code", "family", "msisdn", "home_store"]
    rows = a.to_pylist()
    assert {r["campaign"] for r in rows} == {"lifecycle", "risk", "triggers", "care"}
    # no network data: of the care campaign only the occasions (birthdays, 网龄)
    assert {r["offer"] for r in rows if r["campaign"] == "care"} == {
        "care.birthday_call", "care.birthday_gift", "care.anniversary_gift"}
    codes = {o.name: dict(o.attributes)["code"] for o in program.offers}
    assert all(r["code"] == codes[r["offer"]] for r in rows)
    phones = dict(zip(table.column("id").to_pylist(), table.column("msisdn").to_pylist()))
    assert all(r["msisdn"] == phones[r["id"]] and r["home_store"] is None for r in rows)
    assert result.summary["absent_fields"] == ["dropped_calls_7d", "weak_signal_days", "home_store"]
    assert (result.policy, result.version) == ("telecom_dispatch", "2026.12")
    assert result.summary["history"]["contacts"]["events"] == history["contacts"].num_rows
    # customers without an occasion get from retention.pol alone the offers they get here
    alone = load(TELECOM / "retention.pol").evaluate(table, as_of=dt.date(2026, 11, 1), engine="vector",
                                                     history=history)
    cared = {r["id"] for r in rows if r["campaign"] == "care"}
    assert 0 < len(cared) < 3000
    assert [(r["id"], r["offer"]) for r in rows if r["id"] not in cared] == [
        (r["id"], "retention." + r["offer"]) for r in alone.assignments.to_pylist() if r["id"] not in cared]
