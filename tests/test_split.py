"""Kernels split in stages (compiler/backend/split.py) mean what the single
kernel means, and a kernel that cannot be compiled is said, never silent.

The generated catalogue policies of benchmarks/data/large_policy.py are too
slow to compile here (tens of seconds each on two cores: their figures are
in benchmarks/README.md); the splitting is tested on the bench policy and
on a small generated one with a low threshold, so that every kind of value
crosses a stage: lets of each type with and without nulls, segments, scores
(read back from their outputs), classifications, offers in several stages.
"""
import datetime as dt
import io
import os
import pickle
import sys

import pytest
from exprgen import policy_text, rows, to_table
from hypothesis import HealthCheck, given, settings
from test_differential import reference_columns, same

import pol
from benchmarks.data.large_policy import large_policy
from pol.compiler.backend import cache, codegen, split, warm
from pol.evaluation.executor import KernelExecutor

AS_OF = dt.date(2026, 11, 1)


def split_kernel(policy, threshold: int, fused: bool = True) -> KernelExecutor:
    """The policy's kernel engine replaced by one split at `threshold` nodes
    (`fused=False`: the kernel that writes every candidate out)."""
    run = policy.lowered.program
    executor = KernelExecutor(run, policy.plan, split_at=threshold, fused=fused)
    policy._kernel = executor
    return executor


def outputs(result):
    return result.customers, result.assignments, result.summary


def test_small_policies_keep_the_single_kernel(bench_policy):
    run = bench_policy.lowered.program
    assert not split.needed(run, None)
    assert "def stage0" not in codegen.source(run, bench_policy.plan, fused=True)


def test_many_offers_split_a_kernel_of_few_nodes():
    run = pol.loads(large_policy(80, 20)).lowered.program
    assert split.size(run) < split.THRESHOLD and split.needed(run, None)
    assert not split.needed(pol.loads(large_policy(40, 20)).lowered.program, None)


def test_large_policies_are_split_in_dependency_order():
    p = pol.loads(large_policy(200, 1000))
    run = p.lowered.program
    assert split.needed(run, None)
    g = split.groups(run, split.THRESHOLD)
    assert len(g.decls) >= 2 and g.decls[0][0] == run.order[0]
    assert [n for group in g.decls for n in group] == list(run.order)
    assert [k for r in g.offers for k in r] == list(range(len(run.offers)))
    source = codegen.source(run, p.plan, fused=True)
    stages = len(g.decls) + len(g.offers)
    assert source.count("@njit(") == stages + 1 and f"stage{stages - 1}(" in source


def test_split_bench_kernel_agrees_with_the_single_kernel_and_the_reference(bench_policy, bench_table):
    table = bench_table.slice(0, 3000)
    single = outputs(bench_policy.evaluate(table, as_of=AS_OF, engine="kernel"))
    policy = pol.load(bench_policy.path)
    executor = split_kernel(policy, 40)
    assert executor.source.count("@njit(") > 5           # many stages, each value kept across one
    got = outputs(policy.evaluate(table, as_of=AS_OF, engine="kernel"))
    assert got[0].equals(single[0])
    assert got[1].equals(single[1])
    assert got[2] == single[2]
    records = table.slice(0, 300).to_pylist()
    ref = reference_columns(policy, records)
    for name in policy.program.outputs:
        column = got[0].column(name).to_pylist()
        for i, c in enumerate(ref[name]):
            assert same(column[i], c), (name, i, column[i], c)


@pytest.mark.parametrize("fused", [True, False])
def test_split_kernel_with_capacities_writes_the_same_candidates(bench_table, fused):
    """Fused, the split kernel hands the customers of the capped offer over
    to the run-wide walk as the single kernel does; unfused, it writes every
    candidate out."""
    text = large_policy(12, 60).replace("    category cat3\n", "    category cat3\n    capacity 40\n")
    table = bench_table.slice(0, 4000)
    single = pol.loads(text)
    want = outputs(single.evaluate(table, as_of=AS_OF, engine="kernel"))
    assert single._kernel.handoff
    policy = pol.loads(text)
    split_kernel(policy, 150, fused)
    assert policy._kernel.handoff == fused
    got = outputs(policy.evaluate(table, as_of=AS_OF, engine="kernel"))
    assert got[0].equals(want[0]) and got[1].equals(want[1]) and got[2] == want[2]
    assert got[1].num_rows > 0 and want[2]["offers"]


