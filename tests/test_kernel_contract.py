"""The back end's structure: the named kernel layout every part reads, the
operator rules of each evaluator keyed by the IR's operators, the generated
kernels' source as reviewed (tests/golden_kernels/), and the compiler
standing on its own (it never imports the engine).

Goldens: `POL_UPDATE_GOLDENS=1 python -m pytest tests/test_kernel_contract.py`
rewrites the expected kernel sources; review the diff like any other code.
"""
from __future__ import annotations

import ast
import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import pol
from pol.compiler import ir, ops, signatures
from pol.compiler.backend import codegen, kernel_ops
from pol.compiler.backend import layout as names
from pol.compiler.backend.layout import KernelLayout
from pol.compiler.backend.plan import plan
from pol.compiler.frontend.driver import compile_path, compile_text
from pol.evaluation import vector
from pol.evaluation.bind import bind

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden_kernels"
UPDATE = os.environ.get("POL_UPDATE_GOLDENS") == "1"

# ------------------------------------------------------------ operator rules

EVALUATORS = {"reference": ops.RULES, "vectorized": vector.RULES, "kernel": kernel_ops.RULES}


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_every_ir_operator_has_a_rule_in_each_evaluator(evaluator):
    rules = EVALUATORS[evaluator]
    assert sorted(set(signatures.OPS) - set(rules)) == [], f"{evaluator}: operators without a rule"
    assert sorted(set(rules) - set(signatures.OPS)) == [], f"{evaluator}: rules for no operator"


def test_a_missing_rule_stops_the_import_naming_the_operator():
    rules = dict(vector.RULES)
    del rules["clamp"]
    with pytest.raises(TypeError, match=r"the test evaluator: operators without a rule \['clamp'\]"):
        signatures.rule_table("the test evaluator", rules)
    with pytest.raises(TypeError, match=r"rules for no operator \['frobnicate'\]"):
        signatures.rule_table("the test evaluator", {**vector.RULES, "frobnicate": None})


def test_an_unknown_operator_is_named_with_its_evaluator():
    for lookup, who in ((kernel_ops.rule, "kernel code generation"), (vector.rule, "the vectorized evaluator"),
                        (ops.rule, "the reference evaluator")):
        with pytest.raises(LookupError, match=f"{who} has no rule for operator 'frobnicate'"):
            lookup("frobnicate")


# ------------------------------------------------------------ the named layout

def _program(name: str) -> ir.Program:
    return compile_path(GOLDEN / f"{name}.pol")


def _kernel_params(source: str, name: str) -> tuple[str, ...]:
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return tuple(a.arg for a in fn.args.args)


@pytest.mark.parametrize("policy", ["fields", "matching", "capacity"])
def test_generated_kernels_take_the_layouts_arguments_in_its_order(policy):
    program = _program(policy)
    p = plan(program)
    # with capacities the fused kernel hands customers over (HANDOFF); the
    # unfused one writes every candidate out
    handoff = codegen.hands_off(program)
    assert _kernel_params(codegen.source(program, p, fused=True), "kernel") == p.layout.batch(True, handoff)
    assert _kernel_params(codegen.source(program, p, fused=False), "kernel") == p.layout.batch(False)
    assert _kernel_params(codegen.source(program, p, row=True), "row_kernel") == p.layout.row()
    # every name in a layout is one of the compiler's own, each once
    for order in (p.layout.batch(True), p.layout.batch(True, True), p.layout.batch(False), p.layout.row()):
        assert len(set(order)) == len(order)
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in order)


