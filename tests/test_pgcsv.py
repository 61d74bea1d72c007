"""The PostgreSQL figures export (service/pgcsv.py): COPY's cells and csvio.crlf_line_ends
give exactly the text csvio.stream_csv writes, for any text PostgreSQL can hold."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import pgcsv
from service.csvio import crlf_line_ends, stream_csv

# PostgreSQL text holds no NUL and no lone surrogate
any_text = st.text(st.characters(codec="utf-8", exclude_characters="\0"))
tricky_text = st.text(alphabet=st.sampled_from(
    ["'", ",", '"', "\r", "\n", " ", "a", "é", "=", "+", "-", "@", "\t"]))
cell = st.none() | any_text | tricky_text
rows = st.lists(st.tuples(cell, st.none() | st.integers(-2**63, 2**63 - 1), cell),
                min_size=1, max_size=8)


@pytest.fixture
def connection(postgres: object, pg_shared_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the session's cluster (`postgres`: skipped, or in CI failed, where
    no PostgreSQL can run)."""
    with psycopg.connect(pg_shared_url, autocommit=True) as conn:
        yield conn


def copied(connection: psycopg.Connection, values: list[tuple]) -> str:
    """What COPY writes for `values` through pgcsv's cells, with crlf_line_ends applied."""
    placeholders = ", ".join("((%s)::text, (%s)::bigint, (%s)::text)" for _ in values)
    columns = pgcsv.cells([("v.a", False), ("v.n", True), ("v.b", False)])
    statement = (f"COPY (SELECT {columns} FROM (VALUES {placeholders}) AS v(a, n, b))"
                 " TO STDOUT (FORMAT csv)")
    with connection.cursor() as cursor, cursor.copy(
            statement, [value for row in values for value in row]) as copy:
        lines = [bytes(line).decode("utf-8") for line in copy]
    return "".join(crlf_line_ends(lines))


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows)
def test_copy_writes_what_stream_csv_writes(connection: psycopg.Connection,
                                            values: list[tuple]) -> None:
    expected = "".join(stream_csv(["a", "n", "b"], values)).split("\r\n", 1)[1]
    assert copied(connection, values) == expected


@pytest.mark.parametrize("text", ["=1+1", "'=1+1", "''@x", "-5", "+", "\tx", "\rx", "'",
                                  "''", "", "a,b", 'say "hi"', "two\nlines", "x\r\ny"])
def test_guards_and_quotes_match_for_the_cases_spreadsheets_care_about(
        connection: psycopg.Connection, text: str) -> None:
    row = (text, -1, text)
    expected = "".join(stream_csv(["a", "n", "b"], [row])).split("\r\n", 1)[1]
    assert copied(connection, [row]) == expected
