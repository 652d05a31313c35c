"""Type checking: a resolved Unit (compiler/frontend/resolve.py) -> ir.Program, with
every error of the program reported in one pass.

Declarations are checked here, their expressions by compiler/frontend/expressions.py:
lets, segments, classifications and scores in dependency order (what a
declaration reads is typed before it), then channels, offers, the arbitrate
block and tests (offer attributes, carry and output column names in
compiler/frontend/offer_data.py). Scores and priorities are FLOAT; a priority left out is 0.0.
`Program.order` is the topological order of the dependency graph, ties kept
in declaration order; `Program.outputs` the segments, classifications and
scores in declaration order.

Codes (syntax comes from dsl/parser.py, imports, duplicates and cycles from
compiler/frontend/resolve.py, expression errors from compiler/frontend/expressions.py):
  E-NAME-005 unknown channel           E-NAME-006 unknown offer
  E-NAME-007 unknown param in `with`   E-NAME-008 unknown field (key, `given`)
  E-DECL-001 input keyed differently   E-DECL-002 second arbitrate
  E-DECL-003 no input                  E-DECL-004 bad key field
  E-OFFER-001 no eligible              E-OFFER-002 no channels
  E-OFFER-003 property given twice     E-OFFER-004 holdout outside 0%..100%
  E-OFFER-005 channel listed twice     E-OFFER-008 a capacity param's default negative or null
  E-OFFER-009 `channels by NAME`: NAME undeclared or not a string
  E-ARB-001 max 0 per customer         E-ARB-002 rule given twice
  E-ARB-003 maximize other than priority
  (the run-wide constraints: compiler/frontend/constraints.py)
  E-TEST-001 field given twice in a test            E-TEST-002 rank below 1
  W-OFFER-001 empty valid window
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from pol.compiler import ir, offer_settings
from pol.compiler.frontend.constraints import CONSTRAINTS, check_constraints
from pol.compiler.frontend.contact import apply_contact, room_scores
from pol.compiler.frontend.context import Typed
from pol.compiler.frontend.experiments import check_experiments, expect_arm, param_arms, restrict
from pol.compiler.frontend.expressions import Checker
from pol.compiler.frontend.hints import F, I, S, a_type
from pol.compiler.frontend.history import check_histories, event_values
from pol.compiler.frontend.literals import INT64
from pol.compiler.frontend.offer_data import (
    attribute_types,
    check_attributes,
    check_carry,
    check_columns,
    widened,
)
from pol.compiler.frontend.population import check_population
from pol.compiler.frontend.resolve import DERIVED, KIND_WORDS, Named, Unit, ast_graph, derived_order, report_cycles
from pol.dsl import ast
from pol.dsl.diagnostics import Diagnostics
from pol.dsl.source import Span

# ---------------------------------------------------------------- declarations

def check(unit: Unit, diags: Diagnostics) -> ir.Program | None:
    """The typed program, or None when anything is wrong (all of it in `diags`)."""
    ck = Checker(unit, diags)
    items = unit.items
    root = unit.root
    inputs = [i for i in items if isinstance(i, ast.Input)]
    arbitrates = [i for i in items if isinstance(i, ast.Arbitrate)]
    if not inputs:
        diags.add("E-DECL-003", "the policy has no input block", Span.point(root, 1, 1),
                  "declare the record the policy decides about, e.g. input customer key id { id: int }")
    for extra in inputs[1:]:
        if extra.key != inputs[0].key:
            diags.add("E-DECL-001", f"an input block keyed by '{extra.key}' where another is keyed by "
                      f"'{inputs[0].key}'", extra.key_span,
                      "the input blocks of a program (imported files included) describe one record "
                      "with one key: key this block by the same field",
                      related=((inputs[0].key_span, "the first input block's key is here"),))
    for again in arbitrates[1:]:
        diags.add("E-DECL-002", "a second arbitrate block", again.span,
                  "a program has at most one arbitrate block; put all its rules in one",
                  related=((arbitrates[0].span, "the first arbitrate block is here"),))

    inp = merged_input(inputs) if inputs else None
    fields = check_input(ck, inp) if inp is not None else []
    key_field = next((f for f in fields if inp is not None and f.name == inp.key), None)
    histories = check_histories(ck, items, key_field.type if key_field is not None else None)
    experiments = check_experiments(ck, items)
    params = check_params(ck, items)

    graph = ast_graph(unit)
    on_cycle = report_cycles(graph, unit, diags)
    order = derived_order(graph, unit, on_cycle)
    bodies: dict[str, ir.Let | ir.Segment | ir.Classify | ir.Score | None] = {}
    for name in order:
        bodies[name] = check_derived(ck, unit.space[name])

    channels = []
    for item in items:
        if isinstance(item, ast.Channel) and unit.space.get(item.name) is item:
            cond = ck.condition(item.cond, f"the condition of channel '{item.name}'") \
                if item.cond is not None else None
            channels.append(ir.Channel(item.name, item.label, cond, item.span))
    offers = [check_offer(ck, item, {p.name: p for p in params}) for item in items
              if isinstance(item, ast.Offer) and unit.space.get(item.name) is item]
    attrs = attribute_types(ck)
    offers = [widened(o, attrs) for o in offers]
    channels, offers, hidden, rooms = apply_contact(ck, items, channels, offers, attrs)
    params += hidden
    carry = check_carry(ck, [i for i in items if isinstance(i, ast.Carry)])
    name = header.name if (header := unit.header) else _stem(root)
    mine = [i for i in items if isinstance(i, DERIVED) and unit.space.get(i.name) is i]
    check_columns(ck, inp, [i for i in mine if not isinstance(i, ast.Let)],
                  any(o is not None and o.campaign not in (None, name) for o in offers), attrs)
    arbitrate, costs = check_arbitrate(ck, arbitrates[0], offers, attrs, {p.name: p for p in params}) \
        if arbitrates else (ir.Arbitrate(), [])
    room, arbitrate = room_scores(rooms, arbitrate)
    room += costs
    tests = [check_test(ck, item) for item in items if isinstance(item, ast.Test)]
    population = check_population(ck, items, unit.owner, offers, bodies, {f.name: f.type for f in fields},
                                  frozenset(x.name for x in experiments))

    if diags.errors or inp is None:
        return None
    return ir.Program(
        name=name,
        version=header.version if header else None,
        input=ir.Input(inp.name, inp.key, tuple(fields), inp.span),
        params=tuple(params),
        lets=_kept(ir.Let, (bodies[i.name] for i in mine)),
        segments=_kept(ir.Segment, (bodies[i.name] for i in mine)),
        classifies=_kept(ir.Classify, (bodies[i.name] for i in mine)),
        scores=_kept(ir.Score, (bodies[i.name] for i in mine)) + tuple(room),
        channels=tuple(channels),
        offers=_kept(ir.Offer, offers),
        arbitrate=arbitrate,
        tests=_kept(ir.Test, tests),
        order=tuple(order) + tuple(s.name for s in room),
        outputs=tuple(i.name for i in mine if not isinstance(i, ast.Let)),
        files=tuple(unit.files),
        attributes=attrs,
        carry=carry,
        histories=tuple(histories),
        experiments=tuple(experiments),
        population=population,
    )


def _kept(kind: type[T], checked: Iterable[object]) -> tuple[T, ...]:
    """The checked declarations of one kind, in order. One whose check
    failed is None, with an error reported: then no program is made."""
    return tuple(c for c in checked if isinstance(c, kind))


def merged_input(inputs: list[ast.Input]) -> ast.Input:
    """The input blocks of every file as one: the first one's name and key,
    each field once where it is first declared (resolve.namespace reports
    a field declared with two types)."""
    if len(inputs) == 1:
        return inputs[0]
    fields: dict[str, ast.Field] = {}
    for i in inputs:
        for f in i.fields:
            fields.setdefault(f.name, f)
    first = inputs[0]
    return ast.Input(first.name, first.key, tuple(fields.values()), first.span, first.key_span)


def _stem(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".pol") else name


def check_input(ck: Checker, inp: ast.Input) -> list[ir.InputField]:
    fields = []
    for f in inp.fields:
        t = ck.type_name(f.type_name, f.type_span)
        if t is None:
            continue
        if ck.space.get(f.name) is f:
            ck.field_types[f.name] = t
        fields.append(ir.InputField(f.name, t, f.nullable, f.span))
    key = next((f for f in inp.fields if f.name == inp.key), None)
    if key is None:
        guess = ck.suggest(inp.key, [f.name for f in inp.fields])
        ck.error("E-NAME-008", f"the key '{inp.key}' is not a field of the input block", inp.key_span,
                 f"did you mean '{guess}'?" if guess else f"add it to the block, e.g. {inp.key}: int")
    else:
        t = ck.field_types.get(key.name)
        if key.nullable:
            ck.error("E-DECL-004", f"the key '{key.name}' cannot be nullable", key.span,
                     f"every customer needs a key: declare it '{key.name}: {key.type_name}'")
        if t is not None and t not in (I, S):
            ck.error("E-DECL-004", f"the key '{key.name}' must be an int or a string, found {a_type(t)}",
                     key.type_span)
    return fields


def check_params(ck: Checker, items: Sequence[ast.Decl]) -> list[ir.Param]:
    params: list[ir.Param] = []
    for item in items:
        if not isinstance(item, ast.Param) or ck.space.get(item.name) is not item:
            continue
        t = ck.type_name(item.type_name, item.type_span)
        if t is None:
            continue
        value, ok = ck.value(item.default, t, f"param '{item.name}'")
        arms = param_arms(ck, item, t) if item.arms else ()
        if ok and arms is not None:
            ck.param_types[item.name] = t
            params.append(ir.Param(item.name, t, value, item.span, arms))
            if arms:
                ck.param_arms[item.name] = params[-1]
    return params


def check_derived(ck: Checker, d: Named) -> ir.Let | ir.Segment | ir.Classify | ir.Score | None:
    """A let, segment, classification or score (its dependencies checked before it)."""
    if isinstance(d, ast.Let):
        x = ck.any_type(d.expr)
        ck.let_types[d.name] = x.type if x is not None else None
        return ir.Let(d.name, x, d.span) if x is not None else None
    if isinstance(d, ast.Segment):
        x = ck.condition(d.expr, f"segment '{d.name}'")
        return ir.Segment(d.name, d.label, x, d.span) if x is not None else None
    if isinstance(d, ast.Score):
        x = ck.numeric(d.expr, f"score '{d.name}'")
        return ir.Score(d.name, d.label, x, d.span) if x is not None else None
    assert isinstance(d, ast.Classify), d        # derived_order gives only these four kinds
    whens = []
    for w in d.whens:
        c = ck.condition(w.cond, "a 'when' of a classification")
        if c is not None:
            whens.append(ir.When(c, w.value, w.span))
    return ir.Classify(d.name, d.label, tuple(whens), d.default, d.span)


def _setting(ck: Checker, o: ast.Offer, prop: str, node: ast.Name, params: dict[str, ir.Param],
             settings: list[tuple[str, str]]) -> Any:
    """A property written as a param's name: the param's default value, checked."""
    want = offer_settings.KINDS[prop]
    p = params.get(node.name)
    if p is None:
        if isinstance(ck.space.get(node.name), ast.Param):
            return None             # the param's own error is reported
        return _unknown(ck, "E-NAME-001", "param", node.name, node.span, ast.Param)
    if p.type != want:
        return ck.error("E-TYPE-008", f"{offer_settings.WORDS[prop]} of offer '{o.name}' needs {a_type(want)} "
                        f"param; '{p.name}' is {p.type}", node.span,
                        {"capacity": "e.g. param max_calls: int = 3000", "holdout": "e.g. param control: float = 5%"}
                        .get(prop, "e.g. param start: date = 2026-11-01"))
    why = offer_settings.problem(prop, p.default)
    if why is not None:
        code = "E-OFFER-004" if prop == "holdout" else "E-OFFER-008"
        return ck.error(code, f"param '{p.name}' is {offer_settings.WORDS[prop]} of offer '{o.name}': {why}",
                        node.span, "change the param's default", related=((p.span, f"'{p.name}' is declared here"),))
    settings.append((prop, p.name))
    return offer_settings.value_of(prop, p.default)


def check_offer(ck: Checker, o: ast.Offer, params: dict[str, ir.Param]) -> ir.Offer | None:
    first: dict[type, ast.OfferProp] = {}
    for p in o.props:
        if type(p) in first:
            word = ast.PROP_WORDS[type(p)]
            ck.error("E-OFFER-003", f"offer '{o.name}' has a second '{word}'", p.span,
                     f"an offer has one '{word}'",
                     related=((first[type(p)].span, f"the first '{word}' is here"),))
        else:
            first[type(p)] = p
    eligible_prop, channels_prop = _prop(first, ast.Eligible), _prop(first, ast.Channels)
    if eligible_prop is None:
        ck.error("E-OFFER-001", f"offer '{o.name}' has no 'eligible' condition", o.span,
                 "add one, e.g. eligible when tenure_months >= 12")
    if channels_prop is None:
        ck.error("E-OFFER-002", f"offer '{o.name}' has no 'channels'", o.span,
                 "list the channels that may deliver it, in order of preference, e.g. channels app, sms")
    attributes = check_attributes(ck, o, _prop(first, ast.Attributes))
    ck.offer_attrs = (o.name, dict(attributes))
    eligible = ck.condition(eligible_prop.expr, f"the 'eligible' condition of offer '{o.name}'") \
        if eligible_prop is not None else None
    priority_prop = _prop(first, ast.Priority)
    priority = ck.numeric(priority_prop.expr, f"the priority of offer '{o.name}'") \
        if priority_prop is not None else ir.Literal(F, 0.0, o.span)
    ck.offer_attrs = None
    eligible, arm = restrict(ck, o, eligible)
    channels: tuple[str, ...] = ()
    if channels_prop is not None:
        channels = channels_prop.names
        seen: dict[str, Span] = {}
        for c, span in zip(channels_prop.names, channels_prop.name_spans):
            d = ck.space.get(c)
            if c in seen:
                ck.error("E-OFFER-005", f"channel '{c}' is listed twice", span, "list each channel once",
                         related=((seen[c], "first listed here"),))
            elif not isinstance(d, ast.Channel):
                _unknown(ck, "E-NAME-005", "channel", c, span, ast.Channel)
            seen.setdefault(c, span)
    prefer = _prefer(ck, o, channels_prop.by, channels) \
        if channels_prop is not None and channels_prop.by is not None else None
    category_prop = _prop(first, ast.Category)
    category = category_prop.name if category_prop is not None else None
    capacity: int | None = None
    settings: list[tuple[str, str]] = []
    capacity_prop = _prop(first, ast.Capacity)
    count = capacity_prop.count if capacity_prop is not None else None
    if isinstance(count, ast.Name):
        capacity = _setting(ck, o, "capacity", count, params, settings)
    elif count is not None:
        capacity = _whole(count)
        if capacity > INT64[1]:
            ck.error("E-TYPE-011", "the capacity is too large", count.span)
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    v = _prop(first, ast.Valid)
    if v is not None:
        valid_from, valid_to = (
            None if end is None else _setting(ck, o, prop, end, params, settings) if isinstance(end, ast.Name)
            else ck.date(end) for prop, end in (("valid_from", v.start), ("valid_to", v.end)))
        if valid_from and valid_to and valid_from > valid_to:
            ck.diags.warn("W-OFFER-001", f"offer '{o.name}' is never valid: {valid_from} is after {valid_to}",
                          v.span, "swap the dates, or remove the offer")
    holdout_bp: int | None = None
    holdout_prop = _prop(first, ast.Holdout)
    salt = holdout_prop.salt if holdout_prop is not None else None
    num = holdout_prop.percent if holdout_prop is not None else None
    if isinstance(num, ast.Name):
        holdout_bp = _setting(ck, o, "holdout", num, params, settings)
    elif num is not None:
        percent = Decimal(num.text.replace("_", "")[:-1])
        if not 0 <= percent <= 100:
            ck.error("E-OFFER-004", f"a holdout is a share from 0% to 100%, not {num.text}", num.span,
                     "e.g. holdout 5% keeps 5 in every 100 customers as a control group")
        else:
            # P% keeps hashes h with h mod 10000 < P x 100; rounding up keeps
            # exactly those for a P with more than two decimals
            holdout_bp = offer_settings.holdout_bp(percent / 100)
    if eligible is None or priority is None:
        return None
    return ir.Offer(o.name, o.label, eligible, channels, priority, category, capacity, valid_from,
                    valid_to, holdout_bp, o.span, campaign=ck.unit.campaign.get(o.name),
                    attributes=tuple((name, lit.value) for name, lit in attributes), settings=tuple(settings),
                    arm=arm, holdout_salt=salt, prefer=prefer)


def _prefer(ck: Checker, o: ast.Offer, by: ast.Name, channels: tuple[str, ...]) -> ir.Expr | None:
    """`channels by NAME then ...`: NAME's value (a string naming a channel)
    -> its position among the offer's channels (ir.Offer.prefer)."""
    if not isinstance(ck.space.get(by.name), (ast.Field, ast.Let, ast.Classify, ast.Param)):
        guess = ck.suggest(by.name, ck.names_of(ast.Field, ast.Let, ast.Classify, ast.Param))
        return ck.error("E-OFFER-009", f"offer '{o.name}' takes its first channel from '{by.name}', which is not "
                        "declared", by.span, f"did you mean '{guess}'?" if guess else
                        f"declare a string field holding a channel's name: input ... {{ {by.name}: string? }}")
    d = ck.space.get(by.name)
    listed = isinstance(d, ast.Field) and d.type_name.startswith("list")
    x = None if listed else ck.expr(by)
    if x is None and not listed:
        return None                 # its own error is reported
    if x is None or x.type != S:
        what = a_type(x.type) if x is not None else f"a list ({d.type_name})"    # type: ignore[union-attr]
        return ck.error("E-OFFER-009", f"offer '{o.name}' takes its first channel from '{by.name}', which is "
                        f"{what}, not a string", by.span,
                        "name a string holding a channel's name (a field, a let or a classification), "
                        "e.g. preferred_channel: string?")
    return ir.Call(I, "channel_rank", (x, ir.Literal(S, ",".join(channels), by.span)), by.span)


