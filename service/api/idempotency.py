"""Idempotency-Key on the POSTs that create figures (figures, batch, imports).

A client that lost the answer to a POST retries with the same key and body and gets the
first answer again, with nothing stored twice; the same key with another body is a 422.
The answer is recorded in the same transaction as the figures, and two racing requests
with one key cannot both store: the second's record collides, its transaction rolls back,
and it replays the first's answer.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from flask import Response, current_app, g, request
from marshmallow import ValidationError

from .. import store
from ..db import get_db

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,200}")
#: Builds the answer once the figures are stored: (status, JSON body, Location or None).
Respond = Callable[[sqlite_utils.Database, list[int]], tuple[int, Any, str | None]]


@dataclass(frozen=True)
class Claim:
    owner: str
    key: str
    scope: str
    request_hash: str


def _claim() -> Claim | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationError({HEADER: ["Must be 1 to 200 visible ASCII characters "
                                        "(a UUID is a good choice)."]})
    digest = hashlib.sha256()
    for part in (request.query_string, request.mimetype.encode(), request.get_data()):
        digest.update(part)
        digest.update(b"\0")
    return Claim(owner=g.token_owner, key=key, scope=f"{request.method} {request.path}",
                 request_hash=digest.hexdigest())


def _response(status: int, body: str, location: str | None,
              replayed: bool = False) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    if location:
        response.headers["Location"] = location
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _replay(db: sqlite_utils.Database, claim: Claim) -> Response | None:
    first = store.idempotent_response(db, claim.owner, claim.key, claim.scope)
    if first is None:
        return None
    if first["request_hash"] != claim.request_hash:
        raise ValidationError({HEADER: [
            "This key was already used with a different request; use a new key for a "
            "new request."]})
    return _response(first["status"], first["response"], first["location"], replayed=True)


def create_figures(figures: Sequence[Mapping[str, Any]], respond: Respond) -> Response:
    """Store the figures and answer; a retried keyed request gets the first answer."""
    return write_figures(lambda db, then: store.insert_figures(db, figures, then=then), respond)


Write = Callable[[sqlite_utils.Database, Callable[[list[int]], None]], list[int]]
"""Stores figures in one transaction, calling `then(ids)` inside it before committing."""


def write_figures(write: Write, respond: Respond) -> Response:
    """Run `write` and answer; a retried keyed request gets the first answer instead."""
    db = get_db()
    claim = _claim()
    if claim is not None and (earlier := _replay(db, claim)) is not None:
        return earlier
    answer: dict[str, Any] = {}

    def record(ids: list[int]) -> None:
        status, body, location = respond(db, ids)
        # serialised exactly as every other JSON answer (compact, newline-terminated), so
        # the 201 body is byte for byte what a later GET of the same figure answers
        text = current_app.json.response(body).get_data(as_text=True)
        answer.update(status=status, body=text, location=location)
        if claim is not None:
            store.remember_response(db, claim.owner, claim.key, claim.scope,
                                    claim.request_hash, status, answer["body"], location)

    try:
        write(db, record)
    except store.KeyAlreadyUsed:
        assert claim is not None
        replayed = _replay(db, claim)
        if replayed is None:  # the twin's record expired in between: practically never
            raise
        return replayed
    return _response(answer["status"], answer["body"], answer["location"])
