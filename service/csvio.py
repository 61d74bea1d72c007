"""CSV export and import for casualty-tracker (API.md section 7), in pure standard-library Python.

Writing: :func:`stream_csv` turns an iterable of rows into RFC 4180 text (UTF-8 is the
caller's encoding; ``\\r\\n`` line ends, minimal quoting) in chunks of at most
``CHUNK_ROWS`` rows or about ``CHUNK_CHARS`` characters, so a WSGI server sends a few large
writes and memory stays flat however many rows the database yields.

Formula injection (OWASP "CSV injection", CWE-1236): a spreadsheet runs a cell that begins
with ``=``, ``+``, ``-`` or ``@`` (and, in some programs, tab, carriage return or NUL) as a
formula. :func:`neutralise` therefore writes such a *text* cell with a leading ``'``, the
character spreadsheets themselves use to mean "this is text". Numbers are never touched, so a
negative number stays a number. To make export followed by import exact, a text that already
begins with ``'`` characters followed by a dangerous character gets one more ``'``;
:func:`restore` removes exactly one ``'`` from such text and nothing else, so
``restore(neutralise(s)) == s`` for every string.

Reading: :func:`iter_csv` (streaming) and :func:`read_csv` (whole text) parse RFC 4180 text,
skip an HXL hashtag row, undo the ``'`` guard, and number every record as a spreadsheet user
sees it. Malformed input raises :class:`CsvFormatError` carrying that row number.

HXL (Humanitarian Exchange Language 1.1, hxlstandard.org) tags for ``?hxl=1``. Core hashtags
and attributes are used where the HXL dictionary has one; the others are custom attributes,
which the standard allows (lower-case ``[a-z][a-z0-9_]*``). The figures export is "long":
one row per figure, so the kind of number (killed, injured, ...) is in a column of its own,
``#impact+type``, and the number itself is ``#affected`` - an HXL user filters on
``#impact+type=killed`` and sums ``#affected``. HXL tools resolve a tag pattern to the first
column that has it: ``#affected`` is the stated count in the figures export, while in the
report (where ``low`` comes first) the main figure is ``#affected+best``.

=====================  ============================  =============================================
column                 hashtag                       why
=====================  ============================  =============================================
id                     ``#meta+id``                  row identifier (core ``#meta+id``)
conflict               ``#crisis+code``              conflict slug = crisis code (core)
source                 ``#meta+source``              who gave the number (core ``+source``)
category               ``#impact+type``              killed/injured/missing/... (core ``#impact``)
side                   ``#group+name+side``          party whose losses (core ``#group`` = actor)
location               ``#loc+name``                 place name (core)
location_code          ``#loc+code``                 P-code or ISO 3166 code (core ``+code``)
group                  ``#category+group``           children/women/... counted (core ``#category``)
incident               ``#event+name``               one event within the crisis (core ``#event``)
count                  ``#affected``                 the number as stated (core, always numeric)
count_high             ``#affected+upper``           upper end of a stated range
qualifier              ``#meta+qualifier``           exact/about/at_least... qualifies the number
unit                   ``#meta+unit``                what is counted (people, buildings)
reported_on            ``#date+reported``            day the source gave it (core ``+reported``)
as_of                  ``#date+end``                 last day counted (core ``+end``)
period_start           ``#date+start``               first day counted (core ``+start``)
via                    ``#meta+source+via``          who relayed the source's words
quote                  ``#description+quote``        the source's words
url                    ``#meta+url``                 link for the row (core ``+url``)
notes                  ``#description+notes``        free text
low                    ``#affected+min``             lower bound of the asserted interval
high                   ``#affected+max``             upper bound; empty = unbounded
status                 ``#status``                   active/retracted (core ``#status``)
retraction_reason      ``#description+retraction``   why a retracted figure was withdrawn
version                ``#meta+version``             record version
created_at             ``#date+created``             record timestamp (ISO 8601, a valid HXL date)
updated_at             ``#date+updated``             record timestamp
source_kind            ``#meta+source+type``         government/ngo/... (core ``+type``)
source_affiliation     ``#meta+source+affiliation``  side the source speaks for
open_flags             ``#meta+flags+open``          open reconciliation flags
=====================  ============================  =============================================

The flags and report exports reuse the same tags for the same meaning (see ``FLAG_HXL`` and
``REPORT_HXL``); new ones there are ``#severity`` (core), ``#meta+rule``,
``#meta+figure_ids+list`` (``+list``: a comma-separated list, which libhxl splits),
``#description`` / ``#description+note``, ``#meta+run+first`` / ``#meta+run+last``,
``#affected+best`` / ``#affected+best+independent``, ``#meta+grade`` and
``#meta+source+summary``. Each ``*_COLUMNS`` tuple is its ``*_HXL`` dict's keys, so
``list(FIGURE_HXL.values())`` is the ``hxl_tags`` argument for ``FIGURE_COLUMNS``.
"""

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain

