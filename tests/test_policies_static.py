"""The telecom policy library (policies/telecom): every file checks on its
own without errors or warnings, carries a header comment and at least five
tests of its own, and its tests pass; retention.pol, the program `pol run`
and `pol demo` use, brings in every file and holds the arbitration that
issue 6 asks for."""
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
                                       "lifecycle.pol", "risk.pol", "triggers.pol", "retention.pol"}


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
    assert len(outcomes) >= 5
    failed = [str(o) for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)


def test_only_customer_pol_declares_the_input():
    for path in FILES:
        if path.name != "customer.pol":
            assert "\ninput " not in path.read_text(encoding="utf-8"), path.name


def test_retention_brings_in_every_file_and_arbitrates():
    program = compile_path(TELECOM / "retention.pol")
    assert {Path(f).name for f in program.files} == {f.name for f in FILES}
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
        if path.name != "retention.pol":
            arb = compile_path(path).arbitrate
            assert (arb.max_per_customer, arb.one_per_category, arb.exclusive) == (1, False, ()), path.name


def test_readme_explains_every_file():
    readme = (ROOT / "policies" / "README.md").read_text(encoding="utf-8")
    for path in FILES:
        assert f"`{path.name}`" in readme, path.name
