"""The three CSV exports (API §7), shared by the HTTP routes and the `export` command.

Streamed page by page with keyset pagination (WHERE id > ? LIMIT n): each page is a fresh
short read, so a million-row download holds no snapshot open (writers and WAL checkpoints
carry on) and memory stays flat.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import db, engines, store
from .csvio import (
    FIGURE_COLUMNS,
    FIGURE_HXL,
    FLAG_COLUMNS,
    FLAG_HXL,
    REPORT_COLUMNS,
    REPORT_HXL,
    crlf_line_ends,
    stream_csv,
)
from .reconcile.report import build_report
from .retry import retrying

PAGE_ROWS = 1_000
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9-]+")


def filename(kind: str, conflict: str | None) -> str:
    """figures-nagorno-karabakh-2020-2026-11-25.csv: what, which conflict, which day.

    The conflict filter is any text (not only a slug), so it is cut down to safe characters:
    a quote, a line break or non-ASCII text must not break or inject a header.
    """
    today = datetime.now(UTC).date().isoformat()
    label = _UNSAFE_IN_FILENAME.sub("_", conflict)[:100] if conflict else "all"
    return f"{kind}-{label}-{today}.csv"


BOM = "\ufeff"


def with_bom(chunks: Iterator[str], bom: bool) -> Iterator[str]:
    """The chunks, led by a UTF-8 byte-order mark when `bom` (Excel then reads UTF-8)."""
    if bom:
        yield BOM
    yield from chunks


def _keyset_pages(fetch: Callable[[int, int], Sequence[Any]],
                  key: Callable[[Any], int]) -> Iterator[Any]:
    after = 0
    while True:
        # a page is a read of its own: read again if the engine asks (its answer's
        # headers are sent by now, so the request itself cannot be run again)
        page = retrying(lambda after=after: fetch(after, PAGE_ROWS))
        yield from page
        if len(page) < PAGE_ROWS:
            return
        after = key(page[-1])


def _with_connection(db_path: Path, rows: Callable[[Any], Iterator[Any]]) -> Iterator[Any]:
    """Rows from a connection of the export's own, closed when the stream ends or stops."""
    connection = db.connect(db_path)
    try:
        yield from rows(connection)
    finally:
        connection.close()


def figures_csv(db_path: Path, filters: Mapping[str, Any], hxl: bool) -> Iterator[str]:
    """The figures export. On PostgreSQL its rows are written by COPY (store.
    copy_figures_csv: several times faster, the same text); on SQLite by stream_csv."""
    tags = list(FIGURE_HXL.values()) if hxl else None
    if engines.is_url(db_path):
        return _copied_figures_csv(db_path, filters, tags)
    rows = _with_connection(db_path, lambda connection: _keyset_pages(
        lambda after, limit: store.export_figures_page(connection, filters, after_id=after,
                                                       limit=limit),
        key=lambda row: row[0]))
    return stream_csv(FIGURE_COLUMNS, rows, tags)


def _copied_figures_csv(url: str, filters: Mapping[str, Any],
                        tags: list[str] | None) -> Iterator[str]:
    """A generator, so that closing the stream early closes the COPY and its connection."""
    yield from stream_csv(FIGURE_COLUMNS, (), tags)
    yield from crlf_line_ends(_with_connection(
        url, lambda connection: store.copy_figures_csv(connection, filters)))


def _flag_row(flag: Mapping[str, Any]) -> list[Any]:
    return [", ".join(map(str, flag[c])) if c == "figure_ids" else flag[c]
            for c in FLAG_COLUMNS]


def flags_csv(db_path: Path, filters: Mapping[str, Any], hxl: bool) -> Iterator[str]:
    rows = _with_connection(db_path, lambda connection: (_flag_row(flag) for flag in _keyset_pages(
        lambda after, limit: store.list_flags(connection, filters, after_id=after, limit=limit),
        key=lambda flag: flag["id"])))
    return stream_csv(FLAG_COLUMNS, rows, list(FLAG_HXL.values()) if hxl else None)


def _sources_summary(sources: Sequence[Mapping[str, Any]]) -> str:
    """'Azerbaijani officials: 22 (2020-10-04); X: about 200 (...)': each source's latest."""
    return "; ".join(f"{s['source']}: {_stated(s['qualifier'], s['count'])} ({s['as_of']})"
                     for s in sources)


def _stated(qualifier: str, count: int) -> str:
    """'about 200', 'at least 30', '22': the number as the source put it."""
    return str(count) if qualifier == "exact" else f"{qualifier.replace('_', ' ')} {count}"


def _report_row(series: Mapping[str, Any]) -> list[Any]:
    return [_sources_summary(series["sources"]) if c == "sources" else series[c]
            for c in REPORT_COLUMNS]


def report_csv(db_path: Path, conflict: str | None, hxl: bool) -> Iterator[str]:
    """One row a series, built as the figures arrive (report.build_report, one series at a
    time): only the current series is held, not the whole report. Without `conflict`, every
    conflict, one after the other (each conflict's flag marks held while it is written)."""
    def rows(connection: Any) -> Iterator[list[Any]]:
        for each in store.report_conflicts(connection, conflict):
            marks = store.flag_marks(connection, each)
            for entry in build_report(store.report_figures(connection, each), marks):
                yield _report_row(entry)
    return stream_csv(REPORT_COLUMNS, _with_connection(db_path, rows),
                      list(REPORT_HXL.values()) if hxl else None)
