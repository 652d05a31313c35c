"""The grammar's parser: dsl/grammar.lark -> a Lark LALR parser, its parse
tables built (0.12 s) or read back from the cache folder (0.02 s).

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

FORMAT = 1                # of the JSON file; a new layout is a new file name
_LEXER = "<lexer class>"  # stands for the lexer class in the file
# Options given when loading, not kept in the file (Lark's own list).
_GIVEN = lark.lark._LOAD_ALLOWED_OPTIONS


def parser(grammar: str, lexer: type, transformer, **options) -> Lark:
    """Lark(grammar, parser="lalr", lexer=lexer, transformer=transformer, **options)."""
    h = hashlib.sha256()
    for part in (grammar, lark.__version__, str(FORMAT), repr(sorted(options.items()))):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    digest = h.hexdigest()
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
        text = json.dumps({"grammar": digest, "data": _encode(data), "memo": _encode(memo)})
    except TypeError:             # something Lark keeps that JSON cannot hold: no cache
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
