"""Test coverage (`pol test --coverage`): the policies whose tests ran and
what the reference evaluator computed for each test's customer -> which
parts of each file the tests exercised, and which they never reached.

Per file, the parts that can be exercised (LANGUAGE.md section 11.2):

    a `when` of a classification, and its `else`     matched by some test's customer
    a segment                                        seen true; seen false
    a channel                                        seen open; seen closed (if it has a condition)
    an offer                                         given (accepted); not given
    an offer's `channels by NAME then ...`           given through the channel NAME names;
                                                     given through its list's order
    an arm of an experiment (and its control group)  some test's customer is in it (section 13)

Each declaration counts in the file that declares it, whichever program's
tests reached it: the tests of retention.pol exercise tiers.pol too. A test
counts whether it passed or failed (it exercised what it reached), but not
when its customer could not be evaluated at all. The percentage of a file
is the share of its parts exercised.

`Coverage.observe(program, test, row, match)` is the hook that
engine/testing/policytest.py calls for each test it runs; `report()` is the
text `pol test --coverage` prints and `as_json()` what --coverage-json writes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pol.compiler import ir
from pol.dsl.printer import string
from pol.dsl.source import Span
from pol.reference.interp import eval_expr, render
from pol.reference.matching import Match

# `channels by NAME then ...`: the two ways an offer's channel is chosen (LANGUAGE.md 6.1)
_ORDERS = (lambda o: f"the channel {render(o.prefer.args[0])} names", lambda o: "its list's order")


@dataclass
class Part:
    """One thing a test can exercise."""
    file: str
    line: int
    kind: str            # "when", "else", "segment", "channel", "offer", "channels by", "arm"
    name: str            # the declaration's name
    case: str            # what must be seen: 'when x > 3 => "a"', "true", "open", "given" ...
    hit: bool = False

    def describe(self) -> str:
        if self.kind in ("when", "else"):
            return f"classify {self.name}: {self.case}: never matched"
        if self.kind == "arm":
            return f"experiment {self.name}: no test's customer is in {self.case}"
        if self.kind == "channels by":
            return f"offer {self.name}: never given through {self.case}"
        never = {"true": "never true", "false": "never false", "open": "never open", "closed": "never closed",
                 "given": "never given", "not given": "always given"}[self.case]
        return f"{self.kind} {self.name}: {never}"


def _arm_case(arm: str) -> str:
    return "the control group" if arm == ir.CONTROL else f"arm {arm}"


def _file(span) -> str:
    return os.path.normpath(span.path) if span is not None else "?"


def _line(span) -> int:
    return span.line if span is not None else 0


class Coverage:
    def __init__(self):
        self.parts: dict[tuple, Part] = {}
        self._scans: dict[str, object] = {}

    def _else(self, c: ir.Classify):
        """Where a classification's `else` is written (the IR keeps no position for it):
        the first `else` after its last rule, in the file's text; the classification's own line if unknown."""
        from pol.dsl.comments import scan
        after = c.whens[-1].span if c.whens else c.span
        if after is None:
            return c.span
        if after.path not in self._scans:
            try:
                self._scans[after.path] = scan(Path(after.path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                self._scans[after.path] = None
        found = self._scans[after.path]
        if found is None:
            return c.span
        start = found.at((after.end_line, after.end_col) if c.whens else (after.line, after.col))
        k = next((i for i in range(start, len(found.tokens)) if found.tokens[i].text == "else"), None)
        return Span.point(after.path, found.tokens[k].line, found.tokens[k].col) if k is not None else c.span

    def _part(self, decl, index, kind: str, case: str, span=None) -> Part:
        key = (_file(decl.span), decl.name, kind, index, case)
        part = self.parts.get(key)
        if part is None:
            part = self.parts[key] = Part(_file(decl.span), _line(span or decl.span), kind, decl.name, case)
        return part

    # ------------------------------------------------------------ what a program holds

    def add(self, program: ir.Program) -> None:
        """Every part of the program (declared once however many programs import it)."""
        for c in program.classifies:
            for k, w in enumerate(c.whens):
                self._part(c, k, "when", f"when {render(w.cond)} => {string(w.value)}", w.span)
            if c.default is not None:
                self._part(c, -1, "else", f"else => {string(c.default)}", self._else(c))
        for s in program.segments:
            for case in ("true", "false"):
                self._part(s, None, "segment", case)
        for ch in program.channels:
            for case in ("open", "closed") if ch.cond is not None else ("open",):
                self._part(ch, None, "channel", case)
        for o in program.offers:
            for case in ("given", "not given"):
                self._part(o, None, "offer", case)
            if o.prefer is not None:
                for case in _ORDERS:
                    self._part(o, None, "channels by", case(o))
        for x in program.experiments:
            for arm, bp in x.arms + ((ir.CONTROL, x.control_bp),):
                if bp > 0:          # an arm of 0% holds nobody to test
                    self._part(x, None, "arm", _arm_case(arm))

    # ------------------------------------------------------------ what a test saw

    def observe(self, program: ir.Program, test: ir.Test, row, match: Match) -> None:
        """One test's customer as the reference evaluator saw it (a RowResult
        with its trace) and as the matcher decided (the accepted offers)."""
        self.add(program)
        for c in program.classifies:
            k = row.trace.whens.get(c.name) if row.trace is not None else None
            if k is not None:
                case = "else => " + string(c.default) if k == -1 else \
                    f"when {render(c.whens[k].cond)} => {string(c.whens[k].value)}"
                self._part(c, k, "else" if k == -1 else "when", case).hit = True
        for s in program.segments:
            self._part(s, None, "segment", "true" if row.values[s.name] else "false").hit = True
        for ch in program.channels:
            self._part(ch, None, "channel", "open" if row.channels[ch.name] else "closed").hit = True
        given = {a.offer for a in match.accepted}
        for o in program.offers:
            self._part(o, None, "offer", "given" if o.name in given else "not given").hit = True
            if o.prefer is not None and o.name in given:
                rank = eval_expr(o.prefer, row.env)
                preferred = rank is not None and rank >= 0 and row.channels[o.channels[rank]]
                self._part(o, None, "channels by", _ORDERS[0 if preferred else 1](o)).hit = True
        for x in program.experiments:
            self._part(x, None, "arm", _arm_case(row.arms[x.name])).hit = True

    # ------------------------------------------------------------ reports

    def files(self) -> dict[str, list[Part]]:
        """file -> its parts in line order; files in the order of their names."""
        out: dict[str, list[Part]] = {}
        for part in sorted(self.parts.values(), key=lambda p: (p.file, p.line)):
            out.setdefault(part.file, []).append(part)
        return out

    @staticmethod
    def _share(parts: list[Part]) -> tuple[int, int, float]:
        hit = sum(p.hit for p in parts)
        return hit, len(parts), 100.0 * hit / len(parts) if parts else 100.0

    def report(self) -> str:
        files = self.files()
        if not files:
            return "coverage: nothing to cover (no classification, segment, channel or offer)"
        arms = "; experiments' arms" if any(p.kind == "arm" for p in self.parts.values()) else ""
        lines = ["coverage (classification rules, segments true and false, channels open and closed, "
                 f"offers given and not{arms}):"]
        for name, parts in files.items():
            hit, total, percent = self._share(parts)
            lines.append(f"  {name}: {percent:.0f}% ({hit} of {total})")
            lines += [f"    {p.line}: {p.describe()}" for p in parts if not p.hit]
        hit, total, percent = self._share(list(self.parts.values()))
        lines.append(f"  total: {percent:.0f}% ({hit} of {total})")
        return "\n".join(lines)

    def as_json(self) -> dict:
        files = []
        for name, parts in self.files().items():
            hit, total, percent = self._share(parts)
            files.append({"file": name, "covered": hit, "total": total, "percent": round(percent, 1),
                          "parts": [{"line": p.line, "kind": p.kind, "name": p.name, "case": p.case, "hit": p.hit}
                                    for p in parts]})
        hit, total, percent = self._share(list(self.parts.values()))
        return {"covered": hit, "total": total, "percent": round(percent, 1), "files": files}
