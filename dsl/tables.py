"""The grammar's parser: dsl/grammar.lark -> a Lark LALR parser, its parse
tables built (0.12 s) or read back from the cache folder (0.02 s); and the
same tables as dsl/lalr.py's loop reads them (`fast`), in a file of their
own: a text that parses never needs Lark's parser, whose loading (every
state's actions made into Lark's objects) took 0.05-0.1 s of each start.

Lark's own cache pickles the tables and unpickles a file before it compares
its hash, so a pickle planted in its place would run on `pol check`. Here
the tables are saved as JSON (Lark's serialized form, the data its
standalone generator embeds), which loading reads as data and never runs. A
file that is not this grammar's tables for this Lark version (stale,
truncated, planted) is ignored and written anew; a folder that cannot be
used (pol.cachefolder) means building the tables each time.

In: the grammar text, the lexer class, the builder (Lark's transformer).
Out: the Lark parser.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

from pol import cachefolder
from pol.dsl.lalr import Tables, plain

FORMAT = 1                # of the JSON file; a new layout is a new file name
FAST_FORMAT = 1           # of the loop's tables (dsl/lalr.py Tables)
_LEXER = "<lexer class>"  # stands for the lexer class in the file
# Options given when loading, not kept in the file (Lark's own list).
_GIVEN = lark.lark._LOAD_ALLOWED_OPTIONS


def _digest(grammar: str, options: dict, form: str) -> str:
    h = hashlib.sha256()
    for part in (grammar, lark.__version__, form, repr(sorted(options.items()))):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def fast(grammar: str, lexer: type, transformer, **options) -> tuple[Tables, Lark | None]:
    """The tables of parser(...) as dsl/lalr.py's loop reads them, from the
    cache folder; else from the parser, which is then returned too (None when
    the file served: the caller builds it only for a text that does not parse)."""
    digest = _digest(grammar, options, f"fast {FAST_FORMAT} {_lexer_name(lexer)}")
    folder = cachefolder.usable()
    path = folder / f"grammar-{digest[:24]}.fast.json" if folder is not None else None
    if path is not None:
        loaded = _load_fast(path, digest)
        if loaded is not None:
            return loaded, None
    built = parser(grammar, lexer, transformer, **options)
    tables = plain(built)
    if path is not None:
        _write(path, {"grammar": digest, "actions": [[s, row] for s, row in tables.actions.items()],
                      "rules": tables.rule_data, "start": tables.start, "end": tables.end,
                      "terminals": tables.terminals, "ignore": tables.ignore})
    return tables, built


def _lexer_name(lexer: type) -> str:
    """The lexer class's module and name: the saved terminals are what its
    terminal_facts reads, so another lexer is another file."""
    return f"{lexer.__module__}.{lexer.__qualname__}"


def _load_fast(path: Path, digest: str) -> Tables | None:
    """The saved tables, checked to be of the shape and within the bounds the
    loop indexes by (a damaged or planted file is ignored and written anew)."""
    try:
        with open(path, "rb") as f:
            saved = json.load(f)
        if not isinstance(saved, dict) or saved.get("grammar") != digest:
            return None
        rules, terminals, ignore = saved["rules"], saved["terminals"], saved["ignore"]
        actions = {}
        for state, row in saved["actions"]:
            if type(state) is not int or not isinstance(row, dict):
                return None
            actions[state] = row
        n = len(rules)
        if not all(type(a) is int and (a in actions if a >= 0 else -1 - a < n) for row in actions.values()
                   for a in row.values()):
            return None
        if not (saved["start"] in actions and saved["end"] in actions and _shaped(rules, terminals, ignore)):
            return None
        return Tables(actions, rules, saved["start"], saved["end"], terminals, ignore)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _shaped(rules, terminals, ignore) -> bool:
    """Every value of the kind Tables.rules and lexer.terminal_facts give."""
    def text(x) -> bool:
        return isinstance(x, str)

    def maybe(x, kind) -> bool:
        return x is None or isinstance(x, kind)
    return (all(isinstance(r, list) and len(r) == 9 and text(r[0]) and maybe(r[1], str)
                and isinstance(r[2], list) and all(isinstance(e, list) and len(e) == 3 and text(e[0])
                                                    and type(e[1]) is bool and type(e[2]) is bool for e in r[2])
                and type(r[3]) is int and type(r[4]) is bool and type(r[5]) is bool and maybe(r[6], int)
                and maybe(r[7], str) and isinstance(r[8], list) and all(type(b) is bool for b in r[8])
                for r in rules)
            and all(isinstance(t, list) and len(t) == 6 and all(text(v) for v in t[:4])
                    and type(t[4]) is int and type(t[5]) is int for t in terminals)
            and isinstance(ignore, list) and all(text(i) for i in ignore))


def parser(grammar: str, lexer: type, transformer, **options) -> Lark:
    """Lark(grammar, parser="lalr", lexer=lexer, transformer=transformer, **options)."""
    digest = _digest(grammar, options, str(FORMAT))
    folder = cachefolder.usable()
    path = folder / f"grammar-{digest[:24]}.json" if folder is not None else None
    given = {k: v for k, v in options.items() if k in _GIVEN}
    if path is not None:
        loaded = _load(path, digest, lexer, transformer, given)
        if loaded is not None:
            return loaded
    built = Lark(grammar, parser="lalr", lexer=lexer, transformer=transformer, **options)
    if path is not None:
        _save(built, path, digest, lexer)
    return built


def _load(path: Path, digest: str, lexer: type, transformer, given: dict) -> Lark | None:
    try:
        with open(path, "rb") as f:
            saved = json.load(f, object_hook=_decode)
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("grammar") != digest:
        return None
    try:
        data, memo = saved["data"], saved["memo"]
        if data["options"]["lexer"] != _LEXER or data["parser"]["lexer_conf"]["lexer_type"] != _LEXER:
            return None
        data["options"]["lexer"] = data["parser"]["lexer_conf"]["lexer_type"] = lexer
        return Lark._load_from_dict(data, memo, transformer=transformer, **given)
    except Exception:
        # data of the right hash that Lark cannot read: a damaged file
        return None


def _save(built: Lark, path: Path, digest: str, lexer: type) -> None:
    data, memo = built.memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items() if k not in _GIVEN}
    data["options"]["lexer"] = _LEXER
    data["parser"] = dict(data["parser"], lexer_conf=dict(data["parser"]["lexer_conf"], lexer_type=_LEXER))
    try:
        saved = {"grammar": digest, "data": _encode(data), "memo": _encode(memo)}
    except TypeError:             # something Lark keeps that JSON cannot hold: no cache
        return
    _write(path, saved)


def _write(path: Path, saved: dict) -> None:
    """Atomically; a folder that refuses it means no cache, not an error."""
    try:
        text = json.dumps(saved)
    except (TypeError, ValueError):
        return
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


# JSON has no tuples and only string keys; Lark's tables have both (state
# numbers as keys). Each is written as a tagged object and read back as it was.

def _encode(x):
    if isinstance(x, dict):
        if all(isinstance(k, str) for k in x) and not {"__items__", "__tuple__"} & set(x):
            return {k: _encode(v) for k, v in x.items()}
        return {"__items__": [[_encode(k), _encode(v)] for k, v in x.items()]}
    if isinstance(x, tuple):
        return {"__tuple__": [_encode(v) for v in x]}
    if isinstance(x, list):
        return [_encode(v) for v in x]
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    raise TypeError(f"cannot save {type(x).__name__} as JSON")


def _decode(obj: dict):
    if "__items__" in obj:
        return {_hashable(k): v for k, v in obj["__items__"]}
    if "__tuple__" in obj:
        return tuple(obj["__tuple__"])
    return obj


def _hashable(k):
    return tuple(_hashable(v) for v in k) if isinstance(k, list) else k
