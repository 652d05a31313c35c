"""Policy tests: the `test` blocks of .pol files, run on the reference
evaluator (LANGUAGE.md section 7). `pol test FILES_OR_DIRS` reports each
failure with the test's position, the expectation and the values seen, and
ends with 'N passed, M failed'."""
from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path

from pol.compiler import ir
from pol.explain import names_in, show, text
from pol.interp import eval_expr, evaluate_row
from pol.matching import match_customer
from pol.params import resolve_params


@dataclass
class Outcome:
    test: ir.Test
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def run_test(program: ir.Program, t: ir.Test, today: dt.date) -> Outcome:
    as_of = t.as_of or today
    params = resolve_params(program, dict(t.params))
    record = dict(t.given)
    row = evaluate_row(program, record, as_of, params)
    accepted, lost = match_customer(program, row, record.get(program.input.key))
    got = {a.offer: a for a in accepted}
    seen = ", ".join(f"{a.offer} via {a.channel} (rank {a.rank})" for a in accepted) or "no offer"
    failures = []
    for e in t.expects:
        where = f"line {e.span.line}" if e.span else ""
        if isinstance(e, ir.ExpectNoOffer):
            if accepted:
                failures.append(f"{where}: expect no offer, but got {seen}")
        elif isinstance(e, ir.ExpectOffer):
            a = got.get(e.offer)
            if e.negated:
                if a is not None:
                    failures.append(f"{where}: expect not offer {e.offer}, but it was accepted (rank {a.rank}, via {a.channel})")
                continue
            if a is None:
                s = row.offers[e.offer]
                why = ("not eligible" if s.eligible is not True else "no open channel" if s.channel is None
                       else "priority null" if s.priority is None else "lost in arbitration")
                failures.append(f"{where}: expect offer {e.offer}, but it was not given ({why}); got {seen}")
            elif e.via is not None and a.channel != e.via:
                failures.append(f"{where}: expect offer {e.offer} via {e.via}, but it goes via {a.channel}")
            elif e.rank is not None and a.rank != e.rank:
                failures.append(f"{where}: expect offer {e.offer} rank {e.rank}, but it has rank {a.rank}")
        else:
            v = eval_expr(e.expr, row.env)
            if v is not True:
                values = ", ".join(f"{n} = {show(_lookup(n, row))}" for n in names_in(e.expr))
                failures.append(f"{where}: expect {e.text or text(e.expr)}: was {show(v)} ({values})")
    return Outcome(t, failures)


def _lookup(name, row):
    for d in (row.env.decls, row.env.fields, row.env.params):
        if name in d:
            return d[name]
    return None


def policy_files(paths: list[str]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.rglob("*.pol"))
        else:
            out.append(p)
    return out


def main(paths: list[str], verbose: bool = False, today: dt.date | None = None) -> int:
    from pol.compiler.diagnostics import PolicyError
    from pol.compiler.frontend import compile_path
    today = today or dt.date.today()
    passed = failed = 0
    broken = False
    for path in policy_files(paths):
        try:
            program = compile_path(path)
        except PolicyError as e:
            print(str(e), file=sys.stderr)
            broken = True
            continue
        for t in program.tests:
            if t.span is not None and Path(t.span.path).resolve() != path.resolve():
                continue            # an imported file's tests run with that file
            o = run_test(program, t, today)
            pos = f"{t.span.path}:{t.span.line}:{t.span.col}" if t.span else str(path)
            if o.passed:
                passed += 1
                if verbose:
                    print(f"PASS {pos}: {t.name}")
            else:
                failed += 1
                print(f"FAIL {pos}: {t.name}")
                for f in o.failures:
                    print(f"    {f}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or broken else 0
