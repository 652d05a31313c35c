"""One pass over a record that both checks it and packs it into the row
kernel's buffer, for `decide` (engine/evaluation/row.py): a record of the
exact common types, the way a service or a test hands one over, goes from
its dict to the buffer without the reader's list of values or a second
pass to pick each kind of value out of it.

What it accepts, it reads as pol.api.records does, to the same values;
anything else (a value of another type, a NaN, an int past 64 bits, a
field the input block does not declare, a record that is not a dict) it
leaves to the reader and the packing after it, which accept or refuse it
with their own messages: so every record is accepted or refused, and with
what words, by one piece of code.

Per record the work is: the fields' values in input order (`map` of the
record's `get`), the tuple of their types, and a look-up of that tuple in a
table of **shapes** made once per pattern of types (a shape is which fields
are null, and so which slots the record fills). A shape holds the pickers
of each kind of value (itemgetters over the values), the constant bytes of
the fields' validity and a struct whose null slots are pad bytes, which
struct.pack_into writes as zeros, as the packing writes a null. What the
types leave to check is checked on the values: an int's 64 bits by the
struct itself, a float's finiteness by their sum.

    RecordPacker(fields, plan, key_index, codes, extra) -> a packer of records of these
                                                fields, unless unusable(plan, names)
    RecordPacker.pack(record, memory, unnamed)  -> the key, or None: take the reader's way
"""
from __future__ import annotations

import datetime as dt
import itertools
import operator
import struct
from itertools import repeat

from pol.compiler import ir
from pol.compiler.backend import layout as names_
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type

_EPOCH = dt.date(1970, 1, 1).toordinal()
_ORDINAL = dt.date.toordinal
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
_NONE = type(None)
# The Python types a field takes as they are, without conversion (the
# reader's own fast path): a float field takes an int, which packs as the
# float the reader would make of it.
_EXACT = {Type.INT: (int,), Type.FLOAT: (float, int), Type.BOOL: (bool,), Type.STRING: (str,),
          Type.DATE: (dt.date,)}
# The shapes one packer keeps: a pattern of nulls and number types each;
# records past that many patterns are packed without a kept shape.
_MAX_SHAPES = 256
# Codes of strings the policy does not name, kept from record to record
# (RecordPacker._number): from here up, past any per-record numbering.
_LASTING_CODES = 2 ** 40
_MAX_LASTING = 100_000


def unusable(plan: KernelPlan, names: tuple[str, ...]) -> bool:
    """Whether the plan's record is not one the packer packs: a field that is
    not a record field (a history aggregate, an experiment's arm: values
    made per decision) or a list field (arguments of its own)."""
    present = set(names)
    return any(f.name not in present or f.type.element is not None for f in plan.fields)


class _Shape:
    """How a record with one pattern of types packs: the pickers of the
    values of each kind the slots take (null ones left out), the struct with
    pad bytes for the null slots, the validity bytes; what is left to check."""

    __slots__ = ("ints", "strings", "dates", "floats", "finite", "wide", "pack", "valid", "present")

    def __init__(self, ints, strings, dates, floats, finite, wide, pack, valid, present):
        self.ints, self.strings, self.dates, self.floats = ints, strings, dates, floats
        self.finite, self.wide, self.pack, self.valid = finite, wide, pack, valid
        self.present = present      # how many fields the record gives: its keys, when all are declared


class _Absent:
    """A field the record leaves out, told from one it gives as None: the
    shape then knows how many keys a record of only declared fields has."""

    __slots__ = ()


_ABSENT = _Absent()
_NULL = (_NONE, _Absent)


