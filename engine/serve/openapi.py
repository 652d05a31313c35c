"""The server's OpenAPI 3.1 document (GET /openapi.json) and a page that
shows it (GET /docs). The page is made here from the document, with no
script or style fetched from elsewhere, so it works on a network with no
way out, as decision services usually sit.
"""
from __future__ import annotations

import html

_ERROR = {"$ref": "#/components/schemas/Error"}
_OFFER = {"type": "object", "properties": {
    "offer": {"type": "string"}, "rank": {"type": "integer"}, "channel": {"type": "string"},
    "priority": {"type": "number"}, "control": {"type": "boolean"}}}
_DECISION = {"type": "object", "properties": {
    "policy": {"type": "string"}, "version": {"type": ["string", "null"]},
    "arm": {"type": "string", "enum": ["pinned", "champion", "challenger"]},
    "key": {"type": ["integer", "string"]},
    "segments": {"type": "object", "additionalProperties": {"type": "boolean"}},
    "classifications": {"type": "object", "additionalProperties": {"type": ["string", "null"]}},
    "scores": {"type": "object", "additionalProperties": {"type": ["number", "null"]}},
    "offers": {"type": "array", "items": _OFFER},
    "arms": {"type": "object", "additionalProperties": {"type": "string"},
             "description": "the policy's experiments: each one's arm for the customer, or control"}}}
_HISTORY = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "object"}},
            "description": "the customer's events: history name -> [event record, ...]"}
_COMMON = {
    "as_of": {"type": "string", "description": "the decision's date, YYYY-MM-DD, or its moment, YYYY-MM-DDTHH:MM, "
              "for quiet hours (default: now)"},
    "params": {"type": "object", "description": "param overrides, as Policy.decide takes them"},
    "policy": {"type": "string", "description": "the policy's name (needed when the server holds several)"},
    "version": {"type": "string", "description": "pin this version; otherwise routing chooses"},
    "extra": {"type": "string", "enum": ["error", "ignore"], "description": "fields the input does not declare"},
}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    words = {400: "a body that is not the shape asked for", 404: "no such policy or version",
             413: "the body is over the limit", 415: "a content type not taken",
             422: "the policy refuses the record or a param", 503: "no policy loaded"}
    return {str(c): {"description": words[c], **_json(_ERROR)} for c in codes}


def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "pol serve", "version": "1", "description": "Decisions of .pol policies over HTTP."},
        "paths": {
            "/v1/decide": {"post": {
                "summary": "Decide for one customer",
                "requestBody": {"required": True, **_json({"type": "object", "required": ["record"], "properties": {
                    "record": {"type": "object", "description": "the customer: field -> value"},
                    "history": _HISTORY, **_COMMON}})},
                "responses": {"200": {"description": "the decision", **_json(_DECISION)},
                              **_errors(400, 404, 413, 422)}}},
            "/v1/decide/batch": {"post": {
                "summary": "Decide for many customers (JSON, or an Arrow IPC stream)",
                "description": "With Content-Type application/vnd.apache.arrow.stream the body is an Arrow IPC "
                               "stream of customers and the answer one too; policy, version, as_of, extra and "
                               "param.NAME then come in the query string.",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"type": "object", "required": ["records"], "properties": {
                        "records": {"type": "array", "items": {"type": "object"}}, **_COMMON}}},
                    "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {"200": {"description": "the decisions, in input order", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "decisions": {"type": "array", "items": _DECISION}}}},
                    "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}}}},
                    **_errors(400, 404, 413, 415, 422)}}},
            "/v1/explain": {"post": {
                "summary": "Why a customer gets, or does not get, each offer",
                "requestBody": {"required": True, **_json({"type": "object", "required": ["record"], "properties": {
                    "record": {"type": "object"}, "history": _HISTORY, **_COMMON}})},
                "responses": {"200": {"description": "the explanation (Policy.explain's to_dict, and `text`)",
                                      **_json({"type": "object"})}, **_errors(400, 404, 413, 422)}}},
            "/v1/policies": {"get": {
                "summary": "What is loaded: every file, version, hash, load time, last error",
                "responses": {"200": {"description": "the policies", **_json({"type": "object"})}}}},
            "/v1/capacity": {"get": {"summary": "The capacity ledger: units used per policy, offer and period",
                                     "responses": {"200": {"description": "the ledger", **_json({"type": "object"})}}}},
            "/healthz": {"get": {"summary": "The process answers", "responses": {"200": {"description": "alive"}}}},
            "/readyz": {"get": {"summary": "At least one policy is loaded",
                                "responses": {"200": {"description": "ready"}, **_errors(503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "text exposition format"}}}},
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {"error": {
            "type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                             "field": {"type": ["string", "null"]}}}}}}},
    }


def page(doc: dict) -> str:
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {})
            schema = body.get("application/json", {}).get("schema", {})
            fields = ", ".join(f"<code>{html.escape(k)}</code>" for k in schema.get("properties", {}))
            codes = ", ".join(op.get("responses", {}))
            rows.append(f"<tr><td><b>{method.upper()}</b></td><td><code>{html.escape(path)}</code></td>"
                        f"<td>{html.escape(op.get('summary', ''))}<br><small>{html.escape(op.get('description', ''))}"
                        f"</small></td><td>{fields}</td><td>{codes}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>pol serve API</title><style>"
            "body{font-family:sans-serif;margin:2em}td{border-top:1px solid #ccc;padding:.4em;vertical-align:top}"
            "</style></head><body><h1>pol serve</h1><p>The OpenAPI document: <a href='/openapi.json'>/openapi.json"
            "</a>. Errors are <code>{\"error\": {\"code\", \"message\", \"field\"}}</code>.</p><table><tr><th>method"
            "</th><th>path</th><th>what</th><th>body fields</th><th>statuses</th></tr>" + "".join(rows) +
            "</table></body></html>")
