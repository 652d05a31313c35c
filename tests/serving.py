"""A real `pol serve` in a child process, on 127.0.0.1 and a free port, for
the tests of tests/test_serve*.py; requests go to it over HTTP."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

POLICY = """policy shop version "{version}"

input customer key id {{ id: int  arpu: float  app_active: bool? }}

param vip_line: float = {line}

channel app "APP推送" when app_active
channel sms "短信"

segment vip "高价值" = arpu >= vip_line
offer gift "礼包" {{ eligible when vip  channels app, sms  priority 50  {capacity} }}
offer sms_bonus "短信红包" {{ eligible when true  channels sms  priority 10  holdout 10% }}
"""


def policy_text(version: str = "1", line: float = 100, capacity: int | None = None) -> str:
    return POLICY.format(version=version, line=line, capacity=f"capacity {capacity}" if capacity is not None else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, target, state, *args: str, workers: int = 1, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = Path(state)
        self.out = open(self.state.parent / f"serve-{self.port}.log", "w+", encoding="utf-8")  # noqa: SIM115
        cmd = [sys.executable, "-m", "pol", "serve", str(target), "--port", str(self.port), "--state", str(state),
               "--workers", str(workers), "--log-level", "warning", *args]
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        self.session = requests.Session()

    def wait_ready(self, timeout: float = 90.0, status: int = 200) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"pol serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if self.session.get(self.url + "/readyz", timeout=2).status_code == status:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"pol serve was not ready in {timeout} s:\n{self.output()}")

    def output(self) -> str:
        if self.out.closed:
            return self._said
        self.out.flush()
        self.out.seek(0)
        return self.out.read()

    def post(self, path: str, body=None, **kw):
        return self.session.post(self.url + path, json=body, timeout=60, **kw)

    def get(self, path: str, **kw):
        return self.session.get(self.url + path, timeout=60, **kw)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a service manager stops it; the exit status."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.session.close()
        self._said = self.output()
        self.out.close()
        return self.proc.returncode

    def __enter__(self) -> Served:
        self.wait_ready()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_for(check, timeout: float = 30.0, what: str = "the condition"):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen in {timeout} s (last: {last!r})")


def served_decider(tmp_path: Path, text: str):
    """pol serve's Decider, in this process, over one policy `text` in a
    folder of its own and a SQLite ledger beside it: (decider, its entry)."""
    from pol.serve.deciding import Decider
    from pol.serve.ledger import Ledger
    from pol.serve.registry import Registry
    from pol.serve.routing import Router
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "shop.pol").write_text(text, encoding="utf-8")
    registry = Registry(str(folder))
    registry.refresh(build=False)
    decider = Decider(registry, Router({}, {}), Ledger(str(tmp_path / "ledger.sqlite")), None)
    return decider, next(iter(registry.snapshot.by_path.values()))
