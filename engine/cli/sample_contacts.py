"""The sample contact log for the telecom library's sample customers
(engine/cli/sample.py): the `contacts` history that policies/telecom/
contact.pol declares, as the SMS platform, the call centre and the app
would report it back. `pol gen N OUT` writes it beside the customers and
`pol demo` runs the library with it.

`contacts(customers, as_of, seed)` is consistent with the customers it is
drawn for:

- each customer has exactly `contacts_30d` contacts in the 30 days that end
  on the as-of date (the warehouse's count and the log agree), plus
  Poisson(1) more 30 to 89 days before it (the log covers 90 days, the
  longest window contact.pol reads);
- channel: SMS 50%, app 25%, call 15%, store 10%; a customer who opted out
  of SMS or calls is sent none (the app instead), one on the do-not-disturb
  list is only ever offered something at the store;
- the time of day is the channel's working hours (calls 09:00-20:59, SMS
  08:00-21:59, app 07:00-22:59, store 09:00-20:59), so the log itself
  keeps the quiet hours;
- family: the offer families of the library (流量 30%, 语音 15%, 终端 10%,
  挽留 10%, 融合 10%, 增值业务 10%, 关怀 10%, 权益 5%), null for 3%
  (service messages without an offer);
- outcome: refused 20%, accepted 10%, no answer (null) otherwise; a tenth
  of the customers refuse 70% of what they are offered, so suppression
  after two refusals of a family finds someone;
- campaign: telecom_retention 55%, care 15%, roaming 15%, family_bundle 15%;
- 2% of the events are of former customers, keys no customer has (a run
  counts them as unmatched).

Events are not sorted by customer or time (a run never needs them to be).
The same (customers, as_of, seed) always gives the same table.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHANNELS = ["sms", "app", "call", "store"]
SMS, APP, CALL, STORE = 0, 1, 2, 3
CHANNEL_SHARES = [0.50, 0.25, 0.15, 0.10]
# first and last hour a channel is used in (inclusive)
HOURS = {SMS: (8, 21), APP: (7, 22), CALL: (9, 20), STORE: (9, 20)}
FAMILIES = ["流量", "语音", "终端", "挽留", "融合", "增值业务", "关怀", "权益"]
FAMILY_SHARES = [0.30, 0.15, 0.10, 0.10, 0.10, 0.10, 0.10, 0.05]
OUTCOMES = ["accepted", "refused"]
CAMPAIGNS = ["telecom_retention", "care", "roaming", "family_bundle"]
CAMPAIGN_SHARES = [0.55, 0.15, 0.15, 0.15]
UNMATCHED_SHARE = 0.02
EPOCH = dt.date(1970, 1, 1)

SCHEMA = pa.schema([
    ("customer_id", pa.int64()), ("sent_at", pa.timestamp("s")),
    ("campaign", pa.dictionary(pa.int8(), pa.string())), ("channel", pa.dictionary(pa.int8(), pa.string())),
    ("family", pa.dictionary(pa.int8(), pa.string())), ("outcome", pa.dictionary(pa.int8(), pa.string())),
])


def _dict(codes: np.ndarray, values: list[str], null: np.ndarray | None = None) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8), mask=null), pa.array(values, pa.string()))


def _flag(customers: pa.Table, name: str) -> np.ndarray:
    """A bool column as numpy; a null flag counts as set (no permission)."""
    return pc.fill_null(customers.column(name), True).to_numpy(zero_copy_only=False).astype(bool)


def contacts(customers: pa.Table, as_of: dt.date = dt.date(2026, 11, 1), seed: int = 7) -> pa.Table:
    """The contact log of these customers (sample.generate's columns)."""
    rng = np.random.default_rng([seed, 14])
    today = (as_of - EPOCH).days
    ids = customers.column("id").to_numpy().astype(np.int64)
    recent = pc.fill_null(customers.column("contacts_30d"), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    older = rng.poisson(1.0, len(ids))
    row = np.concatenate([np.repeat(np.arange(len(ids)), recent), np.repeat(np.arange(len(ids)), older)])
    n_recent = int(recent.sum())
    n = len(row)
    days_ago = np.concatenate([rng.integers(0, 30, n_recent), rng.integers(30, 90, n - n_recent)])

    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARES)
    sms_out, call_out, dnd = (_flag(customers, f)[row] for f in ("sms_opt_out", "call_opt_out", "do_not_disturb"))
    channel = np.where((channel == SMS) & sms_out, APP, channel)
    channel = np.where((channel == CALL) & call_out, APP, channel)
    channel = np.where(dnd, STORE, channel)
    first = np.array([HOURS[c][0] for c in range(len(CHANNELS))])[channel]
    last = np.array([HOURS[c][1] for c in range(len(CHANNELS))])[channel]
    seconds = ((today - days_ago) * 86_400 + rng.integers(first, last + 1) * 3_600
               + rng.integers(0, 3_600, n))

    refuser = (rng.random(len(ids)) < 0.10)[row]
    draw = rng.random(n)
    refused = draw < np.where(refuser, 0.70, 0.20)
    accepted = ~refused & (draw < np.where(refuser, 0.75, 0.30))
    outcome = np.where(accepted, 0, 1)

    key = ids[row]
    former = rng.random(n) < UNMATCHED_SHARE
    key = np.where(former, (ids.max(initial=0) + 1 + rng.integers(0, max(len(ids), 1), n)), key)
    order = rng.permutation(n)                  # as logged, not by customer
    columns = [
        pa.array(key[order], pa.int64()),
        pa.array(seconds[order], pa.int64()).cast(pa.timestamp("s")),
        _dict(rng.choice(len(CAMPAIGNS), n, p=CAMPAIGN_SHARES)[order], CAMPAIGNS),
        _dict(channel[order], CHANNELS),
        _dict(rng.choice(len(FAMILIES), n, p=FAMILY_SHARES)[order], FAMILIES, (rng.random(n) < 0.03)[order]),
        _dict(outcome[order], OUTCOMES, ~(refused | accepted)[order]),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)
