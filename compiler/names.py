"""Resolution: a root file -> every declaration of the program in order,
imports expanded, names checked; and the dependency graph.

Imports resolve relative to the importing file; each file is included once,
at its first import. A missing file or an import cycle is reported at the
import. Names share one namespace; a duplicate is reported at the second
declaration, with the first as a related place.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from pol.compiler.diagnostics import Diagnostics
from pol.dsl import nodes as n
from pol.dsl.parse import parse
from pol.dsl.source import Source, Span

RESERVED = frozenset("and or not in is null true false if then else between today".split())
NAMED = (n.Input, n.Param, n.Let, n.Segment, n.Classify, n.Score, n.Channel, n.Offer)
KIND = {n.Param: "param", n.Let: "let", n.Segment: "segment", n.Classify: "classify",
        n.Score: "score", n.Channel: "channel", n.Offer: "offer"}


@dataclass
class Declarations:
    header: n.Header | None
    items: list            # declarations of every file, imports expanded, in program order
    files: list[str]


def _display(path: Path, root_dir: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def collect(root: Source, diags: Diagnostics, base_dir: Path | None = None) -> Declarations | None:
    """Parse the root and everything it imports."""
    items: list = []
    files: list[str] = []
    seen: set[Path] = set()
    header = None

    def visit(source: Source, real: Path | None, stack: list[Path]) -> None:
        nonlocal header
        diags.sources[source.path] = source
        files.append(source.path)
        tree, err = parse(source)
        if err is not None:
            diags.items.append(err)
            return
        if header is None and not stack:
            header = tree.header
        here = real.parent if real is not None else (base_dir or Path.cwd())
        for item in tree.items:
            if not isinstance(item, n.Import):
                items.append(item)
                continue
            target = (here / item.path).resolve()
            if target in stack or target == real:
                chain = " -> ".join(_display(p, here) for p in [*stack, real, target] if p is not None)
                diags.add("E-IMPORT-002", f"import cycle: {chain}", item.span,
                          "a file cannot import itself, directly or through others")
                continue
            if target in seen:
                continue
            if not target.is_file():
                diags.add("E-IMPORT-001", f"cannot find the imported file '{item.path}'", item.span,
                          f"looked for {_display(target, here)}; paths are relative to the importing file")
                continue
            seen.add(target)
            try:
                text = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                diags.add("E-IMPORT-001", f"cannot read the imported file '{item.path}': {e}", item.span)
                continue
            visit(Source(_display(target, here), text), target, [*stack, real] if real else stack)

    real_root = Path(root.path).resolve() if Path(root.path).is_file() else None
    if real_root is not None:
        seen.add(real_root)
    visit(root, real_root, [])
    return Declarations(header, items, files)


def check_names(decls: Declarations, diags: Diagnostics) -> dict[str, object]:
    """The namespace: name -> declaration (first wins), with fields as FieldDecl."""
    space: dict[str, object] = {}

    def declare(name: str, node, span: Span) -> None:
        if name in RESERVED:
            diags.add("E-NAME-003", f"'{name}' is a reserved word and cannot be a name", span,
                      f"choose another name, e.g. '{name}_'")
            return
        if name in space:
            first = space[name]
            diags.add("E-NAME-002", f"'{name}' is declared twice", span,
                      "names of fields, params, lets, segments, classifications, scores, channels "
                      "and offers share one namespace; rename one of them",
                      related=((first.span, f"'{name}' is first declared here"),))
            return
        space[name] = node

    for item in decls.items:
        if isinstance(item, n.Input):
            for f in item.fields:
                declare(f.name, f, f.span)
        elif isinstance(item, NAMED):
            declare(item.name, item, item.span)
    return space


def references(expr) -> list[n.Name]:
    """Every name an AST expression reads (function names excluded)."""
    out: list[n.Name] = []
    stack = [expr]
    while stack:
        e = stack.pop()
        if e is None:
            continue
        if isinstance(e, n.Name):
            out.append(e)
        elif isinstance(e, n.Call):
            stack.extend(e.args)
        elif isinstance(e, n.Unary):
            stack.append(e.operand)
        elif isinstance(e, (n.Binary, n.Compare)):
            stack += [e.left, e.right]
        elif isinstance(e, n.Between):
            stack += [e.operand, e.low, e.high]
        elif isinstance(e, (n.In, n.IsNull)):
            stack.append(e.operand)
        elif isinstance(e, n.If):
            stack += [e.cond, e.then, e.else_]
        elif isinstance(e, n.Paren):
            stack.append(e.inner)
    return out


def item_exprs(item) -> list:
    if isinstance(item, (n.Let, n.Segment, n.Score)):
        return [item.expr]
    if isinstance(item, n.Classify):
        return [w.cond for w in item.whens]
    if isinstance(item, n.Channel):
        return [item.cond] if item.cond is not None else []
    if isinstance(item, n.Offer):
        return [p.value for p in item.props if p.kind in ("eligible", "priority")]
    return []


def graph(decls: Declarations, space: dict) -> nx.DiGraph:
    """Edge A -> B when B reads A (an offer also reads its channels)."""
    g = nx.DiGraph()
    for item in decls.items:
        if isinstance(item, n.Input):
            for f in item.fields:
                g.add_node(f.name, kind="field")
        elif isinstance(item, NAMED):
            g.add_node(item.name, kind=KIND[type(item)])
    for item in decls.items:
        if not isinstance(item, NAMED) or isinstance(item, n.Input) or space.get(item.name) is not item:
            continue
        for e in item_exprs(item):
            for ref in references(e):
                if ref.id in space:
                    g.add_edge(ref.id, item.name)
        if isinstance(item, n.Offer):
            for p in item.props:
                if p.kind == "channels":
                    for c in p.value:
                        if c in space:
                            g.add_edge(c, item.name)
    return g


def report_cycles(g: nx.DiGraph, space: dict, diags: Diagnostics) -> set[str]:
    """Each dependency cycle once, with its names in order; returns the names on cycles."""
    on_cycle: set[str] = set()
    for comp in nx.strongly_connected_components(g):
        members = sorted(comp, key=lambda name: space[name].span.sort_key() if hasattr(space[name].span, "sort_key") else (space[name].span.line, space[name].span.col))
        if len(comp) == 1 and not g.has_edge(members[0], members[0]):
            continue
        on_cycle |= comp
        start = members[0]
        cycle = nx.find_cycle(g.subgraph(comp), source=start)
        names = [u for u, _ in cycle] + [start]
        diags.add("E-CYCLE-001", f"dependency cycle: {' -> '.join(names)}", space[start].span,
                  "each of these is computed from the next; break the loop by computing one of them "
                  "from input fields only")
    return on_cycle
