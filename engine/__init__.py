"""pol: a rules and decision engine for customer policies written in `.pol`.

    import pol
    policy = pol.load("policies/telecom/retention.pol")
    result = policy.evaluate(table, as_of=date(2026, 11, 1))
"""
from pol.errors import DataError, ParamError, PolicyError
from pol.policy import Policy, Result, load, loads

__all__ = ["load", "loads", "Policy", "Result", "PolicyError", "DataError", "ParamError"]
