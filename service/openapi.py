"""The flask-smorest Api: the OpenAPI 3 document is generated from the marshmallow schemas,
so it cannot drift from what the routes accept and answer."""

from __future__ import annotations

from flask import Flask, Response
from flask_smorest import Api as SmorestApi
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from .errors import http_problem


class ProblemOut(Schema):
    """application/problem+json (RFC 9457), the body of every error."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(metadata={"description": "field (or batch index, then field) "
                                                   "-> list of messages"})


class Api(SmorestApi):
    ERROR_SCHEMA = ProblemOut

    def handle_http_exception(self, error: HTTPException) -> Response:
        return http_problem(error)


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
    return Api(app)
