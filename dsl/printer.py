"""Printing: ast.File (or one expression) -> policy source text.

The text parses back to an equal tree: parentheses are written exactly
where precedence and left associativity need them (the tree keeps no
parentheses of its own), strings are escaped, numbers and dates keep the
text they were written with. Layout is canonical: one declaration per
line, bodies indented by four spaces. `print_file` drops comments; the
formatter (dsl/fmt.py) lays out the same pieces (`declaration`, `prop`,
`rule`, `test_item`, `expr`) around the comments of a source file.
"""
from __future__ import annotations

from pol.dsl import ast

# Precedence levels of LANGUAGE.md section 4; higher binds tighter.
IF, OR, AND, NOT, COMPARE, SUM, PRODUCT, NEGATE, ATOM = range(1, 10)
_BINARY = {"or": OR, "and": AND, "+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "%": PRODUCT}
# Words that `expect` reads as the start of `expect offer` / `expect no offer`.
_EXPECT_WORDS = ("offer", "no", "arm", "control")


def level(e) -> int:
    if isinstance(e, ast.If):
        return IF
    if isinstance(e, ast.Binary):
        return _BINARY[e.op]
    if isinstance(e, ast.Unary):
        return NOT if e.op == "not" else NEGATE
    if isinstance(e, (ast.Compare, ast.Between, ast.InList, ast.Member, ast.IsNull)):
        return COMPARE
    return ATOM


def string(value: str) -> str:
    out = []
    for c in value:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif not c.isprintable() or c in "\u2028\u2029":
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else c)
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def literal(e) -> str:
    if isinstance(e, ast.Number):
        return e.text
    if isinstance(e, ast.String):
        return string(e.value)
    if isinstance(e, ast.DateLit):
        return e.text
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Null):
        return "null"
    if isinstance(e, ast.ListLit):
        return "[" + ", ".join(literal(v) for v in e.values) + "]"
    raise TypeError(f"not a literal: {type(e).__name__}")


def expr(e, context: int = IF) -> str:
    """The text of e, in parentheses when its level binds looser than `context`."""
    text = _expr(e)
    return f"({text})" if level(e) < context else text


def operand(parent, e, context: int) -> str:
    """An operand of a binary operator. An `and` inside an `or` is written in
    parentheses, though it binds tighter: that is how authors write it and how
    a reader checks it (the tree is the same either way)."""
    if parent.op == "or" and isinstance(e, ast.Binary) and e.op == "and":
        return f"({_expr(e)})"
    return expr(e, context)


def _expr(e) -> str:
    if isinstance(e, ast.Name):
        return e.name
    if isinstance(e, (ast.Number, ast.String, ast.DateLit, ast.Bool, ast.Null)):
        return literal(e)
    if isinstance(e, ast.Today):
        return "today"
    if isinstance(e, ast.If):
        return f"if {expr(e.cond)} then {expr(e.then)} else {expr(e.else_)}"
    if isinstance(e, ast.Binary):
        lv = _BINARY[e.op]
        # left associative: a right operand of the same level needs parentheses
        return f"{operand(e, e.left, lv)} {e.op} {operand(e, e.right, lv + 1)}"
    if isinstance(e, ast.Unary):
        if e.op == "not":
            return f"not {expr(e.operand, NOT)}"
        inner = expr(e.operand, NEGATE)
        # `- -x` and `- 5` read the same; the space keeps `--` from looking like a typo
        return f"-{inner}" if not inner.startswith("-") else f"- {inner}"
    if isinstance(e, ast.Compare):
        return f"{expr(e.left, SUM)} {e.op} {expr(e.right, SUM)}"
    if isinstance(e, ast.Between):
        return f"{expr(e.operand, SUM)} between {expr(e.low, SUM)} and {expr(e.high, SUM)}"
    if isinstance(e, ast.InList):
        values = ", ".join(literal(v) for v in e.values)
        return f"{expr(e.operand, SUM)} {'not in' if e.negated else 'in'} ({values})"
    if isinstance(e, ast.Member):
        return f"{expr(e.operand, SUM)} {'not in' if e.negated else 'in'} {e.collection.name}"
    if isinstance(e, ast.IsNull):
        return f"{expr(e.operand, SUM)} is {'not null' if e.negated else 'null'}"
    if isinstance(e, ast.Call):
        return f"{e.name}({', '.join(expr(a) for a in e.args)})"
    if isinstance(e, ast.Aggregate):
        return f"{e.func}({aggregate_argument(e)})"
    raise TypeError(f"not an expression: {type(e).__name__}")


