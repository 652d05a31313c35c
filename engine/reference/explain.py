"""Explanations: a program and one customer record -> an Explanation, whose
fields say why the customer got (or did not get) each offer, which `when`
set each classification, and the values used; `str()` of it is the text a
marketer reads.

Built on the reference evaluator and its trace (engine/reference/interp.py) and the
plain matcher (engine/reference/matching.py). For an offer that was not given, it
names the FIRST reason, in the order a customer meets them: outside the
valid window; not eligible (the parts of the condition that were false or
null, and the values behind them); priority null (where the null comes
from); no open channel (each channel's failing condition); lost under `max`,
`one per category` or `exclusive` to the offer that took the place;
with a ledger, the run-wide constraint that refused it.

`to_dict()` gives the same as plain JSON data (dates as YYYY-MM-DD, tuples
as lists, a culprit's inputs as an object), `to_json()` its text.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from pol.api.decision import Decision, decision_of
from pol.compiler import ir, offer_settings
from pol.reference.experiments import bucket
from pol.reference.interp import eval_expr, evaluate_row, why_not
from pol.reference.matching import Limits, match_customer
from pol.reference.render import render, value_text
from pol.reference.trace import Culprit


@dataclass(frozen=True)
class ClassVerdict:
    name: str
    label: str | None
    value: str | None
    when: int | None         # index of the `when` that matched; -1 the else; None nothing
    condition: str | None    # that `when`'s condition, as policy text
    where: str | None        # "line N" (with the file when it is an imported one)


@dataclass(frozen=True)
class ChannelVerdict:
    name: str
    label: str | None
    open: bool
    why: tuple[Culprit, ...] = ()


@dataclass(frozen=True)
class OfferVerdict:
    """One offer. reason: None when given, else "window", "eligible",
    "priority", "channel", "max", "category", "exclusive", or a run-wide
    constraint under a ledger: "capacity", "quota", "channel_capacity",
    "budget", or "contact_cap" (its channel's contacts in the history and
    the offers given through it already reach a limit, LANGUAGE.md 14.1)."""
    name: str
    label: str | None
    given: bool
    reason: str | None
    summary: str                       # the one-line verdict
    rank: int | None = None
    channel: str | None = None
    priority: float | None = None
    control: bool = False
    why: tuple[Culprit, ...] = ()      # not eligible / priority null: the parts behind it
    closed: tuple[ChannelVerdict, ...] = ()
    to: tuple[str, ...] = ()           # the offers that took the place
    campaign: str | None = None        # the file's campaign the offer is declared in
    attributes: dict = dataclasses.field(default_factory=dict)   # the offer's attributes
    # `channels by NAME then ...`: which channel was tried first and why (None: the list's order alone)
    first: str | None = None


@dataclass(frozen=True)
class ArmVerdict:
    """Which arm of an experiment the customer is in, and the draw that put
    them there (LANGUAGE.md section 13)."""
    name: str
    label: str | None
    arm: str
    text: str                # what was hashed: "NAME:[SALT:]KEY"
    bucket: int | None       # its hash mod 10000; None without a key
    low: int                 # the arm's range of buckets, low <= bucket < high
    high: int


@dataclass(frozen=True)
class Explanation:
    policy: str
    version: str | None
    key_field: str
    key: object
    as_of: dt.date
    fields: dict[str, object]          # the fields the policy reads, input order
    params: dict[str, object]
    segments: list[tuple[str, str | None, bool]]
    classifications: list[ClassVerdict]
    scores: list[tuple[str, str | None, float | None]]
    channels: list[ChannelVerdict]
    offers: list[OfferVerdict]         # given ones by rank, then the rest in declaration order
    decision: Decision
    labels: dict[str, str]
    experiments: list[ArmVerdict] = dataclasses.field(default_factory=list)
    # LANGUAGE.md 3.14: why the customer is outside the population (None: inside, or no population)
    outside: str | None = None

    def __str__(self) -> str:
        return _text(self)

    def to_dict(self) -> dict:
        """The explanation as JSON-ready data: objects, lists, strings,
        numbers, booleans and null; dates as YYYY-MM-DD."""
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        out["segments"] = [{"name": n, "label": label, "value": v} for n, label, v in self.segments]
        out["scores"] = [{"name": n, "label": label, "value": v} for n, label, v in self.scores]
        if not self.experiments:
            del out["experiments"]
        if self.outside is None:
            del out["outside"]
        return out

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, allow_nan=False)


def _plain(v):
    """A value of an Explanation as JSON data."""
    if isinstance(v, Culprit):
        return {"text": v.text, "value": _plain(v.value), "inputs": {n: _plain(x) for n, x in v.inputs},
                "because": [_plain(b) for b in v.because], "line": v.line}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Decision):
        return v.model_dump(mode="json")
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


# ---------------------------------------------------------------- building

def fields_used(program: ir.Program) -> list[str]:
    """The input fields any expression of the program reads, in input order."""
    exprs: list[ir.Expr] = [d.expr for d in program.lets + program.segments + program.scores]
    exprs += [w.cond for c in program.classifies for w in c.whens]
    exprs += [c.cond for c in program.channels if c.cond is not None]
    exprs += [e for o in program.offers for e in (o.eligible, o.priority, o.prefer) if e is not None]
    exprs += [program.population.cond] if program.population is not None else []
    used = {n.name for e in exprs for n in ir.walk(e) if isinstance(n, ir.FieldRef)}
    return [f.name for f in program.input.fields if f.name in used]


def _where(span, root: str | None) -> str | None:
    """`line N` in the root file; in an imported one, its path as seen from the
    root file's folder (the way the `import` names it)."""
    if span is None:
        return None
    if span.path == root or root is None:
        return f"line {span.line}"
    return f"{os.path.relpath(span.path, os.path.dirname(root) or '.')}:{span.line}"


