"""Records: one customer as a mapping (field name -> value), the way a
service, a test or `pol explain --record` delivers it -> the values the
policy reads, checked against its `input` block; or pol.DataError naming the
field, what it got and what it expected.

Every path that takes a record reads it here, so that they all accept and
refuse the same records with the same message: the reference evaluator
(`decide(engine="reference")`, `explain`, policy tests and the pytest
plugin), the compiled row kernel's packing (`decide(engine="kernel")`) and
`pol explain`. What is accepted (docs/GUARANTEES.md, "Records"):

    int     an int (not a bool) in the 64-bit range; a float with a whole value (3.0)
    float   an int or a float; NaN and infinities read as null, and are
            refused in a non-nullable field
    bool    true or false only
    string  a str only
    date    "YYYY-MM-DD", a datetime.date, or a datetime (its own date)

None, or a field left out, is null; the key may not be null. NumPy scalars
count as the Python value they hold. A field the input block does not
declare is an error (with a did-you-mean) unless extra="ignore".

    reader(program, extra="error")   -> RecordReader (one per program and option, kept)
    RecordReader.values(record)      -> [value per input field, input order; None for null]
    read_record(program, record)     -> {field: value}
    iso_date(text)                   -> datetime.date, or None when text is not YYYY-MM-DD
    shown(value), shown_argument(v)  -> a value as an error message shows it
"""
from __future__ import annotations

import datetime as dt
import math
import re
import weakref
from collections.abc import Mapping

from pol.compiler import ir
from pol.compiler.types import Type
from pol.errors import ArgumentError, DataError

I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
EXTRA = ("error", "ignore")
# ASCII digits only: `\d` would take other scripts' digits, which
# date.fromisoformat refuses with a less helpful message.
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EXPECTED = {
    Type.INT: "an int",
    Type.FLOAT: "a number",
    Type.BOOL: "true or false",
    Type.STRING: "a string",
    Type.DATE: "a date written YYYY-MM-DD",
    Type.TIMESTAMP: "a timestamp written YYYY-MM-DDTHH:MM:SS",
    Type.LIST_INT: "a list of ints",
    Type.LIST_STRING: "a list of strings",
}


def iso_date(text: str) -> dt.date | None:
    """A 'YYYY-MM-DD' text as a date; None for any other text or an impossible day."""
    if not _ISO.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


_ISO_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                       r"(Z|[+-][0-9]{2}:[0-9]{2})?)?")


def iso_timestamp(text: str) -> dt.datetime | None:
    """'YYYY-MM-DDTHH:MM[:SS[.ffffff]]' (or a space for the T; a date alone
    is its midnight) as a wall-clock timestamp; a zone written after it
    ('Z', '+08:00') is dropped: the time is read as the clock showed it
    there. None for any other text or an impossible time."""
    if not _ISO_TIME.fullmatch(text):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def wall_clock(v) -> dt.datetime | None:
    """A Python date or datetime as a timestamp field's value: an aware
    datetime gives the wall-clock time in its own zone, a date its midnight."""
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return None


# ---------------------------------------------------------------- messages

def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, int):
        return "an int"
    if isinstance(v, float):
        return "a float"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, dt.datetime):
        return "a datetime"
    if isinstance(v, dt.date):
        return "a date"
    if isinstance(v, Mapping):
        return "an object"
    if isinstance(v, (list, tuple)):
        return "a list"
    return f"a {type(v).__name__}"


def _escaped(s: str, limit: int = 60) -> str:
    """Text for a one-line message: short, control characters and lone
    surrogates escaped (they would break the line or the terminal)."""
    if len(s) > limit:
        s = s[:limit - 3] + "..."
    return "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7f or 0xD800 <= ord(c) <= 0xDFFF
                   else c for c in s)