P = TypeVar("P", bound=ast.OfferProp)
T = TypeVar("T")


def _prop(first: dict[type, ast.OfferProp], kind: type[P]) -> P | None:
    """The offer's first property of a kind, if it has one."""
    p = first.get(kind)
    return p if isinstance(p, kind) else None


def _whole(n: ast.Number) -> int:
    """The value of a number the grammar reads as an INT token."""
    value = n.value
    assert isinstance(value, int), n
    return value


def _unknown(ck: Checker, code: str, what: str, name: str, span: Span | None, kind: type) -> Typed:
    d = ck.space.get(name)
    if d is not None:
        other = KIND_WORDS[type(d)]
        return ck.error(code, f"'{name}' is {'an' if other[0] in 'aeiou' else 'a'} {other}, not {_a_word(what)}",
                        span, f"declare the {what}: {what} {name} ...")
    guess = ck.suggest(name, ck.names_of(kind))
    hint = f"did you mean '{guess}'?" if guess else f"declare it: {what} {name} ..."
    return ck.error(code, f"unknown {what} '{name}'", span, hint)


def _a_word(w: str) -> str:
    return ("an " if w[0] in "aeiou" else "a ") + w


def check_arbitrate(ck: Checker, a: ast.Arbitrate, offers: list[ir.Offer | None],
                    attrs: tuple[tuple[str, object], ...], params: dict[str, ir.Param]
                    ) -> tuple[ir.Arbitrate, list[ir.Score]]:
    """The block, and the hidden scores of a budget's computed costs."""
    max_n, one, optimal = 1, False, False
    fallback = None
    exclusive: list[tuple[str, ...]] = []
    seen: dict[type, ast.Rule] = {}
    rules = [r for r in a.rules if isinstance(r, (ast.ChannelCapacity, ast.Quota, ast.Budget))]
    constraints = check_constraints(ck, rules, offers, attrs, params)
    costs = list(constraints.pop("cost_exprs", ()))
    for r in a.rules:
        if isinstance(r, CONSTRAINTS):
            continue
        if type(r) in seen and not isinstance(r, ast.Exclusive):
            word = {ast.MaxRule: "max N per customer", ast.OnePerCategory: "one per category",
                    ast.Fallback: "fallback"}.get(type(r), "maximize priority")
            ck.error("E-ARB-002", f"'{word}' is given twice", r.span, "keep one",
                     related=((seen[type(r)].span, "the first is here"),))
            continue
        seen[type(r)] = r
        if isinstance(r, ast.MaxRule):
            n = _whole(r.count)
            if n < 1:
                ck.error("E-ARB-001", "'max 0 per customer' would give no customer any offer", r.count.span,
                         "allow at least 1; to pause an offer, give it 'capacity 0'")
            elif n > INT64[1]:
                ck.error("E-TYPE-011", "the maximum is too large", r.count.span)
            else:
                max_n = n
        elif isinstance(r, ast.OnePerCategory):
            one = True
        elif isinstance(r, ast.Fallback):
            if not isinstance(ck.space.get(r.offer), ast.Offer):
                _unknown(ck, "E-NAME-006", "offer", r.offer, r.name_span, ast.Offer)
            else:
                fallback = r.offer
        elif isinstance(r, ast.Maximize):
            if r.what != "priority":
                ck.error("E-ARB-003", f"cannot maximize '{r.what}': the allocation maximizes the total priority",
                         r.what_span, "write 'maximize priority'; to value offers differently, "
                         "say so in their priority")
            else:
                optimal = True
        else:
            for name, span in zip(r.offers, r.name_spans):
                if not isinstance(ck.space.get(name), ast.Offer):
                    _unknown(ck, "E-NAME-006", "offer", name, span, ast.Offer)
            exclusive.append(r.offers)
    return ir.Arbitrate(max_n, one, tuple(exclusive), a.span, optimal, fallback=fallback, **constraints), costs


