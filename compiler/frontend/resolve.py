"""Resolution: a root Source -> Unit (every file parsed, imports expanded, one
namespace), and the dependency graph of names.

Imports resolve relative to the importing file and stay inside the policy's
root folder (the root file's folder, or one the caller gives): an absolute
path, a path or link that leads out of the root, or a file that is not a
`.pol` file is refused at the import before anything is read, so a
diagnostic never shows a line of a file that is not a policy of the tree.
Each file is read once; its declarations take the place of its first
`import`. A missing file, or an import that would close a cycle, is
reported at that import. Fields, params,
lets, segments, classifications, scores, channels and offers share one
namespace: a second declaration of a name is reported there, pointing back
at the first. A cycle among lets, segments, classifications and scores is
reported once, at its first-declared name, listing every name on it in order.

`dependency_graph(program)` gives the same graph for a checked ir.Program:
nodes are names (attribute `kind`), and an edge A -> B means B reads A.

The fields of every input block are one record: a field declared again with
the same type is that field, with another type an error at both places.
How `import ... as q` and `without offers` name and filter declarations is
compiler/frontend/qualify.py's job, between loading and the namespace.

Codes: E-IMPORT-001 (file not found), E-IMPORT-002 (import cycle),
E-IMPORT-003 (file unreadable), E-IMPORT-004 (outside the policy's root),
E-IMPORT-005 (not a .pol file), E-IMPORT-006 (an import named `offer`),
E-NAME-002 (duplicate name), E-DECL-006 (a field with two types), E-CYCLE-001.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pol.compiler import ir
from pol.compiler.frontend.digraph import DiGraph, strongly_connected_components, topological_order
from pol.dsl import ast, expr_walk
from pol.dsl.diagnostics import Diagnostics
from pol.dsl.parser import parse
from pol.dsl.source import Source, Span

if TYPE_CHECKING:
    import networkx as nx

# What a name can be declared as, in the words messages use.
KIND_WORDS = {ast.Field: "field", ast.Param: "param", ast.Let: "let", ast.Segment: "segment",
              ast.Classify: "classification", ast.Score: "score", ast.Channel: "channel",
              ast.Offer: "offer", ast.History: "history", ast.Experiment: "experiment"}
DERIVED = (ast.Let, ast.Segment, ast.Classify, ast.Score)
# What a name of the namespace is declared as.
Named = (ast.Field | ast.Param | ast.Let | ast.Segment | ast.Classify | ast.Score | ast.Channel | ast.Offer
         | ast.History | ast.Experiment)
# A file of a program: its real path, or the root Source's path when the root is a text.
FileKey = Path | str
# The declarations of a program, with the fields of input blocks: what `Unit.items` holds, but for imports.
Item = ast.Decl | ast.Field


@dataclass
class FileInfo:
    """One file of a program: its header, and what it imports how
    (compiler/frontend/qualify.py reads them)."""
    key: FileKey
    path: str                                    # as messages name it
    header: ast.Header | None = None
    edges: list[tuple[ast.Import, FileKey]] = field(default_factory=list)


@dataclass
class Unit:
    """Every declaration of a program before type checking."""
    root: str                                   # the root file's path as given
    header: ast.Header | None
    items: list[ast.Decl] = field(default_factory=list)   # in program order, imports expanded
    files: list[str] = field(default_factory=list)
    space: dict[str, Named] = field(default_factory=dict)   # name -> its (first) declaration
    parsed: bool = True                         # False when some file has a syntax error
    infos: dict[FileKey, FileInfo] = field(default_factory=dict)   # root first
    owner: list[FileKey] = field(default_factory=list)   # per item of `items`: the key of its file
    campaign: dict[str, str] = field(default_factory=dict)   # offer name -> the campaign it comes from


def read_source(path: Path, shown: str) -> Source:
    """A policy file as a Source; a byte-order mark is not part of the text."""
    text = path.read_text(encoding="utf-8")
    return Source(shown, text[1:] if text.startswith("\ufeff") else text)


@dataclass(frozen=True)
class Root:
    """The folder a policy's imports must stay in: `real` with links
    resolved, `shown` as messages name it."""
    real: Path
    shown: str

    @staticmethod
    def of(folder: str | Path, shown: str | None = None) -> Root:
        return Root(Path(os.path.realpath(folder)), str(folder) if shown is None else shown)


def load(root: Source, diags: Diagnostics, folder: Path, real: Path | None = None,
         tree: Root | None = None) -> Unit:
    """Parse the root and every file it imports, depth first, each once.

    `folder` is where the root's imports are looked for; `real` is the root's
    own file, if it has one, so that importing it back is seen as a cycle;
    `tree` is the folder no import may leave (default: `folder`).
    Imported files are named in messages by their path joined to the
    importer's path as written, so relative paths stay relative."""
    tree = tree or Root.of(folder, "." if folder == Path.cwd() else str(folder))
    unit = Unit(root.path, None)
    seen: set[Path] = {real} if real is not None else set()
    stack: list[tuple[Path | None, str]] = [(real, root.path)]

    def visit(source: Source, here: Path, shown_here: str, key: FileKey) -> None:
        diags.sources[source.path] = source
        unit.files.append(source.path)
        info = unit.infos[key] = FileInfo(key, source.path)
        file, problems = parse(source)
        diags.items.extend(problems)
        if problems:
            unit.parsed = False
        if file is None:
            return
        for item in file.items:
            if isinstance(item, ast.Header):
                if info.header is None:
                    info.header = item
                if source is root and unit.header is None:
                    unit.header = item
                continue
            if not isinstance(item, ast.Import):
                unit.items.append(item)
                unit.owner.append(key)
                continue
            if item.qualifier == "offer":
                diags.add("E-IMPORT-006", "an import cannot be named 'offer'", item.qualifier_span,
                          "offer.NAME reads an attribute of the offer being declared: choose another name")
                continue
            target = admit(item, here, tree, diags)
            if target is None:
                continue
            shown = os.path.normpath(os.path.join(shown_here, item.path))
            if any(p == target for p, _ in stack):
                start = next(k for k, (p, _) in enumerate(stack) if p == target)
                names = [s for _, s in stack[start:]] + [shown]
                diags.add("E-IMPORT-002", "import cycle: " + " -> ".join(names), item.span,
                          "a file cannot import itself, directly or through the files it imports")
                continue
            if target in seen:
                info.edges.append((item, target))
                continue
            if not target.exists():
                diags.add("E-IMPORT-001", f"cannot find the imported file '{item.path}'", item.span,
                          f"looked for {shown}; an import is relative to the file that contains it")
                continue
            if not target.is_file():
                # a folder, or a pipe or device that reading would wait on
                why = "it is a folder" if target.is_dir() else "it is not a regular file"
                diags.add("E-IMPORT-003", f"cannot read the imported file '{item.path}': {why}", item.span)
                continue
            try:
                imported = read_source(target, shown)
            except (OSError, UnicodeDecodeError) as e:
                why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or str(e)
                diags.add("E-IMPORT-003", f"cannot read the imported file '{item.path}': {why}", item.span)
                continue
            seen.add(target)
            info.edges.append((item, target))
            stack.append((target, shown))
            visit(imported, target.parent, os.path.dirname(shown), target)
            stack.pop()

    shown_folder = os.path.dirname(root.path) if real is not None else (
        "" if folder == Path.cwd() else str(folder))
    # Links resolved, so that what is inside the root compares as inside.
    visit(root, Path(os.path.realpath(folder)), shown_folder, real if real is not None else root.path)
    return unit


