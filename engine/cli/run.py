"""Batch runs from files: `pol run POLICY --input PATH --out DIR`.

In: a policy file; a Parquet, Arrow IPC/Feather or CSV file, or a folder of
them (engine/io/input_files.py); the as-of date; params as NAME=VALUE text; the output format. Out:
DIR/customers.parquet, DIR/assignments.parquet (or .csv, .arrow) and
DIR/summary.json (and DIR/.pol-output, the marker of a folder pol run
wrote), the summary as text on stdout, and the exit status: 0 success, 1 a
policy or data error (one message naming the file and, where there is one,
the column or line), 2 a usage error or a refused DIR (a malformed --as-of
or --param; DIR already there without --overwrite, or with it but not a
folder pol run wrote; DIR that is or holds the policy, the input, the
current or the home folder, or lies in the input folder; DIR in use by
another run: engine/io/output_folder.py).

Every file is opened and its schema checked before anything runs; then
file by file, only the columns the policy reads are loaded, one batch read
ahead. Batches stream through the policy (all cores) and out through
streaming writers (Parquet or CSV), so memory stays flat as the input
grows (with capacities, Policy.stream keeps compact candidates until the
run-wide walk). DIR is locked from the first check to the commit, so two
runs on one DIR cannot both write it. Output is written into a staging
folder beside DIR and moved into place only when the run has succeeded
(engine/io/output_files.py), so a failed or killed run leaves DIR as it was
(a failed run also removes the folders above DIR it created); the staging
folder of a killed run is removed by the next run on DIR.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

from pol.compiler.nogc import no_cycle_collection
from pol.errors import ArgumentError, DataError, ParamError, PolicyError
from pol.io.input_files import Input, read_batches, read_positioned
from pol.io.output_files import COMPRESSIONS, OUTPUTS, SUFFIX, OutputError, Staging, Writer, cannot_write
from pol.io.output_folder import Claim, OutputRefused, check_paths
from pol.io.scan import prune


class UsageError(Exception):
    """A malformed argument or a refused request; exit status 2."""


def parse_params(items) -> dict[str, str]:
    out = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise UsageError(f"--param needs NAME=VALUE, got '{item}'")
        out[name.strip()] = value
    return out


def parse_moment(text: str | None) -> dt.date:
    """--as-of: a date, or a date and a time of day (a datetime) for quiet
    hours (LANGUAGE.md section 14)."""
    if text is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?", text.strip()):
        try:
            return dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"--as-of '{text}' is not a time: there is no such day or time of day") from None
    return parse_date(text)


def parse_date(text: str | None) -> dt.date:
    if text is None:
        return dt.date.today()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"--as-of '{text}' is not a date: there is no such day") from None
    raise UsageError(f"--as-of '{text}' is not a date written YYYY-MM-DD (e.g. 2026-11-01)")


def run_command(policy: str, input: str, out: str, as_of: str | None = None, params=(),
                fmt: str = "parquet", overwrite: bool = False, progress: bool | None = None,
                engine: str = "local", master: str | None = None, history=(), compression: str | None = None) -> int:
    """`pol run`: the exit status; the summary on stdout, one error message on stderr."""
    try:
        with _sigterm_as_interrupt():
            if engine == "spark":
                if compression is not None:
                    raise UsageError("--compression is not taken by --engine spark yet: run it without "
                                     "--compression (Spark's writer compresses with snappy)")
                summary = _spark_run()(policy, input, out, as_of, params, fmt, overwrite, progress, master, history)
            elif master is not None:
                raise UsageError("--master needs --engine spark")
            else:
                # The cycle collector paused for the run: the policy's load
                # (Numba's and pyarrow's imports, the cached kernel) fills the
                # heap with objects that every full collection then walks
                # again; it took 5-8% of a 5M-row run's CPU (perf), and a run
                # makes no cycles worth collecting (compiler/nogc.py).
                with no_cycle_collection():
                    summary = run(policy, input, out, as_of, params, fmt, overwrite, progress, history,
                                  compression)
    except (UsageError, OutputRefused, ArgumentError) as e:     # ArgumentError: a request the engine refuses
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
    from pol.cli.report import render
    print(render(summary))
    for warning in summary.get("warnings", ()):
        print(f"pol: warning: {warning}", file=sys.stderr)
    return 0


def _spark_run():
    """engine/spark/cli.py's run; PySpark is an extra (pip install 'pol-engine[spark]')."""
    try:
        from pol.spark.cli import run as spark_run
    except ImportError as e:
        raise UsageError(f"--engine spark needs PySpark: pip install 'pol-engine[spark]' ({e})") from None
    return spark_run


