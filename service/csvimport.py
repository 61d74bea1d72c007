"""Reading figures from CSV in the figures-export columns (POST /imports, `import`).

Server-managed columns (id, low, high, status, version, timestamps, source details,
open_flags) are ignored, so an export can be edited and imported as it is; any other
unknown column is refused, like an unknown JSON field. Every row passes the same FigureIn
schema as POST /figures. Errors name the row as a spreadsheet shows it (the header is row 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from marshmallow import ValidationError

from .csvio import FIGURE_COLUMNS, CsvFormatError, Record, iter_csv
from .schemas import FigureIn, complete_figure
from .store import FIGURE_INPUT_FIELDS

MAX_IMPORT_ROWS = 100_000
MAX_REPORTED_ERRORS = 100
SERVER_COLUMNS = frozenset(FIGURE_COLUMNS) - frozenset(FIGURE_INPUT_FIELDS)
REQUIRED_COLUMNS = ("conflict", "source", "category", "count", "reported_on")
INTEGER_COLUMNS = frozenset({"count", "count_high"})
WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")


def parse_figures(lines: Iterable[str], conflict: str | None = None) -> list[dict[str, Any]]:
    """Validated figures from CSV text lines; raises ValidationError listing bad rows.

    `conflict`, when given, replaces the conflict column (importing into a new conflict).
    """
    try:
        columns, records = iter_csv(lines)
    except CsvFormatError as error:
        raise ValidationError({f"row {error.row}": [error.message]}) from None
    _check_columns(columns, conflict)
    figures, errors = [], {}
    schema = FigureIn()
    for row, data in _figure_data(records, columns, conflict, errors):
        try:
            figures.append(complete_figure(schema.load(data)))
        except ValidationError as error:
            errors[f"row {row}"] = error.messages
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
        if len(figures) > MAX_IMPORT_ROWS:
            errors["rows"] = [f"An import holds at most {MAX_IMPORT_ROWS:,} figures; "
                              "split the file."]
            break
    if errors:
        raise ValidationError(errors)
    if not figures:
        raise ValidationError({"rows": ["The file has a header but no figures."]})
    return figures


def _check_columns(columns: list[str], conflict: str | None) -> None:
    unknown = [c for c in columns if c not in FIGURE_INPUT_FIELDS and c not in SERVER_COLUMNS]
    required = [c for c in REQUIRED_COLUMNS if not (c == "conflict" and conflict)]
    missing = [c for c in required if c not in columns]
    errors = {}
    if unknown:
        errors["columns"] = [f"Unknown column {c!r}: use the figures-export columns."
                             for c in unknown]
    if missing:
        errors.setdefault("columns", []).extend(f"Missing required column {c!r}."
                                                for c in missing)
    if errors:
        raise ValidationError(errors)


def _figure_data(records: Iterator[Record], columns: list[str], conflict: str | None,
                 errors: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row, figure fields) per record; an empty cell means "not given" (the default)."""
    inputs = [c for c in columns if c in FIGURE_INPUT_FIELDS]
    try:
        for row, cells in records:
            data: dict[str, Any] = {}
            for column in inputs:
                text = cells[column]
                if text == "":
                    continue
                if column in INTEGER_COLUMNS:
                    if not WHOLE_NUMBER.fullmatch(text):
                        errors[f"row {row}"] = {column: [
                            f"Not a whole number: {text!r} (write digits only, no separators)."]}
                        break
                    data[column] = int(text)
                else:
                    data[column] = text
            else:
                if conflict:
                    data["conflict"] = conflict
                yield row, data
    except CsvFormatError as error:
        errors[f"row {error.row}"] = [error.message]
