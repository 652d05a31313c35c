"""`pol diff POLICY_A POLICY_B [POLICY_C...] --input PATH --out DIR`.

In: the versions' policy files (the first is the base), the input as
`pol run` reads it (a file or folder of Parquet, Arrow IPC or CSV holding
every version's input fields), --as-of, --param NAME=VALUE for every
version that declares NAME or --param N:NAME=VALUE for version N only.
Out: DIR/changes.parquet (or changes.csv, lists as text, with --format
csv): one row per customer and other version whose results differ from
the base's; DIR/summary.json (engine/loop/deltas.py); on stdout, what
changed, as text. DIR is claimed, staged and moved into place as `pol run`
does (engine/io/output_folder.py, output_files.py): complete or absent.
Exit status 0, 1 (policy or data error), 2 (usage, or a refused DIR).
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pol.cli.run import UsageError, _sigterm_as_interrupt, commit_with_summary, parse_date, parse_params, release
from pol.errors import DataError, ParamError, PolicyError
from pol.io.output_files import OutputError, Staging, cannot_write
from pol.io.output_folder import Claim, OutputRefused, check_paths

_OWN = re.compile(r"(\d+):(.+)")


def split_params(items, n: int) -> tuple[dict, dict[int, dict]]:
    """--param values: shared NAME=VALUE, and N:NAME=VALUE for version N."""
    shared: dict = {}
    own: dict[int, dict] = {}
    for name, value in parse_params(items).items():
        m = _OWN.fullmatch(name)
        if m:
            k = int(m[1])
            if not 1 <= k <= n:
                raise UsageError(f"--param {name}={value}: there is no version {k} (versions are 1 to {n}, "
                                 "in the order given)")
            own.setdefault(k, {})[m[2].strip()] = value
        else:
            shared[name] = value
    return shared, own


def diff(policies: list[str], input: str, out: str, as_of=None, params=(), fmt: str = "parquet",
         overwrite: bool = False, progress: bool | None = None, history=()) -> dict:
    from pol.api.policy import load
    from pol.cli.progress import Progress
    from pol.loop.diff import open_input, run_files
    from pol.loop.versions import load_versions, shared_and_own
    started = time.perf_counter()
    day = parse_date(as_of)
    if len(policies) < 2:
        raise UsageError("pol diff needs two policies or more: the base first, then the versions to compare")
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format must be parquet or csv, not '{fmt}'")
    shared, own = split_params(params, len(policies))
    from pol.io.history_files import parse_history_args, read_history
    try:
        history_paths = parse_history_args(history)
    except ValueError as e:
        raise UsageError(str(e)) from None
    for p in policies:
        check_paths(out, p, input)
    claim = Claim(out, Path(os.path.abspath(out)), overwrite)
    staging = writer = bar = None
    try:
        # A file given twice (a param what-if) is loaded once: a Policy is
        # immutable and each version streams with its own state.
        by_path: dict = {}
        for p in policies:
            if os.path.realpath(p) not in by_path:
                by_path[os.path.realpath(p)] = load(p)
        loaded = [by_path[os.path.realpath(p)] for p in policies]
        versions = load_versions(loaded, shared_and_own([p.program for p in loaded], shared, own))
        opened = open_input(versions, input)
        staging = Staging(claim)
        path = staging.path / f"changes.{fmt}"
        writer = _Writer(path, fmt)
        bar = Progress(opened[1].total, enabled=progress)
        events = []             # each version's own columns of the events (LANGUAGE.md 12.3)
        for v in versions:
            read = {c.aggregate.history for c in v.policy.lowered.columns}
            missing = sorted(read - set(history_paths))
            if missing:
                raise UsageError(f"{v.label} reads history '{missing[0]}': give its events with "
                                 f"--history {missing[0]}=PATH (an empty file is fine)")
            events.append({name: read_history(v.policy.program, v.policy.lowered.columns, name, path)
                           for name, path in history_paths.items() if name in read})
        result = run_files(versions, input, day, writer.write, progress=bar.update, inp=opened, history=events)
        bar.close()
        writer.close(result.schema)
        summary = {**result.summary, "input": str(input), "files": len(opened[1].files), "output": str(out),
                   "output_format": fmt, "seconds": round(time.perf_counter() - started, 3)}
        commit_with_summary(staging, out, summary)
        return summary
    finally:
        release(claim, staging, writer, bar)


class _Writer:
    """Changes batches into Parquet (nested lists) or CSV (lists as text),
    opened at the first batch; an empty file with the schema when none came."""

    def __init__(self, path: Path, fmt: str):
        self.path, self.fmt, self.w, self.file = path, fmt, None, None

    def _open(self, schema: pa.Schema):
        from pol.loop.text import plain_changes
        if self.fmt == "csv":
            empty = plain_changes(pa.RecordBatch.from_pylist([], schema=schema))
            # A byte order mark first: spreadsheet programs then read the
            # Chinese names as UTF-8 rather than the system's code page.
            self.file = open(self.path, "wb")
            self.file.write(b"\xef\xbb\xbf")
            self.w = pacsv.CSVWriter(self.file, empty.schema)
        else:
            self.w = pq.ParquetWriter(self.path, schema, use_dictionary=["version"])

    def write(self, batch: pa.RecordBatch) -> None:
        from pol.loop.text import plain_changes
        try:
            if self.w is None:
                self._open(batch.schema)
            self.w.write_batch(plain_changes(batch) if self.fmt == "csv" else batch)
        except OSError as e:
            raise cannot_write(self.path.parent, e) from None

    def close(self, schema: pa.Schema) -> None:
        try:
            if self.w is None:
                self._open(schema)
            self.w.close()
            if self.file is not None:
                self.file.close()
        except OSError as e:
            raise cannot_write(self.path.parent, e) from None
        self.w = self.file = None

    def abort(self) -> None:
        for handle in (self.w, self.file):
            if handle is not None:
                try:
                    handle.close()
                except Exception:
                    pass
        self.w = self.file = None


def _n(v: int) -> str:
    return f"{v:,}"


def _signed(v: int) -> str:
    return f"{v:+,}" if v else "0"


def render(s: dict) -> str:
    """What a marketer reads after `pol diff`: the versions, how many
    customers changed and how, and every count that moved."""
    from pol.cli.progress import duration_text
    from pol.cli.report import table
    lines = []
    rows = []
    for v in s["versions"]:
        head = "Base" if v["index"] == 1 else ("Versions" if v["index"] == 2 else "")
        rows.append([head, f"{v['index']}  {v['label']}  ({v['file']})"])
    rows += [["As of", s["as_of"]], ["Input", f"{s['input']}: {_n(s['customers'])} customers"],
             ["Output", f"{s['output']} ({s['output_format']})"], ["Time", duration_text(s["seconds"])]]
    lines += table(rows, indent="")
    lines += ["", "Customers whose results differ from the base"]
    rows = [["version", "customers", "segments", "classes", "scores", "offers"]]
    for c in s["changes"]:
        rows.append([c["version"], _n(c["customers_changed"]), _n(c["segments_changed"]),
                     _n(c["classes_changed"]), _n(c["scores_changed"]), _n(c["offers_changed"])])
    lines += table(rows, set(range(1, 6)))
    for d in s["deltas"]:
        moved = _moved(d)
        lines += ["", f"Counts that changed in {d['version']} (base -> this version)"]
        lines += table([["what", "", "base", "version", "change"]] + moved, {2, 3, 4}) if moved else \
            ["  none: every count is the same"]
    return "\n".join(lines)


def _moved(d: dict) -> list[list[str]]:
    rows = []

    def add(what, label, x):
        if x["delta"]:
            rows.append([what, label or "", _n(x["base"]), _n(x["value"]), _signed(x["delta"])])

    for name, x in d["segments"].items():
        add(f"segment {name}", x.get("label"), x["count"])
    for name, c in d["classifications"].items():
        for value, x in c["counts"].items():
            add(f"{name} = {value}", c.get("label"), x)
    for name, o in d["offers"].items():
        add(f"offer {name} accepted", o.get("label"), o["accepted"])
        add(f"offer {name} controls", o.get("label"), o["controls"])
    for name, x in d["channels"].items():
        add(f"channel {name}", "", x)
    for rule, x in d["lost"].items():
        add(f"lost to {rule}", "", x)
    for name, x in d["capacity"].items():
        add(f"capacity used {name}", "", x)
    return rows


def command(policies, input, out, as_of, params, fmt, overwrite, progress, history=()) -> int:
    try:
        with _sigterm_as_interrupt():
            summary = diff(policies, input, out, as_of, params, fmt, overwrite, progress, history)
    except (UsageError, OutputRefused) as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 2
    except PolicyError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (DataError, ParamError, OutputError) as e:
        print(f"pol: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("pol: interrupted; nothing was written", file=sys.stderr)
        return 130
    print(render(summary))
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "diff", help="what changes between versions of a policy, over one input in one pass",
        description="Evaluate several versions of a policy over one input in one pass and write what "
                    "differs from the first: DIR/changes.parquet and DIR/summary.json.")
    p.add_argument("policies", nargs="+", metavar="POLICY", help="the base first, then the versions to compare")
    p.add_argument("--input", required=True, metavar="PATH", help="a file or a folder of files")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the output folder (refused if it exists, unless --overwrite)")
    p.add_argument("--as-of", metavar="DATE", help="the run's date, YYYY-MM-DD (default: today)")
    p.add_argument("--param", action="append", default=[], metavar="[N:]NAME=VALUE",
                   help="override a param in every version that declares it, or with N: in version N only")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet",
                   help="changes as Parquet (default) or CSV with the lists as text, for spreadsheets")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if pol wrote it")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    p.add_argument("--history", action="append", default=[], metavar="NAME=PATH",
                   help="the events of a history the versions read (LANGUAGE.md 12.3), as pol run takes them")
    p.set_defaults(fn=lambda a: command(a.policies, a.input, a.out, a.as_of, a.param, a.format, a.overwrite,
                                        False if a.no_progress else None, a.history))
