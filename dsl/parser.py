"""Parsing: Source -> ast.File, or syntax diagnostics in a policy author's words.

One Lark LALR parser built from dsl/grammar.lark, fed by dsl/lexer.py's
contextual lexer, with dsl/build.py's Builder making the AST, with spans, as
the parser reduces. A text that parses goes through dsl/lalr.py's faster
loop over the same tables; one that does not, through Lark's, whose
exception says where and what.

A syntax error becomes a Diagnostic that names the mistake ("missing '=>'
after the condition", "missing ')'", "this is a full-width comma") rather
than the parser's token names. After an error the parser resumes at the next
line that starts a declaration, so one run reports the first error of each
broken declaration, not only the first of the file.

Codes:
  E-SYNTAX-001  unexpected input (the general case: says what was expected)
  E-SYNTAX-002  a character that is not part of the language (full-width punctuation ...)
  E-SYNTAX-003  unterminated string
  E-SYNTAX-004  '=' where a comparison '==' was meant
  E-SYNTAX-005  missing '=>' in a classify rule
  E-SYNTAX-006  missing ')'
  E-SYNTAX-007  a stray ','
  E-SYNTAX-008  a misspelled keyword
  E-SYNTAX-009  chained comparison (`a < b < c`)
  E-SYNTAX-011  `if` used as an operand without parentheses
  E-SYNTAX-012  missing '}'
  E-SYNTAX-013  an incomplete declaration: a missing value, or the file ends too early
  E-NAME-003    a reserved word used as a name
  E-LIMIT-005   a file larger than dsl/limits.MAX_FILE characters or MAX_TOKENS tokens
"""
from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from pathlib import Path

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from pol.dsl import ast, tables
from pol.dsl.build import Builder
from pol.dsl.diagnostics import Diagnostic
from pol.dsl.lalr import FastParser, NotFast
from pol.dsl.lexer import RESERVED, PolLexer
from pol.dsl.limits import MAX_FILE, MAX_TOKENS
from pol.dsl.source import Source, Span
from pol.dsl.words import closest, edit_distance  # noqa: F401 (edit_distance: once defined here)

# The builder runs inside the parser and takes spans from the tokens
# (dsl/build.py), so the parser need not propagate positions into tree nodes:
# that, and building a tree only to walk it, would triple the parse time of
# a large policy. One builder serves every parse, one parse at a time.
_BUILDER = Builder()
_LOCK = threading.Lock()


# The parse tables come from the cache folder when they are there (dsl/tables.py):
# the fast loop's always, Lark's parser only for a text the loop does not take.
_GRAMMAR = (Path(__file__).with_name("grammar.lark")).read_text(encoding="utf-8")
_OPTIONS = {"propagate_positions": False, "maybe_placeholders": False}
_TABLES, _lark = tables.fast(_GRAMMAR, PolLexer, _BUILDER, **_OPTIONS)
_LEXER: PolLexer = _TABLES.lexer()
_FAST = FastParser(_TABLES, _LEXER, _BUILDER, **_OPTIONS)
_LARK_LOCK = threading.Lock()


def lark_parser() -> Lark:
    """Lark's parser of the same grammar, made at first use: its exceptions
    say what is wrong with a text that does not parse."""
    global _lark
    with _LARK_LOCK:
        if _lark is None:
            _lark = tables.parser(_GRAMMAR, PolLexer, _BUILDER, **_OPTIONS)
        return _lark


def __getattr__(name: str):
    if name == "PARSER":        # the name Lark's parser had (tests run both parsers)
        return lark_parser()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DECLARATIONS = ("policy", "import", "input", "param", "let", "segment", "classify", "score",
                "channel", "offer", "arbitrate", "test", "carry", "history", "experiment", "contact",
                "population")
PROPERTIES = ("eligible", "channels", "priority", "category", "capacity", "valid", "holdout", "attributes", "arm")
# A line that starts a declaration: where parsing can start again after an error.
_DECL_LINE = re.compile(r"(?:{})(?=[ \t\"{{]|$)".format("|".join(DECLARATIONS)))
# The same at an offset of the whole text, where the line goes on after it.
_DECL_AT = re.compile(r"(?:{})(?=[ \t\"{{\r\n]|$)".format("|".join(DECLARATIONS)))
_MAX_SYNTAX_ERRORS = 20

