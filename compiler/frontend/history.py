"""History tables in the checker (LANGUAGE.md section 12): `history`
declarations -> ir.History, aggregates -> ir.Aggregate, a test's
`given HISTORY { ... }` -> its events.

An aggregate's `where` is a scope of its own: it reads the event's fields
(and literals, `today`), never the customer's fields, params or lets, so
that every aggregate of a run can be computed once per event key, before
any customer is read (engine/evaluation/history.py). It is checked by an
EventChecker (compiler/frontend/expressions.py), the Checker with names
resolved among the event's fields.

Codes:
  E-HIST-001 unknown history                E-HIST-002 a history's key or `at` field wrong
  E-HIST-003 unknown field of a history     E-HIST-004 an aggregate of the wrong field
  E-HIST-005 `where` reads a name that is not the event's
  E-HIST-006 `within` not a whole number of days from 1 to 100000
  E-HIST-007 a test's event: a field given twice, or no date
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol, TypeVar

from pol.compiler import ir
from pol.compiler.frontend.context import CheckContext, Typed
from pol.compiler.frontend.hints import D, S, a_type
from pol.compiler.types import Type
from pol.dsl import ast
from pol.dsl.diagnostics import placed
from pol.dsl.source import Span

if TYPE_CHECKING:
    from pol.compiler.frontend.expressions import Checker

MAX_WITHIN = 100_000    # days: about 273 years; more is a typo
_NEEDS_FIELD = {"sum", "avg", "min", "max", "first", "last"}
_USAGE = {
    "count": "count(contacts), count(contacts where channel == \"sms\" within 7 days)",
    "days_since_last": "days_since_last(contacts where outcome == \"refused\")",
    "sum": "sum(contacts.cost within 30 days)", "avg": "avg(contacts.cost)",
    "min": "min(contacts.cost)", "max": "max(contacts.sent_at)",
    "first": "first(contacts.offer)", "last": "last(contacts.outcome where channel == \"call\")",
}
_FIELD_WORDS = {"sum": "a number", "avg": "a number", "min": "a number or a date", "max": "a number or a date",
                "first": "a field", "last": "a field"}


def check_histories(ck: CheckContext, items: Sequence[ast.Decl], input_key_type: Type | None) -> list[ir.History]:
    """The program's history declarations; `ck.histories` maps their names."""
    out: list[ir.History] = []
    ck.histories = {}
    for h in items:
        if not isinstance(h, ast.History) or ck.space.get(h.name) is not h:
            continue
        fields: list[ir.InputField] = []
        types: dict[str, Type] = {}
        ok = True
        seen: set[str] = set()
        for f in h.fields:
            t = ck.type_name(f.type_name, f.type_span)
            if f.name in seen:
                ck.error("E-NAME-002", f"'{f.name}' is declared twice in history '{h.name}'", f.span,
                         "give each field of a history its own name")
                ok = False
                continue
            seen.add(f.name)
            if t is not None and t.element is not None:
                ck.error("E-TYPE-010", f"a field of history '{h.name}' cannot be a list", f.type_span,
                         "an event holds one value per field: give each value its own event")
                t = None
            if t is None:
                ok = False
                continue
            types[f.name] = t
            fields.append(ir.InputField(f.name, t, f.nullable, f.span))
        key, at = _find(h.fields, h.key), _find(h.fields, h.at)
        if key is None:
            ok = _missing(ck, h, h.key, h.key_span, "key", "int")
        elif key.name in types:
            kt = types[key.name]
            if key.nullable:
                ok = bool(ck.error("E-HIST-002", f"the key '{key.name}' of history '{h.name}' cannot be nullable",
                                   key.span, "an event without a customer belongs to nobody: declare it "
                                   f"'{key.name}: {key.type_name}'"))
            elif input_key_type is not None and kt != input_key_type:
                ok = bool(ck.error("E-HIST-002", f"the key '{key.name}' of history '{h.name}' is "
                                   f"{a_type(kt)}, but the input's key is {a_type(input_key_type)}",
                                   key.type_span, f"declare it '{key.name}: {input_key_type}': an event "
                                   "joins to the customer whose key equals its own"))
        if at is None:
            ok = _missing(ck, h, h.at, h.at_span, "'at'", "date") and ok
        elif at.name in types and types[at.name] not in (D, Type.TIMESTAMP):
            ok = bool(ck.error("E-HIST-002", f"the 'at' field '{at.name}' of history '{h.name}' must be a date "
                               f"or a timestamp, found {a_type(types[at.name])}", at.type_span,
                               "the 'at' field places each event in time: declare it a date or a timestamp")) and ok
        if ok:
            hist = ir.History(h.name, h.key, h.at, tuple(fields), h.span)
            ck.histories[h.name] = hist
            out.append(hist)
    return out


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _find(fields: Iterable[N], name: str) -> N | None:
    return next((f for f in fields if f.name == name), None)


def _missing(ck: CheckContext, h: ast.History, name: str, span: Span | None, what: str, example: str) -> bool:
    ck.error("E-HIST-002", f"the {what} '{name}' is not a field of history '{h.name}'", span,
             f"add it to the block, e.g. {name}: {example}")
    return False


