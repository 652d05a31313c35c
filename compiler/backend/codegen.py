"""Kernel assembly: ir.Program + KernelPlan -> a Python module (as `ast`)
defining one Numba kernel, the batch kernel or the row kernel.

The per-row code (fields, declarations, candidates) comes from
compiler/backend/emitter.py; the kernel's parameters are the plan's layout
(compiler/backend/layout.py), in its order. A kernel that matches (`fused`,
the batch kernel of a policy without a fallback or an optimal allocation) appends each row's candidates to small
local arrays and walks them (with capacities, a customer with a candidate of a constrained offer is handed
over to the run-wide walk instead) with
compiler/backend/walk.py's template, the one compiled walk of LANGUAGE.md
section 6, which writes only the accepted offers (in the assignments' flat
layout, engine/arbitration/arbitrate.FlatParts) and the counts. Otherwise
the kernel writes every candidate out for engine/arbitration/arbitrate.py.

Safety: the module is built from `ast` nodes (compiler/backend/astgen.py).
Identifiers are made by the compiler (`v12`, `x3`, `p0`); numbers become
constants; strings never appear in the code at all — a string literal is
its code in the plan's string table, and string functions read
host-computed lookup tables. `ast.unparse` then gives the file the cache
imports, so Numba can cache the compiled kernel.
"""
from __future__ import annotations

import ast

from pol.compiler import ir
from pol.compiler.backend import layout as names
from pol.compiler.backend import split
from pol.compiler.backend.astgen import C, N, assign, call, item, jitted, template
from pol.compiler.backend.emitter import Emitter
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.backend.walk import walk_code
from pol.compiler.nogc import no_cycle_collection

RUNTIME_NAMES = (
    "add_i", "sub_i", "mul_i", "neg_i", "abs_i", "mod_i", "mod_f",
    "round_f", "round_i", "sqrt_f", "exp_f", "log_f", "pow_f", "date_ok",
    "year_of", "month_of", "day_of", "make_date", "add_months", "weekday_of", "day_of_year", "anniversary",
    "hour_of", "minute_of", "ts_date", "bit", "float_ok", "held_out", "pick", "NAN",
)

# The funnel's first three counts (eligible, deliverable, candidates:
# LANGUAGE.md section 6) share one int64 per offer in a fused kernel, 21 bits
# each, added from a table indexed by the candidate state (emitter.CANDIDATE):
# three separate counters per offer cost a fifth of the bench kernel's time.
# A kernel call may count at most FUSED_MAX_ROWS rows
# (engine/evaluation/executor.py splits larger ranges).
FUSED_MAX_ROWS = (1 << 21) - 1

_PROLOGUE = """
co = np.empty(K1, np.int64)
cp = np.empty(K1, np.float64)
cs = np.empty(K1, np.int64)
nf = 0
lost = np.zeros((K, NFUNNEL), np.int64)
bych = np.zeros((K, H, 2), np.int64)
w = FIRST * MAXN
fw = np.array([0, 1, 1 + (1 << 21), 1 + (1 << 21) + (1 << 42)], np.int64)
"""

_UNPACK = """
lost[K, ELIGIBLE] += F & 2097151
lost[K, DELIVERABLE] += (F >> 21) & 2097151
lost[K, CANDIDATES] += F >> 42
"""

_FUNNEL_COLUMNS = dict(ELIGIBLE=names.ELIGIBLE, DELIVERABLE=names.DELIVERABLE, CANDIDATES=names.CANDIDATES)

_EPILOGUE = """
FUNNEL += lost
BY_CHANNEL += bych
NONFINITE[0] += nf
"""


def _matched_names() -> dict[str, str]:
    """The placeholders of the templates above, by the layout's names."""
    return {n.upper(): n for n in names.MATCHED}


def prologue(program: ir.Program, first: ast.expr, per_offer: bool = True) -> list[ast.stmt]:
    K = len(program.offers)
    out = template(_PROLOGUE, K=K, K1=max(K, 1), H=len(program.channels), NFUNNEL=len(names.FUNNEL),
                   MAXN=program.arbitrate.max_per_customer, FIRST=first)
    if hands_off(program):      # a row range's pairs fill slots from its first row * K on
        out += template("pw = FIRST * K1", FIRST=first, K1=max(K, 1))
    for k in range(K if per_offer else 0):
        out += template("F = np.int64(0)", F=f"f{k}")
    return out