def shown(v) -> str:
    """A value as an error message shows it: JSON-like, short, on one line."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        # repr of a huge int is slow, and past 4300 digits refused
        return repr(v) if v.bit_length() <= 128 else f"an int of {v.bit_length()} bits"
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if v != v else "Infinity" if v > 0 else "-Infinity"
    if isinstance(v, str):
        return '"' + _escaped(v.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    if isinstance(v, (Mapping, list, tuple)):
        return _kind(v)
    try:
        return _escaped(repr(v))
    except Exception:               # a foreign object whose repr fails still gets a message
        return _kind(v)


def shown_argument(v) -> str:
    """An argument's value as an error message shows it: text in single
    quotes, like the allowed values it is listed with."""
    return f"'{_escaped(v)}'" if isinstance(v, str) else shown(v)


def _refuse(f: ir.InputField, v, why: str | None = None) -> DataError:
    kind = _kind(v)
    got = shown(v)
    if not got.startswith(kind):
        got += f" ({kind})"
    nullable = "?" if f.nullable else ""
    message = f"field '{f.name}' is {f.type}{nullable}: expected {_EXPECTED[f.type]}, got {got}"
    return DataError(message + (f"; {why}" if why else ""), column=f.name)


# ---------------------------------------------------------------- one value

def _unwrap(v):
    """A NumPy scalar as the Python value it holds (without importing NumPy)."""
    if type(v).__module__ == "numpy" and hasattr(v, "item"):
        return v.item()
    return v


def convert(f: ir.InputField, v):
    """One value of field f as the policy reads it (None for null), or DataError.
    The slow path: RecordReader takes the common exact types itself."""
    v = _unwrap(v)
    if v is None:
        return None
    t = f.type
    if t.element is not None:
        return _list(f, t.element, v)
    if t == Type.INT:
        if isinstance(v, bool):
            raise _refuse(f, v, "write a number")
        if isinstance(v, int):
            if not I64_MIN <= v <= I64_MAX:
                raise _refuse(f, v, "ints are 64-bit")
            return int(v)
        if isinstance(v, float):
            # JSON has one kind of number: 3.0 may be how a service writes 3
            if not math.isfinite(v) or not v.is_integer():
                raise _refuse(f, v, "not a whole number")
            if not -2.0 ** 63 <= v < 2.0 ** 63:
                raise _refuse(f, v, "ints are 64-bit")
            return int(v)
        raise _refuse(f, v, "write a number" if isinstance(v, str) else None)
    if t == Type.FLOAT:
        if isinstance(v, bool):
            raise _refuse(f, v, "write a number")
        if isinstance(v, int):
            try:
                return float(v)
            except OverflowError:
                raise _refuse(f, v, "too large for a float") from None
        if isinstance(v, float):
            v = float(v)
            if math.isfinite(v):
                return v
            if f.nullable:
                return None         # NaN and infinities read as null (LANGUAGE.md section 5)
            raise _refuse(f, v, f"NaN and infinities read as null, and the field is not nullable: "
                                f"send a number, or declare it '{f.name}: float?'")
        raise _refuse(f, v, "write a number" if isinstance(v, str) else None)
    if t == Type.BOOL:
        if isinstance(v, bool):
            return v
        raise _refuse(f, v)
    if t == Type.STRING:
        if isinstance(v, str):
            return str(v)
        raise _refuse(f, v)
    if t == Type.TIMESTAMP:
        w = wall_clock(v) if not isinstance(v, str) else iso_timestamp(v)
        if w is None:
            raise _refuse(f, v, "write timestamps as YYYY-MM-DDTHH:MM:SS, e.g. 2026-11-01T22:30:00"
                          if isinstance(v, str) else None)
        return w
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return dt.date(v.year, v.month, v.day)
    if isinstance(v, str):
        d = iso_date(v)
        if d is None:
            raise _refuse(f, v, "write dates as YYYY-MM-DD, e.g. 2026-11-01")
        return d
    raise _refuse(f, v)


def _list(f: ir.InputField, element: Type, v) -> tuple:
    """A list field's value: a list or tuple (a JSON array) of the element
    type; its null elements dropped (LANGUAGE.md 3.3)."""
    if not isinstance(v, (list, tuple)):
        raise _refuse(f, v, "write the values in brackets: [\"5G\", \"VIP\"]" if isinstance(v, str) else None)
    one = ir.InputField(f.name, element, True, f.span)
    out = []
    for k, x in enumerate(v):
        try:
            x = convert(one, x)
        except DataError:
            raise DataError(f"field '{f.name}' is {f.type}{'?' if f.nullable else ''}: element {k + 1} should be "
                            f"{_EXPECTED[element]}, "
                            f"got {shown(x)}", column=f.name) from None
        if x is not None:
            out.append(x)
    return tuple(out)


# ---------------------------------------------------------------- records

class RecordReader:
    """A program's input block -> a reader of its records.

    `values` takes the exact common types (int, float, bool, str, date) in
    one comparison per field, grouped by type so that no field pays for
    another type's checks; anything else goes through `convert`."""

    def __init__(self, program: ir.Program, extra: str = "error"):
        _check_extra(extra)
        self.fields = program.input.fields
        self.extra = extra
        self.names = tuple(f.name for f in self.fields)
        self.key_index = self.names.index(program.input.key)
        self._name_set = frozenset(self.names)
        by_type = {t: tuple(i for i, f in enumerate(self.fields) if f.type == t) for t in Type}
        self._ints, self._floats = by_type[Type.INT], by_type[Type.FLOAT]
        self._bools, self._strings, self._dates = by_type[Type.BOOL], by_type[Type.STRING], by_type[Type.DATE]
        self._timestamps = by_type[Type.TIMESTAMP]
        self._lists = by_type[Type.LIST_INT] + by_type[Type.LIST_STRING]

    def values(self, record) -> list:
        """The record's value of every input field, in input order (None for
        null), or DataError."""
        if type(record) is not dict and not isinstance(record, Mapping):
            raise DataError(f"a record is a mapping of field names to values (a JSON object), "
                            f"not {_kind(record)}")
        if self.extra == "error" and not record.keys() <= self._name_set:
            raise self._unknown(record)
        out = list(map(record.get, self.names))
        fields = self.fields
        # Each test passes a value of the exact expected type (and None)
        # with one or two comparisons; the rest goes through convert.
        lo, hi = I64_MIN, I64_MAX
        for i in self._ints:
            v = out[i]
            if (type(v) is not int or not lo <= v <= hi) and v is not None:
                out[i] = convert(fields[i], v)
        for i in self._floats:
            v = out[i]
            # v - v is 0.0 exactly when v is finite
            if (type(v) is not float or v - v != 0.0) and v is not None:
                out[i] = convert(fields[i], v)
        for i in self._strings:
            v = out[i]
            if type(v) is not str and v is not None:
                out[i] = convert(fields[i], v)
        for i in self._bools:
            v = out[i]
            if type(v) is not bool and v is not None:
                out[i] = convert(fields[i], v)
        date = dt.date
        for i in self._dates:
            v = out[i]
            if type(v) is not date and v is not None:
                out[i] = convert(fields[i], v)
        for i in self._timestamps:
            v = out[i]
            if (type(v) is not dt.datetime or v.tzinfo is not None) and v is not None:
                out[i] = convert(fields[i], v)
        for i in self._lists:
            v = out[i]
            if v is not None:
                out[i] = convert(fields[i], v)
        if out[self.key_index] is None:
            name = self.names[self.key_index]
            what = "null" if name in record else "missing"
            raise DataError(f"the key '{name}' is {what}: every customer needs a key", column=name)
        return out

    def read(self, record) -> dict:
        """The record as {field: value}, every input field in input order."""
        return dict(zip(self.names, self.values(record)))

    def _unknown(self, record) -> DataError:
        from pol.dsl.parser import closest
        unknown = [k for k in record if k not in self._name_set]
        first = unknown[0]
        if isinstance(first, str):
            guess = closest(first, self.names) if len(first) <= 100 else None
            hint = f"did you mean '{guess}'?" if guess else \
                "the input block declares " + ", ".join(self.names[:8]) + (", ..." if len(self.names) > 8 else "")
            name = f"'{_escaped(first)}'"
        else:
            hint = "field names are strings"
            name = shown(first)
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        return DataError(f"the record has a field the input block does not declare: {name}{more}; {hint} "
                         f"(extra=\"ignore\" skips undeclared fields)",
                         column=first if isinstance(first, str) else None)


def _check_extra(extra) -> None:
    if not (isinstance(extra, str) and extra in EXTRA):
        raise ArgumentError(f"extra must be 'error' or 'ignore', not {shown_argument(extra)}",
                            argument="extra")


_readers: dict[tuple[int, str], tuple[weakref.ref, RecordReader]] = {}


def reader(program: ir.Program, extra: str = "error") -> RecordReader:
    """The program's reader, made once per program and option and kept while
    the program lives."""
    _check_extra(extra)
    k = (id(program), extra)
    hit = _readers.get(k)
    if hit is not None and hit[0]() is program:
        return hit[1]
    r = RecordReader(program, extra)

    def forget(ref, k=k):
        if _readers.get(k, (None,))[0] is ref:
            _readers.pop(k, None)
    _readers[k] = (weakref.ref(program, forget), r)
    return r


def read_record(program: ir.Program, record, extra: str = "error") -> dict:
    """A record as the policy reads it: {field: value} for every input field."""
    return reader(program, extra).read(record)
