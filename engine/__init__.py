"""pol: a rules and decision engine for customer policies written in `.pol`."""
from pol.errors import DataError, ParamError, PolicyError

__all__ = ["PolicyError", "DataError", "ParamError"]
