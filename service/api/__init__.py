"""HTTP: one blueprint per resource, plus what every route shares (paging, media types).

Every route lives under /api/v1. The shared pieces are here so each resource module is
only its routes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import ValidationError
from webargs.flaskparser import FlaskParser

from ..errors import problem

PREFIX = "/api/v1"
#: Bodies that are not JSON, and POSTs whose body may be left out, by path.
BODY_MEDIA_TYPES = {f"{PREFIX}/imports": "text/csv"}
OPTIONAL_BODY_PATHS = frozenset({f"{PREFIX}/reconciliation/runs"})


class StrictParser(FlaskParser):
    """Let each schema's Meta decide unknown fields, so query strings RAISE too (§3)."""

    DEFAULT_UNKNOWN_BY_LOCATION = dict.fromkeys(FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION)


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = StrictParser()


def require_media_type() -> Response | None:
    """before_request: a body of the wrong media type is refused with 415 (API §3)."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith(PREFIX):
        return None
    if request.routing_exception is not None:  # no such route or method: 404/405, not 415
        return None
    expected = BODY_MEDIA_TYPES.get(request.path, "application/json")
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding")
    if request.path in OPTIONAL_BODY_PATHS and not has_body:
        return None
    if request.mimetype != expected:
        got = request.mimetype or "no Content-Type"
        return problem(415, "Unsupported Media Type",
                       f"This endpoint takes {expected}; the request sent {got}.")
    if expected == "application/json" and request.mimetype_params.get("charset", "utf-8") \
            .lower() not in ("utf-8", "utf8"):
        return problem(415, "Unsupported Media Type", "JSON bodies must be UTF-8.")
    return None


IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]{1,200}$"},
    "description": "Send the same key with a retried request to get the first answer again "
                   "instead of storing twice (remembered 24 hours); the same key with a "
                   "different body is a 422.",
}


def answer_with_ids(_db: Any, ids: list[int]) -> tuple[int, dict[str, list[int]], None]:
    """The 201 {"ids": [...]} answer of a batch or an import."""
    return 201, {"ids": ids}, None


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def add_security_headers(response: Response) -> Response:
    """after_request: an API answer is data, never a page to frame, sniff or cache."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a page starts after; a cursor we did not issue is a 422 on `cursor`."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "after" or not number.isdigit() or len(number) > 18:
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"cursor": ["Not a cursor this service issued."]}) from None


def paginate(fetch: Callable[[int, int], Sequence[dict]], query: dict[str, Any],
             key: str = "id") -> dict[str, Any]:
    """Run `fetch(after_id, limit + 1)` and wrap it as {"items", "next_cursor"} (§3)."""
    limit = query["limit"]
    rows = list(fetch(decode_cursor(query.get("cursor")), limit + 1))
    items = rows[:limit]
    more = len(rows) > limit
    return {"items": items, "next_cursor": encode_cursor(items[-1][key]) if more else None}
