"""The conformance suite: small cases (a policy snippet, rows with nulls,
the expected value of each name) in cases/*.json, run against every
evaluator by one parametrized runner.

An evaluator is one function

    evaluate_batch(program, rows: list[dict], as_of, params) -> {name: [value per row]}

(reference: the reference evaluator; kernel: the fused batch kernel; vector:
the vectorized evaluator; row: the compiled row kernel of `decide`, one row
at a time)

returning, for every row in input order, the value of each let, segment,
classification and score (Python values, None for null), plus "offers" (the
accepted offers' names in rank order, capacities applied over the batch),
"channels" (their channels, in the same order) and "controls" (the accepted
offers that are holdout controls). Register it in
EVALUATORS. A case checks only the names it lists; an evaluator that cannot
expose a name (a kernel that outputs no lets) compares the names it does
expose and then skips, naming the rest, so the gap shows in the report.

Case file format (JSON, because it has null):

    {"section": "...", "cases": [{
        "name": "...",
        "policy": "let q = i / j",      # declarations after the standard input
                                         # block below; or a whole policy with its
                                         # own `input` block
        "as_of": "2026-11-01",          # optional (this is the default)
        "params": {"lim": 5},           # optional overrides
        "rows": [[{"i": 7, "j": 2}, {"q": 3.5}], ...],  # [fields, expected] per row
        "files": {"lib.pol": "..."},    # optional: files the policy imports
        "history": {"h": [{"k": 1, "at": "2026-10-30"}, ...]}   # optional: events of
                                         # the case's histories (LANGUAGE.md section 12),
                                         # with their keys, in the order given
    }]}

Besides the declared names, a case may expect per row "population" (whether
the row is in the policy's population, LANGUAGE.md 3.14: a row outside it
is in no output of a batch evaluator, and gets no offer from any), and "arm.NAME" (the
experiment's arm, or "control", LANGUAGE.md section 13) and, per row and
accepted offer in rank order: "campaigns" (the assignments' campaign, null when the offers
come from one campaign), "attr.NAME" (the offer's attribute, null where it
has none) and "carry.FIELD" (the carried input field).

In rows, list fields are JSON arrays (null elements kept: the engine drops
them), date fields are "YYYY-MM-DD", timestamp fields
"YYYY-MM-DDTHH:MM:SS[.ffffff]" (timestamp lets are not observed: a case
checks what is computed from them), float fields may be "nan", "inf",
"-inf"; a field left out is null; `id` defaults to the row's number (from 1).
Expected values are read by the type of the name: dates from "YYYY-MM-DD",
float results must be Python floats, int results ints (3 is not 3.0), bool
results bools.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from pol.compiler import ir, signatures
from pol.compiler.frontend import compile_text
from pol.compiler.types import Type
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_all

CASES_DIR = Path(__file__).resolve().parent / "cases"
DEFAULT_AS_OF = dt.date(2026, 11, 1)

STANDARD_INPUT = """input t key id {
    id: int
    i: int?  j: int?  k: int?
    x: float?  y: float?  z: float?
    b: bool?  c: bool?
    s: string?  u: string?
    d: date?  e: date?
}
"""


# ---------------------------------------------------------------- evaluators

def _mine(program: ir.Program, history: dict, key) -> dict:
    """One customer's events per history."""
    return {name: [e for e in events if e.get(program.history(name).key) == key]
            for name, events in history.items()}


