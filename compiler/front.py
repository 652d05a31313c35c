"""The front end, end to end: a policy file or text -> checked ir.Program,
or pol.PolicyError carrying every diagnostic of the program."""
from __future__ import annotations

from pathlib import Path

import networkx as nx

from pol.compiler import ir
from pol.compiler.diagnostics import Diagnostics, PolicyError
from pol.compiler.names import check_names, collect, graph
from pol.compiler.typecheck import check
from pol.dsl.source import Source, Span


def _run(source: Source, base_dir: Path | None) -> tuple[ir.Program | None, Diagnostics]:
    diags = Diagnostics()
    decls = collect(source, diags, base_dir)
    if diags.errors:            # a file that does not parse: stop at syntax
        return None, diags
    space = check_names(decls, diags)
    program = check(decls, space, diags)
    return program, diags


def compile_text(text: str, name: str = "<string>", base_dir: str | Path | None = None) -> ir.Program:
    program, diags = _run(Source(name, text), Path(base_dir) if base_dir else None)
    diags.raise_if_errors()
    return program


def compile_path(path: str | Path) -> ir.Program:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError([_file_problem(str(path), "no such file")], {}) from None
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError([_file_problem(str(path), f"cannot read it: {e}")], {}) from None
    program, diags = _run(Source(str(path), text), p.parent)
    diags.raise_if_errors()
    return program


def check_path(path: str | Path) -> Diagnostics:
    """Every diagnostic of a file, errors and warnings, without raising."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        d = Diagnostics()
        d.items.append(_file_problem(str(path), "no such file" if isinstance(e, FileNotFoundError)
                                     else f"cannot read it: {e}"))
        return d
    return _run(Source(str(path), text), p.parent)[1]


def _file_problem(path: str, why: str):
    from pol.compiler.diagnostics import Diagnostic
    return Diagnostic("E-IMPORT-001", f"cannot open the policy: {why}", Span.point(path, 1, 1))


def dependency_graph(program_or_path) -> nx.DiGraph:
    """What depends on what: fields, params, lets, segments, classifications,
    scores, channels and offers; edge A -> B when B reads A."""
    p = Path(program_or_path)
    diags = Diagnostics()
    decls = collect(Source(str(p), p.read_text(encoding="utf-8")), diags, p.parent)
    diags.raise_if_errors()
    return graph(decls, check_names(decls, diags))
