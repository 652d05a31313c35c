"""The HTTP application (Starlette): routes, request limits, errors, and the
life of a worker: load the policies, watch their files, and at shutdown
write out the decision log.

`create_app(config)` makes the app; uvicorn's workers call `create_app()`,
which reads the config `pol serve` left in the environment.

Decisions run on the event loop itself: one takes tens of microseconds, less
than a hop to a thread would cost. Batches, explanations and reloads run on
threads, so that a long one does not hold the loop.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid

import orjson
import pyarrow as pa
import pyarrow.ipc as ipc
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from pol.errors import DataError, ParamError
from pol.serve import metrics, openapi
from pol.serve.config import ServeConfig
from pol.serve.deciding import Decider, route_key
from pol.serve.decisionlog import DecisionLog
from pol.serve.ledger import Ledger
from pol.serve.registry import Registry
from pol.serve.requests import ClientError, ask, ask_arrow, from_engine
from pol.serve.routing import Router

log = logging.getLogger("pol.serve")
ARROW = "application/vnd.apache.arrow.stream"


def _event(line: str) -> None:
    """A load, reload or refusal, for the operator's log."""
    log.info("%s", line) if ": loaded" in line or ": removed" in line else log.warning("%s", line)


def _logging() -> None:
    """The server's own lines on stderr beside uvicorn's, each marked `pol serve:`."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("pol serve: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def _json(data, status: int = 200, headers=None) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), status, headers,
                    media_type="application/json")


async def _body(request: Request, limit: int) -> bytes:
    size = request.headers.get("content-length")
    if size is not None and size.isdigit() and int(size) > limit:
        raise ClientError(413, "too_large", f"the body is {int(size):,} bytes; at most {limit:,} are taken")
    chunks = []
    got = 0
    async for chunk in request.stream():
        got += len(chunk)
        if got > limit:
            raise ClientError(413, "too_large", f"the body is over {limit:,} bytes, the most taken")
        chunks.append(chunk)
    return b"".join(chunks)


class Server:
    def __init__(self, config: ServeConfig):
        self.config = config
        self.registry = Registry(config.target, config.compile_in_subprocess, self._reloaded)
        self.router = Router(config.champions, config.challengers)
        self.ledger: Ledger | None = None
        self.log: DecisionLog | None = None
        self.decider: Decider | None = None
        self._watcher: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None

    @staticmethod
    def _reloaded(name, version, ok: bool) -> None:
        metrics.RELOADS.labels(name or "", "ok" if ok else "error").inc()

    # ------------------------------------------------------------ life
    @contextlib.asynccontextmanager
    async def lifespan(self, app):
        c = self.config
        for line in await run_in_threadpool(self.registry.refresh, False):
            _event(line)
        self.registry.start_background_builds()
        self.ledger = Ledger(c.ledger_path, c.capacity_period)
        self.log = DecisionLog(c.decision_dir, c.log_rotate_bytes, c.log_rotate_s,
                               on_drop=lambda n: metrics.LOG_DROPPED.inc(n))
        self.decider = Decider(self.registry, self.router, self.ledger, self.log)
        self._stop = asyncio.Event()
        if c.watch:
            self._watcher = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            self._stop.set()
            if self._watcher is not None:
                self._watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._watcher
            await run_in_threadpool(self.log.close)
            self.ledger.close()
            metrics.worker_exit(os.getpid())

    async def _watch(self) -> None:
        from watchfiles import awatch
        target = self.config.target
        # A single file is watched through its folder: an editor that saves by
        # renaming a new file over it would leave a watch on the file itself
        # looking at the old one. Its imports live in that folder too.
        where = target if os.path.isdir(target) else os.path.dirname(os.path.abspath(target))
        try:
            async for _ in awatch(where, stop_event=self._stop, watch_filter=lambda _, p: p.endswith(".pol")):
                for line in await run_in_threadpool(self.registry.refresh):
                    _event(line)
        except Exception:
            log.exception("watching %s stopped; restart the server to reload", target)

    # ------------------------------------------------------------ routes
    def routes(self) -> list[Route]:
        r = self._route
        return [
            Route("/v1/decide", r("/v1/decide", self.decide), methods=["POST"]),
            Route("/v1/decide/batch", r("/v1/decide/batch", self.batch), methods=["POST"]),
            Route("/v1/explain", r("/v1/explain", self.explain), methods=["POST"]),
            Route("/v1/policies", r("/v1/policies", self.policies), methods=["GET"]),
            Route("/v1/capacity", r("/v1/capacity", self.capacity), methods=["GET"]),
            Route("/healthz", r("/healthz", self.healthz), methods=["GET"]),
            Route("/readyz", r("/readyz", self.readyz), methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/docs", self.docs, methods=["GET"]),
        ]

    def _route(self, name: str, fn):
        latency = metrics.LATENCY.labels(name)

        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            rid = request.headers.get("x-request-id") or uuid.uuid4().hex
            try:
                response = await fn(request, rid)
            except ClientError as e:
                metrics.ERRORS.labels(name, e.code).inc()
                response = _json(e.body(), e.status)
            except Exception:
                log.exception("request %s to %s failed", rid, name)
                metrics.ERRORS.labels(name, "internal").inc()
                response = _json({"error": {"code": "internal", "field": None,
                                            "message": f"the server failed on this request; its log has the "
                                                       f"details under request id {rid}"}}, 500)
            response.headers["x-request-id"] = rid
            latency.observe(time.perf_counter() - t0)
            metrics.REQUESTS.labels(name, str(response.status_code)).inc()
            return response
        return endpoint

    async def decide(self, request: Request, rid: str) -> Response:
        a = ask(await _body(request, self.config.max_body), False, self.config.max_batch)
        return _json(self.decider.one(a, rid))

    async def batch(self, request: Request, rid: str) -> Response:
        body = await _body(request, self.config.max_body)
        kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if kind == ARROW:
            a = ask_arrow(request.query_params, self.config.max_batch)
            table = _read_arrow(body, self.config.max_batch)
            answer = await run_in_threadpool(self.decider.arrow, a, table, rid)
            sink = pa.BufferOutputStream()
            with ipc.new_stream(sink, answer.schema) as writer:
                writer.write_table(answer)
            return Response(sink.getvalue().to_pybytes(), media_type=ARROW)
        # curl -d sends form-urlencoded unless told: a JSON body is read as JSON.
        if kind not in ("application/json", "", "application/x-www-form-urlencoded"):
            raise ClientError(415, "unsupported_media_type",
                              f"a batch is application/json or {ARROW}, not {kind}", "content-type")
        a = ask(body, True, self.config.max_batch)
        return _json({"decisions": await run_in_threadpool(self.decider.batch, a, rid)})

    async def explain(self, request: Request, rid: str) -> Response:
        a = ask(await _body(request, self.config.max_body), False, self.config.max_batch)
        name, versions = self.decider.versions(a)
        record = a.records[0]
        # The version that decides for this customer explains them.
        key_field = next(iter(versions.values())).policy.program.input.key
        entry = self.router.route(name, versions, route_key(record, key_field), a.version, a.pinned).answer

        def run():
            try:
                return entry.policy.explain(record, a.moment or a.as_of, a.params, extra=a.extra, history=a.history)
            except (DataError, ParamError, ValueError) as e:
                raise from_engine(e) from None
        why = await run_in_threadpool(run)
        return _json({"policy": entry.name, "version": entry.version, **why.to_dict(), "text": str(why)})

    async def policies(self, request: Request, rid: str) -> Response:
        snap = self.registry.snapshot
        routing = {name: self.router.describe(name, versions) for name, versions in snap.versions.items()}
        return _json({"policies": self.registry.listing(), "routing": routing, "generation": snap.generation})

    async def capacity(self, request: Request, rid: str) -> Response:
        caps = {(e.name, o): cap for e in self.registry.snapshot.by_path.values() for o, cap in e.capacities.items()}
        rows = await run_in_threadpool(self.ledger.usage)
        for row in rows:
            row["capacity"] = caps.get((row["policy"], row["offer"]))
        return _json({"period": self.config.capacity_period, "ledger": rows})

    async def healthz(self, request: Request, rid: str) -> Response:
        return _json({"status": "ok"})

    async def readyz(self, request: Request, rid: str) -> Response:
        snap = self.registry.snapshot
        if not snap.versions:
            raise ClientError(503, "not_ready", "no policy is loaded" + (
                "; see /v1/policies for why" if snap.errors else ""))
        return _json({"status": "ready", "policies": sorted(snap.versions)})

    async def metrics(self, request: Request) -> Response:
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    async def openapi(self, request: Request) -> Response:
        return _json(openapi.document())

    async def docs(self, request: Request) -> Response:
        return HTMLResponse(openapi.page(openapi.document()))


def _read_arrow(body: bytes, max_rows: int) -> pa.Table:
    try:
        table = ipc.open_stream(pa.py_buffer(body)).read_all()
    except (pa.ArrowException, OSError) as e:
        raise ClientError(400, "bad_arrow", f"the body is not an Arrow IPC stream: {e}") from None
    if table.num_rows > max_rows:
        raise ClientError(413, "too_large", f"{table.num_rows:,} rows in one batch; at most {max_rows:,}")
    return table


def create_app(config: ServeConfig | None = None) -> Starlette:
    _logging()
    server = Server(config or ServeConfig.from_env())
    app = Starlette(routes=server.routes(), lifespan=server.lifespan)
    app.state.server = server
    return app
