"""Run a unit of work again when the database engine asks for it (issue 12).

PostgreSQL answers some failures with "run the transaction again": a serialization failure
(SQLSTATE 40001) and a deadlock (40P01). Our own writers are serialised by one advisory
lock (engines.py), so our statements should not cause them, but a DBA's trigger, a server
running `default_transaction_isolation = serializable` or a future query can. The engine
has rolled the transaction back by then (nothing half-written), so the right answer is to
run the *whole unit of work* again: the request (api/unit_of_work.py), one batch of a
reconciliation run (reconcile/run.py), the store call of a CLI command (cli.py).

This module knows neither Flask nor SQL: it takes a callable and the engine's list of
retryable errors (engines.RETRYABLE_ERRORS).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from .engines import RETRYABLE_ERRORS

ATTEMPTS = 5
"""Tries in all (the first and four retries) before the error is let through."""
BASE_DELAY_SECONDS = 0.02
MAX_DELAY_SECONDS = 0.5
T = TypeVar("T")
log = logging.getLogger(__name__)


def is_retryable(error: BaseException) -> bool:
    """True for an error the engine answers with "run the transaction again"."""
    return isinstance(error, RETRYABLE_ERRORS)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1, 2, ...): "full jitter", a random
    time up to an exponentially growing cap, so racing retries spread out."""
    return random.uniform(0, min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** attempt))


def retrying(work: Callable[[], T], *, attempts: int = ATTEMPTS,
             before_retry: Callable[[], None] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """`work()`, run again (up to `attempts` tries in all) while it raises a retryable error.

    `work` must be a whole unit of work whose transaction the error rolled back (every
    write of the store runs in db.write_transaction, which rolls back on any error).
    `before_retry()` runs before each new try (e.g. to give back a connection). The last
    try's error is raised unchanged; any other error is raised at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except RETRYABLE_ERRORS as error:
            if attempt >= attempts:
                log.warning("giving up after %d tries: %s", attempt,
                            " ".join(str(error).split()))
                raise
            log.info("the database asked for a retry (try %d): %s", attempt,
                     type(error).__name__)
        if before_retry is not None:
            before_retry()
        sleep(backoff(attempt))
    raise AssertionError("unreachable")  # pragma: no cover
