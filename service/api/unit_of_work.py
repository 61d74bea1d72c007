"""The request is the unit of work: run it again when the database engine asks for it.

PostgreSQL may answer a transaction with a serialization failure (40001) or a deadlock
(40P01), having rolled it back: the request changed nothing, and the engine's advice is to
run it again. `App` (the Flask class create_app makes) does that for every route, the API's
and the pages', around the before_request hooks and around the view: each is run again
(service/retry.py: a few tries, a short jittered back-off) on a fresh connection. Only
when every try failed does the error reach the 503 handler (errors.py: problem+json with
Retry-After, never a 500).

A retried POST keeps its Idempotency-Key's meaning: the key's record is written in the same
transaction as the figures, so the failed try left no record and no figure, and the retry
stores the figures once. A streamed CSV answer reads its rows after the view returned,
when its headers are sent: the keyset-paged exports (flags; figures on SQLite) read a page
again instead (csvexport.py); PostgreSQL's figures export (one COPY) and the report export
(one read per conflict) are not retried.
"""

from __future__ import annotations

from flask import Flask
from flask.typing import ResponseReturnValue

from ..db import close_db
from ..retry import retrying


class App(Flask):
    """Flask, with every request's hooks and view retried as one unit of work (above)."""

    def preprocess_request(self) -> ResponseReturnValue | None:
        """The before_request hooks (authorisation reads the token's key), retried."""
        return retrying(super().preprocess_request, before_retry=close_db)

    def dispatch_request(self) -> ResponseReturnValue:
        """The view, retried as a whole on a fresh connection when the engine asks."""
        return retrying(super().dispatch_request, before_retry=close_db)