# A customer with a candidate of a constrained offer is not walked here: its
# candidates, in declaration order, go to the run-wide walk (layout.HANDOFF).
_HANDOFF = """
hand = False
for wb in range(nc):
    if walked[co[wb]]:
        hand = True
if hand:
    for wb in range(nc):
        p_row[pw] = i
        p_offer[pw] = co[wb]
        p_chan[pw] = cs[wb]
        p_prio[pw] = cp[wb]
        ROOM
        pw += 1
    a_end[i] = w
else:
    WALK
p_end[i] = pw
"""


# Under in-run contact caps each handed pair takes its customer's room on
# its channel along (NaN where the channel has no cap).
_HANDOFF_ROOM = """
wr = room_of[cs[wb]]
p_room[pw] = scores[wr, i] if wr >= 0 else NAN
"""


def rooms(program: ir.Program) -> bool:
    """Whether the walk reads in-run contact caps (LANGUAGE.md 14.1)."""
    return bool(program.arbitrate.rooms)


def batch_parameters(program: ir.Program, plan: KernelPlan, fused: bool) -> tuple[str, ...]:
    """The batch kernel's parameters (layout.KernelLayout.batch)."""
    return plan.layout.batch(fused, fused and hands_off(program), fused and rooms(program))


def hands_off(program: ir.Program) -> bool:
    """Whether a fused batch kernel of the program hands customers over to
    the run-wide walk: an offer has a capacity or the arbitrate block a
    run-wide constraint."""
    return any(o.capacity is not None for o in program.offers) or program.arbitrate.constrained


def fusable(program: ir.Program) -> bool:
    """Whether the batch kernel can match as it goes: not with a fallback
    (walk.matcher's match_range walks it) nor an optimal allocation (which
    weighs every customer's candidates)."""
    return program.arbitrate.fallback is None and not program.arbitrate.optimal


def walk(program: ir.Program) -> list[ast.stmt]:
    """The row's candidates, ranked and walked (compiler/backend/walk.py),
    or handed over to the run-wide walk (hands_off)."""
    holdouts = any(o.holdout_bp is not None for o in program.offers)
    code = walk_code(C(program.arbitrate.max_per_customer), holdouts, rooms(program))
    if not hands_off(program):
        return code
    room = template(_HANDOFF_ROOM) if rooms(program) else []
    return template(_HANDOFF, WALK=code, ROOM=room)


def epilogue(program: ir.Program, per_offer: bool = True) -> list[ast.stmt]:
    """The counts out; `per_offer`: each offer's packed counter is a local
    of its own (a split kernel unpacks its array of them itself)."""
    out = []
    for k in range(len(program.offers) if per_offer else 0):
        out += template(_UNPACK, K=k, F=f"f{k}", **_FUNNEL_COLUMNS)
    return out + template(_EPILOGUE, **_matched_names())


def _row_walk(program: ir.Program) -> ast.Call:
    """The row kernel's walk: its one row's candidates through
    walk.matcher()'s match_range, a call rather than the walk pasted in (that
    doubled the telecom library's row kernel compile time), made inside the
    kernel so that a decision is one call from Python, not two. The kernel
    then returns how many offers the walk accepted."""
    fb = program.arbitrate.fallback
    fixed = {names.START: C(0), names.STOP: C(1), names.MAX_N: C(program.arbitrate.max_per_customer),
             names.FALLBACK: C([o.name for o in program.offers].index(fb) if fb is not None else -1)}
    return call("match_range", *(fixed.get(n, N(n)) for n in names.MATCH_RANGE))


