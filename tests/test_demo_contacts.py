"""pol demo's account of what the contact rules did (engine/cli/demo.py,
contact_effect): a run against the same customers without the contact log.
With an empty log the two runs are the same run, and every figure is 0;
with the sample log, the figures are what the two runs' outputs say."""
import datetime as dt
import re

import pyarrow.parquet as pq
import pytest

from pol.cli.demo import AS_OF, POLICY, contact_effect
from pol.cli.run import run_command
from pol.cli.sample import generate, save
from pol.cli.sample_contacts import contacts


def _figures(lines: list[str]) -> dict[str, int]:
    """label -> the first figure on its line."""
    found = {line.split()[0]: re.search(r"-?\d[\d,]*", line) for line in lines[1:]}
    return {k: int(m.group().replace(",", "")) for k, m in found.items() if m}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    customers = generate(3000, seed=5, as_of=dt.date.fromisoformat(AS_OF))
    return folder, customers, save(customers, folder / "customers.parquet")


def test_an_empty_log_changes_nothing(sample, capsys):
    folder, customers, data = sample
    empty = contacts(customers.slice(0, 0))
    log = save(empty, folder / "empty.parquet")
    assert run_command(str(POLICY), str(data), str(folder / "run0"), as_of=AS_OF, history=[f"contacts={log}"]) == 0
    lines = contact_effect(customers, empty.schema, folder / "run0")
    assert _figures(lines) == {"contacts": 0, "suppressed": 0, "capped": 0, "customers": 0}
    assert lines[-1].endswith("0 lost an offer (0 offers); 0 offers went through another channel; 0 given in "
                              "their place")


def test_the_sample_log_takes_offers_away(sample, capsys):
    folder, customers, data = sample
    events = contacts(customers, dt.date.fromisoformat(AS_OF), seed=5)
    log = save(events, folder / "contacts.parquet")
    assert run_command(str(POLICY), str(data), str(folder / "run"), as_of=AS_OF, history=[f"contacts={log}"]) == 0
    lines = contact_effect(customers, events.schema, folder / "run")
    got = _figures(lines)
    assert got["contacts"] == events.num_rows
    assert got["suppressed"] > 0 and got["customers"] > 0
    # the offers lost and those given in their place account for the change in the count of offers
    given = pq.read_metadata(folder / "run" / "assignments.parquet").num_rows
    lost = int(lines[-1].split("(")[1].split()[0].replace(",", ""))
    instead = int(lines[-1].split("; ")[-1].split()[0].replace(",", ""))
    import pol
    without = pol.load(POLICY).evaluate(customers, as_of=AS_OF, history={"contacts": events.schema.empty_table()})
    assert without.assignments.num_rows - lost + instead == given
