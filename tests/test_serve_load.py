"""The load test in small (benchmarks/bench_serve.py is the full one): a
few thousand decisions from concurrent keep-alive clients while the policy
file is rewritten again and again. No request may fail, each answer must
come from one whole version (never a mix), and every decision is logged."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.serving import Served, policy_text

AS_OF = "2026-11-01"


def test_reloads_under_load_fail_no_request(tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    path = policies / "shop.pol"
    versions = {"1": 100.0, "2": 200.0}          # version -> vip_line
    path.write_text(policy_text("1", versions["1"]), encoding="utf-8")
    n_clients, per_client = 8, 250
    with Served(policies, tmp_path / "state", "--log-rotate-s", "3600", workers=2) as server:
        stop = threading.Event()
        edits = []

        def edit():
            for i in range(10):
                if stop.wait(0.4):
                    return
                version = "2" if i % 2 == 0 else "1"
                path.write_text(policy_text(version, versions[version]), encoding="utf-8")
                edits.append(version)

        def client(c):
            session = requests.Session()
            out = []
            for i in range(per_client):
                key = c * per_client + i
                t0 = time.perf_counter()
                r = session.post(server.url + "/v1/decide", timeout=30,
                                 json={"record": {"id": key, "arpu": 150.0, "app_active": True}, "as_of": AS_OF})
                out.append((r.status_code, r.json(), time.perf_counter() - t0))
            return out

        editor = threading.Thread(target=edit)
        editor.start()
        with ThreadPoolExecutor(n_clients) as pool:
            answers = [a for got in pool.map(client, range(n_clients)) for a in got]
        stop.set()
        editor.join()
        assert len(edits) >= 3
        assert [s for s, _, _ in answers if s != 200] == []
        # Each answer is one version's: vip from 100 in "1", from 200 in "2".
        for _, d, _ in answers:
            assert d["segments"]["vip"] == (d["version"] == "1"), d
        assert {d["version"] for _, d, _ in answers} == {"1", "2"}
        latencies = sorted(t for _, _, t in answers)
        assert latencies[int(len(latencies) * 0.99)] < 2.0      # generous: a loaded 2-core machine
    logs = tmp_path / "state" / "decisions" / "shop"
    lines = [json.loads(x) for f in logs.glob("*.jsonl") for x in f.read_text().splitlines()]
    assert sorted(d["key"] for d in lines) == list(range(n_clients * per_client))
