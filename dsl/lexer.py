"""Lexing: policy text -> Lark tokens, for the LALR parser of dsl/parser.py.

The terminals are those of dsl/grammar.lark, read from Lark's configuration,
so the grammar stays the one definition of the language's tokens. What this
lexer adds over Lark's own contextual lexer is speed (one compiled pattern
for the whole language, about twice as fast on a large policy) with the same
rules for words:

* a reserved word (LANGUAGE.md section 1: and, or, not, in, is, null, true,
  false, if, then, else, between, today) is always its keyword, so
  `let and = 1` fails at `and`;
* any other keyword (offer, category, priority, key, max ...) is a keyword
  only where the parser can take it, or where it could not take a name
  either; elsewhere it is a name, so a field may be called `category`.
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from lark import Token
from lark.exceptions import UnexpectedCharacters
from lark.lexer import Lexer

RESERVED = {w: w.upper() for w in
            ("and", "or", "not", "in", "is", "null", "true", "false", "if", "then", "else",
             "between", "today")}
_WORD = re.compile(r"[^\W\d]\w*")


def terminal_facts(t) -> tuple[str, str, str, str, int, int]:
    """What the lexer reads of a Lark TerminalDef, as plain values (dsl/tables.py saves them)."""
    return t.name, t.pattern.type, t.pattern.value, t.pattern.to_regexp(), t.priority, t.pattern.max_width


class PolLexer(Lexer):
    """A Lark lexer (interface 2: it sees the parser's state) for the policy language."""

    __future_interface__ = 2

    def __init__(self, lexer_conf):
        self._setup(lexer_conf.ignore, [terminal_facts(t) for t in lexer_conf.terminals])
        self.terminals_by_name = lexer_conf.terminals_by_name

    @classmethod
    def of(cls, ignore, terminals: list[tuple]) -> PolLexer:
        """The lexer of these terminals (terminal_facts), without Lark's
        configuration: what dsl/lalr.py's loop uses, from the saved tables
        (dsl/tables.py). Lark's own parser makes its own, through __init__."""
        lexer = cls.__new__(cls)
        lexer._setup(ignore, terminals)
        lexer.terminals_by_name = {}        # read only by Lark's error path, which has its own lexer
        return lexer

    def _setup(self, ignore, terminals: list[tuple]) -> None:
        self.ignore = frozenset(ignore)
        self.keywords: dict[str, str] = {}
        patterns = []
        for name, kind, value, regexp, priority, max_width in terminals:
            if kind == "str" and _WORD.fullmatch(value):
                self.keywords[value] = name     # lexed as NAME, then decided
            else:
                patterns.append((name, value, regexp, priority, max_width))
        for word, name in RESERVED.items():
            assert self.keywords.get(word) == name, f"grammar must name the reserved word {word!r} {name}"
        # the order Lark uses: priority, then longest possible match first
        patterns.sort(key=lambda t: (-t[3], -t[4], -len(t[1]), t[0]))
        alternatives = "|".join(f"(?P<{name}>{regexp})" for name, _, regexp, _, _ in patterns)
        self.master = re.compile(alternatives)
        # The same, taking the spaces before a token with it: a third fewer
        # matches on a typical line (dsl/lalr.py reads the token's own group).
        self.spaced = re.compile(f"[ \t]*+(?:{alternatives})")

    def lex(self, lexer_state, parser_state) -> Iterator[Token]:
        text_slice = lexer_state.text
        text, end = text_slice.text, text_slice.end
        line_ctr = lexer_state.line_ctr
        pos, line = line_ctr.char_pos, line_ctr.line
        line_start = pos - line_ctr.column + 1
        match, ignore, keywords = self.master.match, self.ignore, self.keywords
        states = parser_state.parse_conf.states
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise UnexpectedCharacters(text, pos, line, pos - line_start + 1, state=parser_state,
                                           token_history=lexer_state.last_token and [lexer_state.last_token],
                                           terminals_by_name=self.terminals_by_name)
            kind, new_pos = m.lastgroup, m.end()
            if kind in ignore:
                newlines = text.count("\n", pos, new_pos)
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", pos, new_pos) + 1
                pos = new_pos
                continue
            value = m.group()
            if kind == "NAME" and value in keywords:
                kind = self.word_kind(value, states[parser_state.position])
            col = pos - line_start + 1
            # no token spans lines: strings stop at a newline, comments are ignored
            tok = Token(kind, value, pos, line, col, line, col + new_pos - pos, new_pos)
            pos = new_pos
            lexer_state.last_token = tok
            yield tok
        line_ctr.char_pos, line_ctr.line, line_ctr.column = pos, line, pos - line_start + 1

    def nth_token(self, text: str, n: int) -> tuple[int, int] | None:
        """(line, column) of the n-th token of a text, or None when it has fewer."""
        ignore = self.ignore
        count = 0
        for m in self.spaced.finditer(text):
            if m.lastgroup not in ignore:
                count += 1
                if count == n:
                    start = m.start(m.lastgroup)
                    return text.count("\n", 0, start) + 1, start - text.rfind("\n", 0, start)
        return None

    def word_kind(self, value: str, accepts) -> str:
        """What a keyword-spelled word is where the parser `accepts` these
        terminals (or rule names): its keyword, or a name."""
        word = self.keywords[value]
        if value in RESERVED or word in accepts or "NAME" not in accepts:
            return word
        return "NAME"

    def tokens(self, text: str, start: int = 0, end: int | None = None) -> Iterator[Token]:
        """The tokens of text[start:end] without a parser: every keyword a
        keyword (as the parser sees them where it cannot take a name). Stops
        quietly at a character that starts no token. `start` must be at the
        start of a line; positions and lines are those of the whole text."""
        end = len(text) if end is None else end
        pos, line_start = start, start
        line = text.count("\n", 0, start) + 1
        while pos < end:
            m = self.master.match(text, pos, end)
            if m is None:
                return
            kind, new_pos = m.lastgroup, m.end()
            if kind in self.ignore:
                newlines = text.count("\n", pos, new_pos)
                if newlines:
                    line += newlines
                    line_start = text.rindex("\n", pos, new_pos) + 1
                pos = new_pos
                continue
            value = m.group()
            if kind == "NAME":
                kind = self.keywords.get(value, kind)
            col = pos - line_start + 1
            yield Token(kind, value, pos, line, col, line, col + new_pos - pos, new_pos)
            pos = new_pos