class RecordPacker:
    def __init__(self, fields: tuple[ir.InputField, ...], plan: KernelPlan, key_index: int,
                 codes: dict[str, int], extra: str):
        self.names = names = tuple(f.name for f in fields)
        self.key_index = key_index
        self._types = tuple(f.type for f in fields)
        self._strict = extra == "error"
        self._absent = (_ABSENT,) * len(names)      # record.get's default per field
        index = {n: i for i, n in enumerate(names)}
        # the plan's fields by slot, as layout.record_slots lays them out
        planned = [index[f.name] for f in plan.fields]
        self._slots = [planned[j] for kind in names_.RECORD_INTS for j, f in enumerate(plan.fields)
                       if f.type == kind]
        self._float_slots = [planned[j] for j, f in enumerate(plan.fields) if f.type == Type.FLOAT]
        self._planned = planned
        # an int the slots do not take is checked on its own (an int key has its slot)
        self._unplanned = [i for i in range(len(names)) if i not in set(planned) and i != key_index]
        self._literals = codes
        self._n_codes = len(codes)
        # Without string lookups the kernel only compares codes, so a string
        # the policy does not name may keep one code from record to record,
        # numbered far above the literals and the params' own strings (the
        # per-record numbering): one look-up per string instead of numbering
        # them in each record. Bounded: past it, strings are numbered per record.
        self._lasting = not plan.luts
        self._codes = dict(codes)
        self._code = self._codes.get
        self._next_code = itertools.count(_LASTING_CODES)
        self._shapes: dict[tuple[type, ...], _Shape | None] = {}

    def pack(self, record, memory, unnamed: dict[str, int]):
        """Check the record and pack it into `memory` (key slot, record, as
        row.RowExecutor packs one) and return its key; None when the record
        is not of the exact common types (the reader's way then reads it,
        or refuses it). `unnamed`: strings the policy does not name, numbered
        after its literals (the params' own already there), as the packing's."""
        if type(record) is not dict:
            return None
        values = list(map(record.get, self.names, self._absent))
        types = tuple(map(type, values))
        shape = self._shapes.get(types, False)
        if shape is False:
            shape = self._shape(types)
        # a record with a key the input block does not declare has more keys than the shape counts
        if shape is None or (self._strict and len(record) != shape.present):
            return None
        try:
            finite = shape.finite
            if finite is not None:
                total = sum(finite(values))
                if total - total != 0.0:        # a NaN or an infinity (or a sum past the floats)
                    return None
            if shape.wide is not None and not all(I64_MIN <= v <= I64_MAX for v in shape.wide(values)):
                return None
            codes: list | tuple = ()
            strings = shape.strings
            if strings is not None:
                texts = strings(values)
                codes = list(map(self._code, texts, repeat(-1)))
                if -1 in codes or unnamed:
                    codes = self._number(texts, unnamed)
            dates = shape.dates
            days = map(operator.sub, map(_ORDINAL, dates(values)), repeat(_EPOCH)) if dates is not None else ()
            key = values[self.key_index]
            shape.pack(memory, 0, key if type(key) is int else 0, *shape.ints(values), *codes, *days,
                       *shape.floats(values), shape.valid)
        except (struct.error, OverflowError):       # an int past 64 bits, a float that is not one
            return None
        return key

    def _number(self, texts: tuple[str, ...], unnamed: dict[str, int]) -> list[int]:
        """The strings' codes where some string is not the policy's (or the
        params have strings of their own, in `unnamed`)."""
        if self._lasting and not unnamed and len(self._codes) < _MAX_LASTING:
            get, keep, draw = self._code, self._codes.setdefault, self._next_code
            # setdefault is atomic: two threads numbering one string agree
            return [c if (c := get(v)) is not None else keep(v, next(draw)) for v in texts]
        # per record, as the reader's packing numbers them: the literals,
        # then the params' own strings, then the record's
        literals, base = self._literals, self._n_codes
        return [literals[v] if v in literals else unnamed.setdefault(v, base + len(unnamed)) for v in texts]

    def _shape(self, types: tuple[type, ...]) -> _Shape | None:
        """The shape of records with these types (None: some value is not
        of its field's exact type, or the key is null), kept."""
        shape = None
        if types[self.key_index] not in _NULL and all(
                g in _NULL or g in _EXACT.get(t, ()) for g, t in zip(types, self._types)):
            shape = self._make(types)
        if len(self._shapes) < _MAX_SHAPES:
            self._shapes[types] = shape
        return shape

    def _make(self, types: tuple[type, ...]) -> _Shape:
        def present(indices):
            return [i for i in indices if types[i] not in _NULL]

        def kind(t):
            return present(i for i in self._slots if self._types[i] == t)

        ints = kind(Type.INT) + kind(Type.BOOL)
        strings, dates = kind(Type.STRING), kind(Type.DATE)
        floats = present(self._float_slots)
        fmt = "<q"          # the int key's slot
        for i in self._slots:
            fmt += "8x" if types[i] in _NULL else "q"
        for i in self._float_slots:
            fmt += "8x" if types[i] in _NULL else "d"
        fmt += f"{len(self._planned)}s"
        valid = bytes(types[i] not in _NULL for i in self._planned)
        # what the slots do not check: the finiteness of every float, the
        # 64 bits of an int no slot takes
        finite = present(i for i, t in enumerate(self._types) if t == Type.FLOAT)
        wide = present(i for i in self._unplanned if self._types[i] == Type.INT)
        return _Shape(picker(ints), picker(strings) if strings else None, picker(dates) if dates else None,
                      picker(floats), picker(finite) if finite else None, picker(wide) if wide else None,
                      struct.Struct(fmt).pack_into, valid, sum(g is not _Absent for g in types))


def picker(indices: list[int]):
    """A function from a list to its items at `indices`, as a sequence."""
    if not indices:
        return lambda values: ()
    if len(indices) == 1:
        i = indices[0]
        return lambda values: (values[i],)
    return operator.itemgetter(*indices)