__all__ = [
    "CHUNK_CHARS",
    "CHUNK_ROWS",
    "FIGURE_COLUMNS",
    "FIGURE_HXL",
    "FLAG_COLUMNS",
    "FLAG_HXL",
    "REPORT_COLUMNS",
    "REPORT_HXL",
    "CsvFormatError",
    "Record",
    "iter_csv",
    "neutralise",
    "read_csv",
    "restore",
    "stream_csv",
]

CHUNK_ROWS = 500
"""stream_csv yields a chunk after this many rows or ..."""
CHUNK_CHARS = 64 * 1024
"""... once the chunk holds this many characters, whichever comes first."""

_DANGEROUS = frozenset("=+-@\t\r\0")
_LINE_END = "\r\n"

Record = tuple[int, dict[str, str]]
"""One data row: its spreadsheet row number and its cells by column name."""


# --------------------------------------------------------------------------- column tags

FIGURE_HXL: dict[str, str] = {
    "id": "#meta+id",
    "conflict": "#crisis+code",
    "source": "#meta+source",
    "category": "#impact+type",
    "side": "#group+name+side",
    "location": "#loc+name",
    "location_code": "#loc+code",
    "group": "#category+group",
    "incident": "#event+name",
    "count": "#affected",
    "count_high": "#affected+upper",
    "qualifier": "#meta+qualifier",
    "unit": "#meta+unit",
    "reported_on": "#date+reported",
    "as_of": "#date+end",
    "period_start": "#date+start",
    "via": "#meta+source+via",
    "quote": "#description+quote",
    "url": "#meta+url",
    "notes": "#description+notes",
    "low": "#affected+min",
    "high": "#affected+max",
    "status": "#status",
    "retraction_reason": "#description+retraction",
    "version": "#meta+version",
    "created_at": "#date+created",
    "updated_at": "#date+updated",
    "source_kind": "#meta+source+type",
    "source_affiliation": "#meta+source+affiliation",
    "open_flags": "#meta+flags+open",
}
FIGURE_COLUMNS: tuple[str, ...] = tuple(FIGURE_HXL)
"""The figures export's columns, in order (dicts keep insertion order)."""

FLAG_HXL: dict[str, str] = {
    "id": "#meta+id",
    "rule": "#meta+rule",
    "severity": "#severity",
    "conflict": "#crisis+code",
    "figure_ids": "#meta+figure_ids+list",
    "explanation": "#description",
    "status": "#status",
    "note": "#description+note",
    "first_seen_run": "#meta+run+first",
    "last_seen_run": "#meta+run+last",
}
FLAG_COLUMNS: tuple[str, ...] = tuple(FLAG_HXL)

REPORT_HXL: dict[str, str] = {
    "conflict": "#crisis+code",
    "category": "#impact+type",
    "side": "#group+name+side",
    "location": "#loc+name",
    "incident": "#event+name",
    "unit": "#meta+unit",
    "period_start": "#date+start",
    "group": "#category+group",
    "as_of": "#date+end",
    "low": "#affected+min",
    "high": "#affected+max",
    "best": "#affected+best",
    "independent_best": "#affected+best+independent",
    "open_flags": "#meta+flags+open",
    "grade": "#meta+grade",
    "sources": "#meta+source+summary",
}
REPORT_COLUMNS: tuple[str, ...] = tuple(REPORT_HXL)


# --------------------------------------------------------------------------- injection guard


def _is_guarded(text: str) -> bool:
    """True when ``text``, after any leading ``'``, begins with a character a spreadsheet runs."""
    return text.lstrip("'")[:1] in _DANGEROUS


def neutralise(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula, reversibly.

    Text that already starts with ``'`` characters followed by a dangerous character also gets
    one more ``'``, so that :func:`restore` can tell a guard from a quote the user typed.
    """
    return "'" + text if _is_guarded(text) else text


def restore(text: str) -> str:
    """Undo :func:`neutralise`: drop one leading ``'`` exactly when it was added as a guard."""
    return text[1:] if text.startswith("'") and _is_guarded(text) else text


# --------------------------------------------------------------------------- writer


def _cell(value: object) -> str:
    """Render one value: None as an empty cell, numbers as-is, anything else as guarded text."""
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return neutralise(str(value))


_WRITTEN_AS_IS = frozenset({int, float, type(None)})
"""Types csv.writer renders exactly as :func:`_cell` would (None as "", numbers by str)."""
_MAYBE_GUARDED = _DANGEROUS | {"'"}
"""First characters of the only texts :func:`neutralise` may change."""


def _cells(row: Sequence[object]) -> list[object]:
    """``[_cell(v) for v in row]`` as csv.writer will write it, without a call per cell.

    The export's hot loop: plain numbers, None and text that cannot need a guard (nearly
    every cell) pass straight to csv.writer; the rest goes through :func:`_cell`.
    """
    return [
        value
        if value.__class__ in _WRITTEN_AS_IS
        or (value.__class__ is str and value[:1] not in _MAYBE_GUARDED)
        else _cell(value)
        for value in row
    ]


def stream_csv(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    hxl_tags: Sequence[str] | None = None,
) -> Iterator[str]:
    """Yield RFC 4180 text: the header, the HXL hashtag row if given, then ``rows``.

    Output comes in chunks of at most ``CHUNK_ROWS`` rows or about ``CHUNK_CHARS`` characters
    (one row may overshoot), written through one reused buffer: the whole file is never held.
    The header and hashtag row are ours and written as they are; every text cell of ``rows``
    goes through :func:`neutralise`. ``rows`` is consumed lazily, only as chunks are taken.
    """
    if hxl_tags is not None and len(hxl_tags) != len(columns):
        raise ValueError(f"{len(hxl_tags)} HXL tags for {len(columns)} columns")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=_LINE_END, quoting=csv.QUOTE_MINIMAL)
    size = writer.writerow(columns)
    if hxl_tags is not None:
        size += writer.writerow(hxl_tags)
    pending = 0
    for row in rows:
        size += writer.writerow(_cells(row))
        pending += 1
        if pending >= CHUNK_ROWS or size >= CHUNK_CHARS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            size = pending = 0
    if size:
        yield buffer.getvalue()


