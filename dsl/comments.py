"""What the parser leaves out: policy text -> its comments, blank lines and a
coarse list of tokens, for the formatter (dsl/fmt.py).

The grammar ignores comments, so the syntax tree has none; this scanner
finds them beside it. It knows just enough of the language to do that right
(a `#` inside a string is not a comment) and to give each comment its
neighbours: the token before it and the token after it. A comment that has
code before it on its line is an end-of-line comment and belongs to the
token before it; a comment alone on its line belongs to the token after it.

Tokens are split as dsl/grammar.lark splits them where it matters here
(strings, words, numbers, dates, `{` and `}`, operators); the formatter finds
the token at a syntax node's position by position, not by count, so a
difference elsewhere would cost nothing.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

_SCAN = re.compile(r"""
    (?P<space>[ \t\r\f\v]+)
  | (?P<newline>\n)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\.|[^"\\\n])*"?)
  | (?P<word>[^\W\d]\w*)
  | (?P<date>\d{4}-\d\d?-\d\d?(?![\w.]))
  | (?P<number>\d+(?:_\d+)*(?:\.\d+(?:_\d+)*)?(?:[eE][+-]?\d+)?%?)
  | (?P<op>=>|==|!=|<=|>=|.)
""", re.X)


@dataclass(frozen=True)
class Token:
    line: int
    col: int             # 1-based, in characters, as spans count
    text: str

    @property
    def pos(self) -> tuple[int, int]:
        return (self.line, self.col)


@dataclass(frozen=True)
class Comment:
    line: int
    col: int
    text: str            # from the '#' to the end of the line, trailing spaces dropped
    own_line: bool       # nothing but spaces before it on its line
    prev: int            # index of the token before it (-1: none)
    next: int            # index of the token after it (len(tokens): none)

    @property
    def pos(self) -> tuple[int, int]:
        return (self.line, self.col)


@dataclass
class Scan:
    tokens: list[Token] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    blank_lines: set[int] = field(default_factory=set)    # lines with nothing on them
    match: dict[int, int] = field(default_factory=dict)   # index of a '{' <-> index of its '}'

    def at(self, pos: tuple[int, int]) -> int:
        """The index of the first token at or after a position."""
        return bisect.bisect_left(self._positions, pos)

    def __post_init__(self):
        self._positions: list[tuple[int, int]] = []


def scan(text: str) -> Scan:
    out = Scan()
    line, line_start, code_on_line = 1, 0, False
    stack: list[int] = []
    pending: list[tuple[int, int, str, bool]] = []       # comments whose next token is not seen yet
    for m in _SCAN.finditer(text):
        kind, value = m.lastgroup, m.group()
        col = m.start() - line_start + 1
        if kind == "newline":
            if not code_on_line and not _comment_on(pending, line):
                out.blank_lines.add(line)
            line, line_start, code_on_line = line + 1, m.end(), False
        elif kind == "comment":
            pending.append((line, col, value.rstrip(), not code_on_line))
        elif kind != "space":
            index = len(out.tokens)
            for c_line, c_col, c_text, own in pending:
                out.comments.append(Comment(c_line, c_col, c_text, own, index - 1, index))
            pending.clear()
            out.tokens.append(Token(line, col, value))
            code_on_line = True
            if value == "{":
                stack.append(index)
            elif value == "}" and stack:
                opener = stack.pop()
                out.match[opener], out.match[index] = index, opener
    if not code_on_line and not _comment_on(pending, line) and line_start < len(text):
        out.blank_lines.add(line)
    for c_line, c_col, c_text, own in pending:
        out.comments.append(Comment(c_line, c_col, c_text, own, len(out.tokens) - 1, len(out.tokens)))
    out._positions = [t.pos for t in out.tokens]
    return out


def _comment_on(pending, line: int) -> bool:
    """Whether a comment is on this line (it waits in `pending` until the next token)."""
    return any(c[0] == line for c in pending)