@pytest.mark.parametrize("policy", ["fields", "matching", "capacity"])
def test_the_row_kernels_buffer_holds_each_array_once_aligned_and_the_packed_groups_without_a_gap(policy):
    program = _program(policy)
    p = plan(program)
    parts = names.row_parts(p, program.arbitrate.max_per_customer)
    assert tuple(sorted(q.name for q in parts)) == tuple(sorted(names.ROW_CARVED))
    spans = sorted((q.offset, q.offset + q.size) for q in parts)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))       # no overlap
    assert all(q.offset % np.dtype(q.dtype).itemsize == 0 for q in parts)
    at = {q.name: q for q in parts}
    for group in ((names.KEYS[1], *names.RECORD), (names.SCORES, names.CLASSES, names.SEGS)):
        for a, b in zip(group, group[1:]):
            assert at[a].offset + at[a].size == at[b].offset, (a, b)
    # the kernel views the buffer where the host does
    memory, arrays = names.row_buffers(parts)
    source = codegen.source(program, p, row=True)
    for q in parts:
        assert f"{q.name} = carray(byte_at(mem, {q.offset}), {q.shape}, np.{np.dtype(q.dtype).name}" in source
        assert int(np.prod(q.shape)) * np.dtype(q.dtype).itemsize == q.size
        assert arrays[q.name].shape == q.shape and arrays[q.name].base is not None
        assert arrays[q.name].nbytes == 0 or np.shares_memory(arrays[q.name], memory)


def test_the_matchers_walk_takes_the_layouts_arguments_in_its_order():
    from pol.compiler.backend.walk import matcher_source
    assert _kernel_params(matcher_source(), "match_range") == names.MATCH_RANGE


def test_a_bound_batch_supplies_exactly_the_layouts_batch_arguments():
    program = _program("fields")
    p = plan(program)
    batch = pa.record_batch({
        "id": pa.array([1, 2], pa.int64()), "plan": pa.array(["5G max", None]), "tenure": pa.array([3, 40]),
        "spend": pa.array([50.0, None]), "roaming": pa.array([False, None]),
        "joined": pa.array([dt.date(2026, 10, 1), None], pa.date32())})
    bound = bind(program, p, batch, {"min_spend": 30.0})
    assert tuple(bound.args) == p.layout.bound()
    # one argument per name, of the kind the layout says
    plan_field = p.layout.fields[[f.name for f in p.fields].index("plan")]
    assert plan_field.remap is not None and plan_field.bit_offset is None and plan_field.has_nulls is not None
    assert bound.args[plan_field.has_nulls] is True
    assert isinstance(bound.args[plan_field.remap], np.ndarray)


def test_arguments_refuse_a_missing_or_unknown_name():
    order = ("start", "stop", "x0")
    assert KernelLayout.arguments(order, {"x0": 3, "stop": 2, "start": 1}) == (1, 2, 3)
    with pytest.raises(ValueError, match=r"missing \['x0'\], unknown \[\]"):
        KernelLayout.arguments(order, {"start": 1, "stop": 2})
    with pytest.raises(ValueError, match=r"missing \[\], unknown \['x9'\]"):
        KernelLayout.arguments(order, {"start": 1, "stop": 2, "x0": 3, "x9": 4})


def test_funnel_columns_and_candidate_states_are_named_once():
    from pol.evaluation import summary
    from pol.reference import matching
    assert summary.FUNNEL == matching.FUNNEL == names.FUNNEL
    assert [names.FUNNEL[c] for c in (names.ELIGIBLE, names.ACCEPTED, names.LOST_CAPACITY)] == [
        "eligible", "accepted", "lost_to_capacity"]
    # a channel index is >= 0; the states are the negative numbers, distinct
    assert sorted({names.NOT_ELIGIBLE, names.NO_CHANNEL, names.NO_PRIORITY}) == [-3, -2, -1]


# ------------------------------------------------------------ goldens

KERNELS = [("fields", "batch"), ("fields", "row"), ("matching", "fused"), ("matching", "row"),
           ("capacity", "batch"), ("capacity", "fused")]


@pytest.mark.parametrize("policy,kind", KERNELS)
def test_generated_kernel_source_is_the_reviewed_one(policy, kind):
    program = _program(policy)
    got = codegen.source(program, plan(program), row=kind == "row", fused=kind == "fused")
    path = GOLDEN / f"{policy}.{kind}.py.txt"
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no golden {path.name}: run with POL_UPDATE_GOLDENS=1 and review it"
    assert got == path.read_text(encoding="utf-8"), (
        f"the generated kernel of {policy}.pol ({kind}) changed: if that is intended, run "
        "POL_UPDATE_GOLDENS=1 python -m pytest tests/test_kernel_contract.py and review the diff")


