"""The pictures of docs/LOOP.md: the walkthrough's commands, as written
there, in a temporary folder, then the report's sections screenshot in
the system's headless Chromium (Playwright) into this folder.

    python docs/images/make_images.py            # needs chromium and fonts-noto-cjk
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
POLICY = HERE.parent.parent / "policies" / "telecom" / "retention.pol"
COMMANDS = [
    "pol gen 200000 customers.parquet",
    "pol diff retention.pol retention.pol --param 2:churn_days=45 --param 2:flow_worry_line=0.7 "
    "--input customers.parquet --history contacts=customers.contacts.parquet --out what-if --as-of 2026-11-01",
    "pol run retention.pol --param churn_days=45 --param flow_worry_line=0.7 --input customers.parquet "
    "--history contacts=customers.contacts.parquet --out run --as-of 2026-11-01",
    "pol gen --outcomes outcomes.parquet --run run --uplift retention_pack=0.06 --uplift handset_discount=0.04",
    "pol effect --run run --outcomes outcomes.parquet --out effect --by tier",
    "pol report run --diff what-if --effect effect --out report.html",
]
# section -> (file, the height kept in CSS pixels: the top of the section; PNGs stay small)
SHOTS = {"segments": ("report-segments.png", 420), "offers": ("report-funnel.png", 520),
         "diff": ("report-diff.png", 560), "effect": ("report-effect.png", 520)}


def main() -> int:
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium: apt-get install chromium fonts-noto-cjk")
    with tempfile.TemporaryDirectory(prefix="pol-doc-images-") as tmp:
        shutil.copytree(POLICY.parent, tmp, dirs_exist_ok=True)
        for command in COMMANDS:
            argv = shlex.split(command)
            print("$", command, file=sys.stderr)
            subprocess.run([sys.executable, "-m", "pol", *argv[1:]], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL)
        with sync_playwright() as p:
            browser = p.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=chromium, headless=True,
                args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
                viewport={"width": 1000, "height": 800})
            page = browser.new_page()
            page.goto((Path(tmp) / "report.html").as_uri())
            page.wait_for_timeout(1500)
            page.add_style_tag(content="nav { display: none }")
            for section, (name, height) in SHOTS.items():
                box = page.locator(f"section#{section}").bounding_box()
                page.screenshot(path=str(HERE / name), full_page=True,
                                clip={"x": box["x"], "y": box["y"], "width": box["width"],
                                      "height": min(box["height"], height)})
                print(f"wrote {HERE / name}", file=sys.stderr)
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