def run(policy: str, input: str, out: str, as_of: str | None = None, params=(), fmt: str = "parquet",
        overwrite: bool = False, progress: bool | None = None, history=(), compression: str | None = None) -> dict:
    """The run itself: the summary dict, or an exception for run_command to report.
    `history`: ['NAME=PATH', ...], the events of the policy's histories;
    `compression`: Parquet's codec (default snappy)."""
    from pol.api.params import resolve_params
    from pol.api.policy import load
    from pol.cli.progress import Progress
    from pol.evaluation.assignment_columns import run_metadata, with_run_metadata
    from pol.evaluation.stream import output_schemas
    from pol.io.history_files import parse_history_args, read_history
    started = time.perf_counter()
    started_at = dt.datetime.now().astimezone()
    moment = parse_moment(as_of)
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    raw_params = parse_params(params)
    try:
        history_paths = parse_history_args(history)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if fmt not in SUFFIX:
        raise UsageError(f"--format must be parquet, csv or arrow, not '{fmt}'")
    if compression is not None and fmt != "parquet":
        raise UsageError(f"--compression is for Parquet output; --format {fmt} is written uncompressed")
    if compression is not None and compression not in COMPRESSIONS:
        raise UsageError(f"--compression must be one of {', '.join(COMPRESSIONS)}, not '{compression}'")
    check_paths(out, policy, input)
    # Lexically absolute, links kept: DIR is the name the user gave, and a
    # link there is replaced, not what it points at.
    claim = Claim(out, Path(os.path.abspath(out)), overwrite)
    staging = bar = writer = None
    try:
        pol_ = load(policy)
        program = pol_.program
        values = resolve_params(program, raw_params)
        inp = Input(program, input, values)
        scan = prune(program, values, inp)      # the population's partitions and row groups only
        staging = Staging(claim)
        bar = Progress(inp.total - scan.rows_skipped if inp.total is not None else None, enabled=progress)
        check_history_args(pol_, history_paths)
        events = {name: read_history(program, pol_.lowered.columns, name, path)
                  for name, path in history_paths.items()}
        stream = pol_.stream(None, as_of=moment, params=values,     # its sink: the writer, made below
                             history=events if events or program.histories else None,
                             history_paths=history_paths)
        meta = run_metadata(program, day, stream.run_id)
        schemas = {name: with_run_metadata(s, meta)
                   for name, s in zip(OUTPUTS, output_schemas(program, pol_.plan, inp.key_type))}
        try:
            writer = Writer(staging.path, fmt, schemas, compression or "snappy")
        except OSError as e:
            raise cannot_write(out, e, "the output folder") from None
        stream.sink = _guard_output(writer.write, out)
        rows = 0
        for file in inp.files:
            if file.row_groups == []:
                continue            # pruned whole
            for first, batch in read_positioned(program, file):
                stream.feed(batch, path=file.path, first_row=first)
                rows += batch.num_rows
                bar.update(rows)
        if rows == 0 and not scan.rows_skipped:
            raise DataError("the input holds no rows", path=input)
        bar.phase("writing" if not stream.rules.has_capacity else "matching capacities and writing")
        stream.finish()
        try:
            writer.close()
        except OSError as e:
            raise cannot_write(out, e) from None
        writer = None
        bar.close()
        summary = run_summary(
            pol_, stream.run_id, policy, input, out, files=inp.listed, input_format=inp.fmt, fmt=fmt, day=day,
            params=values, started_at=started_at, seconds=time.perf_counter() - started, rows=rows,
            counts=stream.counts, absent=stream.absent)
        if stream.history is not None:
            summary["history"] = {name: dict(counts, path=history_paths.get(name))
                                  for name, counts in stream.history.summary().items()}
        if stream.arms:
            summary["experiments"] = stream.arms.summary()
        if program.population is not None:
            summary["scan"] = scan.to_dict()
        if pol_.warnings():
            summary["warnings"] = pol_.warnings()
        commit_with_summary(staging, out, summary)
        return summary
    finally:
        release(claim, staging, writer, bar)


def check_history_args(pol_, paths: dict[str, str]) -> None:
    """--history as a local run checks it: every history the policy reads
    given, and only declared ones."""
    from pol.io.history_files import declared_history
    read = {c.aggregate.history for c in pol_.lowered.columns}
    missing = sorted(read - set(paths))
    if missing:
        raise UsageError(f"the policy reads history '{missing[0]}': give its events with "
                         f"--history {missing[0]}=PATH (an empty file is fine)")
    for name, path in paths.items():
        declared_history(pol_.program, name, path)