def reference(program: ir.Program, rows: list[dict], as_of: dt.date, params: dict,
              history: dict | None = None) -> dict[str, list]:
    results = [evaluate_row(program, r, as_of, params, trace=False,
                            history=_mine(program, history or {}, r.get(program.input.key))) for r in rows]
    out: dict[str, list] = {name: [r.values[name] for r in results] for name in program.order}
    out["population"] = [r.in_population for r in results]
    run = match_all(program, results)
    out["offers"] = [m.offers for m in run.matches]
    out["channels"] = [[a.channel for a in m.accepted] for m in run.matches]
    out["controls"] = [[a.offer for a in m.accepted if a.control] for m in run.matches]
    offers = {o.name: o for o in program.offers}
    several = any(o.campaign not in (None, program.name) for o in program.offers)
    out["campaigns"] = [[offers[a.offer].campaign if several else None for a in m.accepted] for m in run.matches]
    for name, _ in program.attributes:
        out[f"attr.{name}"] = [[dict(offers[a.offer].attributes).get(name) for a in m.accepted]
                               for m in run.matches]
    for name in program.carry:
        out[f"carry.{name}"] = [[r.get(name) for _ in m.accepted] for r, m in zip(rows, run.matches)]
    for x in program.experiments:
        out[f"arm.{x.name}"] = [r.arms[x.name] for r in results]
    return out


def offer_columns(program: ir.Program, per_row: list[list[dict]], out: dict) -> None:
    """campaigns, attr.NAME and carry.FIELD from each row's assignments (dicts)."""
    out["campaigns"] = [[a.get("campaign") for a in row] for row in per_row]
    for name, _ in program.attributes:
        out[f"attr.{name}"] = [[a[name] for a in row] for row in per_row]
    for name in program.carry:
        out[f"carry.{name}"] = [[a[name] for a in row] for row in per_row]


def _observed(program: ir.Program, rows: list[dict], events: list[dict] = ()) -> ir.Program:
    """The program with every let also written to the output, so the batch
    evaluators expose it: ints as two exact float scores (a multiple of 2**32
    and the remainder), dates as days since 1970, bools and strings as
    classifications over every value that can occur."""
    import dataclasses
    F, I, B, S, D = Type.FLOAT, Type.INT, Type.BOOL, Type.STRING, Type.DATE
    strings = {v for r in [*rows, *events] for v in r.values() if isinstance(v, str)}
    # and the strings that string functions compute: the reference's values
    # (a wrong one still shows, as another value or as null)
    for r in rows:
        values = evaluate_row(program, r, DEFAULT_AS_OF, {p.name: p.default for p in program.params},
                              trace=False).values
        strings.update(values[let.name] for let in program.lets if isinstance(values[let.name], str))
    for e in _program_exprs(program):
        for node in ir.walk(e):
            if isinstance(node, ir.Literal) and node.type == S and node.value is not None:
                strings.add(node.value)
            if isinstance(node, ir.InSet) and node.operand.type == S:
                strings.update(node.values)
    extra_scores, extra_classes = [], []
    for let in program.lets:
        ref = ir.DeclRef(let.expr.type, let.name, "let")
        t = let.expr.type
        if t == F:
            extra_scores.append(ir.Score(f"__{let.name}", None, ref))
        elif t == I:
            lo = ir.Call(I, "mod", (ref, ir.Literal(I, 2 ** 32)))
            extra_scores.append(ir.Score(f"__{let.name}__lo", None, ir.Call(F, "to_float", (lo,))))
            extra_scores.append(ir.Score(f"__{let.name}__hi", None,
                                         ir.Call(F, "to_float", (ir.Call(I, "sub", (ref, lo)),))))
        elif t == D:
            days = ir.Call(I, "sub", (ref, ir.Literal(D, dt.date(1970, 1, 1))))
            extra_scores.append(ir.Score(f"__{let.name}", None, ir.Call(F, "to_float", (days,))))
        elif t == B:
            extra_classes.append(ir.Classify(f"__{let.name}", None, (
                ir.When(ref, "t"), ir.When(ir.Call(B, "not", (ref,)), "f")), None))
        elif t == Type.TIMESTAMP:
            continue        # not observed: a case checks what is computed from it
        else:
            whens = tuple(ir.When(ir.Call(B, "eq", (ref, ir.Literal(S, v))), v) for v in sorted(strings))
            extra_classes.append(ir.Classify(f"__{let.name}", None, whens, None))
    names = tuple(d.name for d in (*extra_scores, *extra_classes))
    return dataclasses.replace(program, scores=program.scores + tuple(extra_scores),
                               classifies=program.classifies + tuple(extra_classes),
                               order=program.order + names, outputs=program.outputs + names)


