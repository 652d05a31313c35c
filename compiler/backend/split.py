"""A large policy's batch kernel as stages: ir.Program + KernelPlan -> a
module of several Numba functions behind the one `kernel` entry point.

Numba's compile time grows faster than a function's length, and past some
thousands of statements its SSA pass overflows Python's stack: a policy of
50 offers and 300 segments took 38 s as one kernel, one of 200 offers and
1,000 segments did not compile. So when a policy's declarations and offers
hold more than `threshold` expression nodes (`size`), the row's work is cut
into stages in dependency order (`groups`), each stage a jitted function
with its own row loop, and `kernel(start, stop, ...)` keeps the fused or
unfused kernel's parameters (compiler/backend/layout.py), so that the
executors, the cache and the background compile see no difference.

The kernel runs its range in blocks of BLOCK rows: each stage runs over the
block, keeping what a later stage reads in block buffers (`fb` floats, `ib`
ints, dates, timestamps and string codes, `bb` bools and validity, a row of
each per input row, a column per value kept: a row's values side by side,
where a column per row put them 8 kB apart, all in one set of the L1
cache); segments and scores are read back from the `segs` and `scores`
outputs they are written to anyway. Offer stages write each
offer's candidate state and priority (`ost`, `opr`) when the kernel walks
(fused): its own loop then counts the funnel and walks the candidates with
compiler/backend/walk.py's template, a loop over the offers rather than a
statement per offer. Unfused, offer stages write `cchan`/`cprio` directly.

A policy under the threshold gets the single kernel of codegen.py, as
before (its speed and golden source unchanged).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass

from pol.compiler import ir
from pol.compiler.backend import layout as names
from pol.compiler.backend.astgen import C, N, Value, assign, call, item, jitted, store_item, template
from pol.compiler.backend.emitter import Emitter
from pol.compiler.backend.plan import KernelPlan
from pol.compiler.types import Type

# Expression nodes (declarations and offers) per stage, and the size from
# which a kernel is split; or the number of offers, which cost a fused
# kernel's compile more than linearly (docs/GUARANTEES.md): a split kernel
# walks them in a loop. benchmarks/README.md ("Policies as large as a
# catalogue") has the figures these were chosen from: a split kernel costs
# the same CPU to compile, in parallel, but 1.3x-1.5x the single kernel's
# time per row, so policies of the size of the telecom library (at most 529
# nodes, 22 offers) and the bench policy (267, 14) keep the single kernel.
THRESHOLD = 2_000
MAX_OFFERS = 64
BLOCK = 1024
# Offers per offer stage: an offer's candidate state costs statements beyond
# its nodes (channel choice, validity, the stores), and Numba's compile grows
# faster than a function's length: one stage of 200 offers (1,924 nodes)
# took 33-36 s of CPU, two of 100 took 13 s each (benchmarks/README.md).
STAGE_OFFERS = 50

STAGE_BUFFERS = ("fb", "ib", "bb")
OFFER_BUFFERS = ("ost", "opr")


def _nodes(e: ir.Expr | None) -> int:
    return 0 if e is None else sum(1 for _ in ir.walk(e))


Decl = ir.Let | ir.Segment | ir.Classify | ir.Score


def _decl_index(program: ir.Program) -> dict[str, Decl]:
    decls: list[Decl] = [*program.lets, *program.segments, *program.classifies, *program.scores]
    return {d.name: d for d in decls}


def _decl_exprs(d: Decl) -> list[ir.Expr]:
    if isinstance(d, ir.Classify):
        return [w.cond for w in d.whens]
    return [d.expr]


def _offer_exprs(o: ir.Offer) -> list[ir.Expr]:
    return [o.eligible, o.priority] + ([o.prefer] if o.prefer is not None else [])


def size(program: ir.Program) -> int:
    """The policy's row work, counted in expression nodes."""
    index = _decl_index(program)
    return (sum(_nodes(e) for name in program.order for e in _decl_exprs(index[name]))
            + sum(_nodes(e) for o in program.offers for e in _offer_exprs(o)))


def needed(program: ir.Program, threshold: int | None) -> bool:
    """Whether the batch kernel is split; `threshold` (nodes) replaces both
    defaults, so that a test can split a small policy or keep a large one
    whole. A policy whose stages would have to pass on a value no block
    buffer holds (a type added to the language after this module) keeps
    the single kernel."""
    if threshold is not None:
        large = size(program) > threshold
    else:
        large = size(program) > THRESHOLD or len(program.offers) > MAX_OFFERS
    if not large:
        return False
    kept = _later_refs(program, groups(program, THRESHOLD if threshold is None else threshold))
    return all(t in KEPT for t in kept.values())