# The last parses, by (path, text): checking a library checks each file with
# everything it imports, so `pol check` of the telecom library parsed its
# eleven files 47 times (customer.pol ten times). An AST is immutable and a
# parse depends on nothing else, so a repeat is served from here; the
# problems are copied out. Bounded by the texts' total size, oldest out first.
_PARSED: OrderedDict[tuple[str, str], tuple[ast.File | None, tuple[Diagnostic, ...]]] = OrderedDict()
_PARSED_CHARS = 4_000_000
_parsed_chars = 0


def parse(source: Source) -> tuple[ast.File | None, list[Diagnostic]]:
    """The file's AST and the problems found; the AST is None when it does not parse."""
    global _parsed_chars
    key = (source.path, source.text)
    with _LOCK:
        hit = _PARSED.get(key)
        if hit is not None:
            _PARSED.move_to_end(key)
            return hit[0], list(hit[1])
    file, problems = _parse(source)
    if len(source.text) <= _PARSED_CHARS:
        with _LOCK:
            if key not in _PARSED:
                _PARSED[key] = (file, tuple(problems))
                _parsed_chars += len(source.text)
            while _parsed_chars > _PARSED_CHARS:
                (_, text), _ = _PARSED.popitem(last=False)
                _parsed_chars -= len(text)
    return file, problems


def _parse(source: Source) -> tuple[ast.File | None, list[Diagnostic]]:
    if len(source.text) > MAX_FILE:
        return None, [_too_large(source)]
    # a text has no more tokens than characters: only a long one is counted
    too_many = _LEXER.nth_token(source.text, MAX_TOKENS + 1) if len(source.text) > MAX_TOKENS else None
    if too_many is not None:
        return None, [Diagnostic(
            "E-LIMIT-005", f"the file holds more than {MAX_TOKENS:,} tokens (names, numbers, strings, "
            "operators); this is the first one over", Span.point(source.path, *too_many),
            "split the policy into files that import each other; the limit is per file")]
    with _LOCK:
        _BUILDER.begin(source.path)
        try:
            file = _FAST.parse(source.text)
        except NotFast:
            # Lark's own parser, for the exception that says what is wrong
            _BUILDER.begin(source.path)
            try:
                file = lark_parser().parse(source.text)
            except UnexpectedInput as e:
                return None, _recover(source, e)
        return file, _BUILDER.problems


def _recover(source: Source, first: UnexpectedInput) -> list[Diagnostic]:
    """The first error, then one more per later declaration that does not parse.

    Each retry parses the text from a declaration line on, with the lines
    before it blanked so that positions stay those of the file."""
    problems = [syntax_error(first, source, source.text)]
    lines = source.text.split("\n")
    start = 0                              # 0-based line the current attempt starts at
    error = first
    while len(problems) < _MAX_SYNTAX_ERRORS:
        at = _resume_from(error, lines)
        resume = next((k for k in range(max(at, start + 1), len(lines))
                       if _DECL_LINE.match(lines[k])), None)
        if resume is None:
            break
        start = resume
        text = "\n" * resume + "\n".join(lines[resume:])
        try:
            lark_parser().parse(text)
            break
        except UnexpectedInput as e:
            error = e
            # the retry's text is `resume` blank lines, one character each, then the rest
            problems.append(syntax_error(e, source, text, floor=resume))
    return problems


def _too_large(source: Source) -> Diagnostic:
    text = source.text
    line = text.count("\n", 0, MAX_FILE) + 1
    col = MAX_FILE - (text.rfind("\n", 0, MAX_FILE) + 1) + 1
    return Diagnostic("E-LIMIT-005", f"the file holds {len(text):,} characters; the most is {MAX_FILE:,}",
                      Span.point(source.path, line, col),
                      "split the policy into files that import each other; the limit is per file")


def _resume_from(e: UnexpectedInput, lines: list[str]) -> int:
    """The first 0-based line worth parsing again after an error: the error's
    own line when the error is at a declaration that starts it (the one
    before was left open), else the line after."""
    if isinstance(e, UnexpectedToken) and e.token.type == "$END" or isinstance(e, UnexpectedEOF):
        return len(lines)
    line = e.line - 1
    if isinstance(e, UnexpectedToken) and e.column == 1 and _DECL_LINE.match(lines[line]):
        return line
    return line + 1


# ---------------------------------------------------------------- describing errors

