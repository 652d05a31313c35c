"""The syntax tree of a policy file: what the author wrote, untyped.

Made by dsl/build.py from Lark's tree, printed back to source by
dsl/printer.py, read by compiler/frontend/resolve.py and compiler/frontend/check.py. Every node
is a frozen dataclass (`@node`, dsl/node.py); spans are excluded from equality (compare=False), so
two trees are equal when they say the same thing, wherever it was written.
Parentheses leave no node: the tree's shape records the grouping.

Declarations point at their name (`span`), which is where duplicate-name,
missing-property and cycle errors are reported. The expression nodes are
dsl/ast_expr.py's, read here as `ast.Name`, `ast.Call` ... like the rest.
"""
from __future__ import annotations

from dataclasses import field
from typing import Union

from pol.dsl.ast_expr import (
    Aggregate,
    Between,
    Binary,
    Bool,
    Call,
    Compare,
    DateLit,
    Expr,
    If,
    InList,
    IsNull,
    ListLit,
    Literal,
    Member,
    Name,
    Null,
    Number,
    String,
    TimestampLit,
    Today,
    Unary,
)
from pol.dsl.ast_expr import span_field as _span
from pol.dsl.node import node
from pol.dsl.source import Span

# The expression nodes (dsl/ast_expr.py), read as ast.NAME like the rest.
__all__ = [
    "Aggregate", "Between", "Binary", "Bool", "Call", "Compare", "DateLit", "Expr", "If", "InList",
    "IsNull", "ListLit", "Literal", "Member", "Name", "Null", "Number", "String", "TimestampLit", "Today",
    "Unary",
]

# ---------------------------------------------------------------- declarations

@node
class Header:
    name: str
    version: str | None = None
    span: Span | None = _span()


@node
class Import:
    path: str
    span: Span | None = _span()          # the whole `import "..."`
    qualifier: str | None = None         # `as q`: the file's names read q.name
    without_offers: bool = False         # `without offers`
    qualifier_span: Span | None = _span()


@node
class Carry:
    """`carry phone, name`: input fields copied into the assignments."""
    names: tuple[str, ...]
    span: Span | None = _span()          # the `carry` keyword
    name_spans: tuple[Span, ...] = _span()


@node
class Population:
    """`population when COND`, or `population from offers` (cond None): the
    customers the policy addresses (LANGUAGE.md 3.14)."""
    cond: Expr | None
    span: Span | None = _span()          # the `population` keyword


@node
class Field:
    name: str
    type_name: str
    nullable: bool = False
    span: Span | None = _span()
    type_span: Span | None = _span()


@node
class Input:
    name: str
    key: str
    fields: tuple[Field, ...]
    span: Span | None = _span()
    key_span: Span | None = _span()


@node
class History:
    """`history NAME key FIELD at FIELD { fields }`: events of a customer (section 12)."""
    name: str
    key: str
    at: str
    fields: tuple[Field, ...]
    span: Span | None = _span()
    key_span: Span | None = _span()
    at_span: Span | None = _span()


@node
class Limit:
    """`limit sms to 2 within 7 days` (section 14)."""
    channel: str
    count: Number
    within: Number
    span: Span | None = _span()
    channel_span: Span | None = _span()


@node
class Suppress:
    """`suppress family after 2 refusals within 90 days` (section 14)."""
    attribute: str
    count: Number
    within: Number
    span: Span | None = _span()
    attribute_span: Span | None = _span()


@node
class Quiet:
    """`quiet call from 21:00 to 08:00` (section 14): the times as written, HH:MM."""
    channel: str
    start: str
    end: str
    span: Span | None = _span()
    channel_span: Span | None = _span()
    start_span: Span | None = _span()
    end_span: Span | None = _span()


@node
class Contact:
    """`contact HISTORY { rules }`: the contact policy over a history (section 14)."""
    history: str
    rules: tuple[Limit | Suppress | Quiet, ...]
    span: Span | None = _span()          # the `contact` keyword
    history_span: Span | None = _span()


@node
class ParamArm:
    """`care_ab.b: 0.2` in a param's block: its value for one arm (section 13)."""
    experiment: str
    arm: str
    value: Literal
    span: Span | None = _span()          # the `experiment.arm` name


@node
class Param:
    name: str
    type_name: str
    default: Literal | ListLit
    span: Span | None = _span()
    type_span: Span | None = _span()
    arms: tuple[ParamArm, ...] = ()


@node
class Share:
    """`arm NAME P%` (arm is the name) or `control P%` (arm is None)."""
    arm: str | None
    percent: Number
    span: Span | None = _span()          # the arm's name, or the `control` keyword


@node
class Experiment:
    """`experiment NAME ["LABEL"] [salt "S"] { arm A P% ... control P% }` (section 13)."""
    name: str
    label: str | None
    salt: str | None
    shares: tuple[Share, ...]
    span: Span | None = _span()
    body_span: Span | None = _span()     # the `experiment` keyword to the closing brace


@node
class Let:
    name: str
    expr: Expr
    span: Span | None = _span()


@node
class Segment:
    name: str
    label: str | None
    expr: Expr
    span: Span | None = _span()


@node
class When:
    cond: Expr
    value: str
    span: Span | None = _span()          # the `when` keyword to the value


@node
class Classify:
    name: str
    label: str | None
    whens: tuple[When, ...]
    default: str | None = None           # the `else` value
    span: Span | None = _span()


@node
class Score:
    name: str
    label: str | None
    expr: Expr
    span: Span | None = _span()


@node
class Channel:
    name: str
    label: str | None
    cond: Expr | None = None
    span: Span | None = _span()