@dataclass
class Groups:
    decls: list[list[str]]      # declaration stages, each in dependency order
    offers: list[range]         # offer stages


def groups(program: ir.Program, threshold: int) -> Groups:
    """Consecutive runs of declarations (program.order) and of offers, each
    of at most `threshold` nodes (a larger single one is a stage alone), and
    at most STAGE_OFFERS offers."""
    index = _decl_index(program)
    decls: list[list[str]] = []
    load = threshold
    for name in program.order:
        n = sum(_nodes(e) for e in _decl_exprs(index[name]))
        if load + n > threshold:
            decls.append([])
            load = 0
        decls[-1].append(name)
        load += n
    offers: list[range] = []
    load, first = 0, 0
    for k, o in enumerate(program.offers):
        n = sum(_nodes(e) for e in _offer_exprs(o))
        if k > first and (load + n > threshold or k - first >= STAGE_OFFERS):
            offers.append(range(first, k))
            first, load = k, 0
        load += n
    if program.offers:
        offers.append(range(first, len(program.offers)))
    return Groups(decls, offers)


def _later_refs(program: ir.Program, g: Groups) -> dict[str, Type]:
    """Declarations read outside the stage that computes them, with their types."""
    index = _decl_index(program)
    stage_of = {name: s for s, names_ in enumerate(g.decls) for name in names_}
    out: dict[str, Type] = {}

    def look(e: ir.Expr, stage: int) -> None:
        for x in ir.walk(e):
            if isinstance(x, ir.DeclRef) and stage_of[x.name] != stage:
                out[x.name] = x.type

    for s, group in enumerate(g.decls):
        for name in group:
            for e in _decl_exprs(index[name]):
                look(e, s)
    for o in program.offers:
        for e in _offer_exprs(o):
            look(e, len(g.decls))
    for ch in program.channels:
        if ch.cond is not None:
            look(ch.cond, len(g.decls))
    return out


class _Rows:
    """Where kept values go: a row of fb, ib or bb per value (and validity)."""

    def __init__(self) -> None:
        self.count = {"fb": 0, "ib": 0, "bb": 0}
        self.where: dict[str, tuple[str, int, int | None]] = {}

    def take(self, buffer: str) -> int:
        self.count[buffer] += 1
        return self.count[buffer] - 1


# The block buffer that keeps a value of each type between stages.
KEPT = {Type.FLOAT: "fb", Type.BOOL: "bb", Type.INT: "ib", Type.STRING: "ib", Type.DATE: "ib",
        Type.TIMESTAMP: "ib"}


def _buffer(t: Type) -> str:
    return KEPT[t]


class StageEmitter(Emitter):
    """One stage's row code: declarations computed here, or read back from
    the block buffers (and `segs`, `scores`) where an earlier stage kept them."""

    def __init__(self, program: ir.Program, plan: KernelPlan, rows: _Rows, kept: dict[str, Type],
                 walks: bool):
        super().__init__(program, plan, fused=False)
        self.rows = rows
        self.kept = kept
        self.walks = walks
        self.seg_pos = {s: k for k, s in enumerate(plan.segments)}
        self.score_pos = {s: k for k, s in enumerate(plan.scores)}

    def x_DeclRef(self, e: ir.DeclRef) -> Value:
        if e.name in self.decls:
            return self.decls[e.name]
        i, j = N("i"), N("j")
        if e.name in self.seg_pos:
            v = self.bind(item(names.SEGS, C(self.seg_pos[e.name]), i), None)
        elif e.name in self.score_pos:
            s = self.bind(item(names.SCORES, C(self.score_pos[e.name]), i), None).v
            v = self.bind(s, ast.Compare(s, [ast.Eq()], [s]))      # NaN is a null score
        else:
            buffer, row, valid = self.rows.where[e.name]
            v = self.bind(item(buffer, j, C(row)), None if valid is None else item("bb", j, C(valid)))
        self.decls[e.name] = v
        return v

    def keep(self, names_: list[str]) -> None:
        """Store this stage's declarations that later stages read."""
        j = N("j")
        for name in names_:
            if name not in self.kept or name in self.seg_pos or name in self.score_pos:
                continue
            value = self.decls[name]
            buffer = _buffer(self.kept[name])
            row = self.rows.take(buffer)
            self.emit(store_item(buffer, (j, C(row)), value.v))
            valid = None
            if value.m is not None:
                valid = self.rows.take("bb")
                self.emit(store_item("bb", (j, C(valid)), value.m))
            self.rows.where[name] = (buffer, row, valid)

    def candidate(self, k: int, state: ast.expr, prio: ast.expr) -> None:
        if not self.walks:
            super().candidate(k, state, prio)
            return
        j = N("j")
        self.emit(store_item("ost", (j, C(k)), state))
        self.emit(store_item("opr", (j, C(k)), prio))