@settings(max_examples=int(os.environ.get("POL_SPLIT_EXAMPLES", "3")), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(policy_text(count=8), rows(max_size=30))
def test_split_random_expressions_agree_with_the_reference(text, records):
    policy = pol.loads(text, name="random.pol")
    split_kernel(policy, 12)
    table = to_table(records, dictionary_strings=True)
    kernel = policy.evaluate(table, as_of=AS_OF, engine="kernel").customers
    ref = reference_columns(policy, records)
    for name in policy.program.outputs:
        for i, (a, c) in enumerate(zip(kernel.column(name).to_pylist(), ref[name])):
            assert same(a, c), f"split kernel != reference for {name} at row {i}: {a!r} vs {c!r}\n{text}"


# ------------------------------------------------------------ failures are said

def test_a_kernel_numba_cannot_compile_raises_compile_error_under_engine_kernel(bench_table):
    """Numba's own RecursionError (what a too large function gave), met in the
    foreground, is a pol.CompileError naming it."""
    policy = pol.loads(large_policy(3, 10, seed=99))
    table = bench_table.slice(0, 100)
    limit = sys.getrecursionlimit()
    depth = len(__import__("inspect").stack())
    sys.setrecursionlimit(depth + 60)
    try:
        with pytest.raises(pol.CompileError) as e:
            policy.evaluate(table, as_of=AS_OF, engine="kernel")
    finally:
        sys.setrecursionlimit(limit)
    assert "RecursionError" in e.value.cause and "engine=\"vector\"" in str(e.value)
    assert policy.evaluate(table, as_of=AS_OF, engine="vector").customers.num_rows == 100


def _kernel_that_does_not_type() -> str:
    return ('import numpy as np\nfrom numba import njit\n\n@njit(cache=True)\n'
            'def kernel(a):\n    return a + np.zeros((2, 2)).sum(axis="x")\n')


def test_background_compile_failure_is_written_beside_the_marker(bench_policy, tmp_path, monkeypatch):
    """warm.py generates the kernel from the program it is sent and compiles
    it; Numba's failure goes to the `.failed` file, in one line."""
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    folder = cache.folder()
    if folder is None:
        pytest.skip("kernels are compiled in memory here")
    marker = folder / "p_0123456789abcdef01234567.0123456789abcdef.ready"
    job = pickle.dumps((bench_policy._run, bench_policy.plan, {"fused": False, "split_at": None},
                        (__import__("numba").typeof(1.0),)))
    monkeypatch.setattr(codegen, "source", lambda *a, **k: _kernel_that_does_not_type())
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": io.BytesIO(job)})())
    monkeypatch.setattr(os, "nice", lambda n: 0)
    assert warm.main([str(folder), str(marker)]) == 2
    assert not marker.exists()
    said = warm.failure_path(marker).read_text(encoding="utf-8")
    assert said.startswith("TypingError")
    assert (folder / f"k_{cache.key(_kernel_that_does_not_type())}.py").exists()


def test_background_compile_generates_the_kernel_and_writes_the_marker(bench_table, tmp_path, monkeypatch):
    """The run names the marker by the program (it generates no source for
    its first result); the background process generates the source, compiles
    it and writes that marker, and the next run of the policy uses the kernel."""
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    if cache.folder() is None:
        pytest.skip("kernels are compiled in memory here")
    text = large_policy(3, 10, seed=5)
    p = pol.loads(text)
    asked: list = []
    monkeypatch.setattr(p._auto, "start_background", asked.append)
    p.evaluate(bench_table.slice(0, 100), as_of=AS_OF)
    assert len(asked) == 1 and "source" not in p._kernel.__dict__
    marker = p._kernel.marker(asked[0])
    k = p._kernel
    job = pickle.dumps((k._program, k.plan, k.options, asked[0]))
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": io.BytesIO(job)})())
    monkeypatch.setattr(os, "nice", lambda n: 0)
    assert warm.main([str(marker.parent), str(marker)]) == 0
    assert marker.exists() and cache.is_cached(k.source)
    again = pol.loads(text)
    monkeypatch.setattr(again._auto, "start_background", lambda sig: pytest.fail("compiled already"))
    got = again.evaluate(bench_table.slice(0, 100), as_of=AS_OF)
    assert got.customers.equals(p.evaluate(bench_table.slice(0, 100), as_of=AS_OF, engine="vector").customers)


def test_a_failed_background_compile_is_reported_and_not_retried(bench_table, monkeypatch, tmp_path):
    """warm.py's `.failed` file, from this run's background process or an
    earlier one: the run says so (Result.warnings) and does not start another."""
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    text = large_policy(3, 10, seed=5)
    table = bench_table.slice(0, 200)
    first = pol.loads(text)
    asked: list = []
    monkeypatch.setattr(first._auto, "start_background", asked.append)
    want = first.evaluate(table, as_of=AS_OF)
    assert want.warnings == () and len(asked) == 1
    marker = first._kernel.marker(asked[0])
    if marker is None:
        pytest.skip("kernels are compiled in memory here")
    warm.failure_path(marker).write_text("RecursionError: maximum recursion depth exceeded", encoding="utf-8")
    again = pol.loads(text)
    started: list = []
    monkeypatch.setattr(again._auto, "start_background", started.append)
    got = again.evaluate(table, as_of=AS_OF)
    assert started == []
    assert len(got.warnings) == 1 and "RecursionError: maximum recursion depth exceeded" in got.warnings[0]
    assert got.customers.equals(want.customers)
    assert again.evaluate(table, as_of=AS_OF, engine="vector").warnings == ()


def test_pol_run_says_the_background_compile_failed(bench_table, monkeypatch, tmp_path, capsys):
    import pyarrow.parquet as pq

    from pol.cli.run import run_command
    monkeypatch.setenv("POL_CACHE_DIR", str(tmp_path / "cache"))
    policy_file = tmp_path / "catalogue.pol"
    policy_file.write_text(large_policy(3, 10, seed=7), encoding="utf-8")
    data = tmp_path / "customers.parquet"
    pq.write_table(bench_table.slice(0, 500), data)
    p = pol.load(str(policy_file))
    asked: list = []
    monkeypatch.setattr(p._auto, "start_background", asked.append)
    p.evaluate(bench_table.slice(0, 500), as_of=AS_OF)
    warm.failure_path(p._kernel.marker(asked[0])).write_text("RecursionError: maximum recursion depth exceeded",
                                                             encoding="utf-8")
    assert run_command(str(policy_file), str(data), str(tmp_path / "out"), as_of="2026-11-01", progress=False) == 0
    err = capsys.readouterr().err
    assert "pol: warning: the kernel could not be compiled in the background (RecursionError" in err
    summary = __import__("json").loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == [err.strip().removeprefix("pol: warning: ")]