# Offer properties, kept in the order written so that a duplicate can be
# reported at its second appearance.

@node
class Eligible:
    expr: Expr
    span: Span | None = _span()


@node
class Channels:
    names: tuple[str, ...]
    span: Span | None = _span()
    name_spans: tuple[Span, ...] = _span()
    # `channels by NAME then ...`: the string value naming the customer's channel, tried first
    by: Name | None = None


@node
class Priority:
    expr: Expr
    span: Span | None = _span()


@node
class Category:
    name: str
    span: Span | None = _span()


@node
class Capacity:
    count: Number | Name          # a Name: an int param (LANGUAGE.md 3.10)
    span: Span | None = _span()


@node
class Valid:
    start: DateLit | Name | None  # a Name: a date param
    end: DateLit | Name | None
    span: Span | None = _span()


@node
class Holdout:
    percent: Number | Name        # a Name: a float param
    span: Span | None = _span()
    salt: str | None = None       # `holdout 5% salt "x"`: None hashes as before salts existed


@node
class ArmOf:
    """`arm EXPERIMENT.ARM`: the offer is only for that arm's customers (section 13)."""
    experiment: str
    arm: str
    span: Span | None = _span()
    name_span: Span | None = _span()


@node
class Attribute:
    name: str
    value: Literal
    span: Span | None = _span()          # the attribute's name


@node
class Attributes:
    """`attributes { code: "P001", cost: 12.5 }`: the offer's typed constants."""
    items: tuple[Attribute, ...]
    span: Span | None = _span()


OfferProp = Union[Eligible, Channels, Priority, Category, Capacity, Valid, Holdout, Attributes, ArmOf]
PROP_WORDS = {Eligible: "eligible", Channels: "channels", Priority: "priority", Category: "category",
              Capacity: "capacity", Valid: "valid", Holdout: "holdout", Attributes: "attributes", ArmOf: "arm"}


@node
class Offer:
    name: str
    label: str | None
    props: tuple[OfferProp, ...]
    span: Span | None = _span()


@node
class MaxRule:
    count: Number
    span: Span | None = _span()


@node
class OnePerCategory:
    span: Span | None = _span()


@node
class Exclusive:
    offers: tuple[str, ...]
    span: Span | None = _span()
    name_spans: tuple[Span, ...] = _span()


@node
class ChannelCapacity:
    """`capacity CHANNEL N`: at most N customers contacted through the channel in a run."""
    channel: str
    count: Number | Name          # a Name: an int param (LANGUAGE.md 3.11)
    span: Span | None = _span()
    name_span: Span | None = _span()


@node
class Quota:
    """`quota CATEGORY N`: at most N offers of the category given in a run."""
    category: str
    count: Number | Name          # a Name: an int param
    span: Span | None = _span()
    name_span: Span | None = _span()


@node
class Budget:
    """`budget B cost EXPR`: the offers given cost at most B in a run; EXPR
    is `offer.ATTR` (a constant per offer) or computed per customer."""
    amount: Number | Name         # a Name: an int or float param
    cost: Expr                      # as written: `offer.ATTR`, `offer.rate * arpu` ...
    span: Span | None = _span()
    cost_span: Span | None = _span()


@node
class Fallback:
    """`fallback OFFER`: the offer a customer gets when no other is accepted."""
    offer: str
    span: Span | None = _span()
    name_span: Span | None = _span()


@node
class Maximize:
    """`maximize priority` (LANGUAGE.md 6.7); `what` as written, checked later."""
    what: str
    span: Span | None = _span()
    what_span: Span | None = _span()


Rule = Union[MaxRule, OnePerCategory, Exclusive, ChannelCapacity, Quota, Budget, Fallback, Maximize]


@node
class Arbitrate:
    rules: tuple[Rule, ...]
    span: Span | None = _span()          # the `arbitrate` keyword


# ---------------------------------------------------------------- tests

@node
class AsOf:
    date: DateLit
    span: Span | None = _span()


@node
class With:
    name: str
    value: Literal | ListLit
    span: Span | None = _span()          # the param's name


@node
class GivenField:
    name: str
    value: Literal
    span: Span | None = _span()          # the field's name


@node
class Given:
    fields: tuple[GivenField, ...]
    span: Span | None = _span()
    history: str | None = None           # `given contacts { ... }`: one event (section 12)
    history_span: Span | None = _span()


@node
class ExpectOffer:
    offer: str
    via: str | None = None
    rank: Number | None = None
    negated: bool = False                # `expect not offer O`
    span: Span | None = _span()          # the whole expectation
    offer_span: Span | None = _span()
    via_span: Span | None = _span()


@node
class ExpectNoOffer:
    span: Span | None = _span()


@node
class ExpectExpr:
    expr: Expr
    span: Span | None = _span()


@node
class ExpectArm:
    """`expect arm EXPERIMENT.ARM`, or `expect control EXPERIMENT` (arm None)."""
    experiment: str
    arm: str | None
    span: Span | None = _span()
    name_span: Span | None = _span()


TestItem = Union[AsOf, With, Given, ExpectOffer, ExpectNoOffer, ExpectExpr, ExpectArm]


@node
class Test:
    name: str
    items: tuple[TestItem, ...]
    span: Span | None = _span()          # the test's name


Decl = Union[Header, Import, Carry, Population, Input, History, Param, Let, Segment, Classify, Score, Channel, Offer,
             Arbitrate, Test, Experiment, Contact]


@node
class File:
    """One parsed file: its declarations in the order written."""
    path: str = field(compare=False)
    items: tuple[Decl, ...] = ()
