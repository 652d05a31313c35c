"""A request's decisions: one record, a JSON batch or an Arrow batch; the
version each is routed to, capacities drawn from the ledger, the shadow
arm, the decision log and the metrics.

One record runs `Policy.decide` (the compiled row kernel once the version's
kernel is built, the reference evaluator until then). A batch of a policy
without capacities runs `Policy.evaluate` over the records as one table
(the fused kernel, or the vectorized evaluator while it compiles): the same
values as decide, at a fraction of the cost per record. A policy with
capacities decides record by record, so that each draws from the ledger in
turn.

Capacities: the offers of a decision that have a capacity are drawn in
rank order, each with its share of the arbitrate block's quotas, channel
capacities and budget (ledger.take_all: all or nothing); when one is
exhausted, it is lost and the customer is decided again without it, so the next candidate by the arbitration
order takes its place, as in a run (LANGUAGE.md section 6.4). The offers
drawn before it stay drawn (the walk before them is unchanged).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections import Counter

import pyarrow as pa

from pol.api.decision import costs_of
from pol.api.params import resolve_params
from pol.api.records import reader
from pol.compiler import offer_settings
from pol.errors import DataError, ParamError
from pol.io.columns import ARROW
from pol.serve import metrics
from pol.serve.ledger import amounts, draws_of
from pol.serve.registry import NotLoaded
from pol.serve.requests import Ask, ClientError, from_engine
from pol.serve.routing import Route, Router
from pol.serve.tables import arms_of, decisions_of, log_lines, logged, offers_of, table_of, table_of_result

_PID = os.getpid()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def route_key(record, key_field: str):
    k = record.get(key_field) if isinstance(record, dict) else None
    return k if isinstance(k, (int, str)) and not isinstance(k, bool) else None


def sized(entry, params):
    """The offers' capacities and what each draws from the ledger for a
    request: its params may size them (LANGUAGE.md 3.10, 3.11); the
    version's own, computed once, when they do not."""
    program = entry.policy.program
    if not params or not (program.arbitrate.settings or any(o.settings for o in program.offers)):
        return entry.capacities, entry.draws
    program = offer_settings.with_params(program, resolve_params(program, params))
    return {o.name: o.capacity for o in program.offers if o.capacity is not None}, draws_of(program)