def _cost_note(program: ir.Program, row, offer: str, given: bool = False) -> str:
    """What the offer costs this customer under `budget B cost EXPR`
    (LANGUAGE.md 3.11), as the walk counts it; nothing for a constant cost.
    A given offer whose cost is null or negative was given by a walk
    without the budget (one customer alone): a run would refuse it."""
    score = dict(program.arbitrate.cost_scores).get(offer)
    if score is None:
        return ""
    value = row.values.get(score)
    refused = " (the budget of a run refuses it)" if given else ""
    if value is None:
        return f"; its cost for this customer is null ({render(program.decl(score).expr)}){refused}"
    if value < 0:
        return f"; its cost for this customer is {value_text(value)}, below 0{refused}"
    charge = Limits(program).charge(offer, value)
    text = format((Decimal(charge.numerator) / Decimal(charge.denominator)).normalize(), "f")
    return f"; it costs {text} for this customer"


def explain(program: ir.Program, record: Mapping, as_of: dt.date, params: Mapping | None = None,
            extra: str = "error", history: Mapping | None = None, ledger=None) -> Explanation:
    """Why this customer gets what it gets, as of `as_of`, with `params`
    overriding the declared defaults. Capacities do not apply, unless a
    `ledger` (pol.Ledger) says what is left of them. The record is read as
    pol.api.records reads it (`extra`: see there)."""
    row = evaluate_row(program, record, as_of, params, trace=True, extra=extra, history=history)
    program = offer_settings.with_params(program, row.params)     # windows from params, as the run sees them
    match = match_customer(program, row, limits=None if ledger is None else ledger.limits(program))
    trace = row.trace
    root = program.files[0] if program.files else (program.input.span.path if program.input.span else None)
    labels = {d.name: d.label for g in (program.segments, program.classifies, program.scores,
                                        program.channels, program.offers, program.experiments) for d in g if d.label}

    classes = []
    for c in program.classifies:
        k = trace.whens[c.name]
        w = c.whens[k] if k is not None and k >= 0 else None
        classes.append(ClassVerdict(c.name, c.label, row.values[c.name], k,
                                    render(w.cond) if w is not None else None,
                                    _where(w.span if w is not None else c.span, root)))
    channels = [ChannelVerdict(c.name, c.label, row.channels[c.name], trace.channels.get(c.name, ()))
                for c in program.channels]
    by_channel = {c.name: c for c in channels}

    accepted = {a.offer: a for a in match.accepted}
    lost = match.lost_by_offer()
    outside = population_why = None
    if not row.in_population and program.population is not None:
        p = program.population
        state = "null" if eval_expr(p.cond, row.env) is None else "false"
        outside = (f"outside the population: {render(p.cond)} is {state} "
                   f"({'population from offers' if p.derived else 'population'} at {_where(p.span, root)})")
        population_why = why_not(p.cond, row.env)
    given, others = [], []
    for o in program.offers:
        s = row.offers[o.name]
        a = accepted.get(o.name)
        if a is not None:
            note = "; a holdout control: counted as given, not to be contacted" if a.control else ""
            given.append(OfferVerdict(
                o.name, o.label, True, None,
                f"given, rank {a.rank}, via {_named(a.channel, labels)}, priority {value_text(a.priority)}{note}"
                + _cost_note(program, row, o.name, given=True),
                a.rank, a.channel, a.priority, a.control))
        elif not row.in_population:
            others.append(OfferVerdict(o.name, o.label, False, "population",
                                       "not given: the customer is outside the policy's population",
                                       why=population_why))
        elif not s.in_window:
            window = f"from {o.valid_from or 'the start'} to {o.valid_to or 'no end'}"
            others.append(OfferVerdict(o.name, o.label, False, "window",
                                       f"not given: outside its valid window ({window}; as of {as_of})"))
        elif s.eligible is not True:
            state = "null" if s.eligible is None else "false"
            others.append(OfferVerdict(o.name, o.label, False, "eligible",
                                       f"not given: not eligible ({render(o.eligible)} is {state})",
                                       why=trace.eligible[o.name]))
        elif s.priority is None:
            others.append(OfferVerdict(o.name, o.label, False, "priority",
                                       f"not given: its priority is null ({render(o.priority)})",
                                       why=trace.priority[o.name]))
        elif s.channel is None:
            others.append(OfferVerdict(o.name, o.label, False, "channel",
                                       "not given: no open channel",
                                       closed=tuple(by_channel[c] for c in o.channels)))
        else:
            x = lost[o.name]
            a_rules = program.arbitrate
            rule = _contact_cap(program, row, s.channel, labels) if x.reason == "contact_cap" else {
                    "max": f"max {a_rules.max_per_customer} per customer",
                    "category": f"one per category ({', '.join(x.rule)})",
                    "exclusive": f"exclusive {', '.join(x.rule)}",
                    "capacity": "its capacity",
                    "quota": f"the quota of {', '.join(x.rule)}",
                    "channel_capacity": f"the capacity of channel {', '.join(_named(c, labels) for c in x.rule)}",
                    "budget": "the budget"}[x.reason]
            takers = ", ".join(_named(t, labels) for t in x.to)
            others.append(OfferVerdict(o.name, o.label, False, x.reason,
                                       f"not given: lost under {rule}" + (f" to {takers}" if takers else "")
                                       + (_cost_note(program, row, o.name) if x.reason == "budget" else "")
                                       + f" (priority {value_text(s.priority)}, via {_named(s.channel, labels)})",
                                       priority=s.priority, channel=s.channel, to=x.to))
    given.sort(key=lambda v: v.rank)
    offers = {o.name: o for o in program.offers}
    given = [dataclasses.replace(v, campaign=offers[v.name].campaign, attributes=dict(offers[v.name].attributes))
             for v in given]
    others = [dataclasses.replace(v, campaign=offers[v.name].campaign, attributes=dict(offers[v.name].attributes))
              for v in others]
    given, others = ([dataclasses.replace(v, first=_first(offers[v.name], row, labels)) for v in vs]
                     for vs in (given, others))

    used = fields_used(program)
    return Explanation(
        policy=program.name, version=program.version, key_field=program.input.key, key=row.key,
        as_of=as_of,
        fields={n: row.fields[n] for n in used if n != program.input.key},
        params=dict(row.params),
        segments=[(s.name, s.label, row.values[s.name]) for s in program.segments],
        classifications=classes,
        scores=[(s.name, s.label, row.values[s.name]) for s in program.shown_scores],
        channels=channels,
        offers=given + others,
        decision=decision_of(program, row, match),
        labels=labels,
        experiments=[_arm_verdict(x, row.key, row.arms[x.name]) for x in program.experiments],
        outside=outside,
    )


