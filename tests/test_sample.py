"""Synthetic customers (pol.cli.sample): the columns of customer.pol's input
block, deterministic for a seed, plausible values, some nulls where the
policy allows them, and, run through the telecom library, every segment
and class populated but none holding everyone, and every offer given."""
import datetime as dt
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from pol.cli.sample import generate, write
from pol.compiler.frontend import compile_path
from pol.compiler.types import Type

ROOT = Path(__file__).resolve().parents[1]
TELECOM = ROOT / "policies" / "telecom"
AS_OF = dt.date(2026, 11, 1)
ARROW_OK = {
    Type.INT: lambda t: pa.types.is_int64(t) or pa.types.is_int32(t),
    Type.FLOAT: pa.types.is_float64,
    Type.BOOL: pa.types.is_boolean,
    Type.STRING: lambda t: pa.types.is_string(t) or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type)),
    Type.DATE: pa.types.is_date32,
    Type.TIMESTAMP: pa.types.is_timestamp,
}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return generate(20_000, seed=11)


def col(table, name) -> np.ndarray:
    c = table[name]
    if pa.types.is_date32(c.type):
        c = c.cast(pa.int32())
    return c.to_numpy(zero_copy_only=False)


def test_deterministic_for_a_seed():
    a, b = generate(3000, seed=5), generate(3000, seed=5)
    assert a.equals(b)
    assert not a.equals(generate(3000, seed=6))


def test_as_of_moves_the_dates_only():
    a, b = generate(500, seed=5), generate(500, seed=5, as_of=AS_OF + dt.timedelta(days=10))
    for name in a.column_names:
        if pa.types.is_date32(a[name].type) or pa.types.is_timestamp(a[name].type):
            assert pc.all(pc.equal(pc.days_between(a[name], b[name]), 10)).as_py() is not False, name
        else:
            assert a[name].equals(b[name]), name


def test_schema_is_the_input_block_of_customer_pol(table):
    fields = compile_path(TELECOM / "customer.pol").input.fields
    assert table.column_names == [f.name for f in fields]
    for f in fields:
        t = table.schema.field(f.name).type
        assert ARROW_OK[f.type](t), f"{f.name}: {t} for {f.type}"
        if f.nullable:
            assert table[f.name].null_count > 0, f"nullable {f.name} holds no nulls"
        else:
            assert table[f.name].null_count == 0, f"{f.name} is not nullable"


@pytest.mark.parametrize("name, low, high", [
    ("age", 0.03, 0.05), ("storage_used_pct", 0.50, 0.60), ("contract_end", 0.48, 0.58),
    ("last_complaint", 0.65, 0.77),
])
def test_null_shares(table, name, low, high):
    assert low < table[name].null_count / len(table) < high


def test_value_ranges(table):
    n = len(table)
    today = (AS_OF - dt.date(1970, 1, 1)).days
    assert (col(table, "id") == np.arange(1, n + 1)).all()
    assert pc.all(pc.equal(pc.utf8_length(table["msisdn"]), 11)).as_py()
    assert set(table["brand"].unique().to_pylist()) <= {"全球通", "神州行", "动感地带"}
    assert set(table["customer_type"].unique().to_pylist()) == {"个人", "家庭", "政企"}
    age = table["age"].drop_null().to_numpy()
    assert age.min() >= 15 and age.max() <= 90
    tenure = col(table, "tenure_months")
    assert tenure.min() == 0 and tenure.max() <= 300
    m1, m2, m3 = (col(table, f"arpu_m{i}") for i in (1, 2, 3))
    assert (m1 > 0).all() and (m2 >= 0).all() and (m3 >= 0).all()
    assert (m2[tenure == 0] == 0).all() and (m3[tenure <= 1] == 0).all()      # no bill before joining
    voice = col(table, "voice_min")
    assert (col(table, "ld_voice_min") + col(table, "roam_voice_min") <= voice + 0.11).all()
    data, plan = col(table, "data_gb"), col(table, "plan_data_gb")
    assert (data >= 0).all() and (data <= 1.3 * plan).all()
    assert (col(table, "night_data_gb") <= data).all()
    assert (col(table, "roam_voice_min")[col(table, "roaming_days") == 0] == 0).all()
    storage = table["storage_used_pct"].drop_null().to_numpy()
    assert storage.min() >= 0 and storage.max() <= 100
    assert set(np.unique(col(table, "services_used"))) <= set(range(1, 7))
    assert ((col(table, "vas_spend") == 0) == (col(table, "vas_count") == 0)).all()
    assert (col(table, "last_active") <= today).all()
    assert (table["last_complaint"].drop_null().cast(pa.int32()).to_numpy() <= today).all()
    complained = col(table, "complaints_90d") > 0
    assert table.filter(pa.array(complained))["last_complaint"].null_count == 0
    assert (col(table, "contacts_30d") >= 0).all()


def test_write_parquet_and_csv(tmp_path):
    path = write(300, tmp_path / "sub" / "c.parquet", seed=3)
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 300 and meta.num_row_groups == 1
    assert pq.read_table(path).equals(generate(300, seed=3))
    path = write(300, tmp_path / "c.csv", seed=3)
    back = pacsv.read_csv(path)
    assert back.column_names == generate(1).column_names and back.num_rows == 300
    assert back["brand"].to_pylist()[:5] == generate(300, seed=3)["brand"].to_pylist()[:5]


def test_the_library_finds_everyone_something_to_do():
    """Run through retention.pol, the sample data puts some but not all
    customers in every segment, uses every class of every classification,
    and gives every offer to someone."""
    os.environ.setdefault("POL_BACKGROUND_COMPILE", "0")
    import pol
    n = 50_000
    from pol.cli.sample_contacts import contacts
    table = generate(n, seed=7)
    result = pol.load(TELECOM / "retention.pol").evaluate(table, as_of=AS_OF, engine="vector",
                                                         history={"contacts": contacts(table, AS_OF)})
    s = result.summary
    for name, seg in s["segments"].items():
        assert 0 < seg["count"] < n, name
    program = compile_path(TELECOM / "retention.pol")
    for cl in program.classifies:
        counts = s["classifications"][cl.name]["counts"]
        values = {w.value for w in cl.whens} | ({cl.default} if cl.default is not None else set())
        missing = {v for v in values if not counts.get(v)}
        assert not missing, f"{cl.name}: nobody is {missing}"
        assert max(counts.values()) < n, cl.name
    for name, offer in s["offers"].items():
        assert offer["accepted"] > offer["controls"] > 0 or (offer["accepted"] > 0 and name not in {
            o.name for o in program.offers if o.holdout_bp}), name
    assert s["channels"]["call"] > 0 and s["channels"]["store"] > 0
