"""Single-customer decisions on the compiled row kernel: a record (`decide`:
checked and packed in one pass by engine/evaluation/row_record.py) or its
values (`evaluate`: as pol.api.records read them) -> the policy's outputs
and accepted offers, in microseconds.

The record is packed into the thread's buffer (its int key's slot, ints,
floats, validity: one struct call) and one call of the row kernel (compiler/backend/codegen.py, `row=True`)
computes every segment, classification, score and candidate; the
candidates then go through the same compiled walk as every batch
(compiler/backend/walk.py's matcher, `match_range` on one row), holdouts
included. Capacities do not apply to single decisions (LANGUAGE.md section
6).

Building a row kernel (writing its module, Numba compiling it or loading it
from its disk cache) happens once per process, on the background thread
that a policy's first decision starts (pol.api.policy, `_start_row`) or in
the caller (`kernel`), one build at a time, under cache.BUILDING: a fork
waits for a build in flight.
"""
from __future__ import annotations

import datetime as dt
import functools
import struct
import threading

import numpy as np

from pol.arbitration.arbitrate import Keys, Rules
from pol.compiler import ir, offer_settings
from pol.compiler.backend import cache, codegen
from pol.compiler.backend import layout as names
from pol.compiler.backend.layout import KernelLayout
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type, micros
from pol.evaluation.arrays import strings
from pol.evaluation.bind import param_args
from pol.evaluation.lists import reference_truth
from pol.evaluation.row_record import RecordPacker, picker, unusable
from pol.evaluation.strings import extended, lookups

_ORDINAL_EPOCH = dt.date(1970, 1, 1).toordinal()


class RowOutputs:
    """One thread's buffer of the row kernel (one allocation, laid out by
    layout.row_parts): the record it reads and what it writes: segments,
    classifications and scores, the candidates, then the accepted offers in
    the flat layout (`n` of them) and the walk's counts (not read)."""

    def __init__(self, program: ir.Program, plan: KernelPlan):
        self.max_n = program.arbitrate.max_per_customer
        parts = names.row_parts(plan, self.max_n)
        self.memory, _ = names.row_buffers(parts)
        self.args = {names.MEMORY: self.memory}
        self.n = 0          # how many offers were accepted: what the kernel returns
        # What a decision reads back, with one struct.unpack_from: every
        # score (NaN for null), classification (its label's index, -1 null)
        # and segment, then the accepted offers' columns (offer index,
        # channel index, priority, control; max_n slots each, the first `n`
        # in rank order), the parts between them skipped.
        wanted = (names.SCORES, names.CLASSES, names.SEGS, *names.FLAT[2:6])
        at_scores = at = next(p.offset for p in parts if p.name == names.SCORES)
        fmt = "<"
        for p in parts:
            if p.name in wanted:
                fmt += f"{p.offset - at}x" if p.offset > at else ""
                fmt += f"{p.size // np.dtype(p.dtype).itemsize}{_STRUCT_CODES[p.dtype]}"
                at = p.offset + p.size
        # read(): those values as a tuple, a copy the thread's next call does
        # not change (a partial: no Python frame of its own)
        self.read = functools.partial(struct.Struct(fmt).unpack_from, self.memory, at_scores)


class _Thread:
    """What one thread's decisions reuse: its buffers, the kernel's
    arguments (a list whose changing items each call sets), the params last
    packed."""

    def __init__(self, outputs: RowOutputs, args: list):
        self.out = outputs
        self.args = args
        self.params: dict | None = None
        self.packed: tuple = ()


