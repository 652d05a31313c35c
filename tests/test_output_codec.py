"""Parquet output settings of `pol run` (engine/io/output_files.py): the
choices per column type, `--compression`, and that what pol writes reads the
same in pyarrow, Polars and DuckDB, whichever codec wrote it."""
import errno
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tables import decoded

import pol.evaluation.stream
import pol.io.output_files
from pol.cli.main import main as cli_main
from pol.cli.run import UsageError, run, run_command
from pol.io.output_files import COMPRESSIONS, writer_options

POLICY = """policy codec version "1"
input c key id { id: int  spend: float  plan: string  opted_out: bool }
segment big "大客户" = spend >= 50
segment small = spend < 20
classify band { when spend >= 100 => "高"  when spend >= 50 => "中"  else => "低" }
score value = spend / 10
channel sms when not opted_out
channel store
offer upsell { eligible when big  priority spend  channels sms, store }
offer keep { eligible when not small  priority 10  channels store }
arbitrate { max 2 per customer }
"""
AS_OF = "2026-11-01"
ROWS = 3000


@pytest.fixture(autouse=True)
def _kernel_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "0")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("codec")
    rng = np.random.default_rng(3)
    table = pa.table({
        "id": pa.array(rng.permutation(ROWS) * 3 + 1, pa.int64()),
        "spend": pa.array(np.round(rng.lognormal(3.8, 0.7, ROWS), 2)),
        "plan": pa.array(rng.choice(["基础", "畅享"], ROWS)),
        "opted_out": pa.array(rng.random(ROWS) < 0.3),
    })
    (folder / "p.pol").write_text(POLICY, encoding="utf-8")
    pq.write_table(table, folder / "in.parquet")
    return folder / "p.pol", folder / "in.parquet"


@pytest.fixture(scope="module")
def outputs(inputs, tmp_path_factory) -> dict[str, Path]:
    """One run per codec, in batches of 1,000 rows (three row groups)."""
    policy, data = inputs
    folder = tmp_path_factory.mktemp("codec-out")
    mp = pytest.MonkeyPatch()
    mp.setattr(pol.evaluation.stream, "MAX_BATCH_ROWS", 1000)
    mp.setenv("POL_BACKGROUND_COMPILE", "0")
    try:
        runs = {}
        for codec in (None, *COMPRESSIONS):
            out = folder / f"out-{codec}"
            run(str(policy), str(data), str(out), AS_OF, compression=codec)
            runs[str(codec)] = out
        return runs
    finally:
        mp.undo()


def columns(path: Path) -> dict[str, pq.ColumnChunkMetaData]:
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    rg = meta.row_group(1)
    return {rg.column(i).path_in_schema: rg.column(i) for i in range(rg.num_columns)}


def test_settings_per_column_type():
    schema = pa.schema([("id", pa.int64()), ("flag", pa.bool_()), ("band", pa.dictionary(pa.int16(), pa.string())),
                        ("score", pa.float64()), ("rank", pa.int32()),
                        ("offers", pa.list_(pa.dictionary(pa.int32(), pa.string())))])
    o = writer_options(schema, "zstd")
    assert o["use_dictionary"] == ["band", "offers.list.element"]
    assert o["column_encoding"] == {"id": "DELTA_BINARY_PACKED", "rank": "DELTA_BINARY_PACKED"}
    assert o["write_statistics"] == ["id", "score", "rank"]
    assert o["compression"] == "zstd"
    # a schema without integers asks for no encoding at all (pyarrow's default)
    assert writer_options(pa.schema([("k", pa.string())]))["column_encoding"] is None


def test_the_files_say_what_they_were_written_with(outputs):
    cust = columns(outputs["None"] / "customers.parquet")
    assert "DELTA_BINARY_PACKED" in cust["id"].encodings
    assert cust["id"].statistics is not None and cust["id"].statistics.has_min_max
    assert cust["value"].statistics is not None and cust["value"].statistics.has_min_max
    for name in ("big", "small", "band", "offers.list.element"):
        assert cust[name].statistics is None, name
    assert "RLE_DICTIONARY" in cust["band"].encodings
    assert "RLE_DICTIONARY" in cust["offers.list.element"].encodings
    assert {c.compression for c in cust.values()} == {"SNAPPY"}
    asg = columns(outputs["None"] / "assignments.parquet")
    assert "DELTA_BINARY_PACKED" in asg["id"].encodings and "DELTA_BINARY_PACKED" in asg["rank"].encodings
    assert asg["offer"].statistics is None and asg["control"].statistics is None
    assert asg["priority"].statistics is not None
    for codec, name in (("none", "UNCOMPRESSED"), ("lz4", "LZ4"), ("zstd", "ZSTD"), ("snappy", "SNAPPY")):
        for table in ("customers", "assignments"):
            assert {c.compression for c in columns(outputs[codec] / f"{table}.parquet").values()} == {name}