def aggregate_argument(e) -> str:
    """`contacts.cost where channel == "sms" within 7 days` (LANGUAGE.md section 12)."""
    text = e.history + (f".{e.field}" if e.field is not None else "")
    if e.where is not None:
        text += f" where {expr(e.where)}"
    if e.within is not None:
        text += f" within {e.within.text} days"
    return text


def label(text: str | None) -> str:
    """A declaration's label as written after its name: ' "离网预警"', or nothing."""
    return f" {string(text)}" if text is not None else ""


def _leftmost(e):
    while True:
        if isinstance(e, ast.Binary) or isinstance(e, ast.Compare):
            e = e.left
        elif isinstance(e, (ast.Between, ast.InList, ast.Member, ast.IsNull)):
            e = e.operand
        else:
            return e


def declaration(d) -> str:
    if isinstance(d, ast.Header):
        return f"policy {d.name}" + (f" version {string(d.version)}" if d.version is not None else "")
    if isinstance(d, ast.Import):
        return (f"import {string(d.path)}" + (f" as {d.qualifier}" if d.qualifier else "")
                + (" without offers" if d.without_offers else ""))
    if isinstance(d, ast.Carry):
        return "carry " + ", ".join(d.names)
    if isinstance(d, ast.Population):
        return "population from offers" if d.cond is None else f"population when {expr(d.cond)}"
    if isinstance(d, ast.Input):
        fields = "".join(f"    {f.name}: {f.type_name}{'?' if f.nullable else ''}\n" for f in d.fields)
        return f"input {d.name} key {d.key} {{\n{fields}}}"
    if isinstance(d, ast.History):
        fields = "".join(f"    {f.name}: {f.type_name}{'?' if f.nullable else ''}\n" for f in d.fields)
        return f"history {d.name} key {d.key} at {d.at} {{\n{fields}}}"
    if isinstance(d, ast.Param):
        arms = (" { " + ", ".join(f"{a.experiment}.{a.arm}: {literal(a.value)}" for a in d.arms) + " }"
                if d.arms else "")
        return f"param {d.name}: {d.type_name} = {literal(d.default)}{arms}"
    if isinstance(d, ast.Experiment):
        salt = f" salt {string(d.salt)}" if d.salt is not None else ""
        lines = [f"experiment {d.name}{label(d.label)}{salt} {{"]
        lines += [f"    arm {s.arm} {s.percent.text}" if s.arm is not None else f"    control {s.percent.text}"
                  for s in d.shares]
        return "\n".join(lines + ["}"])
    if isinstance(d, ast.Let):
        return f"let {d.name} = {expr(d.expr)}"
    if isinstance(d, ast.Segment):
        return f"segment {d.name}{label(d.label)} = {expr(d.expr)}"
    if isinstance(d, ast.Score):
        return f"score {d.name}{label(d.label)} = {expr(d.expr)}"
    if isinstance(d, ast.Classify):
        lines = [f"classify {d.name}{label(d.label)} {{"]
        lines += [f"    when {expr(w.cond)} => {string(w.value)}" for w in d.whens]
        if d.default is not None:
            lines.append(f"    else => {string(d.default)}")
        return "\n".join(lines + ["}"])
    if isinstance(d, ast.Channel):
        return f"channel {d.name}{label(d.label)}" + (f" when {expr(d.cond)}" if d.cond is not None else "")
    if isinstance(d, ast.Offer):
        lines = [f"offer {d.name}{label(d.label)} {{"]
        lines += [f"    {prop(p)}" for p in d.props]
        return "\n".join(lines + ["}"])
    if isinstance(d, ast.Contact):
        return "\n".join([f"contact {d.history} {{"] + [f"    {rule(r)}" for r in d.rules] + ["}"])
    if isinstance(d, ast.Arbitrate):
        return "\n".join(["arbitrate {"] + [f"    {rule(r)}" for r in d.rules] + ["}"])
    if isinstance(d, ast.Test):
        return "\n".join([f"test {string(d.name)} {{"] + [f"    {test_item(i)}" for i in d.items] + ["}"])
    raise TypeError(f"not a declaration: {type(d).__name__}")


