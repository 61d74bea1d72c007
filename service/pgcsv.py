"""The figures export's cells as PostgreSQL expressions, for `COPY ... TO STDOUT (FORMAT csv)`.

The figures export is most of what a large deployment downloads. On PostgreSQL, COPY writes
the CSV in C on the database server's own CPU, several times faster than fetching 30 values
a row into Python and writing them again with csv.writer. Its quoting is csv.writer's
QUOTE_MINIMAL (a cell is quoted when it holds a comma, a double quote, CR or LF; a double
quote inside is doubled), so the text is csvio.stream_csv's once two things are settled:

- the cells: a NULL and an empty text are both an empty cell (csv.writer writes both so in
  a row of several cells; COPY would quote the empty text), and text a spreadsheet would
  run as a formula gets csvio.neutralise's leading ``'`` (its first character after any
  leading ``'`` is one of ``= + - @``, tab or CR; PostgreSQL text cannot hold NUL, the
  seventh) — the expressions here;
- the line ends: COPY ends a line with LF, csv.writer with CR LF — csvio.crlf_line_ends.

tests/test_pgcsv.py holds the two writers to the same text on arbitrary cells.
"""

from __future__ import annotations

from collections.abc import Sequence

_GUARD_FIRST = "(39, 61, 43, 45, 64, 9, 13)"
"""ascii() of the characters a guarded text can begin with: ' = + - @ tab CR."""
_FORMULA_START = "'^[-=+@' || chr(9) || chr(13) || ']'"


def text_cell(column: str) -> str:
    """SQL for one text column as COPY must see it to write csvio's cell.

    Read in the "C" collation: a case-insensitive one (location_code's) refuses regular
    expressions, and the tests here are on characters. ascii() (an integer, no copy) rules
    out nearly every cell before the regular expression runs.
    """
    text = f'({column} COLLATE "C")'
    return (f"CASE WHEN ascii({text}) IN {_GUARD_FIRST} AND ltrim({text}, '''')"
            f" ~ ({_FORMULA_START}) THEN '''' || {text} ELSE nullif({text}, '') END")


def cells(columns: Sequence[tuple[str, bool]]) -> str:
    """The select list for COPY: `columns` as (SQL expression, whether it is an integer)
    pairs, in order; integers go as they are (COPY writes NULL as an empty cell)."""
    return ", ".join(column if is_number else text_cell(column)
                     for column, is_number in columns)