def test_every_codec_reads_the_same_in_pyarrow_polars_and_duckdb(outputs, inputs):
    import duckdb
    import polars as pl

    from pol.cli.run import parse_date
    expected = pol.load(inputs[0]).evaluate(pq.read_table(inputs[1]), as_of=parse_date(AS_OF))
    want = {"customers": decoded(expected.customers), "assignments": decoded(expected.assignments)}
    for codec, out in outputs.items():
        for table in ("customers", "assignments"):
            path = out / f"{table}.parquet"
            got = decoded(pq.read_table(path))
            assert got.num_rows == want[table].num_rows > 0
            for name in want[table].column_names:
                assert got[name].combine_chunks().equals(want[table][name].combine_chunks()), (codec, table, name)
            frame = pl.read_parquet(path)
            assert frame.height == got.num_rows
            assert frame["id"].to_list() == got["id"].to_pylist(), (codec, table)
            con = duckdb.connect()
            ids = [r[0] for r in con.execute(f"SELECT id FROM read_parquet('{path}')").fetchall()]
            assert ids == got["id"].to_pylist(), (codec, table)
        band = pl.read_parquet(out / "customers.parquet")["band"].cast(pl.Utf8).to_list()
        assert band == want["customers"]["band"].to_pylist()
        n_offers = duckdb.connect().execute(
            f"SELECT sum(len(offers)) FROM read_parquet('{out / 'customers.parquet'}')").fetchone()[0]
        assert n_offers == want["assignments"].num_rows


def test_compression_is_refused_where_it_means_nothing(inputs, tmp_path, capsys):
    policy, data = inputs
    for fmt in ("csv", "arrow"):
        with pytest.raises(UsageError, match=f"--compression is for Parquet output; --format {fmt} is written"):
            run(str(policy), str(data), str(tmp_path / "o"), AS_OF, fmt=fmt, compression="zstd")
    with pytest.raises(UsageError, match="--compression must be one of snappy, lz4, zstd, none, not 'gzip'"):
        run(str(policy), str(data), str(tmp_path / "o"), AS_OF, compression="gzip")
    assert run_command(str(policy), str(data), str(tmp_path / "o"), AS_OF, fmt="csv", compression="none",
                       progress=False) == 2
    assert "pol: error: --compression is for Parquet output" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli_main(["run", str(policy), "--input", str(data), "--out", str(tmp_path / "o"), "--compression", "gzip"])
    assert e.value.code == 2
    assert "invalid choice: 'gzip'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_failed_assignments_write_leaves_no_output(inputs, tmp_path, monkeypatch, capsys):
    """Each output has its own writing thread: an error on either ends the
    run, and neither file is left behind (complete or absent)."""
    policy, data = inputs
    real = pol.io.output_files.Writer._write
    seen = []
    customers_written = threading.Event()

    def failing(self, name, batch):
        seen.append(name)
        if name == "assignments" and seen.count(name) == 2:
            # fail while the other writer is at work, however the threads are scheduled
            customers_written.wait(30)
            raise OSError(errno.EIO, "Input/output error")
        result = real(self, name, batch)
        if name == "customers":
            customers_written.set()
        return result

    monkeypatch.setattr(pol.io.output_files.Writer, "_write", failing)
    monkeypatch.setattr(pol.evaluation.stream, "MAX_BATCH_ROWS", 500)
    out = tmp_path / "out"
    assert run_command(str(policy), str(data), str(out), AS_OF, progress=False) == 1
    assert capsys.readouterr().err == f"pol: error: {out}: cannot write the output (Input/output error)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert seen.count("customers") >= 1


def test_a_run_through_the_command_line_takes_compression(inputs, tmp_path, capsys):
    policy, data = inputs
    out = tmp_path / "out"
    assert cli_main(["run", str(policy), "--input", str(data), "--out", str(out), "--as-of", AS_OF,
                     "--compression", "zstd", "--no-progress"]) == 0
    assert "Output  " in capsys.readouterr().out
    rg = pq.ParquetFile(out / "customers.parquet").metadata.row_group(0)
    assert {rg.column(i).compression for i in range(rg.num_columns)} == {"ZSTD"}
    assert sorted(p.name for p in out.iterdir()) == [".pol-output", "assignments.parquet", "customers.parquet",
                                                     "summary.json"]
