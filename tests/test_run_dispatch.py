"""`pol run` on a program of several campaigns (LANGUAGE.md sections 3.2,
8.1, 8.3): the assignments say each offer's campaign and attributes and
carry input fields, every output names its run (Parquet metadata,
summary.json), a nullable field the input lacks is read as null and
reported, and a non-nullable one is still an error naming it."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pol.cli.main import main

SHARED = """policy shared
input customer key id {
    id: int
    phone: string
    arpu: float?
}
channel sms "短信"
segment spender "高消费" = arpu >= 100
"""
DATA = """policy data_packs
import "shared.pol"
offer big_pack "大流量包" {
    eligible when spender
    channels sms
    attributes { code: "D-BIG", cost: 30 }
    priority 100 - offer.cost
}
"""
CARE = """policy care
import "shared.pol"
input customer key id { dropped_calls: int? }
offer care_sms "关怀短信" {
    eligible when dropped_calls >= 5
    channels sms
    attributes { code: "C-SMS", family: "关怀" }
    priority 80
}
"""
DISPATCH = """policy dispatch version "7"
import "shared.pol"
import "data.pol" as data
import "care.pol" as care
input customer key id { store: string? }
carry phone, store
arbitrate { max 2 per customer }
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "0")
    for name, text in [("shared.pol", SHARED), ("data.pol", DATA), ("care.pol", CARE), ("dispatch.pol", DISPATCH)]:
        (tmp_path / name).write_text(text, encoding="utf-8")
    pq.write_table(pa.table({
        "id": [1, 2, 3], "phone": ["138001", "138002", "138003"],
        "arpu": pa.array([150.5, 20.0, None], pa.float64()),
    }), tmp_path / "in.parquet")
    return tmp_path


def test_a_dispatch_run_writes_campaigns_attributes_carried_fields_and_its_identity(folder, capsys):
    status = main(["run", str(folder / "dispatch.pol"), "--input", str(folder / "in.parquet"),
                   "--out", str(folder / "out"), "--as-of", "2026-11-01"])
    err = capsys.readouterr()
    assert status == 0, err
    a = pq.read_table(folder / "out" / "assignments.parquet")
    assert a.column_names == ["id", "offer", "rank", "channel", "priority", "control",
                              "campaign", "code", "cost", "family", "phone", "store"]
    assert a.to_pylist() == [{"id": 1, "offer": "data.big_pack", "rank": 1, "channel": "sms", "priority": 70.0,
                              "control": False, "campaign": "data_packs", "code": "D-BIG", "cost": 30,
                              "family": None, "phone": "138001", "store": None}]
    summary = json.loads((folder / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["absent_fields"] == ["dropped_calls", "store"]
    meta = a.schema.metadata
    assert (meta[b"pol.policy"], meta[b"pol.version"], meta[b"pol.as_of"]) == (b"dispatch", b"7", b"2026-11-01")
    assert meta[b"pol.run_id"].decode() == summary["run_id"] and len(summary["run_id"]) == 36
    c = pq.read_table(folder / "out" / "customers.parquet")
    assert c.schema.metadata[b"pol.run_id"] == meta[b"pol.run_id"]
    assert "Absent from the input, read as null in every row: dropped_calls, store" in err.out + err.err


def test_decimals_are_read_as_floats_and_a_missing_non_nullable_field_is_named(folder, capsys):
    table = pa.table({"id": [1, 2], "phone": ["1", "2"],
                      "arpu": pa.array(["150.50", "99.99"], pa.string()).cast(pa.decimal128(8, 2)),
                      "dropped_calls": [9, None]})
    pq.write_table(table, folder / "dec.parquet")
    assert main(["run", str(folder / "dispatch.pol"), "--input", str(folder / "dec.parquet"),
                 "--out", str(folder / "out"), "--as-of", "2026-11-01"]) == 0
    rows = pq.read_table(folder / "out" / "assignments.parquet").to_pylist()
    assert [(r["id"], r["offer"], r["campaign"]) for r in rows] == [
        (1, "care.care_sms", "care"), (1, "data.big_pack", "data_packs")]
    assert json.loads((folder / "out" / "summary.json").read_text(encoding="utf-8"))["absent_fields"] == ["store"]
    capsys.readouterr()
    pq.write_table(table.drop_columns(["phone"]), folder / "nophone.parquet")
    assert main(["run", str(folder / "dispatch.pol"), "--input", str(folder / "nophone.parquet"),
                 "--out", str(folder / "out2")]) == 1
    assert "column 'phone' (string) is missing from the input" in capsys.readouterr().err
    assert not (folder / "out2").exists()