class HistoryRules(CheckContext):
    """The Checker's rule for aggregates."""

    def aggregate_call(self, e: ast.Call, arg: ast.Name) -> Typed:
        """`count(contacts)`, `sum(contacts.cost)`: a call whose one argument
        `arg` names a history (and its field)."""
        from pol.dsl.build import split_history_name
        history, field, history_span, field_span = split_history_name(arg.name, placed(arg.span))
        return self.x_Aggregate(ast.Aggregate(e.name, history, field, None, None, e.span, e.name_span,
                                              history_span, field_span))

    def x_Aggregate(self, e: ast.Aggregate) -> Typed:
        from pol.compiler.frontend.expressions import EventChecker
        hists = self.histories
        if e.func not in ir.AGGREGATES:
            return self.error("E-FUNC-001", f"'{e.func}' is not an aggregate of a history", e.name_span,
                              "the aggregates are " + ", ".join(ir.AGGREGATES))
        h = hists.get(e.history)
        if h is None:
            if isinstance(self.space.get(e.history), ast.History):
                return None                  # its declaration is wrong, already reported
            guess = self.suggest(e.history, list(hists)) if hists else None
            return self.error("E-HIST-001", f"unknown history '{e.history}'", e.history_span,
                              f"did you mean '{guess}'?" if guess else
                              "declare it: history NAME key FIELD at FIELD { ... } (LANGUAGE.md section 12)")
        if e.field is not None:
            f = _find(h.fields, e.field)
            if f is None:
                guess = self.suggest(e.field, [x.name for x in h.fields])
                return self.error("E-HIST-003", f"history '{h.name}' has no field '{e.field}'", e.field_span,
                                  f"did you mean '{guess}'?" if guess else
                                  "its fields are " + ", ".join(x.name for x in h.fields))
            ft = f.type
            if e.func not in _NEEDS_FIELD:
                return self.error("E-HIST-004", f"'{e.func}' counts events and takes no field", e.field_span,
                                  f"write {_USAGE[e.func]}")
            result = ir.AGGREGATES[e.func].get(ft)
            if result is None:
                return self.error("E-HIST-004", f"'{e.func}' needs {_FIELD_WORDS[e.func]}, but "
                                  f"'{h.name}.{e.field}' is {a_type(ft)}", e.field_span,
                                  "count the events instead: count(" + h.name + " where ...)"
                                  if ft == S else f"write {_USAGE[e.func]}")
        else:
            if e.func in _NEEDS_FIELD:
                return self.error("E-HIST-004", f"'{e.func}' needs a field of the history", e.history_span,
                                  f"name it after a dot: {_USAGE[e.func]}")
            result = ir.AGGREGATES[e.func][None]
        within = None
        if e.within is not None:
            days = e.within.value
            if not isinstance(days, int) or not 1 <= days <= MAX_WITHIN:
                return self.error("E-HIST-006", f"'within {e.within.text} days' is not a window", e.within.span,
                                  f"a window is from 1 to {MAX_WITHIN:,} days; 1 is the as-of date alone")
            within = days
        where = None
        if e.where is not None:
            where = EventChecker(self, h).condition(e.where, "the 'where' of an aggregate")
            if where is None:
                return None
        return ir.Aggregate(result, e.func, h.name, e.field, where, within, e.span)


def event_values(ck: Checker, hist: ir.History | None, name: str, span: Span | None,
                 given: ast.Given) -> tuple[tuple[str, object], ...] | None:
    """A test's `given HISTORY { ... }`: (field, value) pairs, or None when wrong (reported)."""
    if hist is None:
        if not isinstance(ck.space.get(name), ast.History):
            hists = ck.histories
            guess = ck.suggest(name, list(hists)) if hists else None
            ck.error("E-HIST-001", f"unknown history '{name}'", span,
                     f"did you mean '{guess}'?" if guess else "'given NAME { ... }' gives an event of a "
                     "declared history")
        return None
    out: list[tuple[str, object]] = []
    seen: dict[str, Span | None] = {}
    ok = True
    for g in given.fields:
        if g.name in seen:
            ck.error("E-HIST-007", f"field '{g.name}' is given twice in one event", g.span,
                     related=((seen[g.name], "first given here"),))
            ok = False
            continue
        seen[g.name] = g.span
        f = _find(hist.fields, g.name)
        if f is None:
            guess = ck.suggest(g.name, [x.name for x in hist.fields])
            ck.error("E-HIST-003", f"history '{hist.name}' has no field '{g.name}'", g.span,
                     f"did you mean '{guess}'?" if guess else "its fields are " + ", ".join(
                         x.name for x in hist.fields))
            ok = False
            continue
        value, good = ck.value(g.value, f.type, f"field '{g.name}' of history '{hist.name}'")
        ok = ok and good
        out.append((g.name, value))
    if hist.at not in seen:
        ck.error("E-HIST-007", f"an event of '{hist.name}' without its date '{hist.at}'", given.span,
                 f"give it, e.g. {hist.at}: 2026-10-30; an event without a date is never counted")
        ok = False
    return tuple(out) if ok else None
