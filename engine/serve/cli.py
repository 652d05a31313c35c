"""`pol serve POLICY_OR_DIR`: the HTTP decision service (docs/SERVE.md).

The arguments become a ServeConfig, handed to uvicorn's workers through the
environment; uvicorn runs the app (httptools and uvloop when installed).
Exit status 2 for a malformed argument or a target that is not there;
otherwise the server runs until SIGINT or SIGTERM, then stops taking
connections, finishes the requests in flight and writes out the decision log.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from pol.serve.config import ENV, PERIODS, Challenger, ServeConfig


class UsageError(Exception):
    pass


def _pairs(items, what: str) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        if not eq or not name.strip() or not value.strip():
            raise UsageError(f"{what} needs NAME=VERSION, got '{item}'")
        out[name.strip()] = value.strip()
    return out


def _challengers(items, shadows) -> dict[str, Challenger]:
    out = {}
    for name, value in _pairs(items, "--challenger").items():
        m = re.fullmatch(r"(.+):([0-9]+(?:\.[0-9]+)?)%", value)
        if m is None:
            raise UsageError(f"--challenger needs NAME=VERSION:SHARE%, e.g. retention=2026.12:10%, got '{value}'")
        share = float(m.group(2))
        if not 0 <= share <= 100:
            raise UsageError(f"--challenger share must be from 0% to 100%, got {m.group(2)}%")
        out[name] = Challenger(m.group(1), round(share * 100))
    for name, version in _pairs(shadows, "--shadow").items():
        if name in out:
            raise UsageError(f"policy '{name}' has both --challenger and --shadow; give one")
        out[name] = Challenger(version, 0, shadow=True)
    return out


def config_of(args) -> ServeConfig:
    if not Path(args.target).exists():
        raise UsageError(f"cannot serve '{args.target}': no such file or folder")
    if args.workers < 1:
        raise UsageError("--workers must be 1 or more")
    if args.max_body_mb <= 0 or args.max_batch <= 0:
        raise UsageError("--max-body-mb and --max-batch must be more than 0")
    return ServeConfig(
        target=args.target, host=args.host, port=args.port, workers=args.workers,
        state_dir=args.state, log_dir=args.log_dir, champions=_pairs(args.champion, "--champion"),
        challengers=_challengers(args.challenger, args.shadow), capacity_period=args.capacity_period,
        max_body=int(args.max_body_mb * 1024 * 1024), max_batch=args.max_batch, watch=not args.no_watch,
        log_rotate_s=args.log_rotate_s)


def cmd_serve(args) -> int:
    try:
        config = config_of(args)
    except UsageError as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 2
    import uvicorn
    os.makedirs(config.state_dir, exist_ok=True)
    os.environ[ENV] = config.to_env()
    if config.workers > 1:
        # Each worker counts in its own files here; /metrics adds them up.
        prom = os.path.join(config.state_dir, f"metrics-{config.port}")
        shutil.rmtree(prom, ignore_errors=True)
        os.makedirs(prom)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom
    extras = {}
    try:
        import httptools  # noqa: F401
        extras["http"] = "httptools"
    except ImportError:
        pass
    try:
        import uvloop  # noqa: F401
        extras["loop"] = "uvloop"
    except ImportError:
        pass
    print(f"pol serve: {config.target} on http://{config.host}:{config.port} "
          f"({config.workers} worker{'s' if config.workers > 1 else ''}; state in {config.state_dir}, "
          f"decision logs in {config.decision_dir}); ready when GET /readyz answers 200", flush=True)
    uvicorn.run("pol.serve.app:create_app", factory=True, host=config.host, port=config.port,
                workers=config.workers, log_level=args.log_level, access_log=False,
                timeout_graceful_shutdown=30, server_header=False, **extras)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="decisions over HTTP: decide, batch, explain, versions, hot reload")
    p.add_argument("target", metavar="POLICY_OR_DIR")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--state", default="pol-serve-state", metavar="DIR",
                   help="the capacity ledger and the decision logs (default: pol-serve-state)")
    p.add_argument("--log-dir", metavar="DIR", help="the decision logs (default: STATE/decisions)")
    p.add_argument("--champion", action="append", default=[], metavar="NAME=VERSION",
                   help="the version that answers by default (default: the greatest version loaded)")
    p.add_argument("--challenger", action="append", default=[], metavar="NAME=VERSION:SHARE%",
                   help="route this share of keys (stable hash) to another version")
    p.add_argument("--shadow", action="append", default=[], metavar="NAME=VERSION",
                   help="decide with this version too, log it apart; the champion answers")
    p.add_argument("--capacity-period", choices=PERIODS, default="day",
                   help="capacities start again each day (of the decision's as-of date), week, month, or never")
    p.add_argument("--max-body-mb", type=float, default=16.0, help="the largest request body taken (default 16)")
    p.add_argument("--max-batch", type=int, default=100_000, help="the most records in one batch")
    p.add_argument("--log-rotate-s", type=float, default=60.0,
                   help="close a decision log file after this many seconds (default 60)")
    p.add_argument("--no-watch", action="store_true", help="do not reload policies when their files change")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(fn=cmd_serve)
