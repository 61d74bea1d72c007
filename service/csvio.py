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
find the header below any title rows (or take a hashtag row as the header), skip an HXL
hashtag row, undo the ``'`` guard, and number every record as a spreadsheet user sees it.
Malformed input raises :class:`CsvFormatError` carrying that row number.

HXL (Humanitarian Exchange Language 1.1, hxlstandard.org) tags for ``?hxl=1``. Core hashtags
and attributes are used where the HXL dictionary has one; the others are custom attributes,
which the standard allows (lower-case ``[a-z][a-z0-9_]*``). The figures export is "long":
one row per figure, so the kind of number (killed, injured, ...) is in a column of its own,
``#impact+type``, and the number itself is ``#affected``. Summing ``#affected`` is
meaningless (successive cumulative tolls and several sources' reports of the same deaths):
totals come from the report export, one row per series. HXL tools resolve a tag pattern to the first
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
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain, islice

__all__ = [
    "CHUNK_CHARS",
    "CHUNK_ROWS",
    "FIGURE_COLUMNS",
    "FIGURE_HXL",
    "FLAG_COLUMNS",
    "FLAG_HXL",
    "REPORT_COLUMNS",
    "REPORT_HXL",
    "HEADER_WITHIN",
    "CsvFormatError",
    "Record",
    "crlf_line_ends",
    "hashtag_key",
    "is_hashtag",
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
    """``[_cell(v) for v in row]`` as csv.writer will write it, without a call per cell:
    plain numbers, None and text that cannot need a guard pass straight through."""
    return [
        value
        if value.__class__ in _WRITTEN_AS_IS
        or (value.__class__ is str and value[:1] not in _MAYBE_GUARDED)
        else _cell(value)
        for value in row
    ]


_GUARD_CLASS = "[" + re.escape("".join(sorted(_MAYBE_GUARDED))) + "]"
_MAY_NEED_GUARD = re.compile(f'[,\n]"?{_GUARD_CLASS}')
"""In csv.writer's output, where a cell may begin with a character :func:`neutralise` can
act on: a cell begins after a comma or a line end, behind its opening quote if quoted."""
_FIRST_MAY_NEED_GUARD = re.compile(f'"?{_GUARD_CLASS}')
"""The same, for the first cell of a batch."""


def _may_need_guard(text: str) -> bool:
    """False only when no cell of csv.writer's ``text`` can begin with a guarded character
    (a comma or line end inside a quoted cell may say True for nothing: never the reverse)."""
    return bool(_FIRST_MAY_NEED_GUARD.match(text) or _MAY_NEED_GUARD.search(text))


def stream_csv(
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    hxl_tags: Sequence[str] | None = None,
) -> Iterator[str]:
    """Yield RFC 4180 text: the header, the HXL hashtag row if given, then ``rows``.

    Output comes in chunks of at most ``CHUNK_ROWS`` rows or about ``CHUNK_CHARS`` characters
    (rows are taken in batches sized from the rows so far, so a chunk overshoots by about a
    row): the whole file is never held, and ``rows`` is consumed lazily, a batch at a time.
    The header and hashtag row are ours and written as they are; every text cell of ``rows``
    goes through :func:`neutralise`. That is the export's hot loop, so a batch is written
    by csv.writer as it is and checked once for a cell that may begin with a guarded
    character (:func:`_may_need_guard`); only such a batch is written again cell by cell.
    """
    if hxl_tags is not None and len(hxl_tags) != len(columns):
        raise ValueError(f"{len(hxl_tags)} HXL tags for {len(columns)} columns")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=_LINE_END, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    if hxl_tags is not None:
        writer.writerow(hxl_tags)
    pieces, size, pending = [buffer.getvalue()], len(buffer.getvalue()), 0
    source = iter(rows)
    row_chars = 0  # the average row's length so far; 0: not known yet (take one row)
    while batch := list(islice(source, _batch_size(pending, size, row_chars))):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(batch)
        text = buffer.getvalue()
        if _may_need_guard(text):
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(map(_cells, batch))
            text = buffer.getvalue()
        pieces.append(text)
        size, pending = size + len(text), pending + len(batch)
        row_chars = max(1, len(text) // len(batch))
        if pending >= CHUNK_ROWS or size >= CHUNK_CHARS:
            yield "".join(pieces)
            pieces, size, pending = [], 0, 0
    if size:
        yield "".join(pieces)


def _batch_size(pending: int, size: int, row_chars: int) -> int:
    """How many rows the current chunk still takes, judged by the average row so far."""
    if not row_chars:
        return 1
    return max(1, min(CHUNK_ROWS - pending, (CHUNK_CHARS - size) // row_chars))


def crlf_line_ends(chunks: Iterable[str]) -> Iterator[str]:
    """CSV text whose lines end with LF (PostgreSQL's COPY) with CR LF line ends instead,
    as stream_csv writes them; chunks may end anywhere, even inside a quoted cell.

    A line ends at a LF outside quotes. A LF inside a quoted cell is the cell's own and
    stays as it is, as csv.writer leaves it. Splitting at every double quote makes the
    even parts (counted from outside) the parts outside quotes: a doubled quote inside a
    cell only adds an empty part.
    """
    inside = False
    for chunk in chunks:
        parts = chunk.split('"')
        outside = 1 if inside else 0
        parts[outside::2] = [part.replace("\n", _LINE_END) for part in parts[outside::2]]
        inside ^= len(parts) % 2 == 0  # an odd number of quotes
        yield '"'.join(parts)


# --------------------------------------------------------------------------- reader


class CsvFormatError(ValueError):
    """The CSV text is unusable; ``row`` is the spreadsheet row number (header = 1).

    ``column``, when the fault lies in one cell of a header, is that column as the file
    names it (a column name or an HXL hashtag), so an API error can name row and column.
    """

    def __init__(self, row: int, message: str, column: str | None = None) -> None:
        super().__init__(f"row {row}: {message}")
        self.row = row
        self.message = message
        self.column = column


HEADER_WITHIN = 5
"""The header (or the hashtag row standing in for it) is one of the first 5 rows (§7)."""
_LOOK_FURTHER = 50
"""Rows read ahead to tell "the header is too far down" from "there is no header"."""
_HASHTAG = re.compile(r"#[A-Za-z][A-Za-z0-9_]*(?:\s*\+\s*[A-Za-z][A-Za-z0-9_]*)*")


def is_hashtag(cell: str) -> bool:
    """An HXL hashtag with optional attributes (``#affected+upper``, ``#Affected + Upper``)."""
    return _HASHTAG.fullmatch(cell.strip()) is not None


def hashtag_key(tag: str) -> tuple[str, frozenset[str]]:
    """What identifies a hashtag: its tag and its set of attributes, case and order ignored.

    ``#Affected +Upper`` and ``#affected+upper`` are one key; so are ``#meta+source+type``
    and ``#meta+type+source``.
    """
    name, *attributes = re.sub(r"\s+", "", tag).lower().split("+")
    return name, frozenset(attributes)


def _is_blank(cells: list[str]) -> bool:
    """A blank line, or a row of empty cells as spreadsheets save an empty row."""
    return all(cell == "" for cell in cells)


def _is_hashtag_row(cells: list[str]) -> bool:
    """A hashtag row (§7): at least half of its non-empty cells are HXL hashtags.

    "At least half" rather than "all", so that a hashtag row where someone typed a free-text
    note in one cell is still recognised instead of being read as data.
    """
    filled = [cell.strip() for cell in cells if cell.strip()]
    return bool(filled) and 2 * sum(map(is_hashtag, filled)) >= len(filled)


def _trimmed(cells: list[str]) -> list[str]:
    """The cells without the empty ones a spreadsheet leaves at the end of a row."""
    end = len(cells)
    while end and cells[end - 1] == "":
        end -= 1
    return cells[:end]


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """Parse CSV records, numbering them from 1 and turning any parse failure into an error.

    Numbers count records, not physical lines: a quoted cell spanning three lines is still one
    row, as in a spreadsheet. Blank records are numbered too, since a spreadsheet shows them.
    A UTF-8 byte-order mark before the first cell is dropped.
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
        if number == 1 and cells:
            cells[0] = cells[0].removeprefix("\ufeff")
        yield number, cells


def _check_header(number: int, columns: list[str]) -> list[str]:
    """A header row: present, every name given and unique."""
    if _is_blank(columns):
        raise CsvFormatError(number, "missing header row")
    seen: set[str] = set()
    for position, name in enumerate(columns, 1):
        if name == "":
            raise CsvFormatError(number, f"column {position} of the header has no name")
        if name in seen:
            raise CsvFormatError(number, f"duplicate column name {name!r}")
        seen.add(name)
    return columns


def _columns_from_hashtags(number: int, cells: list[str], known: Mapping[str, str]) -> list[str]:
    """Column names for a file whose only header is a hashtag row, matched by hashtag.

    An empty cell leaves its column untagged, and HXL tools ignore untagged columns, so
    does this reader (its name is ""). A tag that matches no known column, or a second
    column with a tag already seen, is refused, naming the row and the tag.
    """
    by_key = {hashtag_key(tag): name for name, tag in known.items()}
    columns: list[str] = []
    for position, cell in enumerate(cells, 1):
        tag = cell.strip()
        if tag == "":
            columns.append("")
            continue
        name = by_key.get(hashtag_key(tag)) if is_hashtag(tag) else None
        if name is None:
            raise CsvFormatError(number, f"column {position}: {tag!r} is not a hashtag of the "
                                         "export (see the README for the list)", tag)
        if name in columns:
            raise CsvFormatError(number, f"column {position}: {tag!r} tags a second "
                                         f"{name!r} column", tag)
        columns.append(name)
    return columns


def _find_header(records: Iterator[tuple[int, list[str]]], known: Mapping[str, str]
                 ) -> tuple[list[str], bool, Iterator[tuple[int, list[str]]]]:
    """(columns, hashtag row may follow, the records after the header), by the rules of §7.

    The header is the first of the first ``HEADER_WITHIN`` rows whose cells are all column
    names (empty cells at its end aside); rows above it are a title block and skipped.
    Failing that, the first hashtag row among them is the header, its columns matched by
    hashtag. A header further down is an error naming its row; a file with neither is read
    with its first row as the header, so its unknown columns are reported as such.
    """
    ahead: list[tuple[int, list[str]]] = []
    for record in records:
        ahead.append(record)
        if record[0] >= _LOOK_FURTHER:
            break

    def rest(after: int) -> Iterator[tuple[int, list[str]]]:
        return chain(ahead[after:], records)

    def all_names(cells: list[str]) -> bool:
        named = _trimmed(cells)
        return bool(named) and all(cell in known for cell in named)

    hashtag_row = None
    for index, (number, cells) in enumerate(ahead):
        if number > HEADER_WITHIN:
            break
        if all_names(cells):
            return _check_header(number, _trimmed(cells)), True, rest(index + 1)
        if hashtag_row is None and _is_hashtag_row(cells):
            hashtag_row = index
    if hashtag_row is not None:
        number, cells = ahead[hashtag_row]
        return _columns_from_hashtags(number, cells, known), False, rest(hashtag_row + 1)
    for number, cells in ahead:
        if number > HEADER_WITHIN and (all_names(cells) or _is_hashtag_row(cells)):
            raise CsvFormatError(number, f"this looks like the header, but the header must be "
                                         f"one of the first {HEADER_WITHIN} rows: remove "
                                         "title rows above it")
    records = rest(0)
    first = next(records, None)
    return _check_header(1, [] if first is None else first[1]), True, records


def _records(columns: list[str], records: Iterator[tuple[int, list[str]]],
             hashtag_row_possible: bool = True) -> Iterator[Record]:
    """Turn the rows after the header into records, skipping blanks and the HXL hashtag row.

    Columns named "" (untagged in a hashtag-only file) are left out of the records.
    """
    width = len(columns)
    named = [(position, name) for position, name in enumerate(columns) if name]
    for number, cells in records:
        if _is_blank(cells):
            continue
        if len(cells) > width and not _is_blank(cells[width:]):
            raise CsvFormatError(
                number, f"{len(_trimmed(cells))} cells but the header has {width} columns"
            )
        if hashtag_row_possible:
            hashtag_row_possible = False
            if _is_hashtag_row(cells):
                continue
        yield number, {name: restore(cells[position]) if position < len(cells) else ""
                       for position, name in named}


def iter_csv(lines: Iterable[str], known: Mapping[str, str] | None = None
             ) -> tuple[list[str], Iterator[Record]]:
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
    with ``""``; empty cells past the header's width are ignored. A UTF-8 byte-order mark is
    dropped. The first non-blank row after the header is taken as the HXL hashtag row, and
    skipped, when at least half of its non-empty cells are hashtags.

    ``known`` (column name -> hashtag) turns on what spreadsheets and HXL tools write (API §7):
    the header is the first row, among the first ``HEADER_WITHIN``, whose cells are all known
    column names (title rows above it are skipped); without one, a hashtag row there is the
    header, its columns matched by hashtag (attribute order and case ignored). Without
    ``known`` the first row is the header.

    Raises :class:`CsvFormatError` for a missing header, an unnamed or duplicate column, a
    header below the first rows, an unknown hashtag in a hashtag-only header, a row with more
    cells than the header, a NUL character or malformed quoting - eagerly for the header, and
    while iterating for data rows.
    """
    records = _numbered(lines)
    if known is None:
        first = next(records, None)
        columns = _check_header(1, [] if first is None else first[1])
        return columns, _records(columns, records)
    columns, hashtag_row_possible, rest = _find_header(records, known)
    return columns, _records(columns, rest, hashtag_row_possible)


def read_csv(text: str, known: Mapping[str, str] | None = None
             ) -> tuple[list[str], list[Record]]:
    """Parse a whole CSV text; see :func:`iter_csv` for the rules and row numbering."""
    columns, records = iter_csv(io.StringIO(text, newline=""), known)
    return columns, list(records)
