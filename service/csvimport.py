"""Reading figures from CSV in the figures-export columns (POST /imports, `import`), API §7.

Server-managed columns (id, low, high, status, version, timestamps, source details,
open_flags) are ignored, so an export can be edited and imported as it is; any other
unknown column is refused, like an unknown JSON field. Every new figure passes the same
FigureIn schema as POST /figures. Errors name the row as a spreadsheet shows it (the header
is row 1).

With ``update`` (``?update=1``, ``import --update``) a row whose ``id`` names a stored figure
corrects it as PATCH would, and ``status`` ``retracted`` with a ``retraction_reason`` retracts
it: the row (merged with the stored figure for any column the file lacks) must pass FigureIn
as a whole, and that is checked inside the write transaction by :func:`plan_for`.

Everything here is driven by the column lists (``store.FIGURE_INPUT_FIELDS``,
``csvio.FIGURE_HXL``) and the FigureIn schema, so a new figure field needs no change here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from marshmallow import ValidationError, fields

from . import store
from .csvio import FIGURE_COLUMNS, FIGURE_HXL, CsvFormatError, iter_csv
from .schemas import MAX_ID, FigureIn, RetractIn, complete_figure
from .store import FIGURE_INPUT_FIELDS, Plan, changed_fields

MAX_IMPORT_ROWS = 100_000
MAX_REPORTED_ERRORS = 100
SERVER_COLUMNS = frozenset(FIGURE_COLUMNS) - frozenset(FIGURE_INPUT_FIELDS)
REQUIRED_COLUMNS = tuple(name for name, item in FigureIn().fields.items() if item.required)
INTEGER_COLUMNS = frozenset(
    name for name, item in FigureIn().fields.items() if isinstance(item, fields.Integer))
"""Input columns holding whole numbers (count, count_high, ...), from the schema itself."""
WHOLE_NUMBER = re.compile(r"([0-9]{1,19})(?:\.0+)?")
"""Digits, optionally with an all-zero decimal part: pandas writes 30.0 for an integer
column with gaps, and that is still the whole number 30 (30.5 is not)."""


@dataclass
class ImportRow:
    """One data row of an import: a new figure, or (update mode) a stored figure's row."""

    row: int
    figure: dict[str, Any] | None = None
    """A new figure, validated and completed (no id, or not in update mode)."""
    figure_id: int | None = None
    """Update mode: the stored figure the row names."""
    cells: dict[str, Any] = field(default_factory=dict)
    """Update mode: the row's input values (whole numbers as int); missing = empty cell."""
    status: str = ""
    reason: str | None = None


def parse_figures(lines: Iterable[str], conflict: str | None = None) -> list[dict[str, Any]]:
    """Validated new figures from CSV text lines; raises ValidationError listing bad rows.

    `conflict`, when given, replaces the conflict column (importing into a new conflict).
    """
    return [row.figure for row in parse_import(lines, conflict).rows if row.figure is not None]


@dataclass
class ParsedImport:
    columns: list[str]
    """The file's columns, as named by its header (or matched by its hashtags)."""
    rows: list[ImportRow]


def parse_import(lines: Iterable[str], conflict: str | None = None,
                 update: bool = False) -> ParsedImport:
    """The rows of an import, in file order; raises ValidationError naming each bad row.

    Without `update` every row is a new figure (its id column ignored). With `update` a row
    with an id is a correction of that figure (its cells checked against the stored figure
    later, by :func:`plan_for`); errors are keyed ``"row N"`` then by column.
    """
    try:
        columns, records = iter_csv(lines, FIGURE_HXL)
    except CsvFormatError as error:
        raise ValidationError(_format_error(error)) from None
    _check_columns(columns, conflict, update)
    rows: list[ImportRow] = []
    errors: dict[str, Any] = {}
    schema = FigureIn()
    seen_ids: dict[int, int] = {}
    inputs = [c for c in columns if c in FIGURE_INPUT_FIELDS]
    try:
        for row, cells in records:
            try:
                rows.append(_row(row, cells, inputs, conflict, update, schema, seen_ids))
            except ValidationError as error:
                errors[f"row {row}"] = error.messages
            if len(errors) >= MAX_REPORTED_ERRORS:
                break
            if len(rows) > MAX_IMPORT_ROWS:
                errors["rows"] = [f"An import holds at most {MAX_IMPORT_ROWS:,} figures; "
                                  "split the file."]
                break
    except CsvFormatError as error:
        errors.update(_format_error(error))
    if errors:
        raise ValidationError(errors)
    if not rows:
        raise ValidationError({"rows": ["The file has a header but no figures."]})
    return ParsedImport(columns, rows)