FULL_WIDTH = {
    "，": "a full-width comma; use ','",
    "、": "an ideographic comma; use ','",
    "（": "a full-width parenthesis; use '('",
    "）": "a full-width parenthesis; use ')'",
    "“": "a full-width quote; write strings in ASCII double quotes \"...\"",
    "”": "a full-width quote; write strings in ASCII double quotes \"...\"",
    "‘": "a full-width quote; write strings in ASCII double quotes \"...\"",
    "’": "a full-width quote; write strings in ASCII double quotes \"...\"",
    "：": "a full-width colon; use ':'",
    "；": "a full-width semicolon; declarations need no separator, remove it",
    "＝": "a full-width equals sign; use '=' (or '==' to compare)",
    "＞": "a full-width '>'; use '>'",
    "＜": "a full-width '<'; use '<'",
    "％": "a full-width percent sign; use '%'",
    "｛": "a full-width brace; use '{'",
    "｝": "a full-width brace; use '}'",
    "\u3000": "a full-width space; use an ordinary space",
}
_OTHER_CHARS = {
    "'": ("strings are written in double quotes", 'write "..." instead of \'...\''),
    "&": ("'&' is not part of the language", "write 'and'"),
    "|": ("'|' is not part of the language", "write 'or'"),
    "!": ("'!' is not part of the language", "write 'not', or '!=' for 'not equal'"),
    ";": ("';' is not part of the language", "declarations need no separator; remove it"),
}

_WORDS = {
    "NAME": "a name", "QNAME": "a name", "STRING": 'a string in double quotes', "INT": "a whole number",
    "FLOAT": "a number", "PERCENT": "a percentage such as 5%", "DATE": "a date (YYYY-MM-DD)",
    "TIMESTAMP": "a timestamp (YYYY-MM-DDTHH:MM:SS)",
    "CMP_OP": "a comparison", "$END": "the end of the file", "ARROW": "'=>'",
}
_OPERAND_START = {"NAME", "QNAME", "INT", "FLOAT", "PERCENT", "STRING", "DATE", "TIMESTAMP", "TRUE", "FALSE",
                  "NULL", "TODAY", "LPAR", "MINUS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PCT", "CMP_OP", "AND", "OR", "IN", "IS", "BETWEEN"}
_DECL_TERMS = {w.upper() for w in DECLARATIONS}
_PROP_TERMS = {w.upper() for w in PROPERTIES}


def _pattern(name: str) -> str | None:
    try:
        t = lark_parser().get_terminal(name)
    except KeyError:
        return None
    return t.pattern.value if t.pattern.type == "str" else None


def _keyword(name: str) -> str | None:
    p = _pattern(name)
    return p if p and p.isalpha() else None


def describe_expected(expected: set[str]) -> str:
    """What the parser would have taken, in words."""
    exp = set(expected)
    parts: list[str] = []
    if exp & _DECL_TERMS and len(exp & _DECL_TERMS) >= 6:
        parts.append("a declaration (" + ", ".join(w for w in DECLARATIONS[1:] if w.upper() in exp) + ")")
        exp -= _DECL_TERMS | {"$END"}
    if exp & _PROP_TERMS and len(exp & _PROP_TERMS) >= 5:
        parts.append("an offer property (" + ", ".join(w for w in PROPERTIES if w.upper() in exp) + ")")
        exp -= _PROP_TERMS
    if len(exp & _OPERAND_START) >= 8:
        parts.append("a value (a name, a number, a string, a date, '(' ...)")
        exp -= _OPERAND_START | {"NOT", "IF"}
    if len(exp & _OPERATORS) >= 6:
        parts.append("an operator (+ - * / and or == ...)")
        # after a name '(' would make it a call, and the file may end after
        # any declaration: neither is worth listing next to the operators
        exp -= _OPERATORS | {"NOT", "LPAR", "$END"}
    if {"INT", "FLOAT", "PERCENT"} <= exp:
        exp -= {"FLOAT", "PERCENT"}
        exp.discard("INT")
        parts.append("a number")
    for name in sorted(exp, key=lambda n: (n not in _WORDS, n)):
        if name in _WORDS:
            parts.append(_WORDS[name])
        else:
            p = _pattern(name)
            parts.append(f"'{p}'" if p else name.lower())
    parts = list(dict.fromkeys(parts))
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " or " + parts[-1]


def _token_words(tok: Token, article: bool = True) -> str:
    """A token as a message names it: "'x'", "the number 5" (or "number 5")."""
    kind = tok.type
    the = "the " if article else ""
    text = _shorten(str(tok))
    if kind == "$END":
        return f"{the}end of the file"
    if kind == "STRING":
        return f"{the}string {text}"
    if kind in ("INT", "FLOAT", "PERCENT"):
        return f"{the}number {text}"
    if kind == "DATE":
        return f"{the}date {text}"
    if kind == "TIMESTAMP":
        return f"{the}timestamp {text}"
    return f"'{text}'"


