"""The flask-smorest Api: the OpenAPI 3 document is generated from the marshmallow schemas,
so it cannot drift from what the routes accept and answer.

Every error the service can give is documented on the operations that can give it, with
the content type it really has (application/problem+json), instead of one catch-all
"default" answer: a client (or a fuzzer) can then tell a documented refusal from a surprise.
"""

from __future__ import annotations

import http
from typing import Any

from apispec import BasePlugin
from flask import Flask, Response
from flask_smorest import Api as SmorestApi
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from .auth import OPEN_PATHS
from .errors import http_problem
from .schemas import IsoDate, Text

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemOut(Schema):
    """application/problem+json (RFC 9457), the body of every error."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(metadata={"description": "field (or batch index, then field) "
                                                   "-> list of messages"})


def error_statuses(path: str, method: str) -> set[int]:
    """The error statuses an operation can answer, as the code gives them (API §2, §3)."""
    method = method.lower()
    statuses = {503}  # the database stayed busy for the whole busy timeout; nothing changed
    if path not in OPEN_PATHS:
        statuses.add(401)  # no, an unknown or a revoked token (refused even on reads)
        if method != "get":
            statuses.add(403)  # a token whose role is too low
    if method in ("post", "put", "patch"):
        statuses |= {400, 413, 415, 422}  # malformed, too large, wrong media type, invalid
    if "{" in path:
        statuses.add(404)
    if (path, method) in {("/api/v1/figures/{figure_id}", "patch"),
                          ("/api/v1/figures/{figure_id}/retract", "post"),
                          ("/api/v1/flags/{flag_id}", "patch")}:
        statuses.add(409)  # a retracted figure, an obsolete flag
    return statuses


class ProblemResponsesPlugin(BasePlugin):
    """apispec plugin: document each operation's error answers as problem+json, and that
    every field of an answer is always there."""

    def schema_helper(self, name: str, definition: dict, **kwargs: Any) -> dict | None:
        """Response bodies (the *Out and *Page schemas) always carry every field they
        declare, null where the field allows it: say so, so clients may rely on it."""
        if (name.endswith(("Out", "Page")) and name != "ProblemOut"
                and definition.get("properties")):
            return {"required": sorted(definition["properties"])}
        return None

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        for method, operation in (operations or {}).items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(path or "", method)):
                responses.setdefault(str(status), http.HTTPStatus(status).name)


def _text_lengths(self: Any, field: Any, **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: a Text field's length limits are part of the contract."""
    if not isinstance(field, Text):
        return {}
    limits: dict[str, Any] = {"maxLength": field.max_length}
    if field.min_length:
        limits["minLength"] = field.min_length
    return limits


def _ecma_pattern(self: Any, field: Any, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: JSON Schema patterns are ECMA-262, which has no \\Z."""
    pattern = ret.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("\\Z"):
        return {"pattern": "^" + pattern.removeprefix("^").removesuffix("\\Z") + "$"}
    return {}


class Api(SmorestApi):
    ERROR_SCHEMA = ProblemOut
    DEFAULT_ERROR_RESPONSE_NAME = None  # every error is listed by status instead

    def handle_http_exception(self, error: HTTPException) -> Response:
        return http_problem(error)

    def _register_responses(self) -> None:
        """The named responses (NOT_FOUND, ...) the operations refer to, as problem+json."""
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)


def make_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE="casualty-tracker",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {"description": "Record, version and reconcile the casualty figures "
                                    "that parties to an armed conflict publish."},
            "components": {"securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}, {}],
        },
    )
    api = Api(app, spec_kwargs={"extra_plugins": [ProblemResponsesPlugin()]})
    api.register_field(IsoDate, "string", "date")
    api.ma_plugin.converter.add_attribute_function(_text_lengths)
    api.ma_plugin.converter.add_attribute_function(_ecma_pattern)
    return api