class Decider:
    def __init__(self, registry, router: Router, ledger, log):
        self.registry = registry
        self.router = router
        self.ledger = ledger
        self.log = log
        self._children: dict = {}

    def versions(self, ask: Ask):
        try:
            return self.registry.lookup(ask.policy, ask.version, ask.pinned)
        except NotLoaded as e:
            raise ClientError(404, "not_found", str(e), e.field) from None

    # ------------------------------------------------------------ one customer
    def decide_one(self, entry, record, ask: Ask, shadow: bool = False):
        """A Decision for one record on this version, drawing capacities
        unless it is a shadow decision (which draws nothing)."""
        policy = entry.policy
        if not entry.drawn:
            return policy.decide(record, ask.moment or ask.as_of, ask.params, engine=entry.engine, extra=ask.extra,
                                 history=ask.history)
        caps, (draws, channels) = sized(entry, ask.params)
        exhausted = set(self.ledger.exhausted(entry.name, ask.as_of, caps))
        if exhausted:
            # A customer who was given an offer in this period keeps it.
            read = reader(policy.program, ask.extra)
            key = read.values(record)[read.key_index]
            exhausted -= self.ledger.held(entry.name, ask.as_of, key, exhausted)
        while True:
            d = policy.decide(record, ask.moment or ask.as_of, ask.params, engine=entry.engine, extra=ask.extra,
                              exhausted=frozenset(exhausted), history=ask.history)
            if shadow:
                return d
            contacted: set[str] = set()
            costs = costs_of(d)
            for a in d.offers:
                want = amounts(draws.get(a.offer, []), costs.get(a.offer))
                if a.channel in channels and a.channel not in contacted:
                    want.append((f"channel:{a.channel}", 1, channels[a.channel]))
                if want and self.ledger.take_all(entry.name, a.offer, ask.as_of, d.key, want) is not None:
                    exhausted.add(a.offer)
                    metrics.CAPACITY_REFUSED.labels(entry.name, a.offer).inc()
                    break
                contacted.add(a.channel)
            else:
                return d

    def one(self, ask: Ask, request_id: str) -> dict:
        name, versions = self.versions(ask)
        record = ask.records[0]
        any_entry = next(iter(versions.values()))
        route = self.router.route(name, versions, route_key(record, any_entry.policy.program.input.key),
                                  ask.version, ask.pinned)
        t0 = time.perf_counter()
        try:
            d = self.decide_one(route.answer, record, ask)
        except (DataError, ParamError, ValueError) as e:
            raise from_engine(e) from None
        ms = (time.perf_counter() - t0) * 1000
        out = d.model_dump()
        self._count(route.answer, route.arm, [out])
        self._log(route.answer, route.arm, ask, [out], ms, request_id)
        if route.shadow is not None:
            self._shadow_one(route.shadow, record, ask, request_id)
        return {"policy": route.answer.name, "version": route.answer.version, "arm": route.arm, **out}

    def _shadow_one(self, entry, record, ask: Ask, request_id: str) -> None:
        t0 = time.perf_counter()
        try:
            d = self.decide_one(entry, record, ask, shadow=True)
        except (DataError, ParamError, ValueError):
            return           # the challenger may read the record differently; the champion answered
        self._count(entry, "shadow", [])
        self._log(entry, "shadow", ask, [d.model_dump()], (time.perf_counter() - t0) * 1000, request_id)

    # ------------------------------------------------------------ batches
    def batch(self, ask: Ask, request_id: str) -> list[dict]:
        """A JSON batch: each record routed by its key, decisions in input order."""
        name, versions = self.versions(ask)
        key_field = next(iter(versions.values())).policy.program.input.key
        groups: dict[tuple, tuple[Route, list[int]]] = {}
        for i, record in enumerate(ask.records):
            route = self.router.route(name, versions, route_key(record, key_field), ask.version, ask.pinned)
            k = (id(route.answer), route.arm)
            groups.setdefault(k, (route, []))[1].append(i)
        out: list = [None] * len(ask.records)
        for route, rows in groups.values():
            records = [ask.records[i] for i in rows]
            t0 = time.perf_counter()
            got = self._decide_many(route.answer, records, ask, rows)
            ms = (time.perf_counter() - t0) * 1000
            self._count(route.answer, route.arm, got)
            self._log(route.answer, route.arm, ask, got, ms, request_id)
            head = {"policy": route.answer.name, "version": route.answer.version, "arm": route.arm}
            for i, d in zip(rows, got):
                out[i] = {**head, **d}
            if route.shadow is not None:
                try:
                    t0 = time.perf_counter()
                    shadow = self._decide_many(route.shadow, records, ask, rows, shadow=True)
                    self._count(route.shadow, "shadow", [])
                    self._log(route.shadow, "shadow", ask, shadow, (time.perf_counter() - t0) * 1000, request_id)
                except ClientError:
                    pass
        return out

    def _decide_many(self, entry, records: list, ask: Ask, rows: list[int], shadow: bool = False) -> list[dict]:
        if entry.by_record:
            out = []
            for i, record in zip(rows, records):
                try:
                    out.append(self.decide_one(entry, record, ask, shadow=shadow).model_dump())
                except (DataError, ParamError, ValueError) as e:
                    raise from_engine(e, f"records[{i}]") from None
            return out
        program = entry.policy.program
        read = reader(program, ask.extra)
        columns = [[] for _ in program.input.fields]
        for i, record in zip(rows, records):
            try:
                values = read.values(record)
            except DataError as e:
                raise from_engine(e, f"records[{i}]") from None
            for col, v in zip(columns, values):
                col.append(v)
        table = pa.table({f.name: pa.array(col, ARROW[f.type])
                          for f, col in zip(program.input.fields, columns)})
        result = self._evaluate(entry, table, ask)
        return decisions_of(entry, result)

    def _evaluate(self, entry, table: pa.Table, ask: Ask):
        try:
            return entry.policy.evaluate(table, as_of=ask.as_of, params=ask.params)
        except (DataError, ParamError, ValueError) as e:
            raise from_engine(e, "body") from None

    def arrow(self, ask: Ask, table: pa.Table, request_id: str) -> pa.Table:
        """An Arrow batch: one version (pinned, or the champion; a shadow
        challenger beside it), the answer as one table."""
        name, versions = self.versions(ask)
        route = self.router.route(name, versions, None, ask.version, ask.pinned)
        entry = route.answer
        t0 = time.perf_counter()
        if entry.by_record:
            records = table.to_pylist()
            got = self._decide_many(entry, records, ask, list(range(len(records))))
            answer = table_of(entry, got, table.schema.field(entry.policy.program.input.key).type)
        else:
            result = self._evaluate(entry, table, ask)
            answer = table_of_result(result)
            got = None
        ms = (time.perf_counter() - t0) * 1000
        if got is None:
            self._count_table(entry, route.arm, result)
            lines = None
            if self.log is not None and result.customers.num_rows:
                lines = log_lines(result, *self._line_parts(entry, route.arm, ask, ms / result.customers.num_rows,
                                                            request_id))
            if lines is not None:
                self.log.write_encoded(entry.name, False, lines)
            else:
                keys, offers = offers_of(result)
                self._log(entry, route.arm, ask, [{"key": k, "offers": o, "arms": x}
                                                  for k, o, x in zip(keys, offers, arms_of(result))], ms, request_id)
        else:
            self._count(entry, route.arm, got)
            self._log(entry, route.arm, ask, got, ms, request_id)
        if route.shadow is not None:
            try:
                if route.shadow.by_record:
                    shadow = self._decide_many(route.shadow, table.to_pylist(), ask, list(range(table.num_rows)),
                                               True)
                else:
                    shadow_result = self._evaluate(route.shadow, table, ask)
                    keys, offers = offers_of(shadow_result)
                    shadow = [{"key": k, "offers": o, "arms": x}
                              for k, o, x in zip(keys, offers, arms_of(shadow_result))]
                self._count(route.shadow, "shadow", [])
                self._log(route.shadow, "shadow", ask, shadow, ms, request_id)
            except ClientError:
                pass
        meta = {b"policy": entry.name.encode(), b"version": (entry.version or "").encode(), b"arm": route.arm.encode()}
        return answer.replace_schema_metadata(meta)

    # ------------------------------------------------------------ accounts
    def _child(self, metric, *labels):
        """A labelled series, looked up once (labels() costs microseconds a call)."""
        k = (id(metric), labels)
        child = self._children.get(k)
        if child is None:
            child = self._children[k] = metric.labels(*labels)
        return child

    def _count(self, entry, arm: str, decisions: list[dict]) -> None:
        self._child(metrics.DECISIONS, entry.name, entry.version or "", arm).inc(max(len(decisions), 1))
        if len(decisions) == 1:
            for a in decisions[0]["offers"]:
                self._child(metrics.OFFERS, entry.name, a["offer"], "true" if a["control"] else "false").inc()
            return
        counts = Counter((a["offer"], a["control"]) for d in decisions for a in d["offers"])
        for (offer, control), n in counts.items():
            self._child(metrics.OFFERS, entry.name, offer, "true" if control else "false").inc(n)

    def _count_table(self, entry, arm: str, result) -> None:
        self._child(metrics.DECISIONS, entry.name, entry.version or "", arm).inc(max(result.customers.num_rows, 1))
        a = result.assignments
        if a.num_rows:
            counts = pa.table({"offer": a.column("offer").cast(pa.string()), "control": a.column("control")}) \
                .group_by(["offer", "control"]).aggregate([([], "count_all")])
            for offer, control, n in zip(*(counts.column(i).to_pylist() for i in range(3))):
                self._child(metrics.OFFERS, entry.name, offer, "true" if control else "false").inc(n)

    @staticmethod
    def _line_parts(entry, arm: str, ask: Ask, per_ms: float, request_id: str) -> tuple[dict, dict]:
        head = {"time": _now(), "policy": entry.name, "version": entry.version, "arm": arm}
        tail = {"as_of": ask.as_of.isoformat(), "latency_ms": round(per_ms, 4), "request": request_id, "worker": _PID}
        if ask.params:
            tail["params"] = {k: _logged_param(v) for k, v in ask.params.items()}
        return head, tail

    def _log(self, entry, arm: str, ask: Ask, decisions: list[dict], ms: float, request_id: str) -> None:
        if self.log is None or not decisions:
            return
        head, tail = self._line_parts(entry, arm, ask, ms / len(decisions), request_id)
        # `experiments`: the customer's arms, for pol effect to measure them
        # (`arm` is the server's routing arm, champion or challenger).
        self.log.write(entry.name, arm == "shadow",
                       [{**head, "key": d["key"], "offers": logged(d["offers"]),
                         **({"experiments": d["arms"]} if d.get("arms") else {}), **tail} for d in decisions])


def _logged_param(value) -> str:
    """A param override as text in the log: a list param as the JSON array
    `--param` takes (["A", "B"]), not Python's tuple text."""
    if isinstance(value, (list, tuple)):
        return json.dumps(list(value), ensure_ascii=False)
    return str(value)