def _accepted(e: UnexpectedToken) -> set[str]:
    """The terminals the parser could really take at the error.

    LALR merges states, so `e.expected` may list terminals (such as '=>')
    that only another context would accept; the interactive parser replays
    the reductions on the actual stack and knows."""
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:
            return set(ip.accepts())
        except Exception:           # a parser that cannot replay: fall back to the table
            pass
    return set(e.expected)


def _tokens_before(text: str, pos: int, floor: int = 0) -> list[Token]:
    """The tokens the parser had read before `pos`, from the start of the
    declaration before the one `pos` is in (what the heuristics below look
    at: the tokens just before, an unclosed bracket) but not before `floor`.
    Lexing from the start of the file instead would make each error cost
    the whole text before it."""
    start = _declaration_start(text, pos, floor, 2)
    return list(_LEXER.tokens(text, start, pos))


def _declaration_start(text: str, pos: int, floor: int, count: int) -> int:
    """The offset of the `count`-th line, going back from the one `pos` is
    in, that starts with a declaration keyword; `floor` if there are fewer."""
    at = max(text.rfind("\n", floor, pos) + 1, floor)
    while True:
        if _DECL_AT.match(text, at):
            count -= 1
            if count == 0:
                return at
        if at <= floor:
            return floor
        at = max(text.rfind("\n", floor, at - 1) + 1, floor)


def _unclosed(tokens: list[Token], opener: str, closer: str) -> Token | None:
    stack: list[Token] = []
    for tok in tokens:
        if tok.value == opener:
            stack.append(tok)
        elif tok.value == closer and stack:
            stack.pop()
    return stack[-1] if stack else None


def _tspan(path: str, tok: Token) -> Span:
    return Span(path, tok.line, tok.column, tok.end_line, tok.end_column)


def _after(path: str, tok: Token) -> Span:
    """The point just after a token: where something is missing."""
    return Span(path, tok.end_line, tok.end_column, tok.end_line, tok.end_column + 1)


