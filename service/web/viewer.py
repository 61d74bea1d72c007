"""Who is looking at a page: the key whose token hash the signed session holds, if any.

The session keeps only the token's SHA-256 hash, never the token. The key is looked up
again on every request, so revoking a token (or lowering its role) takes effect at once.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import sqlite_utils
from flask import session

from .. import store
from ..auth import ROLE_RANK


@dataclass(frozen=True)
class Viewer:
    name: str
    role: str

    def has(self, role: str) -> bool:
        """Whether this viewer's role is at least `role` (reader < editor < admin)."""
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


def current_viewer(db: sqlite_utils.Database) -> Viewer | None:
    """The signed-in key's name and role, or None (not signed in, or key revoked)."""
    digest = session.get("token_hash")
    if not isinstance(digest, str):
        return None
    key = store.api_key_for_hash(db, digest)
    if key is None or not hmac.compare_digest(digest, key["token_hash"]):
        return None
    return Viewer(key["name"], key["role"])
