"""Policy tests (LANGUAGE.md section 7): a program's `test` blocks -> one
TestOutcome per test, run on the reference evaluator; and `pol test`, which
prints each failure and 'N passed, M failed'.

A test is one customer: the `given` fields (every other field is null), the
`with` param overrides on top of the declared defaults, and its `as of`
date. A test without `as of` runs as of the run's date: the `as_of` given to
run_tests, and when none is given, today's date (as `pol run` does). A
policy whose tests read `today` should say `as of` to stay reproducible.

Each failing expectation is reported with its position (FILE:LINE:COL), the
expectation as written, and what the customer got: the accepted offers, why
an expected offer was not given, or the value of an expression and the
values behind it.
"""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from pol.compiler import ir
from pol.compiler.frontend.contact import run_params
from pol.errors import DataError, ParamError
from pol.reference.expr import eval_expr
from pol.reference.interp import evaluate_row
from pol.reference.matching import match_customer
from pol.reference.render import render, value_text
from pol.reference.trace import Culprit, values_behind, why_not


@dataclass(frozen=True)
class Failure:
    position: str          # FILE:LINE:COL of the expectation
    expectation: str       # as written, e.g. 'expect offer flow_worry_free via app'
    seen: str              # what the customer got

    def __str__(self) -> str:
        return f"{self.position}: {self.expectation}\n      but {self.seen}"


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False       # not a pytest class, whatever its name

    name: str
    position: str          # FILE:LINE:COL of the `test`
    as_of: dt.date
    failures: tuple[Failure, ...] = ()
    error: str | None = None   # a `with` or `given` value the engine refused

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None

    def __str__(self) -> str:
        if self.passed:
            return f"PASS {self.position}: {self.name}"
        lines = [f"FAIL {self.position}: {self.name} (as of {self.as_of})"]
        if self.error:
            lines.append(f"    {self.error}")
        lines += [f"    {f}" for f in self.failures]
        return "\n".join(lines)


def _position(span, fallback: str = "?") -> str:
    return str(span) if span is not None else fallback


def expectation_text(e: ir.Expectation) -> str:
    if isinstance(e, ir.ExpectNoOffer):
        return "expect no offer"
    if isinstance(e, ir.ExpectOffer):
        if e.negated:
            return f"expect not offer {e.offer}"
        return (f"expect offer {e.offer}" + (f" via {e.via}" if e.via else "")
                + (f" rank {e.rank}" if e.rank is not None else ""))
    return f"expect {e.text or render(e.expr)}"


def _culprits_text(culprits: tuple[Culprit, ...]) -> str:
    parts = []
    for c in culprits:
        behind = ", ".join(f"{n} = {value_text(v)}" for n, v in c.inputs if n != c.text)
        parts.append(f"{c.text} is {value_text(c.value)}" + (f" ({behind})" if behind else ""))
        if c.because:
            parts[-1] += " because " + _culprits_text(c.because)
    return "; ".join(parts)


def _events(test: ir.Test) -> dict:
    """A test's `given HISTORY { ... }` events, per history (LANGUAGE.md section 12)."""
    out: dict[str, list] = {}
    for name, values in test.events:
        out.setdefault(name, []).append(dict(values))
    return out


