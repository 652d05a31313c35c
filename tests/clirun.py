"""`pol ARGS...` run in this process, answered as subprocess.run answers:
returncode, stdout, stderr.

For tests of what a command writes and says. A child process costs a
Python start and, with a fresh cache folder, a Numba compile of every kernel
it meets (seconds each, on two cores); in this process the kernels compiled
by earlier tests are reused. Tests about the process itself (the entry
point, signals, a warm start from the disk cache, background compiles,
one-warning-per-process) keep a real `python -m pol`.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess


def pol(*args, cwd=None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`pol *args` with `cwd` as the working folder and `env` added to the
    environment for the call: exit status, stdout and stderr as text."""
    from pol.cli.main import main
    argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment(env or {}))
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            status = main(argv)
        except SystemExit as e:             # argparse's usage errors
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["pol", *argv], status, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(env: dict):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
