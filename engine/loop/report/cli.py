"""`pol report RUN_DIR [--diff DIFF_DIR] [--effect EFFECT_DIR] --out report.html`.

In: the output folders of `pol run`, `pol diff` and `pol effect`. Out:
one self-contained HTML file (build.py), its path on stdout; exit status
0, 1 when a folder cannot be read (one line naming it), 2 for a usage
error (an --out that is a folder, or not an .html file).
"""
from __future__ import annotations

import sys
from pathlib import Path

from pol.errors import DataError


def command(args) -> int:
    from pol.loop.report.build import write
    out = Path(args.out)
    if out.is_dir():
        print(f"pol: error: {args.out}: --out is a folder; give the report's file name, e.g. report.html",
              file=sys.stderr)
        return 2
    if out.suffix.lower() not in (".html", ".htm"):
        print(f"pol: error: {args.out}: the report is an HTML page: name it .html", file=sys.stderr)
        return 2
    try:
        path = write(args.out, args.run, args.diff, args.effect)
    except DataError as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"pol: error: {args.out}: cannot write the report ({e.strerror or e})", file=sys.stderr)
        return 1
    print(f"wrote the report to {path} ({path.stat().st_size / 2**20:.1f} MB, works offline)")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="one HTML page of a run (and a diff and an effect) that works offline",
        description="Write one self-contained HTML page: segments, classifications, the offer funnel and "
                    "losses, channels and capacity of a run; the changes between versions of a diff; the "
                    "uplift of an effect.")
    p.add_argument("run", metavar="RUN_DIR", help="the output folder of a pol run")
    p.add_argument("--diff", metavar="DIFF_DIR", help="the output folder of a pol diff")
    p.add_argument("--effect", metavar="EFFECT_DIR", help="the output folder of a pol effect")
    p.add_argument("--out", required=True, metavar="FILE", help="the page to write, e.g. report.html")
    p.set_defaults(fn=command)
