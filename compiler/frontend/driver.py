"""The front end's entry points: a policy file or text -> checked ir.Program.

    compile_path(path, root=None)   -> ir.Program, or raises PolicyError with every error
    compile_text(text, name, base_dir)
    check_path(path, root=None) / check_text(...) -> Frontend: the program (or None) and
                                       every diagnostic, warnings included, without raising

Imports stay inside a root folder (compiler/frontend/resolve.py): for a file,
its own folder unless `root` names another that contains it; for text,
`base_dir` (default: the current folder), where its imports are looked for.

The stages: dsl/parser.py (text -> AST, syntax errors), compiler/frontend/resolve.py
(imports, one namespace, dependency graph, cycles), compiler/frontend/check.py (AST ->
typed IR, type errors), compiler/frontend/lint.py (warnings about what can match
nobody, on a program that checked; for check_path and check_text only, since
compile_path and compile_text show no warning). A program with a syntax or import error stops there:
type errors in a program that is not all there would mostly be echoes of it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pol.compiler import ir
from pol.compiler.frontend.check import check
from pol.compiler.frontend.qualify import qualify
from pol.compiler.frontend.resolve import Root, dependency_graph, load, namespace, read_source
from pol.compiler.nogc import no_cycle_collection
from pol.dsl.diagnostics import Diagnostic, Diagnostics
from pol.dsl.source import Source, Span

__all__ = ["compile_path", "compile_text", "check_path", "check_text", "dependency_graph", "Frontend"]


@dataclass
class Frontend:
    """The outcome of checking one policy."""
    program: ir.Program | None
    diagnostics: Diagnostics

    @property
    def ok(self) -> bool:
        return self.program is not None and not self.diagnostics.errors

    def checked(self) -> ir.Program:
        """The program; PolicyError with every diagnostic when there is none
        (a check that finds no error makes a program)."""
        self.diagnostics.raise_if_errors()
        assert self.program is not None, "no program, and no error to say why"
        return self.program


def _run(source: Source, folder: Path, real: Path | None, tree: Root, warnings: bool = True) -> Frontend:
    with no_cycle_collection():
        return _run_checks(source, folder, real, tree, warnings)


def _run_checks(source: Source, folder: Path, real: Path | None, tree: Root, warnings: bool) -> Frontend:
    diags = Diagnostics()
    try:
        unit = load(source, diags, folder, real, tree)
        if not unit.parsed or diags.errors:
            # a missing import would make every name it declares "unknown"
            return Frontend(None, diags)
        qualify(unit, diags)
        namespace(unit, diags)
        program = check(unit, diags)
        if warnings:
            # Only the check commands show warnings: compile_path and
            # compile_text (pol.load, pol run, pol test) give the program or
            # raise with its errors, so they neither lint nor import the linter.
            from pol.compiler.frontend.lint import lint
            lint(program, unit, diags)
    except RecursionError:
        # the checker follows an expression's nesting on Python's stack
        diags.sources.setdefault(source.path, source)
        diags.add("E-LIMIT-001", "an expression is nested too deeply to check", Span.point(source.path, 1, 1),
                  "split it into lets: let part = ... then use part")
        return Frontend(None, diags)
    return Frontend(program if not diags.errors else None, diags)


def check_text(text: str, name: str = "<string>", base_dir: str | Path | None = None,
               warnings: bool = True) -> Frontend:
    """Check policy text; its imports are found in, and stay inside, base_dir.
    `warnings`: lint the program that checked (compiler/frontend/lint.py)."""
    folder = Path(base_dir) if base_dir is not None else Path.cwd()
    tree = Root.of(folder, str(base_dir) if base_dir is not None else ".")
    return _run(Source(name, text), folder, None, tree, warnings)


def check_path(path: str | Path, root: str | Path | None = None, warnings: bool = True) -> Frontend:
    """Check a policy file; its imports stay inside `root` (default: the file's folder).
    `warnings`: lint the program that checked (compiler/frontend/lint.py)."""
    p = Path(path)
    if p.suffix != ".pol":
        # Not read at all: a diagnostic quotes the line it points at, and a
        # file that is not a policy (/etc/passwd) must never be quoted.
        diags = Diagnostics()
        diags.add("E-FILE-002", f"'{path}' is not a policy file: a policy's name ends in .pol",
                  Span.point(str(path), 1, 1), "rename the file to end in .pol")
        return Frontend(None, diags)
    try:
        source = read_source(p, str(path))
    except (OSError, UnicodeDecodeError) as e:
        diags = Diagnostics()
        diags.items.append(unreadable(str(path), e))
        return Frontend(None, diags)
    real = p.resolve()
    if root is None:
        tree = Root.of(real.parent, os.path.dirname(str(path)) or ".")
    else:
        tree = Root.of(root)
        if tree.real not in real.parents:
            diags = Diagnostics()
            # no excerpt: the file is not known to be a policy of the tree
            diags.add("E-IMPORT-004", f"the policy is outside its root folder '{root}'",
                      Span.point(str(path), 1, 1), "give a root folder that contains the policy")
            return Frontend(None, diags)
    return _run(source, real.parent, real, tree, warnings)


def unreadable(path: str, e: Exception) -> Diagnostic:
    if isinstance(e, FileNotFoundError):
        why = "no such file"
    elif isinstance(e, IsADirectoryError):
        why = "it is a folder"
    elif isinstance(e, UnicodeDecodeError):
        why = "it is not UTF-8 text"
    else:
        why = getattr(e, "strerror", None) or str(e)
    return Diagnostic("E-FILE-001", f"cannot read the policy: {why}", Span.point(path, 1, 1))


def compile_text(text: str, name: str = "<string>", base_dir: str | Path | None = None) -> ir.Program:
    """Check a policy given as text; imports resolve against base_dir (default: the current folder)."""
    return check_text(text, name, base_dir, warnings=False).checked()


def compile_path(path: str | Path, root: str | Path | None = None) -> ir.Program:
    """Check a policy file and everything it imports; imports stay inside
    `root` (default: the file's folder)."""
    return check_path(path, root, warnings=False).checked()
