"""Imports stay inside the policy's own tree: an import names a .pol file
inside the root folder (the policy's folder, or the root the caller gives),
and what it refuses it refuses before reading, so no diagnostic ever shows a
line of a file that is not a policy of the tree."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pol
from pol.cli.main import main
from pol.compiler.frontend import check_path, check_text, compile_path

SECRET = "SECRET_TOKEN=hunter2-do-not-print"
# Parent paths are written with os.pardir: tests/test_self_contained.py keeps
# literal ones out of the tests. All of them stay inside tmp_path.
UP = os.pardir
INPUT = "input c key id { id: int  x: int }\n"


@pytest.fixture
def tree(tmp_path):
    """tmp/outside/{secret.txt, common.pol}, and the policy's tree in tmp/tree."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    # a .pol file outside the tree whose first line is the secret: a syntax
    # error there would quote it
    (outside / "common.pol").write_text(f"{SECRET}\n", encoding="utf-8")
    root = tmp_path / "tree"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "notes.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    return root


def check(root: Path, text: str, name: str = "main.pol"):
    (root / name).write_text(text, encoding="utf-8")
    return check_path(root / name)


def cli(capsys, *argv) -> tuple[int, str]:
    try:
        status = main(list(argv))
    except SystemExit as e:
        status = e.code
    out = capsys.readouterr()
    return status, out.out + out.err


REFUSED = [
    ('import "/proc/self/environ"', "E-IMPORT-004", "an import cannot be an absolute path"),
    ('import "/etc/passwd"', "E-IMPORT-004", "an import cannot be an absolute path"),
    ('import "{outside}/common.pol"', "E-IMPORT-004", "an import cannot be an absolute path"),
    ('import "{up}/outside/common.pol"', "E-IMPORT-004", "it is outside the policy's root folder"),
    ('import "lib/{up}/{up}/outside/common.pol"', "E-IMPORT-004", "it is outside the policy's root folder"),
    ('import "' + "{up}/" * 9 + 'etc/passwd.pol"', "E-IMPORT-004", "it is outside the policy's root folder"),
    ('import "{up}/outside/secret.txt"', "E-IMPORT-005", "it is not a .pol file"),
    ('import "lib/notes.txt"', "E-IMPORT-005", "it is not a .pol file"),
    ('import "lib"', "E-IMPORT-005", "it is not a .pol file"),
]


@pytest.mark.parametrize("line,code,words", REFUSED, ids=[r[0][8:-1] for r in REFUSED])
def test_a_refused_import_names_the_path_and_shows_nothing_of_the_target(tree, capsys, monkeypatch,
                                                                         line, code, words):
    line = line.format(outside=tree.parent / "outside", up=UP)
    out = check(tree, f"{line}\n{INPUT}")
    assert out.program is None
    (d,) = out.diagnostics.errors
    assert (d.code, d.file, d.line, d.column) == (code, str(tree / "main.pol"), 1, 1)
    assert words in d.message and d.hint
    # as a policy author sees it: the caret under the import, in the importing file
    monkeypatch.chdir(tree)
    status, text = cli(capsys, "check", "main.pol")
    assert status == 1
    assert SECRET not in text and "root:" not in text          # nothing of environ, passwd, secret
    assert f"main.pol:1:1: error[{code}]" in text
    assert f"   1 | {line}\n     | {'^' * len(line)}\n" in text


def test_the_environment_never_reaches_a_diagnostic(tree, capsys, monkeypatch):
    monkeypatch.setenv("POL_TEST_SECRET", SECRET)
    monkeypatch.chdir(tree)
    (tree / "main.pol").write_text('import "/proc/self/environ"\n' + INPUT, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pol", "check", "main.pol"], capture_output=True, text=True,
                          cwd=tree, env=dict(os.environ, POL_TEST_SECRET=SECRET), timeout=120)
    assert proc.returncode == 1
    assert SECRET not in proc.stdout + proc.stderr
    assert "error[E-IMPORT-004]" in proc.stderr and "Traceback" not in proc.stderr


def test_a_link_out_of_the_tree_is_refused(tree, capsys, monkeypatch):
    (tree / "lib" / "shared.pol").symlink_to(tree.parent / "outside" / "common.pol")
    (tree / "lib" / "up").symlink_to(tree.parent / "outside", target_is_directory=True)
    for target in ("lib/shared.pol", "lib/up/common.pol"):
        out = check(tree, f'import "{target}"\n{INPUT}')
        (d,) = out.diagnostics.errors
        assert d.code == "E-IMPORT-004"
        assert d.message == f"cannot import '{target}': it is a link to a file outside the policy's root folder"
        monkeypatch.chdir(tree)
        status, text = cli(capsys, "check", "main.pol")
        assert status == 1 and SECRET not in text