def _carve(program: ir.Program, plan: KernelPlan) -> list[ast.stmt]:
    """The row kernel's arrays as views of its one buffer (layout.row_parts),
    made where it starts, without reference counts (compiler/backend/views.py):
    `iv = carray(byte_at(mem, 8), (12,), np.int64)`."""
    out: list[ast.stmt] = []
    for p in names.row_parts(plan, program.arbitrate.max_per_customer):
        dtype = ast.Attribute(N("np"), "bool_" if p.dtype == "bool" else p.dtype, ast.Load())
        shape = ast.Tuple([C(n) for n in p.shape], ast.Load())
        out.append(assign(p.name, call("carray", call("byte_at", N(names.MEMORY), C(p.offset)), shape, dtype)))
    return out


def generate(program: ir.Program, plan: KernelPlan, row: bool = False, fused: bool = False,
             split_at: int | None = None) -> ast.Module:
    """The batch kernel `kernel(start, stop, ...)`, or with `row` the
    single-record kernel `row_kernel(today, ...)` that `decide` calls (it
    writes its candidates out and walks them with a call of walk.matcher()'s
    match_range: the walk pasted in doubled the telecom library's row kernel
    compile time).
    `fused`: the batch kernel matches offers too (not with a fallback or an
    optimal allocation: `fusable`); with capacities or run-wide constraints
    it hands the customers of constrained offers over (`hands_off`). A batch
    kernel larger than `split_at` expression nodes (default: split.needed's
    sizes) is generated in stages (compiler/backend/split.py).

    The batch kernel releases the GIL and the engine runs it on row ranges
    from a thread pool, one range per core (Numba's own `parallel=True` gave
    the same speed but took six times longer to compile)."""
    if fused and (row or not fusable(program)):
        raise ValueError("only the batch kernel of a policy without a fallback or an optimal allocation "
                         "can be fused")
    if not row and split.needed(program, split_at):
        functions = split.generate(program, plan, fused, split.THRESHOLD if split_at is None else split_at)
        return ast.fix_missing_locations(ast.Module(_header(plan) + functions, []))
    matched = fused
    g = Emitter(program, plan, fused=matched)
    if row:
        g.load_record()
    else:
        g.load_fields()
    g.declarations()
    if matched:
        g.emit(assign("nc", C(0)))
    g.offers()
    if matched:
        g.body.extend(walk(program))
    if row:
        body = [assign("i", C(0)), *_carve(program, plan)] + g.body + [ast.Expr(_row_walk(program)),
                                                ast.Return(item(names.FLAT[-1], C(0)))]
        name, args = "row_kernel", plan.layout.row()
    else:
        body = [ast.For(ast.Name("i", ast.Store()), call("range", N(names.START), N(names.STOP)), g.body, [])]
        if fused:
            body = prologue(program, N(names.START)) + body + epilogue(program)
        name, args = "kernel", batch_parameters(program, plan, fused)
    fn = jitted(name, args, body)
    header = _header(plan)
    if row:
        header += [ast.ImportFrom("pol.compiler.backend.views", [ast.alias("byte_at"), ast.alias("carray")], 0),
                   ast.ImportFrom("pol.compiler.backend.walk", [ast.alias("matcher")], 0),
                   assign("match_range", ast.Attribute(call("matcher"), "match_range", ast.Load()))]
    module = ast.Module(header + [fn], [])
    return ast.fix_missing_locations(module)


def _header(plan: KernelPlan) -> list[ast.stmt]:
    return [
        ast.Expr(ast.Constant("Generated by pol.compiler.backend.codegen; do not edit.")),
        ast.Import([ast.alias("numpy", "np")]),
        ast.ImportFrom("numba", [ast.alias("njit")], 0),
        ast.ImportFrom("pol.compiler.backend.runtime", [ast.alias(n) for n in _runtime_names(plan)], 0),
    ]


def _runtime_names(plan: KernelPlan) -> tuple[str, ...]:
    # `member` only where a list param is, `list_has` and `quantify` where a
    # list field is: every other kernel's text (and its cache key) stays what it was
    lists = any(f.type.element is not None for f in plan.fields)
    return RUNTIME_NAMES + (("member",) if any(p.type.element is not None for p in plan.params) else ()) \
        + (("list_has", "quantify") if lists else ())


def source(program: ir.Program, plan: KernelPlan, row: bool = False, fused: bool = False,
           split_at: int | None = None) -> str:
    with no_cycle_collection():
        return ast.unparse(generate(program, plan, row, fused, split_at)) + "\n"
