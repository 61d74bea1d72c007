"""service/retry.py on its own (no database): what is retried, how often, how long it waits.
The retries against a real PostgreSQL server are in test_postgres_retry.py."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pytest

from service import retry


def failing(times: int, error: type[Exception], calls: list[int]):  # noqa: ANN201
    def work() -> str:
        calls.append(len(calls) + 1)
        if len(calls) <= times:
            raise error("try again")
        return "done"
    return work


@pytest.mark.parametrize("error", [psycopg.errors.SerializationFailure,
                                   psycopg.errors.DeadlockDetected])
def test_a_retryable_error_is_retried_until_the_work_succeeds(error: type[Exception]) -> None:
    calls: list[int] = []
    resets: list[int] = []
    waits: list[float] = []
    result = retry.retrying(failing(2, error, calls), before_retry=lambda: resets.append(1),
                            sleep=waits.append)
    assert result == "done"
    assert calls == [1, 2, 3]
    assert len(resets) == 2 and len(waits) == 2
    assert all(0 <= wait <= retry.MAX_DELAY_SECONDS for wait in waits)


def test_the_last_error_is_raised_after_the_bounded_number_of_tries() -> None:
    calls: list[int] = []
    waits: list[float] = []
    with pytest.raises(psycopg.errors.SerializationFailure):
        retry.retrying(failing(99, psycopg.errors.SerializationFailure, calls),
                       sleep=waits.append)
    assert len(calls) == retry.ATTEMPTS
    assert len(waits) == retry.ATTEMPTS - 1
    assert sum(waits) <= retry.ATTEMPTS * retry.MAX_DELAY_SECONDS


@pytest.mark.parametrize("error", [psycopg.OperationalError, psycopg.IntegrityError,
                                   ValueError])
def test_any_other_error_is_raised_at_once(error: type[Exception]) -> None:
    calls: list[int] = []
    with pytest.raises(error):
        retry.retrying(failing(1, error, calls), sleep=lambda _: None)
    assert calls == [1]


def test_the_back_off_is_jittered_and_capped() -> None:
    waits = [retry.backoff(attempt) for attempt in range(1, 12) for _ in range(20)]
    assert all(0 <= wait <= retry.MAX_DELAY_SECONDS for wait in waits)
    assert len(set(waits)) > 100  # random, so racing retries spread out
    assert max(retry.backoff(1) for _ in range(200)) <= retry.BASE_DELAY_SECONDS * 2


def test_a_streamed_export_reads_a_page_again_when_the_engine_asks() -> None:
    """An export's headers are sent before its rows are read, so its pages are retried one
    by one (csvexport._keyset_pages): every row once, in order, none lost or repeated."""
    from service import csvexport

    rows = list(range(1, 2 * csvexport.PAGE_ROWS + 11))
    refused: list[int] = []

    def fetch(after: int, limit: int) -> list[int]:
        if after == csvexport.PAGE_ROWS and not refused:  # the second page, once
            refused.append(after)
            raise psycopg.errors.SerializationFailure("could not serialize access")
        return [row for row in rows if row > after][:limit]

    assert list(csvexport._keyset_pages(fetch, key=lambda row: row)) == rows
    assert refused == [csvexport.PAGE_ROWS]