class RowExecutor:
    def __init__(self, program: ir.Program, plan: KernelPlan):
        self.program = program
        self.plan = plan
        self._kernel = None
        self._codes = {s: k for k, s in enumerate(plan.literals)}
        # The record packed as layout.record_slots lays it out: each kind of
        # value picked from the reader's list (input order) by one call.
        index = {f.name: i for i, f in enumerate(program.input.fields)}
        inputs = [index[f.name] for f in plan.fields]
        kinds = {t: [inputs[j] for j, f in enumerate(plan.fields) if f.type == t] for t in Type}
        self._all = picker(inputs)
        self._floats = picker(kinds[Type.FLOAT])
        self._ints = picker(kinds[Type.INT] + kinds[Type.BOOL])
        self._strings, self._dates = picker(kinds[Type.STRING]), picker(kinds[Type.DATE])
        self._timestamps = picker(kinds[Type.TIMESTAMP])
        # Only a policy with string functions has lookups: the others never
        # build an Arrow array here (pyarrow's first one imports pandas).
        self._lit_luts = lookups(plan, strings(plan.literals))[1] if plan.luts else []
        rules = Rules.of(program)
        self._rules = rules.arguments()
        self._no_holdouts = rules.arguments(holdouts=False)      # a customer without a key
        self._settings = any(o.settings for o in program.offers)
        self._order = plan.layout.row()
        # The kernel's arguments by position, found by name once: a call
        # fills only what changes (a dict per call cost a quarter of it).
        at = {n: k for k, n in enumerate(self._order)}
        self._at_today, self._at_active = at[names.TODAY], at[names.ACTIVE]
        self._at_luts = tuple(at[n] for n in plan.layout.luts)
        # list fields: (values, offsets) positions, the field's input index, whether strings
        self._lists = tuple((at[a.values], at[a.offsets], inputs[j], f.type.element == Type.STRING)
                            for j, (f, a) in enumerate(zip(plan.fields, plan.layout.fields))
                            if a.offsets is not None)
        by_name = {f.name: inputs[j] for j, f in enumerate(plan.fields)}
        self._quants = tuple((at[n], by_name[q.source.name], q) for q, n in zip(plan.quants, plan.layout.quants))
        self._at_params = {n: at[n] for p in plan.layout.params for n in (p.value, p.valid)}
        self._at_keys = tuple(at[n] for n in (names.KEYS[0], names.KEYS[2], names.KEYS[3]))
        self._at_bp = at[names.MATCH_RULES[2]]
        # the record as row_buffers lays it out, after the key's slot: ints, floats, validity
        ints = sum(len(kinds[t]) for t in names.RECORD_INTS)
        self._pack = struct.Struct(f"<q{ints}q{len(kinds[Type.FLOAT])}d{len(inputs)}?").pack_into
        self._codes_get = {None: 0, **self._codes}.get
        self._all_valid = (True,) * len(inputs)
        self._local = threading.local()

    @functools.cached_property
    def source(self) -> str:
        """Generated on first use: a batch-only run never needs it."""
        return codegen.source(self.program, self.plan, row=True)

    @property
    def ready(self) -> bool:
        """Whether the kernel is built: a call runs at once."""
        return self._kernel is not None

    def kernel(self):
        """The row kernel, built now if no build has finished yet."""
        if self._kernel is None:
            with cache.BUILDING:
                self.build()
        return self._kernel

    def build(self) -> None:
        """Build the kernel unless it is built; the caller holds cache.BUILDING."""
        if self._kernel is not None:
            return
        kernel = cache.load(self.source).row_kernel
        # One call on a record of nulls compiles the kernel for the types
        # every call passes (or loads the machine code from Numba's cache),
        # so that no decision waits for it.
        from pol.api.params import resolve_params
        from pol.evaluation.stream import active_offers
        params = resolve_params(self.program, {})
        self._call(kernel, [None] * len(self.program.input.fields), 0, params,
                   active_offers(self.program, dt.date(1970, 1, 1)), 0)
        self._kernel = _entry_point(kernel)

    def _thread(self) -> _Thread:
        """This thread's buffers and the kernel arguments that stay (the
        buffers, the rules): every name of the layout, checked once."""
        t = getattr(self._local, "t", None)
        if t is None:
            out = RowOutputs(self.program, self.plan)
            lay = self.plan.layout
            params = [n for p in lay.params for n in (p.value, p.valid)]
            lists = [n for a in lay.fields if a.offsets is not None for n in (a.values, a.offsets)]
            changing = dict.fromkeys((names.TODAY, *params, *lists, *lay.luts, *lay.quants, names.ACTIVE,
                                      *(n for n in names.KEYS if n not in names.ROW_CARVED)))
            args = list(KernelLayout.arguments(self._order, {**changing, **out.args, **self._rules}))
            t = self._local.t = _Thread(out, args)
        return t

    def evaluate(self, values: list, today: int, params: dict, active: np.ndarray, key) -> RowOutputs:
        """One record through the kernel. values: every input field's value in
        input order, as RecordReader.values gives them (checked, None for
        null); `key` its key (None: the customer is in no holdout). The
        outputs are this thread's, overwritten by its next call."""
        kernel = self._kernel
        return self._call(kernel if kernel is not None else self.kernel(), values, today, params, active, key)

    def _params(self, t: _Thread, params: dict, codes: dict[str, int], extra: dict[str, int]) -> tuple:
        """The params' kernel arguments ((position, value) pairs) and the
        holdouts' basis points, packed once per params (usually the defaults)."""
        if t.params is params:
            return t.packed

        def code(v: str) -> int:
            c = codes.get(v)
            return c if c is not None else extra.setdefault(v, len(codes) + len(extra))
        at = self._at_params
        pargs = tuple((at[name], v) for name, v in param_args(self.plan, params, code).items())
        bp = self._rules[names.MATCH_RULES[2]]
        if self._settings:
            # a holdout read from a param: the run's value (compiler/offer_settings.py)
            bp = Rules.of(offer_settings.with_params(self.program, params)).arguments()[names.MATCH_RULES[2]]
        packed = (pargs, bp)
        if not extra:       # a param's own string numbers differently per record: not kept
            t.params, t.packed = params, packed
        return packed

    def packer(self, fields: tuple[ir.InputField, ...], key_index: int, extra: str) -> RecordPacker | None:
        """A packer of records of these fields (the record reader's) straight
        into this executor's buffers (engine/evaluation/row_record.py); None
        where the kernel reads values that are not the record's own."""
        if unusable(self.plan, tuple(f.name for f in fields)):
            return None
        return RecordPacker(fields, self.plan, key_index, self._codes, extra)

    def decide(self, packer: RecordPacker, record, today: int, params: dict, active: np.ndarray):
        """One record through the kernel, checked and packed in one pass:
        (this thread's outputs, the key), or None where the record is not of
        the exact common types (read it with the reader, then `evaluate`)."""
        kernel = self._kernel
        if kernel is None:
            kernel = self.kernel()
        try:
            t = self._local.t
        except AttributeError:
            t = self._thread()
        unnamed: dict[str, int] = {}
        pargs, bp = t.packed if t.params is params else self._params(t, params, self._codes, unnamed)
        key = packer.pack(record, t.out.memory, unnamed)
        if key is None:
            return None
        return self._run(t, kernel, today, pargs, bp, active, key, unnamed), key

    def _call(self, kernel, values: list, today: int, params: dict, active: np.ndarray, key) -> RowOutputs:
        try:
            t = self._local.t
        except AttributeError:
            t = self._thread()
        codes = self._codes
        extra: dict[str, int] = {}      # strings the policy does not name, numbered after its literals
        pargs, bp = self._params(t, params, codes, extra)
        # The reader has checked every value: a float is finite, an int
        # 64-bit. A null packs as 0 (`v or 0` is 0 for null, False and 0);
        # a kind without a null (`None in` is one pass in C) packs as it is.
        ints = self._ints(values)
        if None in ints:
            ints = [v or 0 for v in ints]
        floats = self._floats(values)
        if None in floats:
            floats = [0.0 if v is None else v for v in floats]
        every = self._all(values)
        valid = self._all_valid if None not in every else [v is not None for v in every]
        sv: list | tuple = self._strings(values)
        if sv:
            known, strings = self._codes_get, sv
            sv = [known(v, -1) for v in strings]      # null: 0
            if -1 in sv:
                sv = [c if c >= 0 else extra.setdefault(v, len(codes) + len(extra)) for c, v in zip(sv, strings)]
        dv: list | tuple = self._dates(values)
        if dv:
            dv = [0 if v is None else v.toordinal() - _ORDINAL_EPOCH for v in dv]
        tv: list | tuple = self._timestamps(values)
        if tv:
            tv = [0 if v is None else micros(v) for v in tv]
        args = t.args
        # the int key's slot, then the record: one call writes them into the
        # thread's buffer that the kernel's iv, fv, ok and key_ints view
        self._pack(t.out.memory, 0, key if type(key) is int else 0, *ints, *sv, *dv, *tv, *floats, *valid)
        for at_values, at_offsets, k, strings_ in self._lists:
            items = values[k] or ()
            if strings_:
                items = [codes[v] if v in codes else extra.setdefault(v, len(codes) + len(extra)) for v in items]
            args[at_values] = np.array(items, np.int64)
            args[at_offsets] = np.array([0, len(items)], np.int64)
        for at_q, k, q in self._quants:
            # the condition per element by the reference rules: one record's few
            args[at_q] = np.array([reference_truth(q, v, params) for v in values[k] or ()], np.int8)
        return self._run(t, kernel, today, pargs, bp, active, key, extra)

    def _run(self, t: _Thread, kernel, today: int, pargs: tuple, bp, active: np.ndarray, key,
             extra: dict[str, int]) -> RowOutputs:
        """The kernel's call on the record packed in the thread's buffer: the
        arguments that change per call set, the kernel run."""
        args = t.args
        args[self._at_today] = today
        for at, v in pargs:
            args[at] = v
        if self._at_luts:
            luts = self._lit_luts
            if extra:
                # the record's own strings follow the literals, as code_of numbered them
                luts = extended(self.plan, luts, list(extra))
            for at, table in zip(self._at_luts, luts):
                args[at] = table
        args[self._at_active] = active
        a_is, a_off, a_data = self._at_keys
        if key is None:
            args[self._at_bp] = self._no_holdouts[names.MATCH_RULES[2]]
            args[a_is], args[a_off], args[a_data] = True, _NO_OFFSETS, _NO_DATA
        else:
            args[self._at_bp] = bp
            if type(key) is int:
                args[a_is], args[a_off], args[a_data] = True, _NO_OFFSETS, _NO_DATA
            else:
                k = Keys.of_record(key)     # its ints are not read: the buffer's slot stays
                args[a_is], args[a_off], args[a_data] = k.is_int, k.offsets, k.data
        out = t.out
        out.n = kernel(*args)
        return out


def _entry_point(kernel):
    """The kernel's compiled function for the one signature every call has
    (each argument's type is fixed by the layout and the policy: the first
    call compiled it), called without the dispatcher's matching of argument
    types to signatures: that took a quarter of the call. The dispatcher
    itself where there is more than one signature, or Numba has no entry
    point."""
    if len(kernel.signatures) != 1:
        return kernel
    return getattr(kernel.overloads.get(kernel.signatures[0]), "entry_point", None) or kernel


_STRUCT_CODES = {"float64": "d", "int16": "h", "bool": "?", "int32": "i"}
_NO_OFFSETS = np.zeros(1, np.int64)
_NO_DATA = np.zeros(1, np.uint8)
