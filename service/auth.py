"""API tokens and roles (API §2).

Tokens are 256-bit random strings shown once; only their SHA-256 hash is stored. A plain
hash (not a slow password hash) is right here because the token itself has full entropy:
nobody can guess their way to a preimage, and the lookup stays one indexed read.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlite_utils
from flask import Response, current_app, g, request

from . import store
from .db import get_db
from .errors import problem

ROLE_RANK = {"reader": 1, "editor": 2, "admin": 3}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths every client may call without a token (and with any token: it is ignored).
OPEN_PATHS = frozenset({"/api/v1/health", "/api/v1/openapi.json"})
TOKEN_PREFIX = "ct_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(db: sqlite_utils.Database, role: str, name: str) -> str:
    """Store a new key's hash and return the token, which is never stored or shown again."""
    token = new_token()
    store.create_api_key(db, name, role, hash_token(token))
    return token


def role_of(db: sqlite_utils.Database, token: str) -> str | None:
    digest = hash_token(token)
    found = store.role_for_token_hash(db, digest)
    if found is None:
        return None
    role, stored_digest = found
    return role if hmac.compare_digest(digest, stored_digest) else None


def required_role(method: str) -> str:
    """Reading needs reader; every change (and starting a run) needs editor."""
    return "reader" if method in READ_METHODS else "editor"


def _unauthorized(detail: str) -> Response:
    return problem(401, "Unauthorized", detail,
                   headers={"WWW-Authenticate": 'Bearer realm="casualty-tracker"'})


def authorize() -> Response | None:
    """before_request: refuse the request (401/403) unless its token's role suffices.

    An invalid token is refused even where none is needed, so a client with a broken
    token learns it at once instead of on its first write.
    """
    if request.path in OPEN_PATHS or not request.path.startswith("/api/v1/"):
        return None
    header = request.headers.get("Authorization")
    needed = required_role(request.method)
    if header is None:
        if needed == "reader" and current_app.config["SETTINGS"].public_read:
            g.role = None
            return None
        return _unauthorized("This request needs an API token: Authorization: Bearer <token>.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return _unauthorized("Send the token as: Authorization: Bearer <token>.")
    role = role_of(get_db(), token)
    g.token_owner = hash_token(token)
    if role is None:
        return _unauthorized("The API token is unknown or revoked.")
    if ROLE_RANK[role] < ROLE_RANK[needed]:
        return problem(403, "Forbidden",
                       f"This request needs the {needed} role; the token has {role}.")
    g.role = role
    return None
