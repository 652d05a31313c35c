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
from dataclasses import dataclass

from lark import Lark, Token, Tree
from lark.grammar import NonTerminal, Rule, RuleOptions, Terminal
from lark.parse_tree_builder import ExpandSingleChild, ParseTreeBuilder
from lark.parsers.lalr_analysis import Shift

from pol.dsl.lexer import PolLexer, terminal_facts

_SPACES = re.compile(r"[ \t]*")


class NotFast(Exception):
    """The text does not parse (or not as this loop can tell): ask Lark."""


@dataclass
class Tables:
    """A Lark LALR parser's tables as plain values, which JSON holds as they
    are: per state, each symbol's action (the next state, or -1 - k: reduce
    by rule k); per rule (origin, alias, expansion as (name, is a terminal,
    filtered out), order, keep_all_tokens, expand1, priority,
    template_source, empty_indices); the start and end states; what the
    lexer reads of the terminals (lexer.terminal_facts) and the ignored ones."""
    actions: dict[int, dict[str, int]]
    rule_data: list[list]
    start: int
    end: int
    terminals: list[list]
    ignore: list[str]

    def rules(self) -> list[Rule]:
        return [Rule(NonTerminal(origin),
                     [Terminal(n, filter_out=f) if term else NonTerminal(n) for n, term, f in expansion],
                     order, alias, RuleOptions(keep, expand1, priority, template, tuple(empty)))
                for origin, alias, expansion, order, keep, expand1, priority, template, empty in self.rule_data]

    def lexer(self) -> PolLexer:
        return PolLexer.of(self.ignore, [tuple(t) for t in self.terminals])


def plain(lark: Lark) -> Tables:
    """The tables of a Lark LALR parser (with dsl/lexer.py's lexer)."""
    table = lark.parser.parser.parser.parse_table
    index: dict[Rule, int] = {}
    rules: list[list] = []
    actions: dict[int, dict[str, int]] = {}
    for state, acts in table.states.items():
        row = actions[state] = {}
        for symbol, (action, arg) in acts.items():
            if action is Shift:
                row[symbol] = arg
                continue
            k = index.get(arg)
            if k is None:
                k = index[arg] = len(rules)
                o = arg.options
                rules.append([arg.origin.name, arg.alias, [[s.name, s.is_term, s.filter_out if s.is_term else False]
                                                           for s in arg.expansion],
                              arg.order, o.keep_all_tokens, o.expand1, o.priority, o.template_source,
                              list(o.empty_indices)])
            row[symbol] = -1 - k
    conf = lark.parser.lexer_conf
    return Tables(actions, rules, table.start_states["start"], table.end_states["start"],
                  [list(terminal_facts(t)) for t in conf.terminals], sorted(conf.ignore))


class FastParser:
    def __init__(self, tables: Tables, lexer: PolLexer, transformer, propagate_positions: bool = False,
                 maybe_placeholders: bool = False):
        """The loop over `tables` (what `plain` takes from a Lark parser, also
        read back from the cache folder by dsl/tables.py), with the callbacks
        Lark's own parse tree builder makes from the rules for `transformer`."""
        rules = tables.rules()
        callbacks = ParseTreeBuilder(rules, Tree, propagate_positions, False, maybe_placeholders) \
            .create_callback(transformer)
        # per rule: (name, length, callback); a reduction that only hands its
        # one child up has no callback
        reduce = [(r.origin.name, len(r.expansion),
                   None if isinstance(callbacks[r], ExpandSingleChild) and len(r.expansion) == 1 else callbacks[r])
                  for r in rules]
        # per state: terminal -> the next state (a shift) or the rule to
        # reduce by, (name, length, callback); rule name -> the next state
        self.states: dict = {}
        self.goto: dict = {}
        for state, actions in tables.actions.items():
            row, goto = {}, {}
            for symbol, action in actions.items():
                if action >= 0:
                    (row if symbol.isupper() or symbol == "$END" else goto)[symbol] = action
                else:
                    row[symbol] = reduce[-1 - action]
            self.states[state] = row
            self.goto[state] = goto
        self.start = tables.start
        self.end = tables.end
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
