"""`pol report`: one HTML page of a run, a diff and an effect, that works
offline, checked in a real headless browser (the system's Chromium,
driven by Playwright): no console errors, no request beyond the file
itself, every chart drawn (an SVG with marks), policy labels escaped and
Chinese labels shown; a screenshot is kept in test-artifacts/.

The browser test is skipped, with the reason, only where no Chromium is
installed (.ci/run installs Debian's chromium and fonts-noto-cjk).
"""
import json
import os
import re
import shutil

import clirun
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT

CHROMIUM = os.environ.get("POL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
EVIL = '<b>大</b></script><script>alert(1)</script>'

POLICY = """policy camp version "1"
input c key id { id: int  spend: float  region: string }
param line: float = 50
segment big "大客户" = spend >= line
segment evil "EVIL" = spend >= 140
classify band "档位" { when spend >= 100 => "高"  else => "低" }
experiment greet "问候A/B" salt "w1" { arm warm 45%  arm cool 45%  control 10% }
channel sms "短信"
channel store "营业厅"
offer upsell "升级" { category plan  eligible when spend >= 20  priority spend  channels sms  holdout 30%  capacity 9000 }
offer keep "挽留权益包" { category plan  eligible when big  priority 80  channels store  holdout 20% }
offer gift "礼品" { eligible when spend < 20  priority 10  channels sms }
arbitrate { max 2 per customer  one per category }
""".replace("EVIL", EVIL.replace('"', "'"))


def pol_cmd(*args, cwd):
    return clirun.pol(*args, cwd=cwd)           # in this process: the kernel compiled once per test run


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A run, a diff of two versions and an effect, as a user makes them."""
    tmp = tmp_path_factory.mktemp("report")
    (tmp / "camp.pol").write_text(POLICY, encoding="utf-8")
    rng = np.random.default_rng(4)
    n = 20_000
    pq.write_table(pa.table({"id": np.arange(1, n + 1), "spend": np.round(rng.uniform(0, 150, n), 1),
                             "region": rng.choice(["华北", "华南"], n)}), tmp / "in.parquet")
    steps = [("run", "camp.pol", "--input", "in.parquet", "--out", "run", "--as-of", "2026-11-01"),
             ("diff", "camp.pol", "camp.pol", "--param", "2:line=70", "--input", "in.parquet", "--out", "diff",
              "--as-of", "2026-11-01", "--no-progress"),
             ("gen", "--outcomes", "outcomes.parquet", "--run", "run", "--uplift", "upsell=0.04",
              "--uplift", "keep=0.08", "--uplift", "greet.warm=0.05"),
             ("effect", "--run", "run", "--outcomes", "outcomes.parquet", "--out", "effect", "--by", "band"),
             ("report", "run", "--diff", "diff", "--effect", "effect", "--out", "report.html")]
    for step in steps:
        r = pol_cmd(*step, cwd=tmp)
        assert r.returncode == 0, (step, r.stderr)
    assert "wrote the report to report.html" in r.stdout
    return tmp


def test_the_page_is_one_self_contained_file(folders):
    html = (folders / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert "Noto Sans CJK SC" in html and "Microsoft YaHei" in html
    # Nothing is fetched: no script, style sheet, image or frame from elsewhere.
    for tag in ("<script src", "<link", "<img", "<iframe"):
        assert tag not in html
    assert html.count("<script") == html.count("</script>")
    # A policy author's label is text, never markup or script.
    assert "<script>alert(1)" not in html and EVIL not in html
    assert "&lt;b&gt;大&lt;/b&gt;&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for part in ("大客户", "挽留权益包", "营业厅", "档位", "Changes between versions", "Effect: treatment against control",
                 "Experiment greet: each arm against its control group"):
        assert part in html
    # The experiment's table: each arm against control, then arm against arm, over all its customers.
    table = html[html.index("Experiment greet:"):]
    table = table[:table.index("</table>")]
    assert re.findall(r"<tr><td>(\w+)</td><td>(\w+)</td><td>all</td>", table) == \
        [("warm", "control"), ("cool", "control"), ("cool", "warm")]


def test_bad_arguments(folders):
    r = pol_cmd("report", "nope", "--out", "r.html", cwd=folders)
    assert r.returncode == 1 and r.stderr.startswith("pol: error: nope: no such folder")
    r = pol_cmd("report", "run", "--diff", "run", "--out", "r.html", cwd=folders)
    assert r.returncode == 1 and "not a pol diff's summary" in r.stderr
    r = pol_cmd("report", "run", "--out", "run", cwd=folders)
    assert r.returncode == 2 and "--out is a folder" in r.stderr
    assert not (folders / "r.html").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium fonts-noto-cjk)")
def test_the_page_in_a_headless_browser(folders, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    errors, requests, dialogs = [], [], []
    page_url = (folders / "report.html").as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
            viewport={"width": 1280, "height": 900})
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            def route(r):
                requests.append(r.request.url)
                r.continue_() if r.request.url == page_url else r.abort()
            page.route("**/*", route)
            page.goto(page_url, wait_until="load")
            page.wait_for_function("document.querySelectorAll('.chart .main-svg').length >= "
                                   "document.querySelectorAll('.chart').length", timeout=30_000)
            charts = page.evaluate("""() => [...document.querySelectorAll('.chart')].map(div => ({
                figure: div.dataset.figure,
                section: div.closest('section').id,
                svgs: div.querySelectorAll('svg.main-svg').length,
                marks: div.querySelectorAll('.trace path, .slice path, .sankey-node rect, .sankey-link, .point').length,
                width: div.getBoundingClientRect().width}))""")
            evil = page.evaluate("[...document.querySelectorAll('td')].some(td => td.textContent.includes(\"alert(1)\"))")
            font = page.evaluate("getComputedStyle(document.body).fontFamily")
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
    assert not errors, errors
    assert not dialogs, dialogs
    assert requests == [page_url]                 # the page asked for nothing else
    sections = {c["section"] for c in charts}
    assert sections == {"segments", "classes", "offers", "channels", "diff", "effect"}
    # segments, band; funnel, losses; channels, capacity; offer and segment flows, both deltas; uplift per
    # offer, per arm of the experiment
    assert len(charts) == 12
    for c in charts:
        assert c["svgs"] >= 1 and c["marks"] > 0 and c["width"] > 100, c
    assert evil                                    # the label shown as text
    assert "Noto Sans CJK SC" in font
    assert shot.stat().st_size > 50_000


def test_the_demo_ends_with_its_report(tmp_path, monkeypatch):
    monkeypatch.setenv("POL_BACKGROUND_COMPILE", "0")
    r = pol_cmd("demo", "--rows", 4000, "--dir", "demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    report = (tmp_path / "demo" / "report.html").resolve()
    assert r.stdout.rstrip().endswith(f"Open the report in a browser: {report}")
    assert "Effect on response" in r.stdout and "retention.retention_pack" in r.stdout
    # The dispatch list carries the care campaign's A/B experiment: its arms in the summary, the effect and
    # the report, each arm's customers the run's.
    summary = json.loads((tmp_path / "demo" / "run" / "summary.json").read_text(encoding="utf-8"))
    arms = summary["experiments"]["care.care_sms_ab"]
    assert list(arms) == ["data", "voucher", "control"] and sum(arms.values()) == 4000
    assert re.search(rf"Experiment care\.care_sms_ab\n  arm +customers +share\n  data +{arms['data']:,} ", r.stdout)
    assert "Experiment care.care_sms_ab on response" in r.stdout
    line = re.search(r"\n  voucher +control +all +([\d,]+) +([\d,]+) ", r.stdout)
    assert line and line.groups() == (f"{arms['voucher']:,}", f"{arms['control']:,}")
    assert summary["offers"]["care.network_care_voucher"]["accepted"] > 0      # the arm's SMS go out
    assert {p.name for p in (tmp_path / "demo").iterdir()} == \
        {"customers.parquet", "contacts.parquet", "run", "outcomes.parquet", "effect", "report.html"}
    # the contact log is generated, read by the run, and what its rules did is shown
    events = pq.read_metadata(tmp_path / "demo" / "contacts.parquet").num_rows
    summary = json.loads((tmp_path / "demo" / "run" / "summary.json").read_text(encoding="utf-8"))
    h = summary["history"]["contacts"]
    assert h["events"] == events > 4000 and 0 < h["unmatched"] < events // 10
    assert f"History  contacts: {events:,} events, {h['unmatched']:,} matching no customer" in r.stdout
    figures = re.search(r"suppressed +([\d,]+) eligible offers.*\n.*capped +(-?[\d,]+) more eligible"
                        r".*\n.*customers +([\d,]+) lost an offer", r.stdout)
    assert figures, r.stdout
    suppressed, _, lost = (int(x.replace(",", "")) for x in figures.groups())
    assert suppressed > 0 and lost > 0
    html = report.read_text(encoding="utf-8")
    assert "telecom_dispatch" in html and "挽留权益包" in html and 'id="effect"' in html
    assert "Experiment care.care_sms_ab: each arm against its control group" in html
    (tmp_path / "demo" / "notes.txt").write_text("mine", encoding="utf-8")
    r = pol_cmd("demo", "--rows", 1000, "--dir", "demo", cwd=tmp_path)
    assert r.returncode == 2 and "holds files the demo did not write (notes.txt)" in r.stderr


def test_the_header_writes_a_list_param_as_the_policy_does():
    from pol.cli.report import header
    text = "\n".join(header({"policy": "p", "as_of": "2026-11-01",
                             "params": {"tiers": ["全球通", "金卡"], "codes": [3, 5], "empty": [], "cap": 4}}))
    assert 'tiers = ["全球通", "金卡"]' in text
    assert "codes = [3, 5]" in text and "empty = []" in text and "cap = 4" in text