def _program_exprs(program):
    from pol.compiler.backend.plan import program_exprs
    return program_exprs(program)


def _unobserve(program: ir.Program, out: dict, column) -> dict:
    """The values of the program's lets back from the outputs _observed added."""
    for let in program.lets:
        t = let.expr.type
        if t == Type.INT:
            lo, hi = column(f"__{let.name}__lo"), column(f"__{let.name}__hi")
            out[let.name] = [None if a is None else int(b) + int(a) for a, b in zip(lo, hi)]
        elif t == Type.DATE:
            out[let.name] = [None if v is None else dt.date(1970, 1, 1) + dt.timedelta(days=int(v))
                             for v in column(f"__{let.name}")]
        elif t == Type.BOOL:
            out[let.name] = [None if v is None else v == "t" for v in column(f"__{let.name}")]
        elif t == Type.TIMESTAMP:
            continue
        else:
            out[let.name] = column(f"__{let.name}")
    return out


def compiled(engine: str):
    """A batch evaluator of the engine: the fused kernel or the vectorized one."""
    def evaluate(program: ir.Program, rows: list[dict], as_of: dt.date, params: dict,
                 history: dict | None = None, observed: ir.Program | None = None) -> dict[str, list]:
        import pyarrow as pa

        from pol.api.policy import Policy
        if observed is None:
            observed = _observed(program, rows, [e for ev in (history or {}).values() for e in ev])
        arrow = {Type.INT: pa.int64(), Type.FLOAT: pa.float64(), Type.BOOL: pa.bool_(),
                 Type.STRING: pa.string(), Type.DATE: pa.date32(), Type.TIMESTAMP: pa.timestamp("us"),
                 Type.LIST_INT: pa.list_(pa.int64()), Type.LIST_STRING: pa.list_(pa.string())}
        schema = pa.schema([(f.name, arrow[f.type]) for f in program.input.fields])
        table = pa.Table.from_pylist(rows, schema=schema)
        tables = {h.name: pa.Table.from_pylist((history or {}).get(h.name, []),
                                               schema=pa.schema([(f.name, arrow[f.type]) for f in h.fields]))
                  for h in program.histories}
        result = Policy(observed).evaluate(table, as_of=as_of, params=params, engine=engine,
                                           history=tables if program.histories else None)
        c = result.customers
        # a row outside the population is in no output: its values read as null
        at = {k: i for i, k in enumerate(c.column(program.input.key).to_pylist())}
        keys = [r.get(program.input.key) for r in rows]
        where = [at.get(k) for k in keys]

        def column(name):
            values = c.column(name).to_pylist()
            return [None if i is None else values[i] for i in where]

        out = {name: column(name) for name in program.outputs}
        _unobserve(program, out, column)
        out["population"] = [i is not None for i in where]
        by_row: dict = {}
        for a in result.assignments.to_pylist():
            by_row.setdefault(a[program.input.key], []).append(a)
        out["offers"] = [[a["offer"] for a in by_row.get(k, [])] for k in keys]
        out["channels"] = [[a["channel"] for a in by_row.get(k, [])] for k in keys]
        out["controls"] = [[a["offer"] for a in by_row.get(k, []) if a["control"]] for k in keys]
        offer_columns(program, [by_row.get(k, []) for k in keys], out)
        for x in program.experiments:
            out[f"arm.{x.name}"] = column(x.name)
        return out
    return evaluate


