"""Param overrides (engine/api/params.py): Python values and command-line text,
converted to the declared types or refused with a ParamError naming the param."""
import datetime as dt

import pytest

from pol.api.params import resolve_params
from pol.compiler.frontend import compile_text
from pol.errors import ParamError

PROGRAM = compile_text("""
input t key id { id: int }
param days: int = 30
param rate: float = 0.5
param on: bool = true
param tag: string = "全球通"
param start: date = 2026-01-01
param maybe: int = null
""", name="params.pol")


def test_defaults():
    assert resolve_params(PROGRAM, {}) == {"days": 30, "rate": 0.5, "on": True, "tag": "全球通",
                                           "start": dt.date(2026, 1, 1), "maybe": None}
    assert resolve_params(PROGRAM, None)["days"] == 30


@pytest.mark.parametrize("name, given, expected", [
    ("days", 45, 45),
    ("days", "45", 45),
    ("days", " -3 ", -3),
    ("days", "1_000_000", 1_000_000),
    ("days", 9223372036854775807, 9223372036854775807),
    ("rate", 2, 2.0),
    ("rate", 0.25, 0.25),
    ("rate", "0.8", 0.8),
    ("rate", "80%", 0.8),
    ("rate", "1e6", 1e6),
    ("rate", "45", 45.0),
    ("on", False, False),
    ("on", "false", False),
    ("on", "TRUE", True),
    ("tag", "动感地带", "动感地带"),
    ("tag", "null", "null"),          # a string param takes any text as it is
    ("start", dt.date(2026, 7, 1), dt.date(2026, 7, 1)),
    ("start", dt.datetime(2026, 7, 1, 23, 59), dt.date(2026, 7, 1)),
    ("start", "2026-07-01", dt.date(2026, 7, 1)),
    ("maybe", None, None),
    ("days", "null", None),
])
def test_conversions(name, given, expected):
    got = resolve_params(PROGRAM, {name: given})[name]
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("name, given, expected_words", [
    ("days", "4.5", "expected an int"),
    ("days", 4.5, "expected an int"),
    ("days", True, "expected an int"),
    ("days", "abc", "expected an int"),
    ("days", 2 ** 63, "64-bit"),
    ("days", "-9223372036854775809", "64-bit"),
    ("rate", "fast", "expected a number"),
    ("rate", "nan", "finite"),
    ("rate", float("inf"), "finite"),
    ("rate", 10 ** 400, "expected a number"),
    ("rate", True, "expected a number"),
    ("on", "yes", "true or false"),
    ("on", 1, "true or false"),
    ("tag", 5, "expected a string"),
    ("start", "2026-02-30", "no such day"),
    ("start", "01/07/2026", "YYYY-MM-DD"),
    ("start", "20260701", "YYYY-MM-DD"),
    ("start", 20260701, "YYYY-MM-DD"),
])
def test_refusals_name_the_param_and_what_was_expected(name, given, expected_words):
    with pytest.raises(ParamError) as e:
        resolve_params(PROGRAM, {name: given})
    assert e.value.param == name
    assert f"'{name}'" in str(e.value) and expected_words in str(e.value)
    assert isinstance(e.value, ValueError)


def test_unknown_param_suggests_the_closest():
    with pytest.raises(ParamError) as e:
        resolve_params(PROGRAM, {"dayz": 3})
    assert e.value.param == "dayz"
    assert "unknown param 'dayz'" in str(e.value) and "did you mean 'days'?" in str(e.value)
    with pytest.raises(ParamError) as e:
        resolve_params(PROGRAM, {"zzzzzz": 3})
    assert "the policy declares: days, rate" in str(e.value)


def test_a_policy_without_params():
    empty = compile_text("input t key id { id: int }", name="empty.pol")
    with pytest.raises(ParamError, match="declares no params"):
        resolve_params(empty, {"x": 1})


def test_resolving_twice_changes_nothing():
    once = resolve_params(PROGRAM, {"days": "7", "rate": "5%", "start": "2026-03-01", "on": "false"})
    assert resolve_params(PROGRAM, once) == once


@pytest.mark.parametrize("name, given, hint", [
    ("days", "１２", "full-width digit; use 0-9"),
    ("days", "-１", "full-width digit; use 0-9"),
    ("rate", "１.５", "full-width digit; use 0-9"),
    ("rate", "٣", "digits 0-9"),
    ("rate", "５%", "full-width digit; use 0-9"),
    ("start", "２０２６-07-01", "full-width digit; use 0-9"),
])
def test_only_ascii_digits_are_numbers(name, given, hint):
    """int("１２") and float("٣") work in Python; a param, like a policy, reads 0-9 only."""
    with pytest.raises(ParamError) as e:
        resolve_params(PROGRAM, {name: given})
    assert e.value.param == name and hint in str(e.value)