def _first(o: ir.Offer, row, labels: Mapping[str, str]) -> str | None:
    """How the channel of a `channels by NAME` offer was chosen, in words (LANGUAGE.md 6.1)."""
    if o.prefer is None:
        return None
    by = o.prefer.args[0]
    name, value = render(by), eval_expr(by, row.env)
    if value is None:
        return f"{name} is null: its channels in the listed order"
    rank = eval_expr(o.prefer, row.env)
    if rank < 0:
        return f"{name} = {value_text(value)} names none of its channels: its channels in the listed order"
    c = _named(o.channels[rank], labels)
    if row.channels[o.channels[rank]]:
        return f"{c} tried first: {name} = {value_text(value)}"
    return f"{c} tried first ({name} = {value_text(value)}), but it is closed: the first open one of its list"


def _arm_verdict(x: ir.Experiment, key, arm: str) -> ArmVerdict:
    h = None if key is None else bucket(x, key)
    low = 0
    for name, bp in x.arms:
        if name == arm:
            return ArmVerdict(x.name, x.label, arm, f"{x.prefix}{key}", h, low, low + bp)
        low += bp
    return ArmVerdict(x.name, x.label, arm, f"{x.prefix}{key}", h, low, 10000)


# ---------------------------------------------------------------- text

def _contact_cap(program: ir.Program, row, channel: str, labels: dict) -> str:
    """The limit of `channel` with the least room for this customer, with
    its count: which contact cap the offers given through the channel in
    this walk reached (the hidden score is min(N - count, ...))."""
    least = program.decl(dict(program.arbitrate.rooms)[channel]).expr.args[0]
    parts = least.args if isinstance(least, ir.Call) and least.op == "min" else (least,)
    limits = [(p.args[0].value, p.args[1]) for p in parts if isinstance(p, ir.Call) and p.op == "sub"
              and isinstance(p.args[0], ir.Literal) and isinstance(p.args[1], ir.Aggregate)]
    if not limits:          # not the shape contact.room_scores makes: the channel alone
        return f"the contact cap of {_named(channel, labels)}"
    n, agg = min(limits, key=lambda x: x[0] - eval_expr(x[1], row.env))
    used = eval_expr(agg, row.env)
    return (f"the contact cap of {_named(channel, labels)} (limit {channel} to {n} within {agg.within} days: "
            f"{used} in the history, {n - used} left for this run)")


