"""Imports under a name and without offers (LANGUAGE.md section 3.2,
compiler/frontend/qualify.py): one canonical name per declaration, a file
reached along several paths is one file, an imported file never reads its
importer's names, and what `without offers` and `as` leave out."""
from __future__ import annotations

from pathlib import Path

from pol.compiler.frontend import check_path


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


SHARED = """input customer key id { id: int  x: float? }
param line: float = 10
segment spends "消费" = x > line
channel sms "短信"
offer shared_offer "共享" { eligible when spends channels sms }
arbitrate { max 3 per customer }
test "shared" { given { id: 1, x: 20 } expect offer shared_offer }
"""


def test_a_file_reached_along_two_paths_is_one_file_named_with_the_fewest_qualifiers(tmp_path):
    write(tmp_path, {
        "shared.pol": SHARED,
        "a.pol": 'import "shared.pol"\nsegment a_seg "A" = spends\n',
        "b.pol": 'import "deep.pol" as deep\nsegment b_seg "B" = deep.s.spends\n',
        "deep.pol": 'import "shared.pol" as s without offers\n',
        "root.pol": 'import "b.pol" as b\nimport "a.pol" as a\n',
    })
    out = check_path(tmp_path / "root.pol")
    assert out.ok, [str(d) for d in out.diagnostics.items]
    p = out.program
    # reached as b.deep.s. (3 qualifiers) and a. (1): a. wins though b.pol comes first
    assert [s.name for s in p.segments] == ["a.spends", "b.b_seg", "a.a_seg"]
    assert [x.name for x in p.params] == ["a.line"] and [c.name for c in p.channels] == ["a.sms"]
    # the offer comes through a (with offers) even though deep.pol leaves it out
    assert [o.name for o in p.offers] == ["a.shared_offer"]
    # imported under a name: neither its arbitrate block nor its tests come along
    assert p.arbitrate.max_per_customer == 1 and p.tests == ()


def test_a_plain_import_keeps_offers_arbitration_and_tests(tmp_path):
    write(tmp_path, {"shared.pol": SHARED, "root.pol": 'import "shared.pol"\n'})
    p = check_path(tmp_path / "root.pol").program
    assert [o.name for o in p.offers] == ["shared_offer"] and p.arbitrate.max_per_customer == 3
    assert [t.name for t in p.tests] == ["shared"]


def test_without_offers_keeps_the_rest(tmp_path):
    write(tmp_path, {"shared.pol": SHARED, "root.pol": 'import "shared.pol" without offers\n'
                     'offer mine "我的" { eligible when spends channels sms }\n'})
    p = check_path(tmp_path / "root.pol").program
    assert [o.name for o in p.offers] == ["mine"] and [s.name for s in p.segments] == ["spends"]
    assert p.arbitrate.max_per_customer == 1 and p.tests == ()


def test_a_file_imported_under_a_name_cannot_read_its_importers_names(tmp_path):
    write(tmp_path, {
        "lib.pol": 'segment uses_root "L" = rooted\n',
        "root.pol": 'input c key id { id: int }\nimport "lib.pol" as lib\nsegment rooted "R" = true\n',
    })
    out = check_path(tmp_path / "root.pol")
    assert [d.code for d in out.diagnostics.errors] == ["E-NAME-001"]
    assert "lib.rooted" in out.diagnostics.errors[0].message


def test_two_declarations_that_meet_only_through_an_alias_are_refused(tmp_path):
    # g.pol sees both x.pol's and y.pol's `hot` as `hot`: refused, at the second, as in g.pol alone
    write(tmp_path, {
        "x.pol": 'segment hot "X" = true\n',
        "y.pol": 'segment hot "Y" = false\n',
        "g.pol": 'import "x.pol"\nimport "y.pol"\n',
        "root.pol": 'input c key id { id: int }\nimport "x.pol" as first\nimport "g.pol" as g\n',
    })
    errors = check_path(tmp_path / "root.pol").diagnostics.errors
    assert [d.code for d in errors] == ["E-NAME-002"]
    assert errors[0].span.path.endswith("y.pol") and "g.hot" in errors[0].message


def test_the_same_field_twice_with_one_type_is_one_field(tmp_path):
    write(tmp_path, {"a.pol": "input c key id { id: int  x: float? }\n",
                     "root.pol": 'import "a.pol"\ninput c key id { x: float?  y: int? }\nsegment s "S" = x > y\n'})
    p = check_path(tmp_path / "root.pol").program
    assert [(f.name, f.nullable) for f in p.input.fields] == [("id", False), ("x", True), ("y", True)]
