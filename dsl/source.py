"""Source files and positions in them.

Lines and columns are 1-based; columns count characters (code points), as
LANGUAGE.md section 9 asks, so a caret lands under the right character even
on a line of Chinese text. A line ends at '\\n' only, as the lexer counts
lines (dsl/lexer.py); a '\\r' before it is not part of the line.
"""
from __future__ import annotations

import re
from array import array
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

_NEWLINE = re.compile("\n")


@dataclass(frozen=True)
class Source:
    path: str
    text: str = field(repr=False)

    def line(self, number: int) -> str:
        """The text of line `number`, without its end of line; "" past the end."""
        starts = self._line_starts
        if not 0 < number <= len(starts):
            return ""
        start = starts[number - 1]
        end = starts[number] - 1 if number < len(starts) else len(self.text)
        text = self.text[start:end]
        return text[:-1] if text.endswith("\r") else text

    @cached_property
    def _line_starts(self) -> array:
        # Built once, on the first line asked for: diagnostics and test
        # expectations ask for lines one at a time, and splitting a large
        # file for each would make reporting on it quadratic.
        starts = array("q", [0])
        starts.extend(m.end() for m in _NEWLINE.finditer(self.text))
        return starts


class Span(NamedTuple):
    """A region of one file. `end_col` is exclusive. A tuple, ordered by
    file, line and column: the parser makes one or two per token, and a
    tuple is made three times faster than a frozen dataclass."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def point(path: str, line: int, col: int) -> Span:
        return Span(path, line, col, line, col + 1)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"
