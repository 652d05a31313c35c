"""`pol serve`: decisions over HTTP (docs/SERVE.md).

    config.py       the server's settings, handed to every worker
    registry.py     the loaded versions of each policy; reload off the request path, atomic swap
    routing.py      which version answers a key: pinned, champion, challenger share, shadow
    ledger.py       capacities drawn from a SQLite store shared by the workers
    decisionlog.py  one JSON line per decision, written by a background thread, rotated
    metrics.py      Prometheus counters and histograms
    deciding.py     a request's decisions: one record, a batch (JSON or Arrow), with the ledger
    tables.py       a run's output as Decisions, one Arrow table, and decision log lines
    requests.py     reading and checking request bodies; the errors a client sees
    app.py          the Starlette application and its routes
    openapi.py      the OpenAPI document and the page at /docs
    cli.py          the `pol serve` command (uvicorn)
"""
