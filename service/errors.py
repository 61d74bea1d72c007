"""One builder for every error body: application/problem+json (RFC 9457), API §3.

Flask's own 404/405, webargs' validation errors, our domain exceptions and anything
unexpected all leave through `problem()`, so a client parses one shape everywhere.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
import psycopg_pool
from flask import Flask, Response, current_app, json, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from .db import DatabaseUnavailable, SchemaVersionError
from .engines import RETRYABLE_ERRORS, one_line
from .store import Conflict, Invalid, NotFound

PROBLEM_TYPE = "urn:casualty-tracker:problem:"
log = logging.getLogger(__name__)


def problem_body(status: int, title: str, detail: str, *, errors: Any = None,
                 kind: str | None = None) -> dict[str, Any]:
    """The RFC 9457 object of every error; also used by the WSGI server's own answers."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + (kind or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def body_too_large_detail(limit_mb: int) -> str:
    """The 413's detail, the same from the app and from the WSGI server."""
    return (f"The request body is larger than the limit of {limit_mb} MB "
            "(CASUALTY_TRACKER_MAX_BODY_MB); nothing was changed.")


def problem(status: int, title: str, detail: str, *, errors: Any = None,
            headers: dict[str, str] | None = None, kind: str | None = None) -> Response:
    body = problem_body(status, title, detail, errors=errors, kind=kind)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    response.headers.update(headers or {})
    return response


def validation_problem(errors: Any, detail: str | None = None) -> Response:
    errors = _string_keys(errors)
    return problem(422, "Validation failed", detail or _summary(errors), errors=errors,
                   kind="validation")


def _string_keys(errors: Any) -> Any:
    """JSON object keys are strings: batch item indexes become "0", "1", ..."""
    if isinstance(errors, dict):
        return {str(key): _string_keys(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_string_keys(value) for value in errors]
    return errors


def _summary(errors: Any) -> str:
    """'Invalid: count, reported_on.' — the fields at fault, for people reading logs."""
    if isinstance(errors, dict) and errors:
        names = ", ".join(list(errors)[:10])
        more = "" if len(errors) <= 10 else f" and {len(errors) - 10} more"
        return f"Invalid: {names}{more}."
    return "The request is not valid."


def unwrap_webargs(messages: Any) -> Any:
    """webargs keys errors by location ({"json": {...}}); clients want the fields."""
    if isinstance(messages, dict) and len(messages) == 1:
        (location, inner), = messages.items()
        if location in ("json", "query", "querystring", "form", "headers"):
            messages = inner
    if isinstance(messages, dict) and isinstance(messages.get("figures"), dict) \
            and all(isinstance(key, int) for key in messages["figures"]):
        # a batch: errors by item index, then field (API §3); keep any error on the
        # envelope itself (an unknown top-level field) beside the item indexes
        rest = {key: value for key, value in messages.items() if key != "figures"}
        return {**messages["figures"], **rest}
    return messages


def http_problem(error: HTTPException) -> Response:
    data = getattr(error, "data", None) or {}
    code = error.code or 500
    if code == 422 and "messages" in data:
        return validation_problem(unwrap_webargs(data["messages"]))
    if code == 400 and "messages" in data:
        return problem(400, "Malformed request body",
                       "The body is not valid JSON in UTF-8.", kind="malformed-body")
    if code == 413:
        limit = current_app.config["SETTINGS"].max_body_mb
        return problem(413, error.name, body_too_large_detail(limit), kind="body-too-large")
    headers = dict(data.get("headers") or {})
    if code == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    detail = data.get("message") or error.description or error.name
    return problem(code, error.name, detail, headers=headers)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_problem)

    @app.errorhandler(ValidationError)
    def _validation(error: ValidationError) -> Response:
        return validation_problem(error.messages)

    @app.errorhandler(NotFound)
    def _not_found(error: NotFound) -> Response:
        return problem(404, "Not Found", str(error))

    @app.errorhandler(Invalid)
    def _invalid(error: Invalid) -> Response:
        return validation_problem({error.field: [str(error)]})

    @app.errorhandler(RecursionError)
    def _too_deep(error: RecursionError) -> Response:
        # json.loads recurses once per nesting level: [[[[...]]]] must be a 400, not a 500
        return problem(400, "Malformed request body",
                       "The JSON body is nested too deeply to read.", kind="malformed-body")

    @app.errorhandler(OverflowError)
    def _huge_id(error: OverflowError) -> Response:
        # /figures/99999999999999999999999: an id SQLite cannot even hold is simply unknown
        if any(isinstance(value, int) and not -(2**63) <= value < 2**63
               for value in (request.view_args or {}).values()):
            return problem(404, "Not Found", "There is no item with that id.")
        return _unexpected(error)

    @app.errorhandler(Conflict)
    def _conflict(error: Conflict) -> Response:
        return problem(409, "Conflict", str(error))

    @app.errorhandler(sqlite3.OperationalError)
    def _busy(error: sqlite3.OperationalError) -> Response:
        if "locked" not in str(error) and "busy" not in str(error):
            return _unexpected(error)
        log.warning("database busy: %s", error)
        return problem(503, "Service Unavailable",
                       "The database is busy; nothing was changed. Try again shortly.",
                       headers={"Retry-After": "1"})

    def _retries_exhausted(error: Exception) -> Response:
        # a serialization failure or deadlock that every retry met (api/unit_of_work.py):
        # each try was rolled back, so nothing was changed
        log.warning("database conflict after retries: %s", one_line(error))
        return problem(503, "Service Unavailable",
                       "The database could not complete the request because of concurrent "
                       "changes, even when retried; nothing was changed. Try again shortly.",
                       kind="database-conflict", headers={"Retry-After": "1"})

    for retryable in RETRYABLE_ERRORS:  # more specific than psycopg.OperationalError below
        app.register_error_handler(retryable, _retries_exhausted)

    @app.errorhandler(DatabaseUnavailable)
    @app.errorhandler(SchemaVersionError)
    @app.errorhandler(psycopg.OperationalError)
    @app.errorhandler(psycopg_pool.PoolTimeout)
    def _unavailable(error: Exception) -> Response:
        # PostgreSQL lost, restarting or refusing us: the request changed nothing (its
        # transaction, if any, never committed); the pool replaces broken connections, so
        # the next request works once the server is back
        log.warning("database unavailable: %s", one_line(error))
        return problem(503, "Service Unavailable",
                       "The database cannot be reached; nothing was changed. Try again "
                       "shortly.", kind="database-unavailable", headers={"Retry-After": "1"})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return problem(500, "Internal Server Error",
                       "Something went wrong on our side; nothing was changed.")
