"""The sample contact log (engine/cli/sample_contacts.py) agrees with the
sample customers it is drawn for: the warehouse's 30-day count, the
opt-outs, the channels' working hours, some keys of no customer. What it
does to a run of the telecom library is checked by the demo's test
(tests/test_report.py)."""
import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pol.cli.sample import generate
from pol.cli.sample_contacts import CHANNELS, HOURS, contacts

AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def sample():
    customers = generate(5000, seed=11, as_of=AS_OF)
    return customers, contacts(customers, AS_OF, seed=11)


def _plain(table: pa.Table) -> dict:
    return {n: (c.dictionary_decode() if pa.types.is_dictionary(c.type) else c).to_pylist()
            for n, c in zip(table.column_names, (c.combine_chunks() for c in table.columns))}


def test_the_same_arguments_give_the_same_log(sample):
    customers, events = sample
    assert contacts(customers, AS_OF, seed=11).equals(events)
    assert not contacts(customers, AS_OF, seed=12).equals(events)


def test_the_last_30_days_agree_with_the_warehouse_count(sample):
    customers, events = sample
    e = _plain(events)
    ids = set(customers.column("id").to_pylist())
    start = dt.datetime.combine(AS_OF - dt.timedelta(days=29), dt.time())
    end = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time())
    recent: dict[int, int] = {}
    for key, at in zip(e["customer_id"], e["sent_at"]):
        assert dt.datetime.combine(AS_OF - dt.timedelta(days=89), dt.time()) <= at < end
        if key in ids and at >= start:
            recent[key] = recent.get(key, 0) + 1
    counted = dict(zip(customers.column("id").to_pylist(), customers.column("contacts_30d").to_pylist()))
    # a former customer's key replaces about 2% of the events, so a few counts fall short, none exceed
    assert all(recent.get(k, 0) <= n for k, n in counted.items())
    assert sum(recent.values()) >= 0.95 * sum(counted.values())


def test_keys_of_no_customer_are_a_few_percent(sample):
    customers, events = sample
    matched = pc.is_in(events.column("customer_id"), customers.column("id"))
    share = 1 - pc.sum(matched).as_py() / events.num_rows
    assert 0.01 < share < 0.03


def test_opt_outs_and_working_hours_are_kept(sample):
    customers, events = sample
    e = _plain(events)
    c = _plain(customers)
    row = {k: j for j, k in enumerate(c["id"])}
    for key, channel, at in zip(e["customer_id"], e["channel"], e["sent_at"]):
        first, last = HOURS[CHANNELS.index(channel)]
        assert first <= at.hour <= last, (channel, at)
        if key not in row:
            continue
        j = row[key]
        assert not (channel == "sms" and c["sms_opt_out"][j])
        assert not (channel == "call" and c["call_opt_out"][j])
        assert not (c["do_not_disturb"][j] and channel != "store")


def test_every_family_and_outcome_occurs(sample):
    _, events = sample
    e = _plain(events)
    assert set(e["family"]) - {None} == {"流量", "语音", "终端", "挽留", "融合", "增值业务", "关怀", "权益"}
    assert set(e["outcome"]) == {"accepted", "refused", None}
    assert set(e["channel"]) == {"sms", "app", "call", "store"}
    share = np.mean([o == "refused" for o in e["outcome"]])
    assert 0.2 < share < 0.35        # a tenth of the customers refuse most of what they are offered
