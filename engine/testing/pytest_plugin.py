"""pytest collects the `test` blocks of policy files, as `pol test` runs them.

A `conftest.py` beside the policies turns it on for that folder only:

    from pol.testing.pytest_plugin import pytest_collect_file  # noqa: F401

Then `pytest policies/` collects one item per `test` block of each .pol file
(an imported file's tests belong to that file), reported at its `test`
keyword; a failure shows what `pol test` shows (the expectation, its
position and the values seen), and a policy that does not check fails its
file's collection with the rendered diagnostics. Tests run as of today
unless they say `as of`, like `pol test`.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix == ".pol":
        return PolicyFile.from_parent(parent, path=file_path)
    return None


class PolicyCheckFailed(Exception):
    """The policy does not check; its rendered diagnostics."""


class PolicyFile(pytest.File):
    def collect(self):
        from pol.compiler.frontend import compile_path
        from pol.dsl.diagnostics import PolicyError
        from pol.testing.policytest import own_tests
        # Positions read as the user named the folder: relative to where pytest ran.
        try:
            shown = self.path.relative_to(self.config.invocation_params.dir)
        except ValueError:
            shown = self.path
        try:
            program = compile_path(shown)
        except PolicyError as e:
            raise PolicyCheckFailed(str(e)) from None
        for test in own_tests(program, str(shown)):
            yield PolicyTestItem.from_parent(self, name=test.name, program=program, test=test)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PolicyCheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class PolicyTestFailed(Exception):
    """A failed test block; its outcome as `pol test` prints it."""


class PolicyTestItem(pytest.Item):
    def __init__(self, *, program, test, **kwargs):
        super().__init__(**kwargs)
        self.program = program
        self.test = test

    def runtest(self) -> None:
        from pol.testing.policytest import run_test
        outcome = run_test(self.program, self.test)
        if not outcome.passed:
            raise PolicyTestFailed(str(outcome))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, PolicyTestFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        line = self.test.span.line - 1 if self.test.span is not None else 0
        return self.path, line, f"test {self.test.name!r}"