def row_kernel(program: ir.Program, rows: list[dict], as_of: dt.date, params: dict,
               history: dict | None = None, observed: ir.Program | None = None) -> dict[str, list]:
    """`decide(engine="kernel")`: each row alone through the compiled row
    kernel, as a JSON service sends it (dates as "YYYY-MM-DD"). A single
    decision ignores capacities and the run-wide constraints, so with them
    the offers are not compared (tests/test_constraints.py compares decide
    with a ledger against the oracle)."""
    from pol.api.policy import Policy
    if observed is None:
        observed = _observed(program, rows, [e for ev in (history or {}).values() for e in ev])
    observed = Policy(observed)
    records = [{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in r.items()} for r in rows]
    decisions = [observed.decide(r, as_of=as_of, params=params, engine="kernel",
                                 history=_mine(program, history or {}, r.get(program.input.key)))
                 for r in records]
    values = [{**d.segments, **d.classifications, **d.scores} for d in decisions]
    out = {name: [v[name] for v in values] for name in program.outputs}
    out["population"] = [observed.addresses(r, as_of=as_of, params=params,
                                            history=_mine(program, history or {}, r.get(program.input.key)))
                         for r in records]
    _unobserve(program, out, lambda name: [v[name] for v in values])
    for x in program.experiments:
        out[f"arm.{x.name}"] = [d.arms[x.name] for d in decisions]
    if all(o.capacity is None for o in program.offers) and not program.arbitrate.constrained:
        out["offers"] = [d.offer_names for d in decisions]
        out["channels"] = [[a.channel for a in d.offers] for d in decisions]
        out["controls"] = [[a.offer for a in d.offers if a.control] for d in decisions]
        out["campaigns"] = [[a.campaign for a in d.offers] for d in decisions]
        for name, _ in program.attributes:
            out[f"attr.{name}"] = [[a.attributes.get(name) for a in d.offers] for d in decisions]
    return out


EVALUATORS = {
    "reference": reference,
    "kernel": compiled("kernel"),
    "vector": compiled("vector"),
    "row": row_kernel,
}


# ---------------------------------------------------------------- cases