def admit(item: ast.Import, here: Path, tree: Root, diags: Diagnostics) -> Path | None:
    """The file an import names, links resolved, when it may be read: a .pol
    file inside the root. Otherwise a diagnostic at the import, which names
    the path as written and nothing of what is there."""
    written = item.path
    if os.path.isabs(written):
        diags.add("E-IMPORT-004", f"cannot import '{written}': an import cannot be an absolute path",
                  item.span, f"write the path relative to this file; imports stay inside the policy's "
                  f"root folder '{tree.shown}'")
        return None
    if not written.endswith(".pol"):
        diags.add("E-IMPORT-005", f"cannot import '{written}': it is not a .pol file", item.span,
                  "only policy files can be imported; a policy file's name ends in .pol")
        return None
    plain = Path(os.path.normpath(here / written))
    target = Path(os.path.realpath(here / written))
    if not _within(plain, tree.real):
        diags.add("E-IMPORT-004", f"cannot import '{written}': it is outside the policy's root folder",
                  item.span, f"imports stay inside the policy's root folder '{tree.shown}': move the file "
                  "into it, or give a root folder that holds both (pol check --root DIR)")
        return None
    if not _within(target, tree.real):
        diags.add("E-IMPORT-004", f"cannot import '{written}': it is a link to a file outside the policy's "
                  "root folder", item.span, f"imports stay inside the policy's root folder '{tree.shown}', "
                  "links included: copy the file into it")
        return None
    if target.suffix != ".pol":
        diags.add("E-IMPORT-005", f"cannot import '{written}': it is a link to a file that is not a .pol file",
                  item.span, "only policy files can be imported; a policy file's name ends in .pol")
        return None
    return target


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def namespace(unit: Unit, diags: Diagnostics) -> dict[str, Named]:
    """One namespace for fields, params, lets, segments, classifications,
    scores, channels and offers; a duplicate points back at the first.

    The fields of every input block are one record: a field declared again
    with the same type is the same field, with another type an error at both
    places (E-DECL-006)."""
    space: dict[str, Named] = {}
    decls = [d for d in _program_order(unit)
             if isinstance(d, (ast.Field, ast.Param, ast.Channel, ast.Offer, ast.History, ast.Experiment) + DERIVED)]
    for d in decls:
        prior = space.get(d.name)
        if prior is None:
            space[d.name] = d
            continue
        if isinstance(d, ast.Field) and isinstance(prior, ast.Field):
            if (d.type_name, d.nullable) != (prior.type_name, prior.nullable):
                diags.add("E-DECL-006", f"field '{d.name}' is declared as {_typed(d)} here and as "
                          f"{_typed(prior)} in another input block", d.type_span,
                          "the input blocks of a program describe one record: give the field one type "
                          "in both, or rename one",
                          related=((prior.type_span, f"'{d.name}' is declared as {_typed(prior)} here"),))
            continue
        hint = (f"the first is a {KIND_WORDS[type(prior)]}; give this {KIND_WORDS[type(d)]} another name"
                if "." not in d.name or _path(d.span) == _path(prior.span) else
                "two files imported under one name declare it: import them under different names")
        diags.add("E-NAME-002", f"'{d.name}' is declared twice", d.span, hint,
                  related=((prior.span, f"'{d.name}' is first declared here"),))
    unit.space = space
    return space


