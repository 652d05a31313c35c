"""Source files and positions in them.

Lines and columns are 1-based; columns count characters (code points), as
LANGUAGE.md section 9 asks, so a caret lands under the right character even
on a line of Chinese text.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    path: str
    text: str = field(repr=False)

    def line(self, number: int) -> str:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass(frozen=True, order=True)
class Span:
    """A region of one file. `end_col` is exclusive."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def point(path: str, line: int, col: int) -> "Span":
        return Span(path, line, col, line, col + 1)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"
