"""The report as a table: filter, sort and page report entries (pure: no Flask, no SQL).

A conflict can hold thousands of series; the page shows one page of them, so the browser
never lays out (or charts) them all at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..names import fold

PAGE_SIZE = 50
#: The table's sortable columns: name -> how a row gives its value.
SORT_COLUMNS = ("category", "side", "location", "group", "as_of", "low", "best",
                "independent_best", "grade", "open_flags", "figure_count")
TEXT_FILTERS = ("category", "side", "location", "group", "grade")


def filter_rows(entries: Sequence[Mapping[str, Any]],
                filters: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Entries matching every given filter: text fields compared folded, and `flagged`
    keeping only series with open flags. A filter of "" matches a null field."""
    wanted = {name: fold(filters[name]) for name in TEXT_FILTERS
              if filters.get(name) is not None}
    rows = []
    for entry in entries:
        if filters.get("flagged") and not entry.get("open_flags"):
            continue
        if all(fold(entry.get(name) or "") == value for name, value in wanted.items()):
            rows.append(entry)
    return rows


def _sort_value(entry: Mapping[str, Any], column: str) -> tuple:
    value = entry.get(column)
    if value is None:
        return (1, "")  # nulls last whichever way the column sorts
    if isinstance(value, str):
        return (0, fold(value))
    return (0, value)


def sort_rows(rows: Sequence[Mapping[str, Any]], column: str,
              descending: bool) -> list[Mapping[str, Any]]:
    """Rows ordered by `column` (nulls last), ties kept in report order."""
    present = [row for row in rows if row.get(column) is not None]
    missing = [row for row in rows if row.get(column) is None]
    present.sort(key=lambda row: _sort_value(row, column), reverse=descending)
    return present + missing


def page_of(rows: Sequence[Any], page: int, size: int = PAGE_SIZE) -> tuple[list[Any], int]:
    """(the rows of 1-based `page`, the number of pages, at least 1)."""
    pages = max(1, -(-len(rows) // size))
    start = (min(page, pages) - 1) * size
    return list(rows[start:start + size]), pages


def choices(entries: Sequence[Mapping[str, Any]], column: str) -> list[str]:
    """The distinct non-null values of a column, one spelling per folded name, sorted."""
    seen: dict[str, str] = {}
    for entry in entries:
        value = entry.get(column)
        if isinstance(value, str):
            seen.setdefault(fold(value), value)
    return [seen[key] for key in sorted(seen)]