def _row_loop(body: list[ast.stmt]) -> ast.For:
    head = template("j = i - start")
    return ast.For(ast.Name("i", ast.Store()), call("range", N(names.START), N(names.STOP)), head + body, [])


# The fused kernel's own row loop: each offer's packed funnel count (see
# codegen.FUSED_MAX_ROWS) and the row's candidates, from the offer stages.
_CANDIDATES = """
nc = 0
for ok in range(K):
    st = ost[j, ok]
    fa[ok] += fw[min(st, 0) + 3]
    if st >= 0:
        co[nc] = ok
        cp[nc] = opr[j, ok]
        cs[nc] = st
        nc += 1
"""

_UNPACK = """
for ok in range(K):
    lost[ok, ELIGIBLE] += fa[ok] & 2097151
    lost[ok, DELIVERABLE] += (fa[ok] >> 21) & 2097151
    lost[ok, CANDIDATES] += fa[ok] >> 42
"""

_BUFFERS = """
fb = np.empty((BLOCK, NFB), np.float64)
ib = np.empty((BLOCK, NIB), np.int64)
bb = np.empty((BLOCK, NBB), np.bool_)
"""

_OFFER_BUFFERS = """
ost = np.empty((BLOCK, K1), np.int64)
opr = np.empty((BLOCK, K1), np.float64)
fa = np.zeros(K1, np.int64)
"""


def generate(program: ir.Program, plan: KernelPlan, fused: bool, threshold: int) -> list[ast.stmt]:
    """The staged functions and the `kernel` entry point (codegen.generate
    adds the module's imports)."""
    from pol.compiler.backend import codegen
    g = groups(program, threshold)
    kept = _later_refs(program, g)
    rows = _Rows()
    core = plan.layout.batch(False)[:-2]          # up to and with scores; not cprio, cchan
    stage_params = core + STAGE_BUFFERS + (OFFER_BUFFERS if fused else (names.CPRIO, names.CCHAN))
    functions: list[ast.stmt] = []
    stages: list[str] = []

    def stage(emitter: StageEmitter) -> None:
        name = f"stage{len(stages)}"
        stages.append(name)
        functions.append(jitted(name, stage_params, [_row_loop(emitter.body)]))

    for group in g.decls:
        e = StageEmitter(program, plan, rows, kept, fused)
        e.load_fields()
        e.declarations(group)
        e.keep(group)
        stage(e)
    for offers in g.offers:
        e = StageEmitter(program, plan, rows, kept, fused)
        e.load_fields()
        e.offers(offers)
        stage(e)

    K = len(program.offers)
    body = template(_BUFFERS, NFB=max(rows.count["fb"], 1), NIB=max(rows.count["ib"], 1),
                    NBB=max(rows.count["bb"], 1), BLOCK=BLOCK)
    calls = [ast.Expr(call(s, *(N(a) for a in (("b", "e") + stage_params[2:])))) for s in stages]
    inner: list[ast.stmt] = [assign("e", call("min", ast.BinOp(N("b"), ast.Add(), C(BLOCK)), N(names.STOP)))]
    inner += calls
    if fused:
        body = (codegen.prologue(program, N(names.START), per_offer=False) + body
                + template(_OFFER_BUFFERS, K1=max(K, 1), BLOCK=BLOCK))
        # The fused kernel counts the block's non-finite floats as it reads
        # the fields (Emitter.load_fields), then walks each row.
        reader = Emitter(program, plan, fused=True)
        reader.load_fields()
        walk = reader.body + template("j = i - b") + template(_CANDIDATES, K=K) + codegen.walk(program)
        inner.append(ast.For(ast.Name("i", ast.Store()), call("range", N("b"), N("e")), walk, []))
    body.append(ast.For(ast.Name("b", ast.Store()), call("range", N(names.START), N(names.STOP), C(BLOCK)),
                        inner, []))
    if fused:
        body += template(_UNPACK, K=K, ELIGIBLE=names.ELIGIBLE, DELIVERABLE=names.DELIVERABLE,
                         CANDIDATES=names.CANDIDATES) + codegen.epilogue(program, per_offer=False)
    # What compiler/backend/warm.py needs to compile the stages in parallel:
    # how many, how many of the kernel's parameters open a stage's, fused or not.
    shape = [assign("STAGES", C(len(stages))), assign("CORE", C(len(core))), assign("FUSED", C(fused))]
    return shape + functions + [jitted("kernel", codegen.batch_parameters(program, plan, fused), body)]