def run_test(program: ir.Program, test: ir.Test, as_of: dt.date | None = None, observe=None) -> TestOutcome:
    """One test block. `as_of`: the run's date, used when the test has no `as of`.
    `observe(program, test, row, match)`, when given, sees what the customer got
    (engine/testing/coverage.py)."""
    moment = test.as_of or as_of or dt.date.today()
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    params = run_params(program, dict(test.params), moment)
    position = _position(test.span)
    try:
        row = evaluate_row(program, dict(test.given), day, params, trace=True,
                           history=_events(test))
    except (ParamError, DataError) as e:
        return TestOutcome(test.name, position, day, error=str(e))
    match = match_customer(program, row)
    if observe is not None:
        observe(program, test, row, match)
    got = {a.offer: a for a in match.accepted}
    got_text = ", ".join(f"{a.offer} (rank {a.rank} via {a.channel}{', control' if a.control else ''})"
                         for a in match.accepted) or "no offer"
    explanation = None

    def why_not_given(offer: str) -> str:
        nonlocal explanation
        if explanation is None:
            from pol.reference.explain import explain
            explanation = explain(program, dict(test.given), day, params, history=_events(test))
        verdict = next(v for v in explanation.offers if v.name == offer)
        detail = _culprits_text(verdict.why)
        if verdict.closed:
            detail = "; ".join(f"{ch.name}: {_culprits_text(ch.why)}" for ch in verdict.closed)
        return verdict.summary.removeprefix("not given: ") + (f" [{detail}]" if detail else "")

    failures: list[Failure] = []
    for e in test.expects:
        seen = None
        if isinstance(e, ir.ExpectNoOffer):
            if match.accepted:
                seen = f"got {got_text}"
        elif isinstance(e, ir.ExpectOffer):
            a = got.get(e.offer)
            if e.negated:
                if a is not None:
                    seen = f"it was given (rank {a.rank} via {a.channel}); got {got_text}"
            elif a is None:
                seen = f"it was not given: {why_not_given(e.offer)}; got {got_text}"
            elif e.via is not None and a.channel != e.via:
                seen = f"it goes via {a.channel}; got {got_text}"
            elif e.rank is not None and a.rank != e.rank:
                seen = f"it has rank {a.rank}; got {got_text}"
        else:
            v = eval_expr(e.expr, row.env)
            if v is not True:
                values = ", ".join(f"{n} = {value_text(x)}" for n, x in values_behind(e.expr, row.env))
                seen = f"it is {value_text(v)}" + (f" with {values}" if values else "")
                parts = why_not(e.expr, row.env)
                if len(parts) > 1 or (parts and parts[0].text != render(e.expr)):
                    seen += f"; because {_culprits_text(parts)}"
        if seen is not None:
            failures.append(Failure(_position(e.span, position), expectation_text(e), seen))
    return TestOutcome(test.name, position, day, tuple(failures))


def own_tests(program: ir.Program, only_file: str | None = None) -> list[ir.Test]:
    """The program's test blocks (those written in `only_file`, as the file
    was named to the front end, when given), in declaration order."""
    return [t for t in program.tests if only_file is None or t.span is None or t.span.path == only_file]


def run_tests(program: ir.Program, as_of: dt.date | None = None, only_file: str | None = None,
              observe=None) -> list[TestOutcome]:
    """Every test block of the program (those of `only_file`, when given), in
    declaration order."""
    return [run_test(program, t, as_of, observe) for t in own_tests(program, only_file)]


def report(outcomes: list[TestOutcome], verbose: bool = False) -> str:
    lines = [str(o) for o in outcomes if verbose or not o.passed]
    passed = sum(o.passed for o in outcomes)
    lines.append(f"{passed} passed, {len(outcomes) - passed} failed")
    return "\n".join(lines)


def policy_files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted(p.rglob("*.pol")) if p.is_dir() else [p]
    return out


def main(paths: list[str], verbose: bool = False, today: dt.date | None = None, coverage=None) -> int:
    """`pol test`: 0 when every test passes, 1 when one fails or a policy does not check.
    `coverage` (a pol.testing.coverage.Coverage) collects what the tests exercised."""
    from pol.compiler.frontend import compile_path
    from pol.dsl.diagnostics import PolicyError
    outcomes: list[TestOutcome] = []
    broken = False
    for path in policy_files(paths):
        try:
            program = compile_path(path)
        except PolicyError as e:
            print(str(e), file=sys.stderr)
            broken = True
            continue
        # an imported file's tests run with that file, once
        if coverage is not None:
            coverage.add(program)
        outcomes += run_tests(program, today, only_file=str(path),
                              observe=coverage.observe if coverage is not None else None)
    print(report(outcomes, verbose))
    return 1 if broken or any(not o.passed for o in outcomes) else 0