def syntax_error(e: UnexpectedInput, source: Source, text: str, floor: int = 0) -> Diagnostic:
    """The diagnostic for one parse failure of `text` (the source's text, or
    a retry's copy of it with earlier lines blanked, which start at `floor`)."""
    path = source.path
    if isinstance(e, UnexpectedCharacters):
        return _bad_character(e, source)
    if isinstance(e, UnexpectedEOF):
        tok = Token("$END", "", len(text), e.line, e.column)
        expected = set(e.expected)
    else:
        assert isinstance(e, UnexpectedToken)
        tok, expected = e.token, _accepted(e)
    before = _tokens_before(text, tok.start_pos if tok.type != "$END" else len(text), floor)
    prev = before[-1] if before else None
    span = _tspan(path, tok) if tok.type != "$END" else (
        _after(path, prev) if prev else Span.point(path, 1, 1))
    kind, value = tok.type, _shorten(str(tok.value))

    if prev is not None and prev.value in DECLARATIONS and prev.column == 1 \
            and len(before) > 1 and expected & _OPERATORS:
        # the contextual lexer took the next declaration's keyword for a name:
        # the declaration before it is the one left incomplete
        prev, tok, kind = before[-2], prev, "$END"
        expected = _OPERAND_START
    if kind == "$END" and expected & _OPERAND_START and prev is not None:
        return Diagnostic("E-SYNTAX-013", f"missing a value after '{prev}'", _after(path, prev),
                          "expected " + describe_expected(_OPERAND_START))
    if kind == "$END":
        return _early_end(path, expected, before, span)

    if kind in RESERVED.values() and "NAME" in expected and not expected & (_OPERAND_START - {"NAME"}):
        return Diagnostic("E-NAME-003", f"'{value}' is a reserved word and cannot be used as a name",
                          span, "choose another name; the reserved words are "
                          + ", ".join(RESERVED))
    if kind == "LSQB" and "LSQB" not in expected:
        return Diagnostic("E-SYNTAX-002", "'[' starts a list only as a list param's value", span,
                          "an 'in' list is written in parentheses: x in (1, 2)")
    if kind == "IF" and "LPAR" in expected:
        return Diagnostic("E-SYNTAX-011", "'if' needs parentheses when it is part of a larger expression",
                          span, "write it as (if CONDITION then A else B)")
    if kind == "EQUAL" and ("CMP_OP" in expected or "ARROW" in expected):
        if "ARROW" in expected and "CMP_OP" not in expected:
            return Diagnostic("E-SYNTAX-005", "write '=>' here, not '='", span,
                              'a rule reads: else => "VALUE"')
        return Diagnostic("E-SYNTAX-004", "'=' cannot compare values", span,
                          "write '==' to compare two values")
    if kind == "CMP_OP" and "CMP_OP" not in expected and "AND" in expected:
        return Diagnostic("E-SYNTAX-009", "comparisons do not chain", span,
                          "compare two values at a time and join them with 'and': a < b and b < c")
    if prev is not None and prev.type == "PERCENT" and prev.end_pos == tok.start_pos and kind in (
            "INT", "FLOAT", "NAME", "LPAR"):
        number = prev.value[:-1]
        message = f"'{prev.value}' is a percentage; it cannot be followed by {_token_words(tok)}"
        return Diagnostic("E-SYNTAX-001", message, _tspan(path, prev),
                          f"for the remainder of a division write spaces around '%': {number} % {value}")
    if "ARROW" in expected and kind != "ARROW":
        return Diagnostic("E-SYNTAX-005", "missing '=>' after the condition", span,
                          'a rule reads: when CONDITION => "VALUE"')
    if prev is not None and prev.type == "COMMA" and kind not in expected:
        return Diagnostic("E-SYNTAX-007", f"extra ',' before {_token_words(tok)}", _tspan(path, prev),
                          "remove the ','")
    if kind == "COMMA" and "COMMA" not in expected:
        hint = "remove the ','"
        after = text[tok.end_pos:tok.end_pos + 4]
        if prev is not None and prev.type == "INT" and re.match(r"[0-9]{3}(?![0-9])", after):
            hint = f"numbers are written without thousands separators: {prev.value}_{text[tok.end_pos:tok.end_pos + 3]}"
        return Diagnostic("E-SYNTAX-007", "unexpected ','", span, hint)
    if kind == "RPAR" and "RPAR" not in expected and _unclosed(before, "(", ")") is None:
        return Diagnostic("E-SYNTAX-006", "')' has no '(' to close", span,
                          "remove it, or add the missing '('")
    if "RPAR" in expected and kind not in expected:
        opener = _unclosed(before, "(", ")")
        if kind in _OPERAND_START - {"MINUS"} and prev is not None and prev.end_line == tok.line \
                and "COMMA" in expected:
            return Diagnostic("E-SYNTAX-006", f"missing ',' or ')' before {_token_words(tok)}", span,
                              "separate the values with ',' and close the list with ')'")
        related = ((_tspan(path, opener), "the '(' it would close"),) if opener else ()
        return Diagnostic("E-SYNTAX-006", "missing ')'", _after(path, prev) if prev else span,
                          "every '(' needs a matching ')'", related=related)
    if "RBRACE" in expected and (kind in _DECL_TERMS or kind == "NAME" and value in DECLARATIONS):
        opener = _unclosed(before, "{", "}")
        related = ((_tspan(path, opener), "the '{' it would close"),) if opener else ()
        return Diagnostic("E-SYNTAX-012", "missing '}' before this declaration",
                          span, "close the block above with '}'", related=related)
    if kind == "NAME":
        keywords = [k for k in (_keyword(t) for t in expected) if k]
        guess = closest(value, keywords)
        if guess is not None:
            return Diagnostic("E-SYNTAX-008", f"unknown word '{value}'", span, f"did you mean '{guess}'?")
        if expected & _DECL_TERMS and not expected & _OPERATORS:
            return Diagnostic("E-SYNTAX-001", f"'{value}' does not start a declaration", span,
                              "expected " + describe_expected(expected))
        if expected & _PROP_TERMS and not expected & _OPERATORS:
            return Diagnostic("E-SYNTAX-001", f"'{value}' is not an offer property", span,
                              "expected " + describe_expected(expected))
    if expected == {"STRING"} and kind == "NAME":
        return Diagnostic("E-SYNTAX-001", "text must be in double quotes", span,
                          f'write "{value}"')
    if kind in ("COLON", "EQUAL") and prev is not None and _keyword(prev.type) and kind not in expected:
        return Diagnostic("E-SYNTAX-001", f"unexpected '{value}' after '{prev}'", span,
                          f"remove the '{value}'; expected " + describe_expected(expected) + f" after '{prev}'")
    if len(expected) == 1 and _pattern(next(iter(expected))) and not _keyword(next(iter(expected))):
        missing = _pattern(next(iter(expected)))
        return Diagnostic("E-SYNTAX-001", f"missing '{missing}' before {_token_words(tok)}", span,
                          f"expected '{missing}'" + (f" after '{prev}'" if prev is not None else ""))
    if prev is not None and _keyword(prev.type) and not expected & _OPERATORS:
        return Diagnostic("E-SYNTAX-001", f"unexpected {_token_words(tok, False)} after '{prev}'", span,
                          "expected " + describe_expected(expected))
    if expected & _OPERATORS and kind in _OPERAND_START and prev is not None:
        return Diagnostic("E-SYNTAX-001", f"unexpected {_token_words(tok, False)} after {_token_words(prev)}", span,
                          "expected " + describe_expected(expected))
    return Diagnostic("E-SYNTAX-001", f"unexpected {_token_words(tok, False)}", span,
                      "expected " + describe_expected(expected))