def _typed(f: ast.Field) -> str:
    return f"'{f.type_name}{'?' if f.nullable else ''}'"


def _path(span: Span | None) -> str | None:
    return span.path if span is not None else None


def _program_order(unit: Unit) -> Iterator[Item]:
    for item in unit.items:
        if isinstance(item, ast.Input):
            yield from item.fields
        else:
            yield item


# ---------------------------------------------------------------- dependencies

def reads(decl: Named) -> list[ast.Name]:
    """The names a declaration's expressions read, in the order written."""
    exprs: list[ast.Expr] = []
    if isinstance(decl, (ast.Let, ast.Segment, ast.Score)):
        exprs = [decl.expr]
    elif isinstance(decl, ast.Classify):
        exprs = [w.cond for w in decl.whens]
    elif isinstance(decl, ast.Channel):
        exprs = [decl.cond] if decl.cond is not None else []
    elif isinstance(decl, ast.Offer):
        exprs = [p.expr for p in decl.props if isinstance(p, (ast.Eligible, ast.Priority))]
        exprs += [p.by for p in decl.props if isinstance(p, ast.Channels) and p.by is not None]
    out: list[ast.Name] = []
    for e in exprs:
        out.extend(expr_walk.names(e))
    return out


def ast_graph(unit: Unit) -> DiGraph:
    """The dependency graph of the declarations (edge A -> B: B reads A)."""
    g = DiGraph()
    space = unit.space
    for name in space:
        g.add_node(name)
    for name, d in space.items():
        for ref in reads(d):
            if ref.name in space:
                g.add_edge(ref.name, name)
        if isinstance(d, ast.Offer):
            for p in d.props:
                if isinstance(p, ast.Channels):
                    for c in p.names:
                        if isinstance(space.get(c), ast.Channel):
                            g.add_edge(c, name)
    return g


