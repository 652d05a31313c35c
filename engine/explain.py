"""Explanations: one record -> why it got (or did not get) each offer, which
rule set each class, and the values used, as text a marketer reads.

Built on the reference evaluator: for a condition that failed, it walks the
condition's `and`/`or` tree to the parts that were false or null and shows
the field values behind them.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pol.compiler import ir
from pol.interp import Env, eval_expr, evaluate_row
from pol.matching import match_customer

_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "add": "+", "sub": "-",
           "mul": "*", "div": "/", "mod": "%"}


def show(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def text(e: ir.Expr) -> str:
    """An IR expression written back in the language, for reading."""
    if isinstance(e, ir.Literal):
        return show(e.value)
    if isinstance(e, (ir.FieldRef, ir.ParamRef, ir.DeclRef)):
        return e.name
    if isinstance(e, ir.Today):
        return "today"
    if isinstance(e, ir.If):
        return f"(if {text(e.cond)} then {text(e.then)} else {text(e.else_)})"
    if isinstance(e, ir.IsNull):
        return f"{text(e.operand)} is {'not ' if e.negated else ''}null"
    if isinstance(e, ir.InSet):
        return f"{text(e.operand)} {'not ' if e.negated else ''}in ({', '.join(show(v) for v in e.values)})"
    if e.op == "to_float":
        return text(e.args[0])
    if e.op in _SYMBOL:
        return f"{text(e.args[0])} {_SYMBOL[e.op]} {text(e.args[1])}"
    if e.op in ("and", "or"):
        return f"({text(e.args[0])} {e.op} {text(e.args[1])})"
    if e.op == "not":
        return f"not {text(e.args[0])}"
    if e.op == "neg":
        return f"-{text(e.args[0])}"
    if e.op == "between":
        return f"{text(e.args[0])} between {text(e.args[1])} and {text(e.args[2])}"
    return f"{e.op}({', '.join(text(a) for a in e.args)})"


def names_in(e: ir.Expr) -> list[str]:
    out = []
    for node in ir.walk(e):
        if isinstance(node, (ir.FieldRef, ir.ParamRef, ir.DeclRef)) and node.name not in out:
            out.append(node.name)
    return out


def failing_parts(e: ir.Expr, env: Env) -> list[ir.Expr]:
    """The smallest parts of a condition that made it false or null."""
    v = eval_expr(e, env)
    if v is True:
        return []
    if isinstance(e, ir.Call) and e.op == "and":
        parts = [p for a in e.args if eval_expr(a, env) is not True for p in failing_parts(a, env)]
        return parts or [e]
    if isinstance(e, ir.Call) and e.op == "or":
        return [p for a in e.args for p in failing_parts(a, env)] or [e]
    return [e]


def _why(e: ir.Expr, env: Env) -> str:
    parts = []
    for p in failing_parts(e, env):
        v = eval_expr(p, env)
        values = ", ".join(f"{n} = {show(_value(n, env))}" for n in names_in(p))
        parts.append(f"{text(p)} is {show(v)}" + (f" ({values})" if values else ""))
    return "; ".join(parts)


def _value(name: str, env: Env):
    for d in (env.decls, env.fields, env.params):
        if name in d:
            return d[name]
    return None


@dataclass
class Explanation:
    lines: list[str]

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _name(d) -> str:
    return f"{d.name} {d.label}" if getattr(d, "label", None) else d.name


def explain(program: ir.Program, record: dict, as_of: dt.date, params: dict) -> Explanation:
    row = evaluate_row(program, record, as_of, params)
    env = row.env
    key = record.get(program.input.key)
    accepted, lost = match_customer(program, row, key)
    out = [f"customer {program.input.key} = {show(key)}, as of {as_of.isoformat()}", ""]
    used = []
    for e in _all_exprs(program):
        for node in ir.walk(e):
            if isinstance(node, ir.FieldRef) and node.name not in used:
                used.append(node.name)
    out.append("Values used:")
    out += [f"  {n} = {show(env.fields.get(n))}" for n in (f.name for f in program.input.fields) if n in used]
    if program.segments:
        out += ["", "Segments:"]
        out += [f"  {_name(s)}: {'yes' if row.values[s.name] else 'no'}" for s in program.segments]
    for c in program.classifies:
        k = row.matched[c.name]
        if k is None:
            how = "no rule matched and there is no else"
        elif k == -1:
            how = "no 'when' matched, so the else"
        else:
            w = c.whens[k]
            how = f"matched 'when {text(w.cond)}'" + (f" (line {w.span.line})" if w.span else "")
        out += ["", f"{_name(c)} = {show(row.values[c.name])}: {how}"]
    if program.scores:
        out += ["", "Scores:"]
        out += [f"  {_name(s)} = {show(row.values[s.name])}" for s in program.scores]
    out += ["", "Offers:"]
    acc = {a.offer: a for a in accepted}
    lost_by = {x.offer: x for x in lost}
    for o in program.offers:
        s = row.offers[o.name]
        if o.name in acc:
            a = acc[o.name]
            ctl = " (holdout control: do not contact)" if a.control else ""
            out.append(f"  {_name(o)}: accepted, rank {a.rank}, via {a.channel}, priority {show(a.priority)}{ctl}")
            continue
        if not s.in_window:
            window = f"{o.valid_from or '...'} to {o.valid_to or '...'}"
            why = f"outside its valid window ({window})"
        elif s.eligible is not True:
            why = f"not eligible: {_why(o.eligible, env)}"
        elif s.priority is None:
            why = f"priority is null: {text(o.priority)} ({', '.join(f'{n} = {show(_value(n, env))}' for n in names_in(o.priority))})"
        elif s.channel is None:
            closed = []
            for cname in o.channels:
                ch = next(c for c in program.channels if c.name == cname)
                closed.append(f"{cname}: {_why(ch.cond, env)}" if ch.cond is not None else f"{cname}: closed")
            why = "no open channel (" + "; ".join(closed) + ")"
        else:
            x = lost_by[o.name]
            rule = {"max": f"max {program.arbitrate.max_per_customer} per customer",
                    "category": f"one per category ({o.category})", "exclusive": "exclusive"}[x.reason]
            taker = f" to {x.to}" if x.to else ""
            why = f"lost under {rule}{taker} (priority {show(s.priority)})"
        out.append(f"  {_name(o)}: {why}")
    return Explanation(out)


def _all_exprs(program: ir.Program):
    from pol.compiler.plan import program_exprs
    return program_exprs(program)