# --------------------------------------------------------------------------- reader


class CsvFormatError(ValueError):
    """The CSV text is unusable; ``row`` is the spreadsheet row number (header = 1)."""

    def __init__(self, row: int, message: str) -> None:
        super().__init__(f"row {row}: {message}")
        self.row = row
        self.message = message


def _is_blank(cells: list[str]) -> bool:
    """A blank line, or a row of empty cells as spreadsheets save an empty row."""
    return all(cell == "" for cell in cells)


def _is_hashtag_row(cells: list[str]) -> bool:
    """The HXL definition: every non-empty cell starts with ``#`` and at least one is non-empty."""
    filled = [cell.strip() for cell in cells if cell.strip()]
    return bool(filled) and all(cell.startswith("#") for cell in filled)


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Parse CSV records, numbering them from 1 and turning any parse failure into an error.

    Numbers count records, not physical lines: a quoted cell spanning three lines is still one
    row, as in a spreadsheet. Blank records are numbered too, since a spreadsheet shows them.
    """
    reader = csv.reader(lines, strict=True)
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CsvFormatError(number, f"malformed CSV: {error}") from error
        if any("\0" in cell for cell in cells):
            raise CsvFormatError(number, "contains a NUL character")
        yield number, cells


def _header(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    """Read and check the header: present, no BOM, every name given and unique."""
    first = next(records, None)
    columns = [] if first is None else first[1]
    if columns:
        columns[0] = columns[0].removeprefix("\ufeff")
    if _is_blank(columns):
        raise CsvFormatError(1, "missing header row")
    seen: set[str] = set()
    for position, name in enumerate(columns, 1):
        if name == "":
            raise CsvFormatError(1, f"column {position} of the header has no name")
        if name in seen:
            raise CsvFormatError(1, f"duplicate column name {name!r}")
        seen.add(name)
    return columns


def _records(columns: list[str], records: Iterator[tuple[int, list[str]]]) -> Iterator[Record]:
    """Turn the rows after the header into records, skipping blanks and the HXL hashtag row."""
    hashtag_row_possible = True
    for number, cells in records:
        if _is_blank(cells):
            continue
        if len(cells) > len(columns):
            raise CsvFormatError(
                number, f"{len(cells)} cells but the header has {len(columns)} columns"
            )
        if hashtag_row_possible:
            hashtag_row_possible = False
            if _is_hashtag_row(cells):
                continue
        padded = chain(cells, [""] * (len(columns) - len(cells)))
        yield number, {name: restore(cell) for name, cell in zip(columns, padded, strict=True)}


def iter_csv(lines: Iterable[str]) -> tuple[list[str], Iterator[Record]]:
    """Parse CSV lines into the header's column names and a lazy iterator of records.

    ``lines`` must keep their line ends (a file opened with ``newline=""``, or
    ``io.StringIO(text, newline="")``) so quoted cells with line breaks survive; CRLF, LF
    and CR line ends are all accepted. The header is read and checked at once; data rows are
    parsed as the iterator is consumed, so memory stays flat.

    Each record is ``(row_number, {column: text})``. Row numbers are what a spreadsheet shows
    and count CSV records, not physical lines: the header is row 1, the first data row is
    row 2, or row 3 when an HXL hashtag row follows the header. Blank rows are skipped but still
    counted. Cells are un-guarded with :func:`restore`; an empty cell is ``""`` (the caller
    decides whether that means null), and a row with fewer cells than the header is padded
    with ``""``. The first non-blank row after the header is taken as the HXL hashtag row, and
    skipped, when every non-empty cell starts with ``#``.

    Raises :class:`CsvFormatError` for a missing header, an unnamed or duplicate column, a row
    with more cells than the header, a NUL character or malformed quoting - eagerly for the
    header, and while iterating for data rows.
    """
    records = _numbered(lines)
    columns = _header(records)
    return columns, _records(columns, records)


def read_csv(text: str) -> tuple[list[str], list[Record]]:
    """Parse a whole CSV text; see :func:`iter_csv` for the rules and row numbering."""
    columns, records = iter_csv(io.StringIO(text, newline=""))
    return columns, list(records)