def report_cycles(g: DiGraph, unit: Unit, diags: Diagnostics) -> set[str]:
    """Report each dependency cycle once; return every name on one."""
    index = {id(item): k for k, item in enumerate(unit.items)}
    space = unit.space
    derived = [n for n in g if isinstance(space.get(n), DERIVED)]
    sub = g.subgraph(derived)
    on_cycle: set[str] = set()
    for comp in strongly_connected_components(sub):
        if len(comp) == 1:
            (only,) = comp
            if not sub.has_edge(only, only):
                continue
        on_cycle |= comp
        start = min(comp, key=lambda n: index.get(id(space[n]), 0))
        path = _cycle_from(sub, comp, start)
        described = ", which uses ".join(f"'{n}'" for n in path[1:])
        diags.add("E-CYCLE-001", "dependency cycle: " + " -> ".join(path),
                  space[start].span,
                  f"'{path[0]}' uses {described}: a value cannot be computed from itself")
    return on_cycle


def _cycle_from(g: DiGraph, comp: set[str], start: str) -> list[str]:
    """The shortest path start -> ... -> start following what each name reads."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(g.predecessors(node)):      # node reads nxt
            if nxt not in comp:
                continue
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [start] + list(reversed(path))[1:] + [start] if node != start else [start, start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return [start, start]


def derived_order(g: DiGraph, unit: Unit, skip: set[str]) -> list[str]:
    """Lets, segments, classifications and scores, each after what it reads;
    ties keep declaration order."""
    index = {item.name: k for k, item in enumerate(unit.items)
             if isinstance(item, DERIVED) and unit.space.get(item.name) is item}
    sub = g.subgraph([n for n in index if n not in skip])
    return topological_order(sub, key=lambda n: index[n])


def dependency_graph(program: ir.Program) -> nx.DiGraph:
    """What depends on what in a checked program: fields, params, lets,
    segments, classifications, scores, channels and offers; edge A -> B when
    B reads A. A networkx graph, for `pol graph` (checking does without)."""
    import networkx as nx
    g = nx.DiGraph()
    for f in program.input.fields:
        g.add_node(f.name, kind="field")
    for p in program.params:
        g.add_node(p.name, kind="param")
    bodies: list[tuple[str, str, list[ir.Expr]]] = []
    bodies += [(d.name, "let", [d.expr]) for d in program.lets]
    bodies += [(d.name, "segment", [d.expr]) for d in program.segments]
    bodies += [(d.name, "classify", [w.cond for w in d.whens]) for d in program.classifies]
    bodies += [(d.name, "score", [d.expr]) for d in program.shown_scores]
    for c in program.channels:
        bodies.append((c.name, "channel", [c.cond] if c.cond is not None else []))
    for o in program.offers:
        bodies.append((o.name, "offer", [o.eligible, o.priority] + ([o.prefer] if o.prefer is not None else [])))
    for name, kind, _ in bodies:
        g.add_node(name, kind=kind)
    for name, _, exprs in bodies:
        for e in exprs:
            for node in ir.walk(e):
                if isinstance(node, (ir.FieldRef, ir.ParamRef, ir.DeclRef)):
                    g.add_edge(node.name, name)
    for o in program.offers:
        for channel in o.channels:
            g.add_edge(channel, o.name)
    return g