def _format_error(error: CsvFormatError) -> dict[str, Any]:
    if error.column is not None:
        return {f"row {error.row}": {error.column: [error.message]}}
    return {f"row {error.row}": [error.message]}


def _check_columns(columns: list[str], conflict: str | None, update: bool) -> None:
    unknown = [c for c in columns
               if c and c not in FIGURE_INPUT_FIELDS and c not in SERVER_COLUMNS]
    required = [c for c in REQUIRED_COLUMNS if not (c == "conflict" and conflict)]
    missing = [] if update and "id" in columns else [c for c in required if c not in columns]
    errors = {}
    if unknown:
        errors["columns"] = [f"Unknown column {c!r}: use the figures-export columns."
                             for c in unknown]
    if missing:
        errors.setdefault("columns", []).extend(f"Missing required column {c!r}."
                                                for c in missing)
    if errors:
        raise ValidationError(errors)


def whole_number(text: str) -> int:
    """A whole number from a cell: ``30`` or ``30.0`` (ValueError for ``30.5``, ``3e1``)."""
    match = WHOLE_NUMBER.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return int(match.group(1))


def _cell_values(row_cells: Mapping[str, str],
                 inputs: list[str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The row's non-empty input cells, whole-number columns as int, and the errors of the
    cells that are not whole numbers (left out of the values)."""
    data: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for column in inputs:
        text = row_cells[column]
        if text == "":
            continue
        if column in INTEGER_COLUMNS:
            try:
                data[column] = whole_number(text)
            except ValueError:
                errors[column] = [f"Not a whole number: {text!r} (write digits only, no "
                                  "separators)."]
        else:
            data[column] = text
    return data, errors


def _row(row: int, cells: Mapping[str, str], inputs: list[str], conflict: str | None,
         update: bool, schema: FigureIn, seen_ids: dict[int, int]) -> ImportRow:
    figure_id = _figure_id(cells, seen_ids) if update else None
    data, cell_errors = _cell_values(cells, inputs)
    if conflict:
        data["conflict"] = conflict
    if figure_id is None:
        try:  # every bad field of the row at once, as a JSON figure gets them
            figure = schema.load(data)
        except ValidationError as error:
            raise ValidationError({**error.normalized_messages(), **cell_errors}) from None
        if cell_errors:
            raise ValidationError(cell_errors)
        return ImportRow(row, figure=complete_figure(figure))
    if cell_errors:
        raise ValidationError(cell_errors)
    seen_ids[figure_id] = row
    status = cells.get("status", "").strip()
    reason = cells.get("retraction_reason", "")
    if status not in ("", "active", "retracted"):
        raise ValidationError({"status": ["Must be active or retracted (or empty)."]})
    if status == "retracted":
        try:
            reason = RetractIn().load({"reason": reason})["reason"]
        except ValidationError as error:
            raise ValidationError({"retraction_reason": error.messages.get("reason", [
                "A retracted row needs a retraction_reason."])}) from None
    return ImportRow(row, figure_id=figure_id, cells=data, status=status,
                     reason=reason if status == "retracted" else None)


def _figure_id(cells: Mapping[str, str], seen_ids: dict[int, int]) -> int | None:
    text = cells.get("id", "").strip()
    if text == "":
        return None
    try:
        figure_id = whole_number(text)
    except ValueError:
        raise ValidationError({"id": [f"Not a figure id: {text!r} (a whole number, or empty "
                                      "for a new figure)."]}) from None
    if figure_id > MAX_ID:  # no row can have it (and SQLite could not even look it up)
        raise ValidationError({"id": [f"There is no figure {figure_id}; leave id empty to "
                                      "create a figure."]})
    if figure_id in seen_ids:
        raise ValidationError({"id": [f"Figure {figure_id} is already corrected by row "
                                      f"{seen_ids[figure_id]}; give each figure one row."]})
    return figure_id


def unknown_id_errors(rows: Iterable[ImportRow], existing: set[int]) -> dict[str, Any]:
    """{"row N": {"id": [...]}} for every update row whose id names no stored figure."""
    return {f"row {r.row}": {"id": [f"There is no figure {r.figure_id}; leave id empty to "
                                    "create a figure."]}
            for r in rows if r.figure_id is not None and r.figure_id not in existing}


Decision = tuple[dict[str, Any] | None, str | None, Any]
"""(the corrected whole figure or None, a retraction reason or None, the row's errors or None)."""


def decide(row: ImportRow, current: Mapping[str, Any], present: set[str],
           schema: FigureIn) -> Decision:
    """What the update `row` does to the stored figure `current` (as get_figure gives it).

    The row's cells replace the stored values of the columns the file has (`present`; an
    empty cell means what it means for a new figure: null, or the default); columns the file
    lacks keep the stored values. The result must pass FigureIn as a whole figure. A
    retracted figure cannot be corrected or made active again.
    """
    data = {f: current[f] for f in FIGURE_INPUT_FIELDS
            if f not in present and current[f] is not None}
    data.update(row.cells)
    try:
        merged = complete_figure(schema.load(data))
    except ValidationError as error:
        return None, None, error.messages
    if current["status"] == "retracted":
        if row.status == "active":
            return None, None, {"status": [
                f"Figure {row.figure_id} is retracted; a retraction is not undone."]}
        if changed_fields(current, merged):
            return None, None, {"status": [
                f"Figure {row.figure_id} is retracted; a retracted figure is not corrected."]}
        return None, None, None
    return merged, row.reason, None


def plan_for(row: ImportRow, present: set[str], errors: dict[str, Any], schema: FigureIn,
             early: tuple[int, Decision] | None = None) -> Plan:
    """The store's plan for an update row, run inside the write transaction.

    `early` is (version, decision) made before the transaction from a plain read, so that
    validation does not hold the write lock: it is reused when the figure still has that
    version, and decided again otherwise. Errors go into `errors` under ``"row N"`` (the
    caller then refuses the whole import) and the row changes nothing.
    """
    def plan(current: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        if early is not None and early[0] == current["version"]:
            merged, reason, problems = early[1]
        else:
            merged, reason, problems = decide(row, current, present, schema)
        if problems:
            errors[f"row {row.row}"] = problems
            return None, None
        return merged, reason

    return plan


def store_import(db: sqlite_utils.Database, parsed: ParsedImport,
                 then: Callable[[list[int]], None] | None = None) -> list[int]:
    """Store a parsed import, all or nothing; returns every row's figure id, in row order.

    Raises ValidationError (nothing stored) for an update row whose id names no figure, or
    whose correction is not a valid figure. `then(ids)` runs inside the write transaction.
    """
    if all(row.figure_id is None for row in parsed.rows):
        return store.insert_figures(db, [row.figure for row in parsed.rows  # type: ignore[misc]
                                         if row.figure is not None], then=then)
    named = [row.figure_id for row in parsed.rows if row.figure_id is not None]
    stored = store.get_figures(db, named)
    errors = unknown_id_errors(parsed.rows, set(stored))
    if errors:
        raise ValidationError(errors)
    present = set(parsed.columns) & set(FIGURE_INPUT_FIELDS)
    schema = FigureIn()
    early: dict[int, tuple[int, Decision]] = {}
    for row in parsed.rows:
        if row.figure_id is not None:
            current = stored[row.figure_id]
            early[row.row] = (current["version"], decide(row, current, present, schema))
            if early[row.row][1][2]:
                errors[f"row {row.row}"] = early[row.row][1][2]
    if errors:
        raise ValidationError(errors)
    del stored

    def checked(ids: list[int]) -> None:
        if errors:
            raise ValidationError(errors)
        if then is not None:
            then(ids)

    items = [(None, row.figure) if row.figure_id is None
             else (row.figure_id, plan_for(row, present, errors, schema, early.get(row.row)))
             for row in parsed.rows]
    return store.import_figures(db, items, then=checked)