def _early_end(path: str, expected: set[str], before: list[Token], span: Span) -> Diagnostic:
    if "ARROW" in expected:
        return Diagnostic("E-SYNTAX-005", "missing '=>' after the condition", span,
                          'a rule reads: when CONDITION => "VALUE"')
    opener = _unclosed(before, "(", ")")
    if "RPAR" in expected and opener is not None:
        return Diagnostic("E-SYNTAX-006", "missing ')'", span, "every '(' needs a matching ')'",
                          related=((_tspan(path, opener), "the '(' it would close"),))
    opener = _unclosed(before, "{", "}")
    if "RBRACE" in expected and opener is not None:
        return Diagnostic("E-SYNTAX-012", "missing '}' at the end of the file", span,
                          "close the block with '}'",
                          related=((_tspan(path, opener), "the '{' it would close"),))
    return Diagnostic("E-SYNTAX-013", "the file ends in the middle of a declaration", span,
                      "expected " + describe_expected(expected))


def _bad_character(e: UnexpectedCharacters, source: Source) -> Diagnostic:
    path = source.path
    ch = e.char
    span = Span.point(path, e.line, e.column)
    if ch in FULL_WIDTH:
        return Diagnostic("E-SYNTAX-002", f"'{ch}' is not part of the language", span,
                          f"this is {FULL_WIDTH[ch]}")
    if unicodedata.decimal(ch, None) is not None:
        return _foreign_digits(e, source)
    if ch == '"':
        line = source.line(e.line)
        return Diagnostic("E-SYNTAX-003", "unterminated string",
                          Span(path, e.line, e.column, e.line, max(len(line) + 1, e.column + 1)),
                          "close the string with '\"' on the same line")
    if ch in _OTHER_CHARS:
        message, hint = _OTHER_CHARS[ch]
        return Diagnostic("E-SYNTAX-002", message, span, hint)
    if ch == "\\":
        return Diagnostic("E-SYNTAX-002", "'\\' can only be used inside a string", span, None)
    shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
    return Diagnostic("E-SYNTAX-002", f"'{shown}' is not part of the language", span,
                      "remove it; text belongs inside double quotes")


def _foreign_digits(e: UnexpectedCharacters, source: Source) -> Diagnostic:
    """Digits of another script (full-width, Arabic-Indic ...) where a number
    starts or goes on: only 0-9 make numbers, though Python's own int() would
    read these. The span covers the run of such digits; the hint writes the
    number in 0-9 (with the ASCII digits just before the run, if any)."""
    line = source.line(e.line)
    start = end = e.column - 1
    while end < len(line) and not line[end].isascii() and unicodedata.decimal(line[end], None) is not None:
        end += 1
    run = line[start:end] or e.char
    before = start
    while before > 0 and line[before - 1] in "0123456789_.":
        before -= 1
    written = line[before:start] + "".join(str(unicodedata.decimal(c)) for c in run)
    span = Span(source.path, e.line, e.column, e.line, e.column + len(run))
    if all("\uff10" <= c <= "\uff19" for c in run):
        what = "this is a full-width digit" if len(run) == 1 else "these are full-width digits"
    else:
        what = f"this is a digit of another script ({unicodedata.name(run[0], 'digit').lower()})"
    return Diagnostic("E-SYNTAX-002", f"'{_shorten(run)}' is not a number the language reads", span,
                      f"{what}; use 0-9: {_shorten(written)}")


def _shorten(text: str, most: int = 80) -> str:
    """Text quoted in a message, cut short: a token may be megabytes long."""
    return text if len(text) <= most else text[:most - 3] + "..."