def test_a_full_width_digit_on_the_command_line_is_one_line(tmp_path):
    import os
    import subprocess
    import sys
    policy = tmp_path / "p.pol"
    policy.write_text("input t key id { id: int }\nparam days: int = 30\n", encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "pol", "explain", str(policy), "--record", '{"id": 1}',
                        "--param", "days=１２"], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, POL_BACKGROUND_COMPILE="0"))
    assert r.returncode == 1
    assert r.stderr.startswith("pol: error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "full-width digit; use 0-9" in r.stderr and "Traceback" not in r.stderr


OFFERS = compile_text("""
input t key id { id: int }
param max_calls: int = 3000
param control: float = 5%
param start: date = 2026-11-01
param stop: date = null
channel sms
offer o { eligible when true channels sms capacity max_calls holdout control valid from start to stop }
""", name="offers.pol")


@pytest.mark.parametrize("given, words", [
    ({"max_calls": -1}, "param 'max_calls' is the capacity of offer 'o': a capacity is 0 or more, not -1"),
    ({"max_calls": None}, "a capacity needs a value, not null"),
    ({"control": "101%"}, "param 'control' is the holdout of offer 'o': a holdout is a share from 0% to 100%, not 101%"),
    ({"control": -0.01}, "not -1%"),
    ({"control": None}, "a holdout needs a value, not null"),
])
def test_an_offer_setting_from_a_param_is_checked_when_overridden(given, words):
    with pytest.raises(ParamError) as e:
        resolve_params(OFFERS, given)
    assert words in str(e.value) and e.value.param == next(iter(given))


def test_an_offer_setting_from_a_param_takes_the_run_value():
    from pol.compiler.offer_settings import with_params as settle
    assert settle(OFFERS, resolve_params(OFFERS, {})) is OFFERS
    (o,) = OFFERS.offers
    assert (o.capacity, o.holdout_bp, o.valid_from, o.valid_to) == (3000, 500, dt.date(2026, 11, 1), None)
    values = resolve_params(OFFERS, {"max_calls": "0", "control": "12.345%", "stop": "2026-11-30", "start": None})
    (o,) = settle(OFFERS, values).offers
    assert (o.capacity, o.holdout_bp, o.valid_from, o.valid_to) == (0, 1235, None, dt.date(2026, 11, 30))


def test_a_negative_capacity_on_the_command_line_stops_the_run(tmp_path):
    import clirun
    policy = tmp_path / "p.pol"
    policy.write_text("input t key id { id: int }\nparam max_calls: int = 3\nchannel sms\n"
                      "offer o { eligible when true channels sms capacity max_calls }\n", encoding="utf-8")
    data = tmp_path / "in.csv"
    data.write_text("id\n1\n2\n", encoding="utf-8")
    r = clirun.pol("run", policy, "--input", data, "--out", tmp_path / "out", "--param", "max_calls=-5")
    assert r.returncode != 0, r.stdout
    assert "param 'max_calls' is the capacity of offer 'o': a capacity is 0 or more, not -5" in r.stderr
    assert not (tmp_path / "out").exists()


LISTS = compile_text("""
input t key id { id: int  plan: string? }
param vip: list<string> = ["全球通", "动感地带"]
param codes: list<int> = []
segment s "S" = plan in vip
""", name="lists.pol")


@pytest.mark.parametrize("name, given, expected", [
    ("vip", ["A"], ("A",)),
    ("vip", ("A", "全球通"), ("A", "全球通")),
    ("vip", [], ()),
    ("vip", '["神州行", "a,b"]', ("神州行", "a,b")),
    ("vip", " [] ", ()),
    ("codes", [1, -2, 9223372036854775807], (1, -2, 9223372036854775807)),
    ("codes", "[-9223372036854775808, 0]", (-9223372036854775808, 0)),
])
def test_list_overrides(name, given, expected):
    assert resolve_params(LISTS, {name: given})[name] == expected
    assert resolve_params(LISTS, {})["vip"] == ("全球通", "动感地带")


@pytest.mark.parametrize("name, given, words", [
    ("vip", None, "param 'vip' is list<string>: expected a list of strings"),
    ("vip", "全球通", 'got "全球通"'),
    ("vip", "null", 'got "null"'),
    ("vip", ["A", None], "element 2 is None: no null in a list"),
    ("vip", [1], "element 1 is 1"),
    ("vip", '["A", 1]', "element 2 is 1"),
    ("vip", "[A, B]", 'from the command line a JSON array, e.g. ["A", "B"]'),
    ("codes", [True], "element 1 is True"),
    ("codes", [1.0], "element 1 is 1.0"),
    ("codes", ["1"], "element 1 is '1'"),
    ("codes", [2 ** 63], "element 1 is 9223372036854775808"),
    ("codes", {"a": 1}, "expected a list of ints"),
])
def test_list_refusals_name_the_param_and_the_element(name, given, words):
    with pytest.raises(ParamError) as e:
        resolve_params(LISTS, {name: given})
    assert e.value.param == name and words in str(e.value)


def test_a_list_on_the_command_line(tmp_path):
    import json
    import os
    import subprocess
    import sys
    policy = tmp_path / "p.pol"
    policy.write_text('input t key id { id: int  plan: string? }\n'
                      'param vip: list<string> = ["全球通"]\nsegment s "S" = plan in vip\n', encoding="utf-8")
    env = dict(os.environ, POL_BACKGROUND_COMPILE="0")
    r = subprocess.run([sys.executable, "-m", "pol", "explain", str(policy), "--record", '{"id": 1, "plan": "神州行"}',
                        "--json", "--param", 'vip=["神州行", "动感地带"]'],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["params"] == {"vip": ["神州行", "动感地带"]} and out["decision"]["segments"] == {"s": True}
