"""`pol serve` end to end: a real server in a child process, spoken to over
HTTP. Every endpoint, bad requests, version pinning and routing, shadow
mode, hot reload of a good and a broken edit, the decision log and its use
by `pol effect`, and a graceful shutdown that writes the log out."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest

import pol
from pol.serve.routing import in_share
from pol.serve.tables import logged
from tests.serving import Served, policy_text, wait_for

pytest.importorskip("uvicorn")

AS_OF = "2026-11-01"
RECORDS = [{"id": k, "arpu": float(k * 10), "app_active": k % 3 == 0} for k in range(1, 41)]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """Two versions of one policy in a folder: "1" (vip from 100) and "2" (vip from 200)."""
    folder = tmp_path_factory.mktemp("serve")
    policies = folder / "policies"
    policies.mkdir()
    (policies / "shop.pol").write_text(policy_text("1", 100), encoding="utf-8")
    (policies / "shop_v2.pol").write_text(policy_text("2", 200), encoding="utf-8")
    server = Served(policies, folder / "state", "--champion", "shop=1", "--challenger", "shop=2:30%")
    with server:
        yield server, folder


def _decide(server, record, **kw):
    r = server.post("/v1/decide", {"record": record, "as_of": AS_OF, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def test_decide_answers_the_decision_of_policy_decide(shop):
    server, folder = shop
    v1 = pol.load(folder / "policies" / "shop.pol")
    v2 = pol.load(folder / "policies" / "shop_v2.pol")
    for record in RECORDS:
        got = _decide(server, record)
        arm = "challenger" if in_share("shop", record["id"], 3000) else "champion"
        policy = v2 if arm == "challenger" else v1
        want = policy.decide(record, as_of=AS_OF, engine="reference").model_dump(mode="json")
        assert len(got.pop("run_id")) == 36 and want.pop("run_id")      # each decision its own id
        assert got == {"policy": "shop", "version": policy.version, "arm": arm, **want}
    arms = {_decide(server, r)["arm"] for r in RECORDS}
    assert arms == {"champion", "challenger"}          # both arms take a share of 40 keys


def test_pinning_a_version(shop):
    server, _ = shop
    record = {"id": 7, "arpu": 150.0, "app_active": True}
    assert _decide(server, record, version="1")["segments"] == {"vip": True}
    two = _decide(server, record, version="2", policy="shop")
    assert (two["version"], two["arm"], two["segments"]) == ("2", "pinned", {"vip": False})


@pytest.mark.parametrize("body, status, field, words", [
    ({"record": {"id": 1, "arpu": "lots"}}, 422, "record.arpu", "field 'arpu' is float"),
    ({"record": {"id": 1, "arpx": 1.0}}, 422, "record.arpx", "did you mean 'arpu'?"),
    ({"record": {"arpu": 1.0}}, 422, "record.id", "the key 'id' is missing"),
    ({"record": [1, 2]}, 422, "record", "a record is a mapping"),
    ({"records": []}, 400, "records", "unknown field 'records'"),
    ({}, 400, "record", "the body needs a record"),
    ({"record": {"id": 1}, "as_of": "2026-02-30"}, 400, "as_of", "as_of must be a date"),
    ({"record": {"id": 1}, "params": {"vip_lin": 5}}, 422, "params.vip_lin", "did you mean 'vip_line'?"),
    ({"record": {"id": 1}, "params": {"vip_line": "high"}}, 422, "params.vip_line", "vip_line"),
    ({"record": {"id": 1}, "params": [1]}, 400, "params", "params must be a JSON object"),
    ({"record": {"id": 1}, "version": "9"}, 404, "version", "has no version '9' loaded; it has '1', '2'"),
    ({"record": {"id": 1}, "policy": "shoes"}, 404, "policy", "no policy 'shoes' is loaded; this server holds shop"),
    ({"record": {"id": 1}, "extra": "drop"}, 400, "extra", "extra must be 'error' or 'ignore'"),
])
def test_bad_requests_name_the_field(shop, body, status, field, words):
    server, _ = shop
    r = server.post("/v1/decide", body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["field"] == field and words in error["message"], error


def test_malformed_and_oversized_bodies(shop):
    server, _ = shop
    r = server.session.post(server.url + "/v1/decide", data=b"{not json", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_json"
    r = server.session.post(server.url + "/v1/decide", data=b"[1]", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["message"] == "the body must be a JSON object"
    big = json.dumps({"record": {"id": 1}, "pad": "x" * (17 * 1024 * 1024)}).encode()
    r = server.session.post(server.url + "/v1/decide", data=big, timeout=60)
    assert r.status_code == 413 and "at most 16,777,216" in r.json()["error"]["message"]
    r = server.session.post(server.url + "/v1/decide/batch", data=b"a,b\n1,2\n", headers={"content-type": "text/csv"})
    assert r.status_code == 415 and r.json()["error"]["field"] == "content-type"
    r = server.session.post(server.url + "/v1/decide/batch", data=b"not arrow",
                            headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_arrow"
    r = server.session.get(server.url + "/v1/decide")
    assert r.status_code == 405
    assert "Traceback" not in server.output()


def test_batch_json_in_input_order_as_single_decisions(shop):
    server, _ = shop
    r = server.post("/v1/decide/batch", {"records": RECORDS, "as_of": AS_OF})
    assert r.status_code == 200, r.text
    batch = r.json()["decisions"]

    def same(d):
        assert len(d.pop("run_id")) == 36
        return d
    assert [same(d) for d in batch] == [same(_decide(server, rec)) for rec in RECORDS]
    bad = server.post("/v1/decide/batch", {"records": [RECORDS[0], {"id": 2, "arpu": True}], "version": "1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "records[1].arpu"


def test_batch_arrow_in_arrow_out(shop):
    server, folder = shop
    table = pa.Table.from_pylist(RECORDS, schema=pa.schema([("id", pa.int64()), ("arpu", pa.float64()),
                                                            ("app_active", pa.bool_())]))
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    r = server.session.post(server.url + "/v1/decide/batch?as_of=2026-11-01&version=1&param.vip_line=300",
                            data=sink.getvalue().to_pybytes(),
                            headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 200, r.text
    answer = ipc.open_stream(pa.py_buffer(r.content)).read_all()
    assert answer.schema.metadata[b"version"] == b"1" and answer.schema.metadata[b"arm"] == b"pinned"
    v1 = pol.load(folder / "policies" / "shop.pol")
    for row, rec in zip(answer.to_pylist(), RECORDS):
        want = v1.decide(rec, as_of=AS_OF, params={"vip_line": 300}, engine="reference")
        assert row["id"] == want.key and row["vip"] == want.segments["vip"]
        assert row["offers"] == logged([a.model_dump() for a in want.offers])
    missing = table.drop_columns(["arpu"])
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, missing.schema) as w:
        w.write_table(missing)
    r = server.session.post(server.url + "/v1/decide/batch", data=sink.getvalue().to_pybytes(),
                            headers={"content-type": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "body.arpu"


def test_explain(shop):
    server, _ = shop
    r = server.post("/v1/explain", {"record": {"id": 5, "arpu": 150.0, "app_active": False}, "as_of": AS_OF,
                                    "version": "1"})
    assert r.status_code == 200, r.text
    why = r.json()
    assert (why["policy"], why["version"], why["key"]) == ("shop", "1", 5)
    assert [(o["name"], o["given"]) for o in why["offers"]] == [("gift", True), ("sms_bonus", False)]
    assert "gift (礼包): given" in why["text"]


def test_policies_health_metrics_docs(shop):
    server, folder = shop
    listing = server.get("/v1/policies").json()
    rows = {Path(p["path"]).name: p for p in listing["policies"]}
    assert set(rows) == {"shop.pol", "shop_v2.pol"}
    assert (rows["shop.pol"]["name"], rows["shop.pol"]["version"], rows["shop.pol"]["last_error"]) == ("shop", "1", None)
    assert len(rows["shop.pol"]["hash"]) == 64 and rows["shop.pol"]["loaded_at"].endswith("Z")
    assert listing["routing"] == {"shop": {"champion": "1", "challenger": {"version": "2", "share": 30.0,
                                                                            "shadow": False}}}
    assert server.get("/healthz").json() == {"status": "ok"}
    assert server.get("/readyz").json() == {"status": "ready", "policies": ["shop"]}
    _decide(server, {"id": 3, "arpu": 500.0, "app_active": True}, version="1")
    assert server.post("/v1/decide", {"record": {"id": 3, "arpu": "many"}}).status_code == 422
    text = server.get("/metrics").text
    assert 'pol_requests_total{route="/v1/decide",status="200"}' in text
    assert 'pol_request_seconds_bucket{le="0.005",route="/v1/decide"}' in text
    assert 'pol_decisions_total{arm="pinned",policy="shop",version="1"}' in text
    assert 'pol_offers_total{control="false",offer="gift",policy="shop"}' in text
    assert 'pol_errors_total{code="data_error",route="/v1/decide"}' in text
    assert 'pol_reloads_total{policy="shop",result="ok"} 2.0' in text
    doc = server.get("/openapi.json").json()
    assert {"/v1/decide", "/v1/decide/batch", "/v1/explain", "/v1/policies", "/healthz", "/readyz",
            "/metrics"} <= set(doc["paths"])
    page = server.get("/docs")
    assert page.status_code == 200 and "/v1/decide/batch" in page.text and "<script" not in page.text


def test_shadow_mode_logs_the_challenger_apart(tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "a.pol").write_text(policy_text("1", 100), encoding="utf-8")
    (policies / "b.pol").write_text(policy_text("2", 200), encoding="utf-8")
    with Served(policies, tmp_path / "state", "--champion", "shop=1", "--shadow", "shop=2") as server:
        for record in RECORDS[:10]:
            got = _decide(server, record)
            assert (got["version"], got["arm"]) == ("1", "champion")
        assert server.get("/v1/policies").json()["routing"]["shop"]["challenger"]["shadow"] is True
    logs = tmp_path / "state" / "decisions" / "shop"
    served = [json.loads(line) for f in logs.glob("*.jsonl") for line in f.read_text().splitlines()]
    shadow = [json.loads(line) for f in (logs / "_shadow").glob("*.jsonl") for line in f.read_text().splitlines()]
    assert [(d["key"], d["version"], d["arm"]) for d in served] == [(k, "1", "champion") for k in range(1, 11)]
    assert [(d["key"], d["version"], d["arm"]) for d in shadow] == [(k, "2", "shadow") for k in range(1, 11)]
    v2 = pol.load(policies / "b.pol")
    assert [d["offers"] for d in shadow] == [
        logged([a.model_dump() for a in v2.decide(r, as_of=AS_OF).offers]) for r in RECORDS[:10]]


def test_hot_reload_and_a_broken_edit(tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    path = policies / "shop.pol"
    path.write_text(policy_text("1", 100), encoding="utf-8")
    record = {"id": 4, "arpu": 150.0, "app_active": True}
    with Served(policies, tmp_path / "state") as server:
        first = server.get("/v1/policies").json()["policies"][0]
        assert _decide(server, record)["segments"] == {"vip": True}
        path.write_text(policy_text("1", 100).replace("arpu >= vip_line", "arpu >= vip_line and"), encoding="utf-8")
        broken = wait_for(lambda: server.get("/v1/policies").json()["policies"][0]["last_error"], what="the report")
        assert "shop.pol:10:" in broken["error"] and "error[E-SYNTAX" in broken["error"]
        # The old version keeps serving, unchanged.
        now = server.get("/v1/policies").json()["policies"][0]
        assert (now["hash"], now["loaded_at"]) == (first["hash"], first["loaded_at"])
        assert _decide(server, record)["segments"] == {"vip": True}
        path.write_text(policy_text("1.1", 200), encoding="utf-8")
        fixed = wait_for(lambda: (lambda p: p if p["version"] == "1.1" else None)(
            server.get("/v1/policies").json()["policies"][0]), what="the reload")
        assert fixed["last_error"] is None and fixed["hash"] != first["hash"]
        got = _decide(server, record)
        assert (got["version"], got["segments"]) == ("1.1", {"vip": False})
        assert 'pol_reloads_total{policy="shop",result="error"}' in server.get("/metrics").text
    out = server.output()
    assert "does not check" in out and "loaded shop version 1.1" in out


def test_log_is_written_out_at_shutdown_and_read_by_pol_effect(tmp_path):
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "shop.pol").write_text(policy_text("1", 100), encoding="utf-8")
    server = Served(policies, tmp_path / "state", "--log-rotate-s", "3600")
    server.wait_ready()
    for record in RECORDS:
        _decide(server, record)
    assert server.post("/v1/decide/batch", {"records": RECORDS[:5], "as_of": AS_OF}).status_code == 200
    assert server.stop() in (0, -15)     # uvicorn ends by the signal it was sent, once shut down
    logs = tmp_path / "state" / "decisions" / "shop"
    assert not list(logs.glob(".*"))                 # nothing left half-written
    lines = [json.loads(line) for f in sorted(logs.glob("*.jsonl")) for line in f.read_text().splitlines()]
    assert len(lines) == len(RECORDS) + 5
    first = lines[0]
    assert set(first) == {"time", "policy", "version", "arm", "key", "offers", "as_of", "latency_ms", "request",
                          "worker"}
    assert (first["policy"], first["version"], first["arm"], first["key"], first["as_of"]) == \
        ("shop", "1", "champion", 1, AS_OF)
    assert dt.datetime.fromisoformat(first["time"].replace("Z", "+00:00")).tzinfo is not None
    v1 = pol.load(policies / "shop.pol")
    assert [d["offers"] for d in lines[:40]] == [
        logged([a.model_dump() for a in v1.decide(r, as_of=AS_OF).offers]) for r in RECORDS]
    assert any(o["control"] for d in lines for o in d["offers"])      # the holdout is logged
    run = _effect_of_logs(logs, RECORDS, tmp_path)
    assert "sms_bonus" in run.stdout and (tmp_path / "effect").is_dir()


def _effect_of_logs(logs: Path, records: list[dict], tmp_path: Path) -> subprocess.CompletedProcess:
    """`pol effect --decisions` on the server's logs, with an odd-key response; it must succeed."""
    import pyarrow.parquet as pq
    outcomes = pa.table({"key": [r["id"] for r in records], "response": [r["id"] % 2 for r in records]})
    pq.write_table(outcomes, tmp_path / "outcomes.parquet")
    run = subprocess.run([sys.executable, "-m", "pol", "effect", "--decisions", str(logs), "--outcomes",
                          str(tmp_path / "outcomes.parquet"), "--out", str(tmp_path / "effect")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run


def test_usage_errors(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pol", "serve", str(tmp_path / "nothing")], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "no such file or folder" in run.stderr
    run = subprocess.run([sys.executable, "-m", "pol", "serve", str(tmp_path), "--challenger", "shop=2"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "NAME=VERSION:SHARE%" in run.stderr


def test_arrow_log_lines_are_the_line_by_line_json():
    from pol.serve.tables import log_lines, offers_of
    policy = pol.loads(policy_text("1", 100), name="shop.pol")
    result = policy.evaluate(pa.Table.from_pylist(RECORDS), as_of=AS_OF)
    head = {"time": "2026-11-01T00:00:00.000Z", "policy": "shop", "version": "1", "arm": "champion"}
    tail = {"as_of": AS_OF, "latency_ms": 0.01, "request": "r\"1", "worker": 7, "params": {"vip_line": "50"}}
    lines = log_lines(result, head, tail).decode().splitlines()
    keys, offers = offers_of(result)
    assert [json.loads(line) for line in lines] == [{**head, "key": k, "offers": o, **tail} for k, o in zip(keys, offers)]
    assert offers == [logged([a.model_dump() for a in policy.decide(r, as_of=AS_OF).offers]) for r in RECORDS]


def test_a_list_override_is_logged_as_the_json_array_param_takes():
    from pol.serve.deciding import _logged_param
    assert _logged_param(("全球通", "金卡")) == '["全球通", "金卡"]'
    assert json.loads(_logged_param([3, 5])) == [3, 5]
    assert _logged_param(50) == "50"


def test_serving_the_telecom_library(tmp_path):
    """A folder is served file by file, modules left out: policies/telecom is one
    policy, the nightly dispatch, which imports every other file."""
    root = Path(__file__).resolve().parents[1] / "policies" / "telecom"
    with Served(root, tmp_path / "state", "--no-watch") as server:
        rows = server.get("/v1/policies").json()["policies"]
        assert [(Path(p["path"]).name, p["name"], p["version"]) for p in rows] == \
            [("dispatch.pol", "telecom_dispatch", "2026.12")]
        assert rows[0]["capacities"] == {"retention.retention_pack": 20000, "retention.handset_free": 5000}
        record = {"id": 2, "tenure_months": 1, "data_gb": 19, "plan_data_gb": 20, "intl_call_min": 100,
                  "app_active": True, "sms_opt_out": False, "do_not_disturb": False, "contacts_30d": 0}
        got = _decide(server, record)
        assert [(o["offer"], o["rank"], o["campaign"]) for o in got["offers"]] == \
            [("retention.welcome_gift", 1, "lifecycle"), ("retention.flow_worry_free", 2, "lifecycle")]


def test_a_population_answers_every_record_of_a_batch(tmp_path):
    """LANGUAGE.md 3.14: a batch run leaves the customers outside the
    population out, but a request answers every record it holds: those
    outside with no offer, as decide does."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "shop.pol").write_text(policy_text("1", 100) + "population when arpu >= 150\n", encoding="utf-8")
    policy = pol.load(policies / "shop.pol")
    table = pa.Table.from_pylist(RECORDS, schema=pa.schema([("id", pa.int64()), ("arpu", pa.float64()),
                                                            ("app_active", pa.bool_())]))
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    with Served(policies, tmp_path / "state") as server:
        r = server.post("/v1/decide/batch", {"records": RECORDS, "as_of": AS_OF})
        assert r.status_code == 200, r.text
        got = r.json()["decisions"]
        r = server.session.post(server.url + "/v1/decide/batch?as_of=2026-11-01", data=sink.getvalue().to_pybytes(),
                                headers={"content-type": "application/vnd.apache.arrow.stream"})
        assert r.status_code == 200, r.text
        answer = ipc.open_stream(pa.py_buffer(r.content)).read_all().to_pylist()
    assert [d["key"] for d in got] == [row["id"] for row in answer] == [rec["id"] for rec in RECORDS]
    for d, row, rec in zip(got, answer, RECORDS):
        want = policy.decide(rec, as_of=AS_OF, engine="reference")
        assert [a["offer"] for a in d["offers"]] == [a["offer"] for a in row["offers"]] == want.offer_names
        assert (want.offer_names == []) == (rec["arpu"] < 150)


AB = policy_text("1", 100).replace("eligible when true", "eligible when arpu >= 100") + """experiment greet "问候" salt "g" { arm warm 50%  arm cool 40%  control 10% }
offer warm_sms "暖" { eligible when arpu >= 200  channels sms  priority 5  arm greet.warm }
"""


def test_the_log_carries_the_arms_and_pol_effect_measures_them(tmp_path):
    """Each line says the customer's arms (`experiments`), on the one-record,
    JSON batch and Arrow batch paths alike; a customer decided without an
    offer is logged too, so pol effect measures every arm's customers."""
    policies = tmp_path / "p"
    policies.mkdir()
    (policies / "shop.pol").write_text(AB, encoding="utf-8")
    records = [{"id": k, "arpu": float(k % 50 * 10), "app_active": k % 3 == 0} for k in range(1, 601)]
    with Served(policies, tmp_path / "state", "--log-rotate-s", "3600") as server:
        for record in records[:20]:
            _decide(server, record)
        assert server.post("/v1/decide/batch", {"records": records[20:300], "as_of": AS_OF}).status_code == 200
        table = pa.Table.from_pylist(records[300:], schema=pa.schema([("id", pa.int64()), ("arpu", pa.float64()),
                                                                      ("app_active", pa.bool_())]))
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        r = server.session.post(server.url + "/v1/decide/batch?as_of=2026-11-01", data=sink.getvalue().to_pybytes(),
                                headers={"content-type": "application/vnd.apache.arrow.stream"})
        assert r.status_code == 200, r.text
    logs = tmp_path / "state" / "decisions" / "shop"
    lines = [json.loads(line) for f in sorted(logs.glob("*.jsonl")) for line in f.read_text().splitlines()]
    policy = pol.load(policies / "shop.pol")
    arms = {r["id"]: policy.decide(r, as_of=AS_OF).arms for r in records}
    assert sorted(d["key"] for d in lines) == [r["id"] for r in records]
    assert all(d["experiments"] == arms[d["key"]] for d in lines)
    assert any(not d["offers"] for d in lines) and list(lines[0])[5:7] == ["offers", "experiments"]
    run = _effect_of_logs(logs, records, tmp_path)
    doc = json.loads((tmp_path / "effect" / "effect.json").read_text(encoding="utf-8"))
    counts = {a: sum(1 for x in arms.values() if x["greet"] == a) for a in ("cool", "warm", "control")}
    assert doc["experiments"] == {"greet": counts}
    rows = {(x["arm"], x["against"]): x for x in doc["rows"] if x["experiment"] == "greet"}
    assert set(rows) == {("cool", "control"), ("warm", "control"), ("warm", "cool")}
    assert (rows["warm", "control"]["treated"], rows["warm", "control"]["control"]) == (counts["warm"],
                                                                                        counts["control"])
    assert "Experiment greet on response" in run.stdout


def test_arrow_log_lines_with_arms_are_the_line_by_line_json():
    from pol.serve.tables import arms_of, log_lines, offers_of
    policy = pol.loads(AB, name="shop.pol")
    result = policy.evaluate(pa.Table.from_pylist(RECORDS), as_of=AS_OF)
    head = {"time": "2026-11-01T00:00:00.000Z", "policy": "shop", "version": "1", "arm": "champion"}
    tail = {"as_of": AS_OF, "latency_ms": 0.01, "request": "r1", "worker": 7}
    lines = log_lines(result, head, tail).decode().splitlines()
    keys, offers = offers_of(result)
    want = [{**head, "key": k, "offers": o, "experiments": x, **tail}
            for k, o, x in zip(keys, offers, arms_of(result))]
    assert [json.loads(line) for line in lines] == want
    assert [x["experiments"] for x in want] == [policy.decide(r, as_of=AS_OF).arms for r in RECORDS]
