"""The `pol` command: check, graph, run, fmt, test, explain, gen, demo.

Arguments in, a report on stdout/stderr and an exit status out: 0 success,
1 a policy or data error (the message says which and where), 2 a usage
error. Errors are messages, never tracebacks.

Each command is a subparser whose `fn` default is its handler, taking the
parsed arguments and returning the exit status; a new command adds one
subparser in build_parser (or an `add_parser(subparsers)` in its own module,
as `run` does) and nothing else.
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

from pol.compiler.nogc import no_cycle_collection
from pol.dsl.diagnostics import render_all
from pol.errors import ArgumentError, DataError, ParamError, PolicyError


def _err(msg: str, status: int = 1) -> int:
    print(f"pol: error: {msg}", file=sys.stderr)
    return status


def cmd_check(args) -> int:
    """`pol check FILES...`: errors on stderr and exit 1; a one-line summary per good file.
    With --strict a warning is an error."""
    from dataclasses import replace

    from pol.compiler.frontend import check_path
    from pol.dsl.diagnostics import render
    status = 0
    for path in args.files:
        p = Path(path)
        if not p.is_file():
            why = "it is a folder" if p.is_dir() else "no such file"
            _err(f"cannot check '{path}': {why}")
            status = 1
            continue
        out = check_path(path, root=args.root)
        diags = out.diagnostics
        items = diags.items
        if args.strict:
            items = [replace(d, severity="error") for d in items]
        if any(d.severity == "error" for d in items):
            print(render_all(items, diags.sources), file=sys.stderr)
            status = 1
            continue
        for w in diags.warnings:
            print(render(w, diags.sources) + "\n", file=sys.stderr)
        print(f"{path}: ok \u2014 {summary(out.program)}")
    return status


def _folder(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"'{text}' is not a folder")
    return text


def summary(program) -> str:
    """What a policy holds, e.g. '25 fields, 2 params, 5 lets, ...'."""
    declared = [p for p in program.params if ":" not in p.name]     # a name with ':' is the run's own
    counts = [
        (len(program.input.fields), "field", "fields"), (len(declared), "param", "params"),
        (len(program.lets), "let", "lets"), (len(program.segments), "segment", "segments"),
        (len(program.classifies), "classification", "classifications"),
        (len(program.shown_scores), "score", "scores"), (len(program.channels), "channel", "channels"),
        (len(program.offers), "offer", "offers"), (len(program.tests), "test", "tests"),
    ]
    return ", ".join(f"{n} {one if n == 1 else many}" for n, one, many in counts)


def cmd_graph(args) -> int:
    """`pol graph POLICY`: what depends on what, as Graphviz dot or Mermaid."""
    from pol.compiler.frontend import compile_path
    from pol.compiler.frontend.graph import to_dot, to_mermaid
    from pol.compiler.frontend.resolve import dependency_graph
    p = Path(args.policy)
    if not p.is_file():
        return _err(f"cannot read '{args.policy}': {'it is a folder' if p.is_dir() else 'no such file'}")
    g = dependency_graph(compile_path(args.policy))
    print(to_mermaid(g) if args.format == "mermaid" else to_dot(g))
    return 0


def _load(path: str):
    import pol
    return pol.load(path)


def _parse_params(items: list[str]) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ParamError(f"--param needs NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out


def cmd_test(args) -> int:
    from pol.testing.policytest import main as run_tests
    coverage = None
    if args.coverage or args.coverage_json:
        from pol.testing.coverage import Coverage
        coverage = Coverage()
    status = run_tests(args.paths, verbose=args.verbose, coverage=coverage)
    if args.coverage:
        print(coverage.report())
    if args.coverage_json:
        try:
            Path(args.coverage_json).write_text(json.dumps(coverage.as_json(), ensure_ascii=False, indent=2) + "\n",
                                                encoding="utf-8")
        except OSError as e:
            return _err(f"cannot write the coverage to '{args.coverage_json}': {e.strerror or e}")
    return status


def cmd_explain(args) -> int:
    """`pol explain POLICY (--record JSON | --input PATH --key KEY)`: the
    explanation as text, or with --json as JSON. The record is read as
    every engine reads it (pol.api.records): a wrong value is a data error
    (exit 1); a wrong --as-of, or neither record nor key, a usage error (exit 2)."""
    from pol.api.records import iso_date
    as_of = None
    if args.as_of is not None:
        as_of = iso_date(args.as_of)
        if as_of is None:
            return _err(f"--as-of must be a date written YYYY-MM-DD (e.g. 2026-11-01), got {args.as_of!r}", 2)
    if args.record is None and (not args.input or args.key is None):
        return _err("give --record JSON, or --input PATH with --key KEY", 2)
    policy = _load(args.policy)
    params = _parse_params(args.param)
    if args.record is not None:
        try:
            record = json.loads(args.record)
        except ValueError as e:         # JSONDecodeError, or an int of more than 4300 digits
            return _err(f"--record is not valid JSON: {e}")
        except RecursionError:
            return _err("--record is not valid JSON: nested too deeply")
    else:
        from pol.cli.run import find_record
        record = find_record(policy, args.input, args.key)
    history = None
    if args.history:
        from pol.io.history_files import customer_events, parse_history_args
        try:
            paths = parse_history_args(args.history)
        except ValueError as e:
            return _err(str(e), 2)
        history = customer_events(policy, paths, record)
    explanation = policy.explain(record, as_of=as_of, params=params, extra=args.extra, history=history)
    # A string field may hold what the terminal cannot encode (a lone surrogate from JSON's \ud800).
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    if args.json:
        print(explanation.to_json(indent=2))
    else:
        print(explanation)
    return 0


def cmd_gen(args) -> int:
    """`pol gen N OUT`: the telecom sample customers, or with --policy customers
    for any policy's input block (pol/cli/gen.py)."""
    import datetime as dt

    from pol.cli.sample import save
    if args.n < 0:
        print("pol: error: N must be 0 or more", file=sys.stderr)
        return 2
    try:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        print(f"pol: error: --as-of '{args.as_of}' is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    written: list[str] = []
    try:
        if args.policy is None:
            # the telecom library's customers and their contact log, which contact.pol reads
            from pol.cli.gen_history import events_path
            from pol.cli.sample import generate as sample
            from pol.cli.sample_contacts import contacts
            day = {"as_of": as_of} if as_of else {}
            customers = sample(args.n, seed=args.seed, **day)
            save(customers, args.out)
            events = contacts(customers, seed=args.seed, **day)
            path = events_path(args.out, "contacts")
            save(events, path)
            written.append(f"wrote {events.num_rows:,} contacts of the last 90 days to {path} "
                           "(pol run ... --history contacts=" + path + ")")
        else:
            from pol.cli.gen import generate
            from pol.compiler.frontend import compile_path
            if not Path(args.policy).is_file():
                return _err(f"cannot read '{args.policy}': no such file")
            program = compile_path(args.policy)
            customers = generate(program, args.n, seed=args.seed, as_of=as_of)
            save(customers, args.out)
            if program.histories:
                # the events of each history, beside the customers (LANGUAGE.md section 12)
                from pol.cli.gen_history import events_path, generate_events
                for name, events in generate_events(program, customers, seed=args.seed, as_of=as_of).items():
                    path = events_path(args.out, name)
                    save(events, path)
                    written.append(f"wrote {events.num_rows:,} events of {name} to {path}")
    except OSError as e:
        return _err(f"cannot write '{args.out}': {e.strerror or e}")
    print(f"wrote {args.n:,} customers to {args.out}")
    for line in written:
        print(line)
    return 0


def cmd_demo(args) -> int:
    from pol.cli.demo import main as demo
    return demo(rows=args.rows, folder=args.dir)


# Commands that a parser without the other modules' commands can run: those
# modules import pyarrow and NumPy when loaded, half of a `pol check`, which
# an editor may run on every save.
LIGHT = ("check", "graph")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or with `command` one of LIGHT a parser
    of the commands this module declares (the same options and help)."""
    ap = argparse.ArgumentParser(prog="pol", description="Check, test and run customer policies written in .pol.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="check policies; errors as FILE:LINE:COL")
    p.add_argument("files", nargs="+", metavar="POLICY")
    p.add_argument("--root", metavar="DIR", type=_folder,
                   help="the folder imports must stay in (default: each policy's own folder)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.set_defaults(fn=cmd_check)

    p = sub.add_parser("graph", help="what depends on what")
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--format", choices=["dot", "mermaid"], default="dot")
    p.set_defaults(fn=cmd_graph)

    if command not in LIGHT:
        from pol.cli import fmt as fmt_mod
        from pol.cli import run as run_mod
        from pol.loop import diff_cli, effect_cli
        from pol.loop.report import cli as report_cli
        from pol.serve import cli as serve_cli
        for module in (run_mod, diff_cli, effect_cli, report_cli, fmt_mod, serve_cli):
            module.add_parser(sub)

    p = sub.add_parser("test", help="run the test blocks of policies")
    p.add_argument("paths", nargs="+", metavar="POLICY_OR_DIR")
    p.add_argument("-v", "--verbose", action="store_true", help="list every test")
    p.add_argument("--coverage", action="store_true",
                   help="which rules, segments, channels and offers the tests exercised, per file")
    p.add_argument("--coverage-json", metavar="PATH", help="write the coverage as JSON")
    p.set_defaults(fn=cmd_test)

    p = sub.add_parser("explain", help="why a customer got (or did not get) each offer")
    p.add_argument("policy", metavar="POLICY")
    p.add_argument("--input", metavar="PATH")
    p.add_argument("--key", metavar="KEY")
    p.add_argument("--record", metavar="JSON", help="the customer as a JSON object")
    p.add_argument("--as-of", metavar="DATE", help="the date to decide as of, YYYY-MM-DD (default: today)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--extra", choices=["error", "ignore"], default="error",
                   help="a record field the input block does not declare: an error (default) or ignored")
    p.add_argument("--json", action="store_true", help="the explanation as JSON")
    p.add_argument("--history", action="append", default=[], metavar="NAME=PATH",
                   help="the events of a declared history (as for pol run); the customer's are used")
    p.set_defaults(fn=cmd_explain)

    if command not in LIGHT:
        from pol.cli import sample
        sample.add_parser(sub)

    p = sub.add_parser("demo", help="sample customers through the telecom policies, to a report to open")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dir", default="pol-demo", metavar="DIR",
                   help="the folder the demo's files are kept in (default: pol-demo in the current folder)")
    p.set_defaults(fn=cmd_demo)
    return ap


def main(argv=None) -> int:
    own_process = argv is None          # the process's own command line, not a caller's list
    argv = sys.argv[1:] if argv is None else list(argv)
    # Importing the commands' modules (pyarrow, NumPy, the compiler) makes a
    # heap of objects that live as long as the process, which the cycle
    # collector would walk again and again; in a process of its own they are
    # frozen out of its sight (as pol serve does after a load). A batch run
    # is one short process that makes no cycles worth collecting: the
    # collector stays off, and what the run made is frozen before the exit's
    # last collection. Together 0.3-0.9 s of a `pol run` (compiler/nogc.py).
    with no_cycle_collection():
        args = build_parser(argv[0] if argv else None).parse_args(argv)
        if own_process:
            gc.freeze()
    if own_process and args.command == "run" and args.engine == "local":     # Spark's driver keeps it
        gc.disable()
        # pandas and SciPy, which pyarrow and Numba would import for nothing
        # a run uses (0.5 s of CPU): PySpark needs pandas, so not for Spark
        from pol.cli import unused
        unused.refuse()
    try:
        return args.fn(args)
    except PolicyError as e:
        print(str(e), file=sys.stderr)
        return 1
    except (DataError, ParamError) as e:
        return _err(str(e))
    except ArgumentError as e:
        return _err(str(e), 2)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    finally:
        if own_process:
            gc.freeze()


if __name__ == "__main__":
    raise SystemExit(main())
