"""The contact policy in the checker (LANGUAGE.md section 14): `contact`
blocks -> their rules applied to the program's channels and offers.

A contact policy is written once, in a file every campaign imports, and
holds across campaigns because it reads the contacts history (what every
campaign sent) rather than one campaign's own offers. It adds no evaluator
rule of its own: each rule becomes the history aggregates of section 12 in
the conditions the evaluators already have, so every evaluator (reference,
vectorized, fused and row kernels) applies it with one meaning:

* `limit C to N within W days`: channel C is open only while
  count(H where channel == "C" within W days) < N;
* `suppress A after N refusals within W days`: an offer whose attribute A
  is the string V is eligible only while
  count(H where A == V and outcome == "refused" within W days) < N;
* `quiet C from HH:MM to HH:MM`: channel C is open only while the run's
  time of day is outside [from, to) (wrapping midnight when from > to).
  The time is a hidden param, MINUTE (minutes since midnight, null when a
  run has a date and no time: then no quiet hours apply), that the API sets
  per run (`run_params`): one kernel serves every time of day.

Under `max N per customer` with N > 1 a customer may get several offers
through one channel in the same run, so each limited channel's room (the
least of its limits' N - count) is also a hidden score, ROOM + channel, that
every walk reads: each accepted offer through the channel uses one unit.

A channel is named in the events by its own name (the last part of a
qualified one: `cp.sms` is "sms"), the name every campaign shares.

Codes:
  E-CONTACT-001 the history lacks a field the rule reads (or it is not a string)
  E-CONTACT-002 a count out of range        E-CONTACT-003 the attribute is not a string
  E-CONTACT-004 quiet hours that are not times of day, or that start where they end
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from pol.compiler import ir
from pol.compiler.frontend.context import CheckContext
from pol.compiler.frontend.hints import S, a_type
from pol.compiler.frontend.history import MAX_WITHIN
from pol.compiler.types import Type
from pol.dsl import ast
from pol.dsl.source import Span

B, I, F = Type.BOOL, Type.INT, Type.FLOAT

MAX_COUNT = 1_000_000     # contacts or refusals in a window: more is a typo
REFUSED = "refused"       # the `outcome` of an event the customer refused
CHANNEL_FIELD = "channel"
OUTCOME_FIELD = "outcome"
# The run's time of day, minutes since midnight: a param name no policy can
# declare (a name has no ':'), so it never meets a declared one.
MINUTE = "run:minute"
# A customer's room on a limited channel, a hidden score (the ':' again keeps
# it apart from every declared name, and out of the outputs)
ROOM = "contact:"


def run_params(program: ir.Program, values: dict[str, object], moment: object) -> dict[str, object]:
    """A run's param values with its time of day set (`moment` a datetime;
    a date alone, or None, is no time: quiet hours do not apply)."""
    if not any(p.name == MINUTE for p in program.params):
        return values
    minute = moment.hour * 60 + moment.minute if isinstance(moment, dt.datetime) else None
    return {**values, MINUTE: minute}


def has_quiet_hours(program: ir.Program) -> bool:
    return any(p.name == MINUTE for p in program.params)


def count(history: str, where: ir.Expr, within: int) -> ir.Aggregate:
    return ir.Aggregate(I, "count", history, None, where, within)


def _is(field: str, value: str) -> ir.Expr:
    return ir.Call(B, "eq", (ir.FieldRef(S, field), ir.Literal(S, value)))


def _below(agg: ir.Aggregate, n: int) -> ir.Expr:
    return ir.Call(B, "lt", (agg, ir.Literal(I, n)))


def _and(cond: ir.Expr | None, more: list[ir.Expr]) -> ir.Expr | None:
    parts = ([cond] if cond is not None else []) + more
    if not parts:
        return cond
    return parts[0] if len(parts) == 1 else ir.Call(B, "and", tuple(parts))


def room_scores(rooms: dict[str, list[ir.Expr]], arbitrate: ir.Arbitrate
                ) -> tuple[list[ir.Score], ir.Arbitrate]:
    """The hidden scores of the customers' room on each limited channel
    (the least of its limits' N - count), and the arbitrate block that walks
    with them (LANGUAGE.md 14.1). Only under `max N` > 1: with one offer a
    customer the channel's condition, room > 0, is the whole rule."""
    if arbitrate.max_per_customer < 2 or not rooms:
        return [], arbitrate
    scores = []
    for channel, parts in rooms.items():
        least = parts[0] if len(parts) == 1 else ir.Call(I, "min", tuple(parts))
        scores.append(ir.Score(ROOM + channel, None, ir.Call(F, "to_float", (least,))))
    return scores, dataclasses.replace(arbitrate, rooms=tuple((c, ROOM + c) for c in rooms))


def apply_contact(ck: CheckContext, items: Sequence[ast.Decl], channels: list[ir.Channel],
                  offers: list[ir.Offer | None], attrs: tuple[tuple[str, Type], ...]
                  ) -> tuple[list[ir.Channel], list[ir.Offer | None], list[ir.Param], dict[str, list[ir.Expr]]]:
    """The channels and offers with every contact block's rules applied
    (offers that failed their own checks stay None), the params the rules
    add (MINUTE under quiet hours), and per limited channel (in declaration
    order) each limit's room, N - count, for `room_scores`."""
    limits: dict[str, list[ir.Expr]] = {}
    rooms: dict[str, list[ir.Expr]] = {}
    suppress: list[tuple[ir.History, str, int, int]] = []
    declared = [c.name for c in channels]
    attr_types = dict(attrs)
    for block in items:
        if not isinstance(block, ast.Contact):
            continue
        h = _history(ck, block)
        for r in block.rules:
            if isinstance(r, (ast.Limit, ast.Quiet)) and r.channel not in declared:
                guess = ck.suggest(r.channel, declared) if declared else None
                ck.error("E-NAME-005", f"unknown channel '{r.channel}'", r.channel_span,
                         f"did you mean '{guess}'?" if guess else
                         ("the channels are " + ", ".join(declared)) if declared else
                         "declare it: channel NAME")
                continue
            if isinstance(r, ast.Quiet):
                hours = _quiet(ck, r)
                if hours is not None:
                    limits.setdefault(r.channel, []).append(hours)
                continue
            n = _count(ck, r)
            within = _within(ck, r.within)
            if isinstance(r, ast.Limit):
                ok = h is not None and _string_field(ck, h, CHANNEL_FIELD, r.span, "the channel of each event")
                if h is not None and ok and n is not None and within is not None:
                    own = r.channel.rsplit(".", 1)[-1]
                    contacts = count(h.name, _is(CHANNEL_FIELD, own), within)
                    limits.setdefault(r.channel, []).append(_below(contacts, n))
                    rooms.setdefault(r.channel, []).append(ir.Call(I, "sub", (ir.Literal(I, n), contacts)))
            else:
                t = attr_types.get(r.attribute)
                if t is not None and t != S:
                    ck.error("E-CONTACT-003", f"attribute '{r.attribute}' is {a_type(t)}; a family is a string",
                             r.attribute_span, f"give the offers a string, e.g. attributes {{ {r.attribute}: "
                             "\"voice\" }")
                    continue
                if h is None or not _string_field(ck, h, r.attribute, r.span, "the family of each event") \
                        or not _string_field(ck, h, OUTCOME_FIELD, r.span, f"\"{REFUSED}\" for a refusal"):
                    continue
                if n is not None and within is not None:
                    if n < 1:
                        ck.error("E-CONTACT-002", f"'after {r.count.text} refusals' suppresses every offer",
                                 r.count.span, "suppress after 1 refusal or more; to pause an offer, "
                                 "give it capacity 0")
                        continue
                    suppress.append((h, r.attribute, n, within))
    if limits:
        channels = [dataclasses.replace(c, cond=_and(c.cond, limits[c.name])) if c.name in limits else c
                    for c in channels]
    if suppress:
        offers = [_suppressed(o, suppress) if o is not None else None for o in offers]
    quiet = any(isinstance(r, ast.Quiet) for b in items if isinstance(b, ast.Contact) for r in b.rules)
    rooms = {c: rooms[c] for c in declared if c in rooms}
    return channels, offers, [ir.Param(MINUTE, I, None)] if quiet else [], rooms


def _quiet(ck: CheckContext, r: ast.Quiet) -> ir.Expr | None:
    """`not coalesce(inside, false)`: the channel is closed inside the quiet
    hours, open outside them and when the run has no time of day."""
    start, end = _minutes(ck, r.start, r.start_span), _minutes(ck, r.end, r.end_span)
    if start is None or end is None:
        return None
    if start == end:
        ck.error("E-CONTACT-004", f"quiet hours from {r.start} to {r.end} are empty", r.end_span,
                 "give the hours the channel stays closed, e.g. quiet call from 21:00 to 08:00")
        return None
    m = ir.ParamRef(I, MINUTE)
    after = ir.Call(B, "ge", (m, ir.Literal(I, start)))
    before = ir.Call(B, "lt", (m, ir.Literal(I, end)))
    inside = ir.Call(B, "and" if start < end else "or", (after, before))
    known = ir.Call(B, "coalesce", (inside, ir.Literal(B, False)))
    return ir.Call(B, "not", (known,))


def _minutes(ck: CheckContext, text: str, span: Span | None) -> int | None:
    h, m = int(text[:2]), int(text[3:])
    if h > 23 or m > 59:
        ck.error("E-CONTACT-004", f"'{text}' is not a time of day", span,
                 "hours go from 00 to 23 and minutes from 00 to 59; midnight is 00:00")
        return None
    return h * 60 + m


def _suppressed(o: ir.Offer, rules: list[tuple[ir.History, str, int, int]]) -> ir.Offer:
    values = dict(o.attributes)
    more = []
    for h, attribute, n, within in rules:
        v = values.get(attribute)
        if isinstance(v, str):
            where = ir.Call(B, "and", (_is(attribute, v), _is(OUTCOME_FIELD, REFUSED)))
            more.append(_below(count(h.name, where, within), n))
    cond = _and(o.eligible, more)
    return dataclasses.replace(o, eligible=cond) if more and cond is not None else o


def _history(ck: CheckContext, block: ast.Contact) -> ir.History | None:
    hists = ck.histories
    h = hists.get(block.history)
    if h is None and not isinstance(ck.space.get(block.history), ast.History):
        guess = ck.suggest(block.history, list(hists)) if hists else None
        ck.error("E-HIST-001", f"unknown history '{block.history}'", block.history_span,
                 f"did you mean '{guess}'?" if guess else "a contact policy reads a history of contacts: "
                 "history contacts key FIELD at FIELD { channel: string ... } (LANGUAGE.md section 12)")
    return h


def _string_field(ck: CheckContext, h: ir.History, name: str, span: Span | None, what: str) -> bool:
    f = next((x for x in h.fields if x.name == name), None)
    if f is not None and f.type == S:
        return True
    found = "has no field" if f is None else f"has '{name}' as {a_type(f.type)}, not a string: no"
    ck.error("E-CONTACT-001", f"history '{h.name}' {found} '{name}' for this rule", span,
             f"declare '{name}: string' in history '{h.name}': {what}")
    return False


def _count(ck: CheckContext, r: ast.Limit | ast.Suppress) -> int | None:
    n = int(r.count.text.replace("_", ""))
    if n > MAX_COUNT:
        ck.error("E-CONTACT-002", f"{r.count.text} is not a count of contacts", r.count.span,
                 f"a count is from 0 to {MAX_COUNT:,}")
        return None
    return n


def _within(ck: CheckContext, w: ast.Number) -> int | None:
    days = int(w.text.replace("_", ""))
    if not 1 <= days <= MAX_WITHIN:
        ck.error("E-HIST-006", f"'within {w.text} days' is not a window", w.span,
                 f"a window is from 1 to {MAX_WITHIN:,} days; 1 is the as-of date alone")
        return None
    return days
