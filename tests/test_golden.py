"""Golden tests: each tests/golden/<case>.pol is checked through the `pol check`
command, as a policy author would run it, and what it prints must equal
<case>.expected exactly.

Regenerate the expected files with POL_REGEN_GOLDEN=1 and review the diff:
these files are the messages people read.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pol.cli.main import main

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*.pol"))
REGEN = os.environ.get("POL_REGEN_GOLDEN") == "1"


def run_check(case: Path, capsys) -> tuple[int, str]:
    status = main(["check", case.name])
    out = capsys.readouterr()
    return status, out.err + out.out


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_golden(case: Path, capsys, monkeypatch):
    # a relative path keeps the file names in the output independent of the checkout
    monkeypatch.chdir(GOLDEN)
    status, text = run_check(case, capsys)
    expected_file = case.with_suffix(".expected")
    if REGEN:
        expected_file.write_text(text, encoding="utf-8")
    assert expected_file.exists(), f"no {expected_file.name}; run with POL_REGEN_GOLDEN=1"
    assert text == expected_file.read_text(encoding="utf-8")
    # every case but the warning-only ones is a broken policy
    assert status == (0 if case.stem.startswith("warn_") else 1)


def test_corpus_covers_the_error_list():
    """At least 30 cases, and each error of LANGUAGE.md section 10 has one."""
    assert len(CASES) >= 30
    texts = "".join(c.with_suffix(".expected").read_text(encoding="utf-8") for c in CASES
                    if c.with_suffix(".expected").exists())
    for code in ["E-SYNTAX-001", "E-SYNTAX-002", "E-SYNTAX-003", "E-SYNTAX-004", "E-SYNTAX-005",
                 "E-SYNTAX-006", "E-SYNTAX-007", "E-SYNTAX-008", "E-SYNTAX-009", "E-NAME-001",
                 "E-NAME-002", "E-NAME-003", "E-TYPE-002", "E-CYCLE-001", "E-DATE-001", "E-FUNC-001",
                 "E-FUNC-002", "E-IMPORT-001", "E-IMPORT-002", "E-OFFER-001", "E-OFFER-002",
                 "E-NAME-005", "E-NAME-006", "E-DECL-001", "E-DECL-002", "E-ARB-001",
                 "E-DECL-006", "E-DECL-007", "E-IMPORT-006", "E-NAME-008", "E-NAME-009", "E-OFFER-006",
                 "E-OFFER-007", "E-OFFER-009", "E-OUT-001", "E-ARB-004", "E-ARB-005", "E-ARB-006", "E-POP-001", "E-POP-002"]:
        assert f"[{code}]" in texts, code