def run_summary(pol_, run_id: str, policy, input, out, *, files: int, input_format: str, fmt: str,
                day: dt.date, params: dict, started_at: dt.datetime, seconds: float, rows: int, counts,
                absent: list[str]) -> dict:
    """summary.json of a run, whichever engine ran it (docs/API.md lists its keys)."""
    return {
        "policy": pol_.name, "version": pol_.version, "run_id": run_id, "policy_file": str(policy),
        "input": str(input), "files": files, "input_format": input_format,
        "output": str(out), "output_format": fmt,
        # a param named with ':' is the run's own (its time of day), not the user's
        "as_of": day.isoformat(), "params": {k: _jsonable(v) for k, v in params.items() if ":" not in k},
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(seconds, 3), "rows": rows,
        "rows_per_second": round(rows / seconds) if seconds > 0 else None,
        **counts.to_dict(pol_.labels()),
        "absent_fields": list(absent),
        "channel_labels": {c.name: c.label for c in pol_.program.channels},
    }


def commit_with_summary(staging: Staging, out, summary: dict) -> None:
    """summary.json written into the staging folder, which then becomes DIR."""
    try:
        (staging.path / "summary.json").write_text(
            json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        staging.commit()
    except OSError as e:
        raise cannot_write(out, e) from None


def release(claim: Claim, staging: Staging | None, writer, bar) -> None:
    """What a run holds, given back however it ended: the progress line
    closed, an unfinished writer stopped, an uncommitted staging folder
    removed, the output folder's lock released (pol run, --engine spark,
    pol diff)."""
    if bar is not None:
        bar.close()
    if writer is not None:
        writer.abort()
    if staging is not None:
        staging.discard()
    claim.release(committed=staging is not None and staging.committed)


def _guard_output(write, out: str):
    """Write errors (disk full) raised inside the stream's sink, said as such."""
    def sink(customers, assignments):
        try:
            write(customers, assignments)
        except OSError as e:
            raise cannot_write(out, e) from None
    return sink


class _sigterm_as_interrupt:
    """A scheduler's SIGTERM ends the run as Ctrl-C does: staging removed,
    nothing written. Only the main thread can install signal handlers."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
        return False


def _jsonable(v):
    return v.isoformat() if isinstance(v, dt.date) else v


def find_record(policy, input: str, key: str) -> dict:
    """One customer's record from an input file or folder, by key (for `pol explain`)."""
    import pyarrow.compute as pc
    program = policy.program
    inp = Input(program, input)
    kf = program.input.field(program.input.key)
    try:
        value = int(key) if kf.type.value == "int" else key
    except ValueError:
        raise DataError(f"the key '{kf.name}' is an int; '{key}' is not", column=kf.name) from None
    for file in inp.files:
        for batch in read_batches(program, file):
            hits = batch.filter(pc.equal(batch.column(kf.name), value))
            if hits.num_rows:
                return hits.slice(0, 1).to_pylist()[0]
    raise DataError(f"no customer with {kf.name} = {key}", column=kf.name, path=input)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="run a policy over a file or folder of customers",
        description="Run a policy over customers in Parquet, Arrow IPC/Feather or CSV (a file or a folder "
                    "of them); write DIR/customers, DIR/assignments and DIR/summary.json.")
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--input", required=True, metavar="PATH", help="a file or a folder of files")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the output folder (refused if it exists, unless --overwrite)")
    p.add_argument("--as-of", metavar="DATE", help="the run's date, YYYY-MM-DD (default: today), or "
                   "its date and time, YYYY-MM-DDTHH:MM, for quiet hours")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a declared param (repeatable)")
    p.add_argument("--format", choices=list(SUFFIX), default="parquet",
                   help="output format (default parquet; csv for spreadsheets; arrow: Arrow IPC files, "
                        "unencoded, for pipelines that read Arrow)")
    p.add_argument("--compression", choices=list(COMPRESSIONS), default=None,
                   help="Parquet output's codec (default snappy, which every reader has; none writes "
                        "faster and larger files, zstd smaller and slower ones)")
    p.add_argument("--history", action="append", default=[], metavar="NAME=PATH",
                   help="the events of a declared history: a file or folder in any format --input "
                        "takes (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it exists")
    p.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")
    p.add_argument("--engine", choices=["local", "spark"], default="local",
                   help="local (this machine, the default) or spark (Parquet input; docs/SPARK.md)")
    p.add_argument("--master", metavar="URL",
                   help="with --engine spark: the Spark master (default: the active session, else local[*])")
    p.set_defaults(fn=main)


def main(args) -> int:
    return run_command(args.policy, args.input, args.out, args.as_of, args.param, args.format,
                       args.overwrite, False if args.no_progress else None, args.engine, args.master,
                       args.history, args.compression)
