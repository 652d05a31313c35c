"""`pol fmt FILE_OR_FOLDER... [--check] [--diff]`: policy files -> rewritten
in the canonical layout of dsl/fmt.py (LANGUAGE.md section 11.1).

Every `.pol` file below a folder is formatted. A file is rewritten only
when its layout changes, and atomically (a new file beside it, moved over
it), so a file is either the old text or the new, never half of each.
`--check` rewrites nothing and lists the files that would change (exit 1 if
any: for CI); `--diff` prints what would change as a unified diff. A file
that does not parse is refused with its syntax errors (exit 1) and left as
it is.
"""
from __future__ import annotations

import difflib
import os
import sys
import tempfile
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("fmt", help="rewrite policies in the canonical layout, comments kept")
    p.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    p.add_argument("--check", action="store_true",
                   help="change nothing; list the files that would change, exit 1 if any")
    p.add_argument("--diff", action="store_true", help="change nothing; print what would change as a unified diff")
    p.set_defaults(fn=command)


def _files(paths: list[str]) -> tuple[list[Path], list[str]]:
    files, missing = [], []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.pol") if f.is_file())
        elif p.is_file():
            files.append(p)
        else:
            missing.append(name)
    return files, missing


def write_atomically(path: Path, text: str) -> None:
    """Replace the file's text in one step, keeping its permissions."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def command(args) -> int:
    from pol.dsl.diagnostics import render_all
    from pol.dsl.fmt import FormatError, format_text
    files, missing = _files(args.paths)
    status = 0
    for name in missing:
        print(f"pol: error: cannot format '{name}': no such file or folder", file=sys.stderr)
        status = 1
    changed = 0
    for path in files:
        try:
            old = path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or str(e)
            print(f"pol: error: cannot read '{path}': {why}", file=sys.stderr)
            status = 1
            continue
        try:
            out = format_text(old, str(path))
        except FormatError as e:
            print(f"pol: error: cannot format {e}; the file is left as it is", file=sys.stderr)
            status = 1
            continue
        if out.text is None:
            print(render_all(out.problems, {str(path): out.source}), file=sys.stderr)
            print(f"pol: error: '{path}' does not parse; it is left as it is", file=sys.stderr)
            status = 1
            continue
        if out.text == old:
            continue
        changed += 1
        if args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), out.text.splitlines(keepends=True),
                f"{path} (as it is)", f"{path} (formatted)"))
        if args.check:
            print(f"would reformat {path}")
        elif not args.diff:
            try:
                write_atomically(path, out.text)
            except OSError as e:
                print(f"pol: error: cannot write '{path}': {e.strerror or e}", file=sys.stderr)
                status = 1
                continue
            print(f"reformatted {path}")
    if args.check and changed:
        status = 1
    verb = "would be reformatted" if args.check or args.diff else "reformatted"
    print(f"{changed} of {len(files)} file{'s' if len(files) != 1 else ''} {verb}", file=sys.stderr)
    return status
