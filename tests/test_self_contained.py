"""The repository is self-contained: tests and benchmarks read nothing beside
the checkout (tests/conftest.py also watches every file a test opens), and the
installed package carries the telecom library, so `pol demo` needs no clone."""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_no_test_or_benchmark_names_a_path_beside_the_repository():
    pattern = re.compile(r"""\.\.[/\\]|["']\.\.["']|parents\[[2-9]\]|parent\.parent\.parent""")
    offenders = []
    for folder in ("tests", "benchmarks"):
        for f in (ROOT / folder).rglob("*.py"):
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if pattern.search(line) and "pattern = re.compile" not in line:
                    offenders.append(f"{f.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_reading_beside_the_repository_is_caught(reads_beside_repository):
    temp = Path(tempfile.gettempdir()).resolve()
    if temp == ROOT.parent or temp in ROOT.parents:
        pytest.skip(f"the checkout lies in the temporary folder {temp}, which the tests may use: what is beside it "
                    "cannot be told from a test's own temporary files (clone it elsewhere for this check)")
    beside = ROOT.parent / "a-folder-beside-the-repository" / "x.pol"
    try:
        open(beside)
    except OSError:
        pass
    assert str(beside) in reads_beside_repository
    reads_beside_repository.clear()


def test_the_bench_policy_and_its_generator_live_here():
    from benchmarks.data.bench_customers import generate
    t = generate(50, seed=7)
    assert t.num_rows == 50 and t.column("id").to_pylist() == list(range(1, 51))
    assert (ROOT / "benchmarks" / "data" / "retention_bench.pol").is_file()


def test_the_installed_package_ships_the_telecom_library(tmp_path):
    code = ("import pol.policies as p; from pathlib import Path; "
            "f = p.path('telecom/retention.pol'); print(f.is_file(), len(list(Path(f).parent.glob('*.pol'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "11"]