def test_the_matcher_source_is_the_reviewed_one():
    # the vectorized path's walk and the run-wide walk, generated from the same template
    from pol.compiler.backend.walk import matcher_source
    got = matcher_source()
    path = GOLDEN / "matcher.py.txt"
    if UPDATE:
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), "the matcher changed: POL_UPDATE_GOLDENS=1 and review"


def test_every_compiled_walk_is_the_one_template():
    # The fused kernel pastes walk.WALK in; the row kernel writes its
    # candidates out for the matcher's match_range, generated from WALK too.
    from pol.compiler.backend.walk import matcher_source
    program = _program("matching")
    fused = codegen.source(program, plan(program), fused=True)
    row = codegen.source(program, plan(program), row=True)
    matcher = matcher_source()
    sort, accept = "while wb > 0 and cp[wb - 1] < wp:", "& exclusive[wk] != 0:"
    assert [src.count(sort) for src in (fused, row, matcher)] == [1, 0, 1]
    # the accept test (walk.REFUSAL) in each walk: the matcher's match_range and walk_global
    assert [src.count(accept) for src in (fused, row, matcher)] == [1, 0, 2]
    assert "cprio[i, 0] = " in row and "cchan[i, 0] = " in row


def test_generated_source_holds_no_policy_string():
    # the literals of fields.pol and matching.pol are codes, never text, in the code
    for policy, kind in KERNELS:
        program = _program(policy)
        src = codegen.source(program, plan(program), row=kind == "row", fused=kind == "fused")
        for text in ("5G", "premium", "standard", "basic", "customers", "upgrade", "o0", "sms", "app"):
            assert not re.search(rf"\b{re.escape(text)}\b", src), (policy, kind, text)


def test_a_golden_policy_runs_the_same_on_every_engine():
    # the goldens are real policies: the kernels they show decide like the reference
    policy = pol.load(GOLDEN / "matching.pol")
    records = [{"id": f"c{i}", "a": a, "p": p} for i, (a, p) in
               enumerate([(True, 2.0), (None, 3.0), (False, None), (True, 0.5), (True, -1.0)])]
    day = dt.date(2026, 6, 1)
    table = pa.Table.from_pylist(records, schema=pa.schema([("id", pa.string()), ("a", pa.bool_()),
                                                            ("p", pa.float64())]))
    want = [[(a.offer, a.channel, a.control) for a in policy.decide(r, as_of=day, engine="reference").offers]
            for r in records]
    assert want[0] and want[3]
    for engine in ("vector", "kernel"):
        result = policy.evaluate(table, as_of=day, engine=engine)
        got = [[] for _ in records]
        for a in result.assignments.to_pylist():
            got[int(a["id"][1:])].append((a["offer"], a["channel"], a["control"]))
        assert got == want, engine
    for r, w in zip(records, want):
        assert [(a.offer, a.channel, a.control) for a in policy.decide(r, as_of=day, engine="kernel").offers] == w


# ------------------------------------------------------------ the compiler stands alone

# The cache folder's safety checks (standard library only) sit at the
# package's root because dsl/ uses them too; they are no part of the engine.
SHARED = ("pol.compiler", "pol.dsl", "pol.cachefolder")


def test_the_compiler_never_imports_the_engine():
    bad = []
    for path in sorted((ROOT / "compiler").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.ImportFrom) and node.module:
                # `from pol import x` imports the module pol.x
                mods = [f"{node.module}.{a.name}" for a in node.names] if node.module == "pol" else [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            for m in mods:
                if (m == "pol" or m.startswith("pol.")) and not m.startswith(SHARED):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {m}")
    assert bad == []


def test_constant_folding_in_the_compiler_agrees_with_the_reference():
    from pol.compiler.fold import fold
    from pol.reference.expr import Env, eval_expr
    text = ("input t key id { id: int }\n"
            "segment a = 7 % -3 == -2 and round(2.5) == 3 and 1 / 0 is null and starts_with(\"ab\", \"a\")\n"
            "segment b = 2026-01-31 + 1 == 2026-02-01 and coalesce(null, 3) == 3 and clamp(5, 1, 3) == 3\n")
    program = compile_text(text, "t.pol")
    for s in program.segments:
        assert fold(s.expr) == eval_expr(s.expr, Env(fields={})) is True
