"""The parser's inner loop: policy text -> whatever the grammar's callbacks
build (dsl/build.py's AST), for a text that parses.

Lark's own LALR loop costs about 20 us per token on a large policy: it looks
each reduction's callback up by a Rule object (hashed and compared in
Python), and passes every reduction, even the single-child ones of the
precedence chain (`?sum_expr: prod_expr`), through a wrapper or two. This
loop runs the same tables and the same callbacks with that work done once,
up front: per state, each terminal or rule name maps to a shift or to the
rule's (name, length, callback), and a reduction that only hands its one
child up has no callback at all. It lexes as it goes, with dsl/lexer.py's
pattern and keyword rule, because a word is a keyword or a name by the
state the parser is in.

It knows nothing of errors: at the first token the tables do not take, or
the first character no token starts with, it raises NotFast, and the caller
runs Lark's own parser, whose exception dsl/parser.py turns into words.
"""
from __future__ import annotations

import re

from lark import Lark, Token
from lark.parse_tree_builder import ExpandSingleChild
from lark.parsers.lalr_analysis import Shift

from pol.dsl.lexer import PolLexer

_SPACES = re.compile(r"[ \t]*")


class NotFast(Exception):
    """The text does not parse (or not as this loop can tell): ask Lark."""


class FastParser:
    def __init__(self, lark: Lark, lexer: PolLexer):
        parser = lark.parser.parser.parser          # the LALR _Parser of Lark's frontend
        table = parser.parse_table
        callbacks = parser.callbacks
        # per state: terminal -> the next state (a shift) or the rule to
        # reduce by, (name, length, callback); rule name -> the next state
        self.states: dict = {}
        self.goto: dict = {}
        for state, actions in table.states.items():
            row, goto = {}, {}
            for symbol, (action, arg) in actions.items():
                if action is Shift:
                    (row if symbol.isupper() or symbol == "$END" else goto)[symbol] = arg
                else:
                    callback = callbacks[arg]
                    hands_up = isinstance(callback, ExpandSingleChild) and len(arg.expansion) == 1
                    row[symbol] = (arg.origin.name, len(arg.expansion), None if hands_up else callback)
            self.states[state] = row
            self.goto[state] = goto
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        self.lexer = lexer

    def parse(self, text: str):
        states, goto, end = self.states, self.goto, self.end
        match = self.lexer.spaced.match
        ignore, keywords, word_kind = self.lexer.ignore, self.lexer.keywords, self.lexer.word_kind
        new_str = str.__new__
        state_stack = [self.start]
        value_stack: list = []
        pos, line, line_start, size = 0, 1, 0, len(text)
        last = None
        at_end = False
        while True:
            if pos < size:
                m = match(text, pos)
                if m is None:
                    if _SPACES.fullmatch(text, pos):
                        pos = size          # spaces at the very end: the pattern wants a token after them
                        continue
                    raise NotFast
                kind, new_pos = m.lastgroup, m.end()
                if kind in ignore:
                    newlines = text.count("\n", pos, new_pos)
                    if newlines:
                        line += newlines
                        line_start = text.rindex("\n", pos, new_pos) + 1
                    pos = new_pos
                    continue
                value = m.group(kind)
                pos = m.start(kind)
                if kind == "NAME" and value in keywords:
                    kind = word_kind(value, states[state_stack[-1]])
                col = pos - line_start + 1
                # Token's own constructor is two Python calls deep; its slots are these
                tok = new_str(Token, value)
                tok.type, tok.start_pos, tok.line, tok.column = kind, pos, line, col
                tok.end_line, tok.end_column, tok.end_pos = line, col + new_pos - pos, new_pos
                pos = new_pos
                last = tok
            else:
                kind, at_end = "$END", True
                tok = Token.new_borrow_pos("$END", "", last) if last is not None else Token("$END", "", 0, 1, 1)
            while True:
                action = states[state_stack[-1]].get(kind)
                if action is None:
                    raise NotFast
                if type(action) is int:                 # shift
                    if at_end:
                        raise NotFast
                    state_stack.append(action)
                    value_stack.append(tok)
                    break
                name, length, callback = action
                if callback is None:                    # the one child is the value
                    state_stack[-1] = goto[state_stack[-2]][name]
                else:
                    if length:
                        children = value_stack[-length:]
                        del state_stack[-length:]
                        del value_stack[-length:]
                    else:
                        children = []
                    state_stack.append(goto[state_stack[-1]][name])
                    value_stack.append(callback(children))
                if at_end and state_stack[-1] == end:
                    return value_stack[-1]
