"""pol: a rules and decision engine for customer policies written in `.pol`.

    import pol
    policy = pol.load("policies/telecom/retention.pol")
    result = policy.evaluate(table, as_of=date(2026, 11, 1))
    what_if = pol.diff([policy, "retention_v2.pol"], table, as_of=date(2026, 11, 1))
"""
from pol.errors import ArgumentError, CompileError, DataError, ParamError, PolicyError

__all__ = ["load", "loads", "diff", "Ledger", "Policy", "Result", "PolicyError", "DataError", "ParamError",
           "ArgumentError", "CompileError"]

_POLICY = ("Policy", "Result", "load", "loads")


def __getattr__(name: str):
    # The evaluation half (Numba, pyarrow) loads on first use, so that the
    # front end alone (`pol check`, `pol test`, `pol graph`) starts fast.
    if name in _POLICY:
        from pol.api import policy
        return getattr(policy, name)
    if name == "Ledger":
        from pol.api.ledger import Ledger
        return Ledger
    if name == "diff":
        from pol.loop.diff import diff
        return diff
    if name == "spark":         # pol.spark.evaluate (PySpark is an extra)
        import importlib
        return importlib.import_module("pol.spark")
    raise AttributeError(f"module 'pol' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_POLICY) + ["diff", "Ledger"])
