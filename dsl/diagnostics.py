"""Diagnostics: one type for every problem in a policy, and how it is shown.

Rendered like a compiler (LANGUAGE.md section 10):

    policies/youth.pol:12:17: error[E-TYPE-014]: cannot compare int with string
       12 |     when age > "18"
          |                ^^^^
       hint: write the number without quotes: 18
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from pol.dsl.source import Source, Span


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    hint: str | None = None
    severity: str = "error"
    # Other places worth showing, e.g. the first declaration of a duplicate.
    related: tuple[tuple[Span, str], ...] = ()

    @property
    def file(self) -> str:
        return self.span.path

    @property
    def line(self) -> int:
        return self.span.line

    @property
    def column(self) -> int:
        return self.span.col

    def sort_key(self):
        return (self.span.path, self.span.line, self.span.col, self.code)


# A longer line is shown around the caret, cut with "...": a generated
# policy may hold a line of megabytes, which would otherwise be printed whole.
_WIDTH = 160


def _excerpt(span: Span, sources: Mapping[str, Source]) -> list[str]:
    src = sources.get(span.path)
    if src is None:
        return []
    text = src.line(span.line).replace("\t", " ")
    width = len(str(span.line))
    end = span.end_col if span.end_line == span.line else len(text) + 1
    col = max(span.col, 1)
    carets = max(1, min(end, len(text) + 1) - col)
    if len(text) > _WIDTH:
        col = min(col, len(text) + 1)
        start = max(0, min(col - 1 - _WIDTH // 4, len(text) - _WIDTH))
        lead = "..." if start > 0 else ""
        tail = "..." if start + _WIDTH < len(text) else ""
        text = lead + text[start:start + _WIDTH] + tail
        col += len(lead) - start
        carets = max(1, min(carets, len(lead) + _WIDTH + 1 - col))
    gutter = " " * width
    return [
        f"   {span.line} | {text}",
        f"   {gutter} | {' ' * (col - 1)}{'^' * carets}",
    ]


def render(diagnostic: Diagnostic, sources: Mapping[str, Source]) -> str:
    d = diagnostic
    lines = [f"{d.span}: {d.severity}[{d.code}]: {d.message}"]
    lines += _excerpt(d.span, sources)
    for span, note in d.related:
        lines.append(f"   note: {note} at {span}")
        lines += _excerpt(span, sources)
    if d.hint:
        lines.append(f"   hint: {d.hint}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic], sources: Mapping[str, Source]) -> str:
    ds = sorted(diagnostics, key=Diagnostic.sort_key)
    body = "\n\n".join(render(d, sources) for d in ds)
    errors = sum(1 for d in ds if d.severity == "error")
    summary = f"{errors} error{'s' if errors != 1 else ''}"
    return f"{body}\n\n{summary}" if ds else ""


# Other places worth showing, as the checker finds them: a node's span is
# optional in the syntax tree (a tree built by hand has none).
Related = tuple[tuple[Span | None, str], ...]


def placed(span: Span | None) -> Span:
    """The span of a node being reported on. Every node of a parsed tree has
    one; a diagnostic about a node built without one has nowhere to point."""
    if span is None:
        raise ValueError("a diagnostic about a syntax tree node without a position")
    return span


@dataclass
class Diagnostics:
    """A collector shared by the stages of one compilation."""

    sources: dict[str, Source] = field(default_factory=dict)
    items: list[Diagnostic] = field(default_factory=list)
    limit: int = 100

    def add(self, code: str, message: str, span: Span | None, hint: str | None = None,
            related: Related = ()) -> None:
        self._keep(Diagnostic(code, message, placed(span), hint, "error",
                              tuple((placed(s), note) for s, note in related)))

    def warn(self, code: str, message: str, span: Span | None, hint: str | None = None,
             related: Related = ()) -> None:
        self._keep(Diagnostic(code, message, placed(span), hint, "warning",
                              tuple((placed(s), note) for s, note in related)))

    def _keep(self, diagnostic: Diagnostic) -> None:
        if len(self.items) < self.limit:
            self.items.append(diagnostic)

    @property
    def full(self) -> bool:
        """No more diagnostics will be kept: work spent on one (a hint's
        search among every name) would be lost."""
        return len(self.items) >= self.limit

    @property
    def errors(self) -> list[Diagnostic]:
        return sorted((d for d in self.items if d.severity == "error"), key=Diagnostic.sort_key)

    @property
    def warnings(self) -> list[Diagnostic]:
        return sorted((d for d in self.items if d.severity == "warning"), key=Diagnostic.sort_key)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise PolicyError(self.errors, self.sources)


class PolicyError(Exception):
    """A policy that does not check. `diagnostics` holds each problem;
    `str()` is the rendered report."""

    def __init__(self, diagnostics: list[Diagnostic], sources: Mapping[str, Source]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        self.sources = dict(sources)
        super().__init__(render_all(self.diagnostics, self.sources))
