"""Request bodies in, checked; the errors a client sees out.

Every refusal is JSON, `{"error": {"code", "message", "field"}}`, with a
4xx status: 400 a body that is not the shape asked for, 404 an unknown
policy or version, 413 a body over the limit, 415 a content type not
taken, 422 a record or param the policy refuses (the message and field are
decide's own: pol.api.records reads the record). Anything else is a 500
whose body says only that, with the request's id to find it in the
server's log: no stack trace reaches a client.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import orjson

from pol.api.records import iso_date, shown_argument
from pol.errors import ArgumentError, DataError, ParamError

_SINGLE = {"record", "as_of", "params", "policy", "version", "extra", "history"}
_BATCH = {"records", "as_of", "params", "policy", "version", "extra"}


class ClientError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


@dataclass
class Ask:
    """What a request asks: a record (or records), and how to decide."""
    records: list
    as_of: dt.date
    params: dict | None
    policy: str | None
    version: str | None
    pinned: bool
    extra: str
    # the decision's moment: as_of's time of day when it has one, now when
    # as_of is left out (quiet hours, LANGUAGE.md section 14); None: a date alone
    moment: dt.datetime | None = None
    history: dict | None = None     # the customer's events per history (LANGUAGE.md 12.3)


def from_engine(e: Exception, prefix: str = "record") -> ClientError:
    """An engine error as the client sees it."""
    if isinstance(e, ParamError):
        return ClientError(422, "param_error", str(e), f"params.{e.param}" if e.param else "params")
    if isinstance(e, DataError):
        return ClientError(422, "data_error", str(e), f"{prefix}.{e.column}" if e.column else prefix)
    if isinstance(e, ArgumentError):
        return ClientError(400, "bad_request", str(e), e.argument)
    raise e


def json_body(body: bytes):
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise ClientError(400, "bad_json", f"the body is not JSON: {e}") from None


def _moment(value) -> dt.datetime | None:
    if value is None:
        return dt.datetime.now()
    if isinstance(value, str) and "T" in value:
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise ClientError(400, "bad_request", f"as_of must be a date or a time written YYYY-MM-DD or "
                                                  f"YYYY-MM-DDTHH:MM, not {shown_argument(value)}", "as_of") from None
    return None


def _as_of(value) -> dt.date:
    if value is None:
        return dt.date.today()
    if isinstance(value, str) and "T" in value:
        return _moment(value).date()      # type: ignore[union-attr]
    day = iso_date(value) if isinstance(value, str) else None
    if day is None:
        raise ClientError(400, "bad_request", f"as_of must be a date written YYYY-MM-DD (e.g. 2026-11-01), "
                                              f"not {shown_argument(value)}", "as_of")
    return day


def ask(body: bytes, batch: bool, max_batch: int) -> Ask:
    data = json_body(body)
    if not isinstance(data, dict):
        raise ClientError(400, "bad_request", "the body must be a JSON object")
    allowed = _BATCH if batch else _SINGLE
    unknown = sorted(k for k in data if k not in allowed)
    if unknown:
        raise ClientError(400, "bad_request", f"unknown field '{unknown[0]}'; the body takes "
                                              + ", ".join(sorted(allowed)), unknown[0])
    if batch:
        records = data.get("records")
        if not isinstance(records, list):
            raise ClientError(400, "bad_request", "records must be a list of JSON objects", "records")
        if len(records) > max_batch:
            raise ClientError(413, "too_large", f"{len(records):,} records in one batch; at most {max_batch:,}",
                              "records")
    else:
        if "record" not in data:
            raise ClientError(400, "bad_request", "the body needs a record: {\"record\": {...}}", "record")
        records = [data["record"]]
    params = data.get("params")
    if params is not None and not isinstance(params, dict):
        raise ClientError(400, "bad_request", "params must be a JSON object of name: value", "params")
    policy = data.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise ClientError(400, "bad_request", "policy must be a policy's name", "policy")
    version = data.get("version")
    if version is not None and not isinstance(version, str):
        raise ClientError(400, "bad_request", "version must be text, e.g. \"2026.11\"", "version")
    extra = data.get("extra", "error")
    if extra not in ("error", "ignore"):
        raise ClientError(400, "bad_request", f"extra must be 'error' or 'ignore', not {shown_argument(extra)}",
                          "extra")
    history = data.get("history")
    if history is not None and not (isinstance(history, dict)
                                    and all(isinstance(v, list) for v in history.values())):
        raise ClientError(400, "bad_request", "history must be a JSON object of history name: [event, ...]",
                          "history")
    return Ask(records, _as_of(data.get("as_of")), params or None, policy, version, "version" in data, extra,
               _moment(data.get("as_of")), history)


def ask_arrow(query, max_batch: int) -> Ask:
    """An Arrow body's settings, from the query string: policy, version,
    as_of, extra and param.NAME=VALUE (values as text, as `pol run --param`)."""
    allowed = {"policy", "version", "as_of", "extra"}
    params = {}
    for k, v in query.multi_items():
        if k.startswith("param."):
            params[k[6:]] = v
        elif k not in allowed:
            raise ClientError(400, "bad_request", f"unknown query parameter '{k}'; an Arrow batch takes "
                                                  "policy, version, as_of, extra and param.NAME", k)
    extra = query.get("extra", "error")
    if extra not in ("error", "ignore"):
        raise ClientError(400, "bad_request", f"extra must be 'error' or 'ignore', not {extra!r}", "extra")
    return Ask([], _as_of(query.get("as_of")), params or None, query.get("policy"), query.get("version"),
               "version" in query, extra)