def check_test(ck: Checker, t: ast.Test) -> ir.Test | None:
    given: list[tuple[str, object]] = []
    params: list[tuple[str, object]] = []
    expects: list[ir.Expectation] = []
    events: list[tuple[str, tuple[tuple[str, object], ...]]] = []
    as_of = None
    seen_given: dict[str, Span | None] = {}
    for item in t.items:
        if isinstance(item, ast.AsOf):
            as_of = ck.date(item.date)
        elif isinstance(item, ast.With):
            ptype = ck.param_types.get(item.name)
            if not isinstance(ck.space.get(item.name), ast.Param):
                guess = ck.suggest(item.name, ck.names_of(ast.Param))
                ck.error("E-NAME-007", f"unknown param '{item.name}'", item.span,
                         f"did you mean '{guess}'?" if guess else "'with' sets a declared param")
            elif ptype is not None:
                value, ok = ck.value(item.value, ptype, f"param '{item.name}'")
                if ok:
                    params.append((item.name, value))
        elif isinstance(item, ast.Given) and item.history is not None:
            values = event_values(ck, ck.histories.get(item.history), item.history, item.history_span, item)
            if values is not None:
                events.append((item.history, values))
        elif isinstance(item, ast.Given):
            for g in item.fields:
                if g.name in seen_given:
                    ck.error("E-TEST-001", f"field '{g.name}' is given twice", g.span,
                             related=((seen_given[g.name], "first given here"),))
                    continue
                seen_given[g.name] = g.span
                if not isinstance(ck.space.get(g.name), ast.Field):
                    guess = ck.suggest(g.name, ck.names_of(ast.Field))
                    ck.error("E-NAME-008", f"'{g.name}' is not a field of the input block", g.span,
                             f"did you mean '{guess}'?" if guess else "'given' sets input fields only")
                    continue
                ftype = ck.field_types.get(g.name)
                if ftype is not None and ftype.element is not None and isinstance(g.value, ast.Null):
                    given.append((g.name, None))        # a null list (LANGUAGE.md 3.3)
                elif ftype is not None:
                    value, ok = ck.value(g.value, ftype, f"field '{g.name}'")
                    if ok:
                        given.append((g.name, value))
        elif isinstance(item, ast.ExpectOffer):
            if not isinstance(ck.space.get(item.offer), ast.Offer):
                _unknown(ck, "E-NAME-006", "offer", item.offer, item.offer_span, ast.Offer)
            if item.via is not None and not isinstance(ck.space.get(item.via), ast.Channel):
                _unknown(ck, "E-NAME-005", "channel", item.via, item.via_span, ast.Channel)
            rank = _whole(item.rank) if item.rank is not None else None
            if item.rank is not None and rank is not None and rank < 1:
                ck.error("E-TEST-002", "ranks start at 1 (the best offer)", item.rank.span)
            expects.append(ir.ExpectOffer(item.offer, item.via, rank, item.negated, item.span))
        elif isinstance(item, ast.ExpectNoOffer):
            expects.append(ir.ExpectNoOffer(item.span))
        elif isinstance(item, ast.ExpectArm):
            arm_expect = expect_arm(ck, item)
            if arm_expect is not None:
                expects.append(arm_expect)
        else:
            c = ck.condition(item.expr, "an 'expect'")
            if c is not None:
                expects.append(ir.ExpectExpr(c, _text(ck.diags, item.expr.span), item.span))
    return ir.Test(t.name, tuple(given), tuple(expects), as_of, tuple(params), t.span, tuple(events))


def _text(diags: Diagnostics, span: Span | None) -> str:
    """The source text of a span, lines joined by a space."""
    src = diags.sources.get(span.path) if span is not None else None
    if src is None or span is None:
        return ""
    lines = [src.line(n) for n in range(span.line, span.end_line + 1)]
    if len(lines) == 1:
        return lines[0][span.col - 1:span.end_col - 1]
    lines[0] = lines[0][span.col - 1:]
    lines[-1] = lines[-1][:span.end_col - 1]
    return " ".join(x.strip() for x in lines)