def load_cases() -> list[tuple[str, dict]]:
    out = []
    for path in sorted(CASES_DIR.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for case in data["cases"]:
            out.append((f"{path.stem}: {case['name']}", case))
    return out


CASES = load_cases()


def compile_case(case: dict) -> ir.Program:
    text = case["policy"]
    if "input " not in text:
        # after a `policy` header, which comes first in its file
        head, _, rest = text.partition("\n") if text.startswith("policy ") else ("", "", text)
        text = (head + "\n" if head else "") + STANDARD_INPUT + rest
    if not case.get("files"):
        return compile_text(text, name="case.pol")
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        for name, body in case["files"].items():
            (Path(folder) / name).write_text(body, encoding="utf-8")
        return compile_text(text, name="case.pol", base_dir=folder)


def _field_value(t: Type, v):
    if v is None:
        return None
    if t == Type.DATE:
        return dt.date.fromisoformat(v)
    if t == Type.TIMESTAMP:
        return dt.datetime.fromisoformat(v)
    if t == Type.FLOAT:
        return float(v)       # also "nan", "inf", "-inf"
    return v


def case_rows(program: ir.Program, case: dict) -> list[dict]:
    types = {f.name: f.type for f in program.input.fields}
    rows = []
    for n, (given, _) in enumerate(case["rows"], start=1):
        unknown = set(given) - set(types)
        assert not unknown, f"case gives fields the input block lacks: {unknown}"
        row = {name: _field_value(types[name], v) for name, v in given.items()}
        if program.input.key not in row and types[program.input.key] == Type.INT:
            row[program.input.key] = n
        rows.append(row)
    return rows


def case_history(program: ir.Program, case: dict) -> dict:
    """The case's events, their fields read by type (dates from text)."""
    out = {}
    for name, events in case.get("history", {}).items():
        types = {f.name: f.type for f in program.history(name).fields}
        out[name] = [{k: _field_value(types[k], v) for k, v in e.items()} for e in events]
    return out


def result_type(program: ir.Program, name: str) -> Type | None:
    """The type of a declared name; None for the lists of offers, channels, controls."""
    if name in ("offers", "channels", "controls", "campaigns") or name.startswith(("attr.", "carry.")):
        return None
    if name == "population":
        return Type.BOOL
    if name.startswith("arm."):
        return Type.STRING
    d = program.decl(name)
    if isinstance(d, ir.Segment):
        return Type.BOOL
    if isinstance(d, ir.Classify):
        return Type.STRING
    if isinstance(d, ir.Score):
        return Type.FLOAT
    return d.expr.type


def expected_value(t: Type | None, v):
    if v is None or t is None:
        return v
    if t == Type.DATE:
        return dt.date.fromisoformat(v)
    if t == Type.TIMESTAMP:
        return dt.datetime.fromisoformat(v)
    if t == Type.FLOAT:
        return float(v)
    return v


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def same(t: Type | None, expected, actual) -> bool:
    """Equal values of the same kind, null only with null."""
    actual = _plain(actual)
    if expected is None or actual is None:
        return expected is None and actual is None
    if t is None:
        return list(actual) == expected
    kind = {Type.INT: int, Type.FLOAT: float, Type.BOOL: bool, Type.STRING: str, Type.DATE: dt.date,
            Type.TIMESTAMP: dt.datetime}[t]
    if type(actual) is bool and kind is not bool:
        return False
    return isinstance(actual, kind) and actual == expected


# ---------------------------------------------------------------- one compile per section

# On a cold kernel cache most of this suite's time is Numba compiling: each
# case's program is a fused kernel and a row kernel of its own, a second or
# more each. The cases that only declare values over the standard input (no
# offers or channels, histories, experiments, population or imports) cannot
# change one another's values, so the compiled evaluators
# run a section's such cases as one program, each case's names prefixed:
# one kernel and one row kernel per section. Every case is still evaluated
# on its own rows and checked on its own names.

COMPILED = ("kernel", "row")
_SHARED: dict[int, tuple[ir.Program, ir.Program, str]] = {}


def on_its_own(program: ir.Program, case: dict) -> bool:
    """Whether the case's program needs a kernel of its own."""
    return bool("input " in case["policy"] or case.get("files") or case.get("history")
                or program.offers or program.channels or program.histories or program.experiments
                or program.population is not None or program.carry or program.attributes)


def _prefixed(node, prefix: str):
    """An IR value with every declaration and param name prefixed, where
    declared and where read."""
    import dataclasses
    if isinstance(node, tuple):
        items = tuple(_prefixed(n, prefix) for n in node)
        return node if all(a is b for a, b in zip(items, node)) else items
    if not dataclasses.is_dataclass(node) or isinstance(node, (type, Type)):
        return node
    named = isinstance(node, (ir.Let, ir.Segment, ir.Classify, ir.Score, ir.Param, ir.DeclRef, ir.ParamRef))
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        new = prefix + value if named and f.name == "name" else _prefixed(value, prefix)
        if new is not value:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def _merged(programs: list[ir.Program]) -> ir.Program:
    """The programs (the standard input, declarations and params only) as one,
    the k-th's names prefixed `cK_`."""
    import dataclasses
    parts = [dataclasses.replace(_prefixed(p, f"c{k}_"), order=tuple(f"c{k}_{n}" for n in p.order),
                                 outputs=tuple(f"c{k}_{n}" for n in p.outputs)) for k, p in enumerate(programs)]
    joined = {f: tuple(x for p in parts for x in getattr(p, f))
              for f in ("params", "lets", "segments", "classifies", "scores", "order", "outputs")}
    assert len(set(joined["order"])) == len(joined["order"])
    return dataclasses.replace(programs[0], name="conformance", **joined)


def _build_shared() -> None:
    sections: dict[str, list[tuple[dict, ir.Program, list[dict]]]] = {}
    for name, case in CASES:
        program = compile_case(case)
        if not on_its_own(program, case):
            sections.setdefault(name.partition(":")[0], []).append((case, program, case_rows(program, case)))
    for members in sections.values():
        _share(members)


def _share(members: list[tuple[dict, ir.Program, list[dict]]]) -> None:
    """One program for the members, or for each half of them when one would
    be compiled in stages (split.py: a case tests the single kernel)."""
    from pol.compiler.backend import split
    merged, observed = _observed_of(members)
    if len(members) > 1 and split.needed(observed, None):
        _share(members[:len(members) // 2])
        _share(members[len(members) // 2:])
        return
    for k, (case, _, _) in enumerate(members):
        _SHARED[id(case)] = (merged, observed, f"c{k}_")


def _observed_of(members) -> tuple[ir.Program, ir.Program]:
    merged = _merged([program for _, program, _ in members])
    return merged, _observed(merged, [r for _, _, rows in members for r in rows])


def shared(case: dict) -> tuple[ir.Program, ir.Program, str] | None:
    """The program this case shares with its section's other cases, that
    program observed, and this case's prefix; None: it has its own."""
    if not _SHARED:
        _build_shared()
    return _SHARED.get(id(case))


def evaluate_shared(evaluator, program: ir.Program, rows: list[dict], as_of: dt.date, params: dict,
                    where) -> dict[str, list]:
    """The case's values through the program it shares: its names without the prefix."""
    merged, observed, prefix = where
    out = evaluator(merged, rows, as_of, {prefix + k: v for k, v in params.items()}, observed=observed)
    # every evaluator outputs the segments, classifications and scores: a
    # prefix gone wrong fails here rather than skipping as a name not exposed
    assert all(prefix + name in out for name in program.outputs)
    got = {k: v for k, v in out.items() if k not in set(merged.order)}
    got.update({name: out[prefix + name] for name in program.order if prefix + name in out})
    return got


# ---------------------------------------------------------------- the runner

@pytest.fixture(params=sorted(EVALUATORS))
def evaluator(request):
    return request.param


# Under -n, a section's cases run on one worker (tests/units.py): its shared
# program is compiled there only, and the sections spread over the workers.
@pytest.mark.parametrize("case", [pytest.param(c, id=name, marks=pytest.mark.xdist_group(
    "conformance:" + name.partition(":")[0])) for name, c in CASES])
def test_case(case, evaluator):
    program = compile_case(case)
    rows = case_rows(program, case)
    as_of = dt.date.fromisoformat(case.get("as_of", DEFAULT_AS_OF.isoformat()))
    history = case_history(program, case)
    where = shared(case) if evaluator in COMPILED else None
    if where is not None:
        got = evaluate_shared(EVALUATORS[evaluator], program, rows, as_of, case.get("params", {}), where)
    else:
        got = EVALUATORS[evaluator](program, rows, as_of, case.get("params", {}),
                                    **({"history": history} if history else {}))
    missing: set[str] = set()
    problems = []
    for n, ((given, expected), _row) in enumerate(zip(case["rows"], rows), start=1):
        for name, want in expected.items():
            if name not in got:
                missing.add(name)
                continue
            t = result_type(program, name)
            want = expected_value(t, want)
            actual = _plain(got[name][n - 1])
            if not same(t, want, actual):
                problems.append(f"row {n} {given}: {name} = {actual!r}, expected {want!r}")
    assert not problems, "\n".join(problems)
    if missing:
        pytest.skip(f"this evaluator exposes no value for {sorted(missing)}")


def test_every_operator_and_node_kind_is_covered():
    """A new operator cannot be added without conformance cases for it."""
    ops, kinds = set(), set()
    for _, case in CASES:
        program = compile_case(case)
        exprs = [d.expr for d in program.lets + program.segments + program.scores]
        exprs += [w.cond for c in program.classifies for w in c.whens]
        exprs += [c.cond for c in program.channels if c.cond is not None]
        exprs += [e for o in program.offers for e in (o.eligible, o.priority)]
        exprs += [o.prefer for o in program.offers if o.prefer is not None]
        for e in exprs:
            for node in ir.walk(e):
                kinds.add(type(node))
                if isinstance(node, ir.Call):
                    ops.add(node.op)
    assert set(signatures.OPS) - ops == set()
    assert set(ir.EXPR_KINDS) - kinds == set()


def test_every_case_checks_something():
    for name, case in CASES:
        assert case["rows"], name
        assert all(expected for _, expected in case["rows"]), name