def test_a_link_to_a_file_that_is_not_a_policy_is_refused(tree, capsys, monkeypatch):
    (tree / "lib" / "notes.pol").symlink_to(tree / "lib" / "notes.txt")
    out = check(tree, f'import "lib/notes.pol"\n{INPUT}')
    (d,) = out.diagnostics.errors
    assert d.code == "E-IMPORT-005"
    assert "link to a file that is not a .pol file" in d.message
    monkeypatch.chdir(tree)
    assert SECRET not in cli(capsys, "check", "main.pol")[1]


def test_a_link_inside_the_tree_is_followed(tree):
    (tree / "lib" / "real.pol").write_text(INPUT, encoding="utf-8")
    (tree / "alias.pol").symlink_to(tree / "lib" / "real.pol")
    (tree / "shelf").symlink_to(tree / "lib", target_is_directory=True)
    for target in ("alias.pol", "shelf/real.pol"):
        out = check(tree, f'import "{target}"\nsegment big = x > 3\n')
        assert out.ok, out.diagnostics.errors
        assert [f.name for f in out.program.input.fields] == ["id", "x"]


def test_dot_dot_that_stays_inside_the_root(tree, capsys, monkeypatch):
    (tree / "common").mkdir()
    (tree / "common" / "customer.pol").write_text(INPUT, encoding="utf-8")
    (tree / "telecom").mkdir()
    # inside the policy's own folder: fine without a root
    (tree / "telecom" / "base.pol").write_text(f'import "{UP}/telecom/own.pol"\n', encoding="utf-8")
    (tree / "telecom" / "own.pol").write_text(INPUT, encoding="utf-8")
    assert check_path(tree / "telecom" / "base.pol").ok
    policy = tree / "telecom" / "offers.pol"
    policy.write_text(f'import "{UP}/common/customer.pol"\nsegment big = x > 3\n', encoding="utf-8")
    # the policy's folder is telecom/: common/ is outside it
    (d,) = check_path(policy).diagnostics.errors
    assert d.code == "E-IMPORT-004"
    # with the tree as root it is inside
    assert check_path(policy, root=tree).ok
    assert [s.name for s in compile_path(policy, root=tree).segments] == ["big"]
    assert pol.load(policy, root=tree).program.input.key == "id"
    with pytest.raises(pol.PolicyError) as e:
        pol.load(policy)
    assert e.value.diagnostics[0].code == "E-IMPORT-004"
    monkeypatch.chdir(tree)
    assert cli(capsys, "check", "telecom/offers.pol")[0] == 1
    status, text = cli(capsys, "check", "--root", ".", "telecom/offers.pol")
    assert status == 0 and text.startswith("telecom/offers.pol: ok")


def test_text_uses_base_dir_as_its_root(tree):
    (tree / "lib" / "base.pol").write_text(INPUT, encoding="utf-8")
    p = pol.loads('import "lib/base.pol"\nsegment big = x > 3\n', name="t.pol", base_dir=tree)
    assert p.program.input.key == "id"
    out = check_text(f'import "{UP}/outside/common.pol"\n', base_dir=tree)
    assert [d.code for d in out.diagnostics.errors] == ["E-IMPORT-004"]
    with pytest.raises(pol.PolicyError) as e:
        pol.loads(f'import "{UP}/outside/common.pol"\n', base_dir=tree / "lib")
    assert SECRET not in str(e.value)


def test_a_policy_outside_the_root_it_is_given(tree, capsys):
    (tree / "lib" / "p.pol").write_text(INPUT, encoding="utf-8")
    out = check_path(tree / "lib" / "p.pol", root=tree.parent / "outside")
    (d,) = out.diagnostics.errors
    assert d.code == "E-IMPORT-004" and "outside its root folder" in d.message
    status, text = cli(capsys, "check", "--root", str(tree / "nope"), str(tree / "lib" / "p.pol"))
    assert status == 2 and "--root" in text and "is not a folder" in text


def test_golden_cases_cover_the_new_codes():
    golden = Path(__file__).resolve().parent / "golden"
    texts = "".join(p.read_text(encoding="utf-8") for p in golden.glob("import_*.expected"))
    assert "[E-IMPORT-004]" in texts and "[E-IMPORT-005]" in texts
    # the golden text file beside them is never quoted
    secret = (golden / "imports" / "notes.txt").read_text(encoding="utf-8").strip()
    assert secret and secret not in texts
