"""The errors the engine raises at its users."""
from __future__ import annotations

from pol.dsl.diagnostics import Diagnostic, PolicyError

__all__ = ["PolicyError", "Diagnostic", "DataError", "ParamError", "ArgumentError", "CompileError"]


class DataError(Exception):
    """Input data that does not fit the policy's `input` block. The message names
    the column (and the file, when there is one) and, for nulls, how many rows
    and the keys of the first few."""

    def __init__(self, message: str, column: str | None = None, path: str | None = None):
        self.column = column
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class ParamError(ValueError):
    """An unknown param, or a value that cannot be converted to the param's type."""

    def __init__(self, message: str, param: str | None = None):
        self.param = param
        super().__init__(message)


class ArgumentError(ValueError):
    """An argument of the API outside its allowed forms (`as_of`, `engine`,
    `extra`): the message names the argument and what it accepts."""

    def __init__(self, message: str, argument: str | None = None):
        self.argument = argument
        super().__init__(message)


class CompileError(RuntimeError):
    """The policy's kernel could not be compiled (Numba refused it or ran out
    of stack): a limit of the engine, not a mistake in the policy, which the
    vectorized evaluator (`engine="vector"`) still runs. `cause` says what
    failed, in one line."""

    def __init__(self, cause: str):
        self.cause = cause
        super().__init__(f"the policy's kernel could not be compiled ({cause}); "
                         f"engine=\"vector\" runs it without compiling")