def _named(name: str | None, labels: Mapping[str, str]) -> str:
    if name is None:
        return "-"
    label = labels.get(name)
    return f"{name} ({label})" if label else name


def _culprit_lines(c: Culprit, labels: Mapping[str, str], indent: str) -> list[str]:
    text = _named(c.text, labels) if c.text in labels else c.text
    line = f"{indent}- {text} is {value_text(c.value)}"
    behind = [f"{n} = {value_text(v)}" for n, v in c.inputs if n != c.text]
    if behind:
        line += ": " + ", ".join(behind)
    out = [line]
    if c.because:
        out[-1] += ", because"
        for b in c.because:
            out += _culprit_lines(b, labels, indent + "    ")
    return out


def _text(x: Explanation) -> str:
    head = f"{x.policy}" + (f" {x.version}" if x.version else "")
    out = [f"{head}: customer {x.key_field} = {value_text(x.key)}, as of {x.as_of}"]
    if x.fields:
        out += ["", "Values used"] + [f"  {n} = {value_text(v)}" for n, v in x.fields.items()]
    if x.params:
        out += ["", "Params"] + [f"  {n} = {value_text(v)}" for n, v in x.params.items()]
    if x.segments:
        out += ["", "Segments"]
        out += [f"  {_named(n, x.labels)}: {'yes' if v else 'no'}" for n, _, v in x.segments]
    if x.classifications:
        out += ["", "Classifications"]
        for c in x.classifications:
            if c.when is None:
                how = "no `when` matched and there is no else"
            elif c.when == -1:
                how = f"the else, as no `when` matched (classify at {c.where})"
            else:
                how = f"when {c.condition} ({c.where})"
            out.append(f"  {_named(c.name, x.labels)} = {value_text(c.value)}: {how}")
    if x.experiments:
        out += ["", "Experiments"]
        for a in x.experiments:
            where = ("no key to draw from" if a.bucket is None else
                     f"mix64(fnv1a64(\"{a.text}\")) mod 10000 = {a.bucket}, in {a.low} to {a.high - 1}")
            out.append(f"  {_named(a.name, x.labels)}: {a.arm} ({where})")
    if x.scores:
        out += ["", "Scores"] + [f"  {_named(n, x.labels)} = {value_text(v)}" for n, _, v in x.scores]
    if x.channels:
        out += ["", "Channels"]
        for ch in x.channels:
            out.append(f"  {_named(ch.name, x.labels)}: {'open' if ch.open else 'closed'}")
            for c in ch.why:
                out += _culprit_lines(c, x.labels, "      ")
    if x.outside is not None:
        out += ["", "Population", f"  {x.outside}: no offer is given, and a run leaves the customer out"]
    out += ["", "Offers"]
    if not x.offers:
        out.append("  (the policy declares no offers)")
    for o in x.offers:
        out.append(f"  {_named(o.name, x.labels)}: {o.summary}")
        if o.attributes:
            out.append("      " + ", ".join(f"{k} = {value_text(v)}" for k, v in o.attributes.items()))
        if o.first is not None:
            out.append(f"      - {o.first}")
        for c in o.why:
            out += _culprit_lines(c, x.labels, "      ")
        for ch in o.closed:
            out.append(f"      - channel {_named(ch.name, x.labels)} is closed")
            for c in ch.why:
                out += _culprit_lines(c, x.labels, "          ")
    return "\n".join(out) + "\n"