def prop(p) -> str:
    if isinstance(p, ast.Eligible):
        return f"eligible when {expr(p.expr)}"
    if isinstance(p, ast.Channels):
        return "channels " + (f"by {p.by.name} then " if p.by is not None else "") + ", ".join(p.names)
    if isinstance(p, ast.Priority):
        return f"priority {expr(p.expr)}"
    if isinstance(p, ast.Category):
        return f"category {p.name}"
    if isinstance(p, ast.Capacity):
        return f"capacity {_written(p.count)}"
    if isinstance(p, ast.Valid):
        return "valid" + (f" from {_written(p.start)}" if p.start else "") + (f" to {_written(p.end)}" if p.end else "")
    if isinstance(p, ast.Holdout):
        return f"holdout {_written(p.percent)}" + (f" salt {string(p.salt)}" if p.salt is not None else "")
    if isinstance(p, ast.ArmOf):
        return f"arm {p.experiment}.{p.arm}"
    if isinstance(p, ast.Attributes):
        return "attributes { " + ", ".join(f"{a.name}: {literal(a.value)}" for a in p.items) + " }" \
            if p.items else "attributes { }"
    raise TypeError(f"not an offer property: {type(p).__name__}")


def _written(x) -> str:
    """A literal as written, or the param named in its place."""
    return x.name if isinstance(x, ast.Name) else x.text


def rule(r) -> str:
    if isinstance(r, ast.MaxRule):
        return f"max {r.count.text} per customer"
    if isinstance(r, ast.OnePerCategory):
        return "one per category"
    if isinstance(r, ast.ChannelCapacity):
        return f"capacity {r.channel} {_written(r.count)}"
    if isinstance(r, ast.Quota):
        return f"quota {r.category} {_written(r.count)}"
    if isinstance(r, ast.Budget):
        return f"budget {_written(r.amount)} cost {expr(r.cost)}"
    if isinstance(r, ast.Fallback):
        return f"fallback {r.offer}"
    if isinstance(r, ast.Maximize):
        return f"maximize {r.what}"
    if isinstance(r, ast.Limit):
        return f"limit {r.channel} to {r.count.text} within {r.within.text} days"
    if isinstance(r, ast.Quiet):
        return f"quiet {r.channel} from {r.start} to {r.end}"
    if isinstance(r, ast.Suppress):
        return f"suppress {r.attribute} after {r.count.text} refusals within {r.within.text} days"
    return "exclusive " + ", ".join(r.offers)


def test_item(i) -> str:
    if isinstance(i, ast.AsOf):
        return f"as of {i.date.text}"
    if isinstance(i, ast.With):
        return f"with {i.name} = {literal(i.value)}"
    if isinstance(i, ast.Given) and i.history is not None:
        return f"given {i.history} {{ " + ", ".join(given_field(g) for g in i.fields) + " }"
    if isinstance(i, ast.Given):
        return "given { " + ", ".join(given_field(g) for g in i.fields) + " }" if i.fields else "given { }"
    if isinstance(i, ast.ExpectOffer):
        if i.negated:
            return f"expect not offer {i.offer}"
        return (f"expect offer {i.offer}" + (f" via {i.via}" if i.via else "")
                + (f" rank {i.rank.text}" if i.rank is not None else ""))
    if isinstance(i, ast.ExpectNoOffer):
        return "expect no offer"
    if isinstance(i, ast.ExpectArm):
        return f"expect arm {i.experiment}.{i.arm}" if i.arm is not None else f"expect control {i.experiment}"
    return f"expect {expect_text(i.expr)}"


def given_field(g: ast.GivenField) -> str:
    return f"{g.name}: {literal(g.value)}"


def expect_wrapped(e) -> bool:
    """Whether `expect` needs its expression in parentheses: one that starts
    with the name `offer` or `no` would read as an offer expectation."""
    first = _leftmost(e)
    return isinstance(first, ast.Name) and first.name in _EXPECT_WORDS or (
        isinstance(e, ast.Unary) and e.op == "not" and isinstance(_leftmost(e.operand), ast.Name)
        and _leftmost(e.operand).name == "offer")


def expect_text(e) -> str:
    text = expr(e)
    return f"({text})" if expect_wrapped(e) else text


def print_file(f: ast.File) -> str:
    """The source of a whole file."""
    return "\n\n".join(declaration(d) for d in f.items) + "\n"
