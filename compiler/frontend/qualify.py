"""Qualified imports: a loaded Unit -> the same Unit with every declaration
under its one canonical name (LANGUAGE.md section 3.2).

`import "x.pol" as q` makes x.pol's names read `q.name` in the importing
file (and `r.q.name` in a file that imports that one as `r`); `without
offers` leaves x.pol's offers out. An import under a name, or without
offers, also leaves out the file's arbitrate block and tests: they are
about that file run on its own. A plain import keeps its old meaning: the
file's declarations join the importer's names.

A file reached along several paths is one file; the name its declarations
have in outputs, explain and messages is the one with the fewest
qualifiers (the first such path in import order). Fields are never
qualified: the input blocks of all files describe one record.

Renaming happens only in files reached under a name: the checker then sees
one namespace of canonical names. Names a file cannot see stay
unresolved under its qualifier, so an imported file never reads a name of
the file that imports it by accident.

Codes: E-NAME-002 (one name, two declarations, seen through imports).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pol.compiler.frontend.digraph import DiGraph, topological_order
from pol.compiler.frontend.resolve import FileInfo, FileKey, Unit
from pol.dsl import ast, expr_walk
from pol.dsl.diagnostics import Diagnostics

DECLS = (ast.Param, ast.Let, ast.Segment, ast.Classify, ast.Score, ast.Channel, ast.Offer, ast.Experiment)
Declared = ast.Param | ast.Let | ast.Segment | ast.Classify | ast.Score | ast.Channel | ast.Offer | ast.Experiment
_MAX_PATHS = 64      # ways one file is reached that are followed (a diamond of diamonds stays small)


def qualify(unit: Unit, diags: Diagnostics) -> None:
    infos = unit.infos
    if not infos:
        return
    keys = list(infos)
    order = {k: n for n, k in enumerate(keys)}
    g = DiGraph()
    for k in keys:
        g.add_node(k)
    for k, info in infos.items():
        for _, target in info.edges:
            g.add_edge(k, target)
    # per file, the ways it is reached: (prefix, offers kept, arbitrate and tests kept)
    states: dict[FileKey, list[tuple[str, bool, bool]]] = {k: [] for k in keys}
    states[keys[0]].append(("", True, True))
    for k in topological_order(g, key=lambda k: order[k]):
        for prefix, offers, full in states[k]:
            for imp, target in infos[k].edges:
                q = imp.qualifier
                st = (prefix + (q + "." if q else ""), offers and not imp.without_offers,
                      full and q is None and not imp.without_offers)
                if st not in states[target] and len(states[target]) < _MAX_PATHS:
                    states[target].append(st)
    prefix_of = {k: min((p for p, _, _ in sts), key=lambda p: p.count("."), default="")
              for k, sts in states.items()}
    offers_in = {k: any(o for _, o, _ in sts) for k, sts in states.items()}
    full_in = {k: any(f for _, _, f in sts) for k, sts in states.items()}

    canon: dict[int, str] = {}
    alias: dict[str, list[Declared]] = {}
    for item, k in zip(unit.items, unit.owner):
        if not isinstance(item, DECLS) or (isinstance(item, ast.Offer) and not offers_in[k]):
            continue
        canon[id(item)] = prefix_of[k] + item.name
        for p in dict.fromkeys(p for p, _, _ in states[k]):
            seen = alias.setdefault(p + item.name, [])
            if not any(x is item for x in seen):
                seen.append(item)
    _report_clashes(alias, canon, diags)
    fields = {f.name for item in unit.items if isinstance(item, ast.Input) for f in item.fields}

    items: list[ast.Decl] = []
    owner: list[FileKey] = []
    for item, k in zip(unit.items, unit.owner):
        if isinstance(item, ast.Offer) and not offers_in[k]:
            continue
        if isinstance(item, (ast.Arbitrate, ast.Test, ast.Population)) and not full_in[k]:
            continue
        if prefix_of[k] and isinstance(item, DECLS):
            item = _renamed(item, canon[id(item)], _resolver(prefix_of[k], alias, canon, fields))
        elif prefix_of[k] and isinstance(item, ast.Contact):       # its channels, as its file names them
            r = _resolver(prefix_of[k], alias, canon, fields)
            item = dataclasses.replace(item, rules=tuple(
                dataclasses.replace(x, channel=r(x.channel)) if isinstance(x, (ast.Limit, ast.Quiet)) else x
                for x in item.rules))
        items.append(item)
        owner.append(k)
    unit.items, unit.owner = items, owner
    for item, k in zip(items, owner):
        if isinstance(item, ast.Offer):
            unit.campaign[item.name] = campaign_of(infos[k])


def campaign_of(info: FileInfo) -> str:
    """The campaign an offer belongs to: its file's `policy` name, else the file's name."""
    if info.header is not None:
        return info.header.name
    name = info.path.replace("\\", "/").rsplit("/", 1)[-1]
    return name[:-4] if name.endswith(".pol") else name


def _report_clashes(alias: dict[str, list[Declared]], canon: dict[int, str], diags: Diagnostics) -> None:
    # Two declarations with one canonical name are reported by the namespace
    # (resolve.namespace); here, those that only meet under an alias.
    for name, ds in alias.items():
        first = ds[0]
        for d in ds[1:]:
            if canon[id(d)] != canon[id(first)]:
                diags.add("E-NAME-002", f"'{name}' names two declarations", d.span,
                          "two imported files declare it: import one of them under a name "
                          "(import \"...\" as NAME) and write NAME." + name.rsplit(".", 1)[-1],
                          related=((first.span, f"'{name}' is also declared here"),))


def _resolver(prefix: str, alias: dict[str, list[Declared]], canon: dict[int, str],
              fields: set[str]) -> Callable[[str], str]:
    def resolve(name: str) -> str:
        if name.startswith("offer."):
            return name
        ds = alias.get(prefix + name)
        if ds:
            return canon[id(ds[0])]
        return name if name in fields else prefix + name
    return resolve


def _renamed(d: Declared, name: str, r: Callable[[str], str]) -> Declared:
    replace = dataclasses.replace
    if isinstance(d, ast.Param):
        return replace(d, name=name, arms=tuple(replace(a, experiment=r(a.experiment)) for a in d.arms))
    if isinstance(d, ast.Experiment):
        return replace(d, name=name)
    if isinstance(d, (ast.Let, ast.Segment, ast.Score)):
        return replace(d, name=name, expr=rename_expr(d.expr, r))
    if isinstance(d, ast.Classify):
        return replace(d, name=name, whens=tuple(replace(w, cond=rename_expr(w.cond, r)) for w in d.whens))
    if isinstance(d, ast.Channel):
        return replace(d, name=name, cond=rename_expr(d.cond, r) if d.cond is not None else None)
    props: list[ast.OfferProp] = []
    for p in d.props:
        if isinstance(p, (ast.Eligible, ast.Priority)):
            p = replace(p, expr=rename_expr(p.expr, r))
        elif isinstance(p, ast.Channels):
            p = replace(p, names=tuple(r(n) for n in p.names),
                        by=rename_expr(p.by, r) if p.by is not None else None)
        elif isinstance(p, ast.ArmOf):
            p = replace(p, experiment=r(p.experiment))
        props.append(p)
    return replace(d, name=name, props=tuple(props))


def rename_expr(e: ast.Expr, r: Callable[[str], str]) -> ast.Expr:
    """The expression with every name n read as r(n); on a stack of its own
    (an and-chain nests as deep as it is long)."""
    replace = dataclasses.replace
    out: list[ast.Expr] = []
    stack: list[tuple[ast.Expr, bool]] = [(e, False)]
    while stack:
        node, built = stack.pop()
        if isinstance(node, ast.Name):
            out.append(replace(node, name=r(node.name)))
            continue
        kids = expr_walk.children(node)
        if not kids:
            out.append(node)
            continue
        if not built:
            stack.append((node, True))
            stack.extend((k, False) for k in reversed(kids))
            continue
        new = out[-len(kids):]
        del out[-len(kids):]
        out.append(_rebuilt(node, new))
    return out[0]


def _rebuilt(node: ast.Expr, kids: list[ast.Expr]) -> ast.Expr:
    replace = dataclasses.replace
    if isinstance(node, ast.Unary):
        return replace(node, operand=kids[0])
    if isinstance(node, (ast.Binary, ast.Compare)):
        return replace(node, left=kids[0], right=kids[1])
    if isinstance(node, ast.Between):
        return replace(node, operand=kids[0], low=kids[1], high=kids[2])
    if isinstance(node, (ast.InList, ast.IsNull)):
        return replace(node, operand=kids[0])
    if isinstance(node, ast.Member):
        return replace(node, operand=kids[0], collection=kids[1])
    if isinstance(node, ast.If):
        return replace(node, cond=kids[0], then=kids[1], else_=kids[2])
    assert isinstance(node, ast.Call), node      # the last kind with children (expr_walk.children)
    return replace(node, args=tuple(kids))
