"""Every SQL statement of the service (figures, sources, disputes, keys, runs, flags).

The one module that speaks SQL: a second backend would replace this file. Writes open
their own BEGIN IMMEDIATE transaction (see db.write_transaction), so each public write
function is all-or-nothing. Derived data (low/high, series and family keys, version
snapshots, the dirty-series marks that drive incremental reconciliation) is computed here,
on the single write path, so it can never disagree with the figure it belongs to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlite_utils

from . import engines, pgcsv
from .db import write_transaction
from .engines import DATABASE_ERRORS, INTEGRITY_ERRORS
from .intervals import interval
from .names import fold, fold_or_none
from .reconcile.lifecycle import status_when_seen
from .reconcile.rules import KILLED_PARTS, Finding, StoredPairs

FIGURE_INPUT_FIELDS = (
    "conflict", "source", "category", "side", "location", "location_code", "group",
    "incident", "count", "count_high", "qualifier", "unit", "reported_on", "as_of",
    "period_start", "via", "quote", "url", "notes",
)
NEW_IN_SCHEMA_2 = ("location_code", "group", "via")
"""Figure fields a schema-1 version snapshot lacks (null for those figures)."""
SERIES_FIELDS = ("conflict", "category", "side", "location", "incident", "unit",
                 "period_start", "group")
NAME_FIELDS = frozenset({"side", "location", "incident", "unit", "via"})
"""Figure fields compared folded (API §4 "Names"); the source name is the sixth."""
_FIGURE_COLUMNS = tuple(f for f in FIGURE_INPUT_FIELDS if f != "source")
_KEY_COLUMNS = {"side_key": "side", "location_key": "location", "incident_key": "incident",
                "via_key": "via"}
"""Folded copies of the name fields that GET /figures filters on (indexed lookups)."""
FIGURE_OUTPUT_FIELDS = (
    "id", "conflict", "source", "source_id", "category", "side", "location",
    "location_code", "group", "incident", "count", "count_high", "qualifier", "unit",
    "reported_on", "as_of", "period_start", "via", "quote", "url", "notes", "low", "high",
    "status", "retraction_reason", "version", "created_at", "updated_at",
)


def _column(name: str) -> str:
    """A figures column as SQL: "group" is a reserved word, so always quoted."""
    return f'"{name}"'


_FIGURE_SELECT = (
    "SELECT " + ", ".join("s.name AS source" if c == "source" else f"f.{_column(c)}"
                          for c in FIGURE_OUTPUT_FIELDS)
    + " FROM figures f JOIN sources s ON s.id = f.source_id"
)
_SOURCE_SELECT = "SELECT id, name, kind, affiliation, created_at, updated_at FROM sources"


class NotFound(LookupError):
    """No row has the id asked for."""


class Conflict(RuntimeError):
    """The change is valid in itself but not in the row's present state."""


class Invalid(ValueError):
    """A field's value is well-formed but not allowed here; answered as a 422 on `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with milliseconds and a Z, as the contract shows them."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _key(values: Sequence[Any]) -> str:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def _key_value(figure: Mapping[str, Any], field: str) -> Any:
    value = figure[field]
    return fold_or_none(value) if field in NAME_FIELDS else value


def _family(conflict: str, category: str, side: str | None, incident: str | None,
            unit: str) -> str:
    category = "killed" if category in KILLED_PARTS else category
    return _key([conflict, category, side, incident, unit])


def family_key(figure: Mapping[str, Any]) -> str:
    """The reconciliation family (rules.family_fields): conflict, side, incident and unit
    folded, civilian and military counted with killed. Every figure a rule of API §6
    compares with another shares its family, so a run reads one family at a time."""
    return _family(figure["conflict"], figure["category"], fold_or_none(figure["side"]),
                   fold_or_none(figure["incident"]), fold(figure["unit"]))


def series_key(figure: Mapping[str, Any]) -> str:
    """The series (API §6): conflict, category, side, location, incident, unit, period
    and group, with the names folded (§4 "Names"), as a compact JSON array."""
    return _key([_key_value(figure, f) for f in SERIES_FIELDS])


def family_of_series(key: str) -> str:
    """The family a series key (already folded) belongs to."""
    conflict, category, side, _location, incident, unit, *_rest = json.loads(key)
    return _family(conflict, category, side, incident, unit)


# --- sources ---------------------------------------------------------------------------

def _source(db: sqlite_utils.Database, name: str, now: str) -> tuple[int, str]:
    """(id, stored name) of the source whose name folds like `name` (API §4 "Names");
    created with this spelling if new."""
    key = fold(name)
    db.execute(
        "INSERT INTO sources (name, name_key, created_at, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name_key) DO NOTHING",
        (name, key, now, now),
    )
    return db.execute("SELECT id, name FROM sources WHERE name_key = ?", (key,)).fetchone()


def _source_id(db: sqlite_utils.Database, name: str, now: str) -> int:
    return _source(db, name, now)[0]


def _known_source_ids(db: sqlite_utils.Database, names: Iterable[str]) -> dict[str, int]:
    """The ids of the sources these names (as given) already name, read in one query.

    Safe to read before a write transaction: a source's id never changes and no source is
    ever deleted (merges happen only in the offline upgrade), so an id read now is still
    right when the figures go in; a name missing now is created under the write lock.
    """
    by_key: dict[str, list[str]] = {}
    for name in set(names):
        by_key.setdefault(fold(name), []).append(name)
    found: dict[str, int] = {}
    for chunk in _chunks(list(by_key)):
        for source_id, key in db.execute(
                f"SELECT id, name_key FROM sources WHERE name_key IN ({_marks(chunk)})",
                chunk):
            found |= dict.fromkeys(by_key[key], source_id)
    return found


def ensure_source(db: sqlite_utils.Database, name: str, kind: str | None = None,
                  affiliation: str | None = None) -> dict:
    """Create the source if it is new, setting kind/affiliation only then (for seeds)."""
    now = utc_now()
    with write_transaction(db):
        existed = db.execute("SELECT 1 FROM sources WHERE name_key = ?",
                             (fold(name),)).fetchone()
        source_id = _source_id(db, name, now)
        if not existed and (kind or affiliation):
            db.execute("UPDATE sources SET kind = coalesce(?, kind), affiliation = ? "
                       "WHERE id = ?", (kind, affiliation, source_id))
    return get_source(db, source_id)


def get_source(db: sqlite_utils.Database, source_id: int) -> dict:
    """The source; raises NotFound, naming where it went if it was merged (API §5)."""
    rows = list(db.query(f"{_SOURCE_SELECT} WHERE id = ?", (source_id,)))
    if not rows:
        _source_not_found(db, source_id)
    return rows[0]


def _source_not_found(db: sqlite_utils.Database, source_id: int) -> None:
    """Raise NotFound for a source id; a merged-away id names the source it went into."""
    merge = db.execute("SELECT merged_into, name FROM source_merges WHERE source_id = ?",
                       (source_id,)).fetchone()
    if merge is not None:
        into, name = merge
        raise NotFound(f"Source {source_id} ({name!r}) was merged into source {into}: their "
                       f"names match (API §5). Use source {into}.")
    raise NotFound(f"There is no source {source_id}.")


def list_sources(db: sqlite_utils.Database, *, after_id: int, limit: int,
                 name: str | None = None, kind: str | None = None) -> list[dict]:
    where, params = ["id > ?"], [after_id]
    if name is not None:
        where.append("name_key = ?")
        params.append(fold(name))
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    sql = f"{_SOURCE_SELECT} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
    return list(db.query(sql, [*params, limit]))


def update_source(db: sqlite_utils.Database, source_id: int, changes: Mapping[str, Any]) -> dict:
    """Set kind and/or affiliation; the source's series are re-reconciled next run."""
    with write_transaction(db):
        if not db.execute("SELECT 1 FROM sources WHERE id = ?", (source_id,)).fetchone():
            _source_not_found(db, source_id)
        assignments = ", ".join(f"{column} = ?" for column in changes)
        db.execute(f"UPDATE sources SET {assignments}, updated_at = ? WHERE id = ?",
                   (*changes.values(), utc_now(), source_id))
        _mark_dirty(db, [row[0] for row in db.execute(
            "SELECT DISTINCT series_key FROM figures WHERE source_id = ?", (source_id,))])
    return get_source(db, source_id)


# --- figures ---------------------------------------------------------------------------

def _derived(figure: Mapping[str, Any]) -> dict:
    """The stored values computed from a figure: its interval, keys and folded names."""
    low, high = interval(figure["qualifier"], figure["count"], figure["count_high"])
    return dict(zip(_DERIVED_COLUMNS, (low, high, *_keys(figure)), strict=True))


def _keys(figure: Mapping[str, Any]) -> tuple:
    """family_key, series_key and the folded filter names (_KEY_COLUMNS order)."""
    return (*_series_keys(_series_values(figure)),
            *map(fold_or_none, _key_column_values(figure)))


_series_values = itemgetter(*SERIES_FIELDS)
_key_column_values = itemgetter(*_KEY_COLUMNS.values())


@lru_cache(maxsize=65_536)
def _series_keys(values: tuple) -> tuple[str, str]:
    """(family_key, series_key) of a figure whose SERIES_FIELDS are `values`: computed
    once per series, since a batch holds many figures of each."""
    figure = dict(zip(SERIES_FIELDS, values, strict=True))
    return family_key(figure), series_key(figure)


_DERIVED_COLUMNS = ("low", "high", "family_key", "series_key", *_KEY_COLUMNS)


def _mark_dirty(db: sqlite_utils.Database, series_keys: Iterable[str]) -> None:
    """Queue series for the next incremental reconciliation run, to be re-checked whole
    (a change other than a new figure: correction, retraction, dispute, source)."""
    _upsert_dirty(db, series_keys, additions_only=False)


def _mark_added(db: sqlite_utils.Database, series_keys: Iterable[str],
                figure_ids: Sequence[int]) -> None:
    """Queue new figures of these series for the next incremental run. A series whose
    only changes since the last run are new figures keeps additions_only = 1, and the run
    merges those figures into its flags (see reconcile/run.py)."""
    _upsert_dirty(db, series_keys, additions_only=True)
    db.conn.executemany("INSERT INTO dirty_figures (figure_id) VALUES (?)",
                        [(figure_id,) for figure_id in figure_ids])


def _upsert_dirty(db: sqlite_utils.Database, series_keys: Iterable[str], *,
                  additions_only: bool) -> None:
    """Mark series dirty (changed_seq + 1); any change but an addition clears
    additions_only.

    A batch of figures touches thousands of series: one upsert of many rows a chunk, since
    PostgreSQL would otherwise execute (and wait for) one statement per series.
    """
    only = int(additions_only)
    for chunk in _chunks(sorted(set(series_keys))):  # sorted: writers lock rows alike
        db.execute(
            "INSERT INTO dirty_series (series_key, changed_seq, additions_only) VALUES "
            + ", ".join(f"(?, 1, {only})" for _ in chunk)
            + " ON CONFLICT (series_key) DO UPDATE"
            " SET changed_seq = dirty_series.changed_seq + 1"
            + ("" if additions_only else ", additions_only = 0"), list(chunk))


def _keep_first_version(db: sqlite_utils.Database, current: Mapping[str, Any]) -> None:
    """Before a figure first changes, store its version 1 (until then the row itself is
    version 1, so ingest copies nothing). Figures stored before this rule already have it."""
    if current["version"] == 1:
        db.execute(
            "INSERT OR IGNORE INTO figure_versions (figure_id, version, change, snapshot,"
            " recorded_at) VALUES (?, 1, 'created', ?, ?)",
            (current["id"], json.dumps(current, ensure_ascii=False), current["created_at"]))


def _record_version(db: sqlite_utils.Database, figure_id: int, change: str, now: str) -> None:
    """Store the figure's present version (after a change) in its history."""
    figure = get_figure(db, figure_id)
    db.execute(
        "INSERT INTO figure_versions (figure_id, version, change, snapshot, recorded_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (figure_id, figure["version"], change, json.dumps(figure, ensure_ascii=False), now),
    )


def insert_figures(db: sqlite_utils.Database, figures: Sequence[Mapping[str, Any]],
                   then: Callable[[list[int]], None] | None = None) -> list[int]:
    """Store validated figures (each with every FIGURE_INPUT_FIELDS key); all or nothing.

    `then(ids)` runs inside the same transaction (an idempotent request records its
    response there), and whatever it raises undoes the whole insert.

    This is the ingest hot path, so rows go in with executemany: inside BEGIN IMMEDIATE
    nobody else can insert, and an INTEGER PRIMARY KEY takes max(id) + 1, so the ids are
    known in advance. A new figure is its own version 1: no snapshot is copied until the
    figure first changes (see _keep_first_version), and the keys a batch shares are
    computed once per distinct series.
    """
    now = utc_now()
    columns = (*_FIGURE_COLUMNS, "source_id", *_DERIVED_COLUMNS, "created_at", "updated_at")
    insert = (f"INSERT INTO figures (id, {', '.join(map(_column, columns))}) "
              f"VALUES (?, {', '.join('?' for _ in columns)})")
    values = itemgetter(*_FIGURE_COLUMNS)
    # Everything that needs no lock is done before taking it, so other writers wait for
    # as little as possible (on PostgreSQL each statement under the lock is a round trip).
    sources = _known_source_ids(db, (figure["source"] for figure in figures))
    prepared, series = [], set()
    for figure in figures:
        derived = _keys(figure)
        series.add(derived[1])
        low, high = interval(figure["qualifier"], figure["count"], figure["count_high"])
        prepared.append((figure["source"], (*values(figure),), (low, high, *derived, now, now)))
    with write_transaction(db):
        first_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM figures").fetchone()[0]
        for name, _, _ in prepared:
            if name not in sources:
                sources[name] = _source(db, name, now)[0]
        rows = [(figure_id, *stated, sources[name], *derived)
                for figure_id, (name, stated, derived) in enumerate(prepared, start=first_id)]
        db.conn.executemany(insert, rows)
        ids = list(range(first_id, first_id + len(rows)))
        _mark_added(db, series, ids)
        if then is not None:
            then(ids)
    return ids


def count_figures(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM figures").fetchone()[0]


def get_figure(db: sqlite_utils.Database, figure_id: int) -> dict:
    rows = list(db.query(f"{_FIGURE_SELECT} WHERE f.id = ?", (figure_id,)))
    if not rows:
        raise NotFound(f"There is no figure {figure_id}.")
    return rows[0]


_EQUALITY_FILTERS = ("conflict", "category", "group")
_FOLDED_FILTERS = {"side": "side_key", "location": "location_key",
                   "incident": "incident_key", "via": "via_key"}
_RANGE_FILTERS = {
    "reported_from": ("reported_on", ">="), "reported_to": ("reported_on", "<="),
    "as_of_from": ("as_of", ">="), "as_of_to": ("as_of", "<="),
}


def list_figures(db: sqlite_utils.Database, filters: Mapping[str, Any], *, after_id: int,
                 limit: int) -> list[dict]:
    """Figures matching `filters` (the GET /figures query), ordered by id, after `after_id`."""
    where, params = _figure_filters(filters, after_id)
    sql = f"{_FIGURE_SELECT} WHERE {where} ORDER BY f.id LIMIT ?"
    return list(db.query(sql, [*params, limit]))


_EXPORT_COLUMNS = (
    "f.id", "f.conflict", "s.name", "f.category", "f.side", "f.location", "f.location_code",
    'f."group"', "f.incident", "f.count", "f.count_high", "f.qualifier", "f.unit",
    "f.reported_on", "f.as_of", "f.period_start", "f.via", "f.quote", "f.url", "f.notes",
    "f.low", "f.high", "f.status", "f.retraction_reason", "f.version", "f.created_at",
    "f.updated_at", "s.kind", "s.affiliation", "f.open_flags",
)
"""The figures export's columns (csvio.FIGURE_COLUMNS), as SQL over figures f, sources s."""
_EXPORT_NUMBERS = frozenset({"f.id", "f.count", "f.count_high", "f.low", "f.high",
                             "f.version", "f.open_flags"})
"""Those of them that are integers: written as they are, never guarded as text."""
_EXPORT_FROM = " FROM figures f JOIN sources s ON s.id = f.source_id WHERE "


def export_figures_page(db: sqlite_utils.Database, filters: Mapping[str, Any], *,
                        after_id: int, limit: int) -> list[tuple]:
    """One page of the figures export: csvio.FIGURE_COLUMNS values, as tuples, by id."""
    where, params = _figure_filters(filters, after_id)
    return db.execute(f"SELECT {', '.join(_EXPORT_COLUMNS)}{_EXPORT_FROM}{where}"
                      " ORDER BY f.id LIMIT ?", [*params, limit]).fetchall()


COPY_CHUNK_BYTES = 64 * 1024
"""copy_figures_csv gathers COPY's lines (one a message) into chunks of about this size."""


def copy_figures_csv(db: engines.PgDatabase, filters: Mapping[str, Any]) -> Iterator[str]:
    """PostgreSQL only: the figures export's rows (no header) as CSV text written by
    PostgreSQL's COPY, in chunks of about COPY_CHUNK_BYTES bytes, with LF line ends
    (csvio.crlf_line_ends makes them stream_csv's; pgcsv says why the rest is the same).

    One statement, so one snapshot: every row as of the moment the export began.
    """
    where, params = _figure_filters(filters, 0)
    columns = pgcsv.cells([(column, column in _EXPORT_NUMBERS) for column in _EXPORT_COLUMNS])
    statement, _ = engines.translate(f"COPY (SELECT {columns}{_EXPORT_FROM}{where}"
                                     " ORDER BY f.id) TO STDOUT (FORMAT csv)")
    with db.connection.cursor() as cursor, cursor.copy(statement, params) as copy:
        pending: list[bytes] = []
        size = 0
        for line in copy:  # one line a message, so a chunk never splits a character
            pending.append(line)
            size += len(line)
            if size >= COPY_CHUNK_BYTES:
                yield b"".join(pending).decode("utf-8")
                pending, size = [], 0
        yield b"".join(pending).decode("utf-8")


def _figure_filters(filters: Mapping[str, Any], after_id: int) -> tuple[str, list]:
    """The WHERE clause (and its parameters) of a GET /figures query."""
    where, params = ["f.id > ?"], [after_id]
    for name in _EQUALITY_FILTERS:
        if filters.get(name) is not None:
            where.append(f"f.{_column(name)} = ?")
            params.append(filters[name])
    for name, column in _FOLDED_FILTERS.items():
        if filters.get(name) is not None:
            where.append(f"f.{column} = ?")
            params.append(fold(filters[name]))
    if filters.get("location_code") is not None:
        where.append("f.location_code = ? COLLATE NOCASE")
        params.append(filters["location_code"])
    if filters.get("source") is not None:
        where.append("f.source_id = (SELECT id FROM sources WHERE name_key = ?)")
        params.append(fold(filters["source"]))
    status = filters.get("status") or "active"
    if status != "all":
        where.append("f.status = ?")
        params.append(status)
    for name, (column, operator) in _RANGE_FILTERS.items():
        if filters.get(name) is not None:
            where.append(f"f.{column} {operator} ?")
            params.append(filters[name])
    return " AND ".join(where), params


def correct_figure(db: sqlite_utils.Database, figure_id: int, changes: Mapping[str, Any],
                   check: Callable[[dict], None]) -> dict:
    """Apply a correction: version +1 with the old version kept, unless nothing changes.

    `check` validates the merged figure inside the write transaction, so two corrections
    racing on one figure cannot combine into a figure neither would have been allowed to make.
    """
    now = utc_now()
    with write_transaction(db):
        current = get_figure(db, figure_id)
        if current["status"] != "active":
            raise Conflict(f"Figure {figure_id} is retracted; a retracted figure is not corrected.")
        merged = {field: current[field] for field in FIGURE_INPUT_FIELDS} | dict(changes)
        if merged.get("as_of") is None:
            merged["as_of"] = merged["reported_on"]
        check(merged)
        if not _apply_correction(db, current, merged, now):
            return current
    return get_figure(db, figure_id)


def changed_fields(current: Mapping[str, Any], merged: Mapping[str, Any]) -> dict[str, Any]:
    """The input fields of `merged` whose value differs from the stored figure `current`.

    A source name that folds (§4 "Names") to the stored one names the same source: no change.
    """
    changed = {f: v for f, v in merged.items() if f in FIGURE_INPUT_FIELDS and v != current[f]}
    if "source" in changed and fold(changed["source"]) == fold(current["source"]):
        del changed["source"]
    return changed


def _apply_correction(db: sqlite_utils.Database, current: Mapping[str, Any],
                      merged: Mapping[str, Any], now: str) -> bool:
    """Inside a write transaction: store `merged` (every input field) as the figure's next
    version; False, and nothing written, when it changes nothing."""
    if not changed_fields(current, merged):
        return False
    row = {f: merged[f] for f in _FIGURE_COLUMNS} | _derived(merged)
    row["source_id"] = _source_id(db, merged["source"], now)
    _keep_first_version(db, current)
    assignments = ", ".join(f"{_column(column)} = ?" for column in row)
    db.execute(
        f"UPDATE figures SET {assignments}, version = version + 1, updated_at = ? "
        "WHERE id = ?", (*row.values(), now, current["id"]),
    )
    _mark_dirty(db, [series_key(current), row["series_key"]])
    _record_version(db, current["id"], "corrected", now)
    return True


def retract_figure(db: sqlite_utils.Database, figure_id: int, reason: str) -> dict:
    now = utc_now()
    with write_transaction(db):
        current = get_figure(db, figure_id)
        if current["status"] == "retracted":
            raise Conflict(f"Figure {figure_id} is already retracted.")
        _apply_retraction(db, current, reason, now)
    return get_figure(db, figure_id)


def _apply_retraction(db: sqlite_utils.Database, current: Mapping[str, Any], reason: str,
                      now: str) -> None:
    """Inside a write transaction: retract an active figure (its next version)."""
    _keep_first_version(db, current)
    db.execute(
        "UPDATE figures SET status = 'retracted', retraction_reason = ?,"
        " version = version + 1, updated_at = ? WHERE id = ?", (reason, now, current["id"]),
    )
    _mark_dirty(db, [series_key(current)])
    _record_version(db, current["id"], "retracted", now)


Plan = Callable[[dict], tuple[Mapping[str, Any] | None, str | None]]
"""What an import row does to the stored figure it names, given that figure as get_figure
returns it: (the whole corrected figure, every input field, or None to leave its fields; a
retraction reason, or None not to retract)."""


def import_figures(db: sqlite_utils.Database,
                   rows: Sequence[tuple[int | None, Mapping[str, Any] | Plan]],
                   then: Callable[[list[int]], None] | None = None) -> list[int]:
    """Store an import with corrections (API §7 ``?update=1``) in one transaction.

    Each row is ``(None, figure)``, a new figure as insert_figures takes it, or
    ``(figure_id, plan)``, a stored figure to correct and/or retract as `plan` decides when
    handed the figure inside the transaction (so no other write slips in between). A
    correction that changes nothing makes no version. Returns every row's figure id, in row
    order. `then(ids)` runs inside the transaction; whatever it or a plan raises (NotFound
    for an id naming no figure) undoes everything.
    """
    now = utc_now()
    new_figures = [item for figure_id, item in rows if figure_id is None]
    ids: list[int] = []

    def corrections(created: list[int]) -> None:
        new_ids = iter(created)
        for figure_id, item in rows:
            if figure_id is None:
                ids.append(next(new_ids))
                continue
            current = get_figure(db, figure_id)
            merged, reason = item(current)  # type: ignore[operator]
            if merged is not None and _apply_correction(db, current, merged, now):
                current = get_figure(db, figure_id)
            if reason is not None and current["status"] == "active":
                _apply_retraction(db, current, reason, now)
            ids.append(figure_id)
        if then is not None:
            then(ids)

    insert_figures(db, new_figures, then=corrections)
    return ids


def get_figures(db: sqlite_utils.Database, ids: Iterable[int]) -> dict[int, dict]:
    """{id: figure as get_figure returns it} for those of `ids` that name a stored figure."""
    wanted = sorted(set(ids))
    found: dict[int, dict] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for figure in db.query(
                f"{_FIGURE_SELECT} WHERE f.id IN ({', '.join('?' for _ in chunk)})", chunk):
            found[figure["id"]] = figure
    return found


def figure_history(db: sqlite_utils.Database, figure_id: int) -> list[dict]:
    """Every version of the figure, oldest first, each as the whole figure then stood.

    A figure never changed is its own version 1 (nothing was copied when it was stored).
    """
    current = get_figure(db, figure_id)
    rows = db.execute(
        "SELECT snapshot, change, recorded_at FROM figure_versions WHERE figure_id = ?"
        " ORDER BY version", (figure_id,),
    ).fetchall()
    if not rows:
        return [current | {"change": "created", "recorded_at": current["created_at"]}]
    missing = dict.fromkeys(NEW_IN_SCHEMA_2)  # versions recorded before schema 2
    return [missing | json.loads(snapshot) | {"change": change, "recorded_at": recorded_at}
            for snapshot, change, recorded_at in rows]


def find_figure_id(db: sqlite_utils.Database, figure: Mapping[str, Any]) -> int | None:
    """A figure first recorded with the same statement (source, series, dates, number,
    quote), if any, whatever corrections or retraction came after.

    Seeds use it so that loading them twice adds nothing, even after a seed figure has
    been corrected: version 1 is compared (the stored one, or the row of a figure never
    changed), not the current row.
    """
    fields = ("conflict", "category", "side", "location", "location_code", "group", "incident",
              "unit", "period_start", "via",
              "reported_on", "as_of", "count", "qualifier", "quote")
    # compared in Python, so one query serves both engines (no JSON functions in SQL)
    columns = ", ".join(f"f.{_column(f)}" for f in fields)
    for figure_id, snapshot, *row in db.execute(
            f"SELECT f.id, v.snapshot, {columns} FROM figures f LEFT JOIN figure_versions v"
            " ON v.figure_id = f.id AND v.version = 1"
            " WHERE f.source_id = (SELECT id FROM sources WHERE name_key = ?) ORDER BY f.id",
            [fold(figure["source"])]):
        first = (json.loads(snapshot) if snapshot is not None
                 else dict(zip(fields, row, strict=True)))
        if all(first.get(f) == figure[f] for f in fields):
            return figure_id
    return None


# --- disputes --------------------------------------------------------------------------

_DISPUTE_SELECT = """
    SELECT d.id, d.figure_id, s.name AS source, d.source_id, d.reported_on, d.quote, d.url,
           d.created_at
    FROM disputes d JOIN sources s ON s.id = d.source_id
"""


def add_dispute(db: sqlite_utils.Database, figure_id: int, dispute: Mapping[str, Any]) -> dict:
    """Record that a source contests a figure; the source must not be the figure's own."""
    with write_transaction(db):
        dispute_id = insert_dispute(db, figure_id, dispute)
    return next(db.query(f"{_DISPUTE_SELECT} WHERE d.id = ?", (dispute_id,)))


def insert_dispute(db: sqlite_utils.Database, figure_id: int,
                   dispute: Mapping[str, Any]) -> int:
    """add_dispute's write, for a caller already inside a write transaction (the page that
    posts an article's figures records their disputes in the same transaction). Returns
    the new dispute's id; raises NotFound, or Invalid when the source is the figure's own.
    """
    now = utc_now()
    figure = get_figure(db, figure_id)
    if fold(dispute["source"]) == fold(figure["source"]):
        raise Invalid("source", "A source cannot dispute its own figure; the disputing "
                                "source must differ from the figure's.")
    source_id = _source_id(db, dispute["source"], now)
    dispute_id = db.execute(
        "INSERT INTO disputes (figure_id, source_id, reported_on, quote, url, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (figure_id, source_id, dispute["reported_on"], dispute.get("quote"),
         dispute.get("url"), now),
    ).lastrowid
    _mark_dirty(db, [series_key(figure)])
    return int(dispute_id)


def list_disputes(db: sqlite_utils.Database, figure_id: int, *, after_id: int,
                  limit: int) -> list[dict]:
    get_figure(db, figure_id)
    return list(db.query(
        f"{_DISPUTE_SELECT} WHERE d.figure_id = ? AND d.id > ? ORDER BY d.id LIMIT ?",
        (figure_id, after_id, limit),
    ))


def dispute_exists(db: sqlite_utils.Database, figure_id: int, source: str,
                   reported_on: str) -> bool:
    return db.execute(
        "SELECT 1 FROM disputes d JOIN sources s ON s.id = d.source_id"
        " WHERE d.figure_id = ? AND s.name_key = ? AND d.reported_on = ?",
        (figure_id, fold(source), reported_on),
    ).fetchone() is not None


# --- idempotency keys ------------------------------------------------------------------

IDEMPOTENCY_HOURS = 24


class KeyAlreadyUsed(RuntimeError):
    """Another request recorded a response under this Idempotency-Key first."""


def idempotent_response(db: sqlite_utils.Database, owner: str, key: str,
                        scope: str) -> dict | None:
    """The response first given to (owner, key, scope), if remembered (for 24 hours)."""
    rows = list(db.query(
        "SELECT request_hash, status, response, location FROM idempotency_keys"
        " WHERE owner = ? AND key = ? AND scope = ? AND created_at > ?",
        (owner, key, scope, _hours_ago(IDEMPOTENCY_HOURS))))
    return rows[0] if rows else None


def remember_response(db: sqlite_utils.Database, owner: str, key: str, scope: str,
                      request_hash: str, status: int, response: str,
                      location: str | None) -> None:
    """Inside the caller's write transaction: record the response; forget expired ones."""
    db.execute("DELETE FROM idempotency_keys WHERE created_at <= ?",
               (_hours_ago(IDEMPOTENCY_HOURS),))
    try:
        db.execute(
            "INSERT INTO idempotency_keys (owner, key, scope, request_hash, status, response,"
            " location, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (owner, key, scope, request_hash, status, response, location, utc_now()))
    except INTEGRITY_ERRORS:
        raise KeyAlreadyUsed(key) from None


def _hours_ago(hours: int) -> str:
    moment = datetime.now(UTC) - timedelta(hours=hours)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- API keys --------------------------------------------------------------------------

def create_api_key(db: sqlite_utils.Database, name: str, role: str, token_hash: str) -> int:
    with write_transaction(db):
        return db.execute(
            "INSERT INTO api_keys (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, role, token_hash, utc_now()),
        ).lastrowid


def role_for_token_hash(db: sqlite_utils.Database,
                        token_hash: str) -> tuple[str, str] | None:
    """(role, stored hash) of the live key with this hash; None if unknown or revoked."""
    row = db.execute(
        "SELECT role, token_hash FROM api_keys WHERE token_hash = ? AND revoked_at IS NULL",
        (token_hash,),
    ).fetchone()
    return (row[0], row[1]) if row else None


def revoke_api_keys(db: sqlite_utils.Database, name: str) -> int:
    """Revoke every live key with this name; returns how many were revoked."""
    with write_transaction(db):
        return db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (utc_now(), name),
        ).rowcount


def list_api_keys(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query(
        "SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY id"))


# --- reconciliation: runs and the lease ------------------------------------------------

_RUN_COLUMNS = ('id, status, trigger, "full", created_at, started_at, finished_at, '
                "series_checked, figures_checked, flags_opened, flags_closed, error")


def _run_row(row: Mapping[str, Any]) -> dict:
    return dict(row) | {"full": bool(row["full"])}


def create_run(db: sqlite_utils.Database, trigger: str, full: bool) -> dict:
    with write_transaction(db):
        run_id = db.execute(
            "INSERT INTO reconciliation_runs (status, trigger, \"full\", created_at)"
            " VALUES ('queued', ?, ?, ?)", (trigger, int(full), utc_now()),
        ).lastrowid
    return get_run(db, run_id)


def get_run(db: sqlite_utils.Database, run_id: int) -> dict:
    rows = list(db.query(f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE id = ?",
                         (run_id,)))
    if not rows:
        raise NotFound(f"There is no reconciliation run {run_id}.")
    return _run_row(rows[0])


def list_runs(db: sqlite_utils.Database, *, after_id: int, limit: int,
              status: str | None = None) -> list[dict]:
    where, params = "id > ?", [after_id]
    if status is not None:
        where += " AND status = ?"
        params.append(status)
    return [_run_row(row) for row in db.query(
        f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs WHERE {where} ORDER BY id LIMIT ?",
        [*params, limit])]


def latest_run(db: sqlite_utils.Database) -> dict | None:
    rows = list(db.query(
        f"SELECT {_RUN_COLUMNS} FROM reconciliation_runs ORDER BY id DESC LIMIT 1"))
    return _run_row(rows[0]) if rows else None


def finish_run(db: sqlite_utils.Database, run_id: int, status: str,
               counts: Mapping[str, int], error: str | None = None) -> None:
    with write_transaction(db):
        db.execute(
            "UPDATE reconciliation_runs SET status = ?, finished_at = ?, error = ?,"
            " series_checked = ?, figures_checked = ?, flags_opened = ?, flags_closed = ?"
            " WHERE id = ?",
            (status, utc_now(), error, counts.get("series_checked", 0),
             counts.get("figures_checked", 0), counts.get("flags_opened", 0),
             counts.get("flags_closed", 0), run_id),
        )


def take_lease(db: sqlite_utils.Database, holder: str, run_id: int, now: float,
               ttl: float) -> bool:
    """Take the single run lease if it is free or expired, and mark the run running.

    A lease left behind by a crashed holder expires; its run, still 'running', is marked
    failed here so nobody waits on it.
    """
    with write_transaction(db):
        current, current_run, expires_at = db.execute(
            "SELECT holder, run_id, expires_at FROM reconciliation_lease WHERE id = 1",
        ).fetchone()
        if current is not None and expires_at > now:
            return False
        if current is not None and current_run is not None:
            db.execute(
                "UPDATE reconciliation_runs SET status = 'failed', finished_at = ?,"
                " error = 'abandoned: the process running it stopped and its lease expired'"
                " WHERE id = ? AND status IN ('queued', 'running')",
                (utc_now(), current_run),
            )
        db.execute("UPDATE reconciliation_lease SET holder = ?, run_id = ?, expires_at = ?"
                   " WHERE id = 1", (holder, run_id, now + ttl))
        db.execute("UPDATE reconciliation_runs SET status = 'running', started_at = ?"
                   " WHERE id = ?", (utc_now(), run_id))
    return True


def _hold_lease(db: sqlite_utils.Database, holder: str, now: float, ttl: float) -> None:
    """Inside a write transaction: extend our lease, or fail if another holder took it.

    A lease that expired while this run worked (a batch longer than the ttl) but that
    nobody took over is still ours: take_lease replaces the holder when it takes over.
    """
    renewed = db.execute(
        "UPDATE reconciliation_lease SET expires_at = ? WHERE id = 1 AND holder = ?",
        (now + ttl, holder),
    ).rowcount
    if not renewed:
        raise LeaseLost("The reconciliation lease expired and another run took it over.")


def release_lease(db: sqlite_utils.Database, holder: str) -> None:
    with write_transaction(db):
        db.execute("UPDATE reconciliation_lease SET holder = NULL, run_id = NULL,"
                   " expires_at = 0 WHERE id = 1 AND holder = ?", (holder,))


class LeaseLost(RuntimeError):
    """This run no longer holds the lease; it must stop writing."""


# --- reconciliation: series and flags --------------------------------------------------

def dirty_series(db: sqlite_utils.Database) -> dict[str, int]:
    """series_key -> changed_seq for every series changed since a run last cleared it."""
    return dict(db.execute("SELECT series_key, changed_seq FROM dirty_series").fetchall())


def dirty_marks(db: sqlite_utils.Database) -> tuple[dict[str, int], set[str]]:
    """What changed since a run last cleared it, read from one snapshot: series_key ->
    changed_seq for every dirty series, and the keys of those whose only changes are new
    figures (family_facts says which figures those are)."""
    with read_snapshot(db):
        rows = db.execute("SELECT series_key, changed_seq, additions_only"
                          " FROM dirty_series").fetchall()
    return ({key: seq for key, seq, _only in rows},
            {key for key, _seq, only in rows if only})


_FACT_SELECT = """
    SELECT f.id, f.source_id, s.name AS source, f.conflict, f.category, f.side, f.location,
           f.incident, f.unit, f.period_start, f.as_of, f.reported_on, f.count, f.qualifier,
           f.count_high, f.low, f.high, f.location_code, f."group", f.series_key, f.family_key,
           a.figure_id IS NOT NULL AS added
    FROM figures f JOIN sources s ON s.id = f.source_id
    LEFT JOIN dirty_figures a ON a.figure_id = f.id
"""
_CHUNK = 500
"""Values per IN (...) list: well under SQLite's variable limit."""


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


@contextmanager
def read_snapshot(db: sqlite_utils.Database) -> Iterator[None]:
    """Several reads from one snapshot of the database (a read transaction).

    A run reads a family's figures and their disputes; read separately, a figure added
    and disputed in between would have a dispute without its figure.
    """
    db.conn.execute("BEGIN")
    try:
        yield
    finally:
        db.conn.execute("COMMIT")


def family_sizes(db: sqlite_utils.Database,
                 families: Sequence[str] | None) -> list[tuple[str, int]]:
    """(family key, active figures) for these families (None: every family), by key.

    Families without active figures are left out: they own no finding.
    """
    sql = ("SELECT family_key, count(*) FROM figures WHERE status = 'active'{}"
           " GROUP BY family_key ORDER BY family_key")
    if families is None:
        return db.execute(sql.format("")).fetchall()
    sizes: list[tuple[str, int]] = []
    for chunk in _chunks(families):
        sizes += db.execute(sql.format(f" AND family_key IN ({_marks(chunk)})"),
                            list(chunk)).fetchall()
    return sorted(sizes)


def family_facts(db: sqlite_utils.Database, families: Sequence[str]) -> list[tuple]:
    """Active figures of these families as tuples: rules.Fact's fields, then the series
    and family keys and whether the figure was added since its series was last cleared
    (dirty_figures), by family and id. Tuples, because a run holds a whole family and a
    dict per row would double its memory. Ordered, because new flags take ids in the order
    findings come: PostgreSQL returns rows in heap order, which a correction changes, and
    an incremental run must number new flags exactly as a full run would."""
    rows: list[tuple] = []
    for chunk in _chunks(families):
        rows += db.execute(f"{_FACT_SELECT} WHERE f.family_key IN ({_marks(chunk)})"
                           " AND f.status = 'active' ORDER BY f.family_key, f.id",
                           list(chunk)).fetchall()
    return rows


def family_disputes(db: sqlite_utils.Database, families: Sequence[str]) -> list[tuple]:
    """(figure id, disputing source, reported_on) for active figures of these families."""
    rows: list[tuple] = []
    for chunk in _chunks(families):
        rows += db.execute(
            "SELECT d.figure_id, s.name, d.reported_on FROM disputes d"
            " JOIN sources s ON s.id = d.source_id JOIN figures f ON f.id = d.figure_id"
            f" WHERE f.family_key IN ({_marks(chunk)}) AND f.status = 'active' ORDER BY d.id",
            list(chunk)).fetchall()
    return rows


def flag_owners_listing(db: sqlite_utils.Database, series_keys: Sequence[str]) -> set[str]:
    """The series owning a flag (not obsolete) that lists a figure of these series."""
    owners: set[str] = set()
    for chunk in _chunks(series_keys):
        owners.update(row[0] for row in db.execute(
            "SELECT DISTINCT fl.series_key FROM figures f"
            " JOIN flag_figures ff ON ff.figure_id = f.id JOIN flags fl ON fl.id = ff.flag_id"
            f" WHERE f.series_key IN ({_marks(chunk)}) AND fl.status != 'obsolete'",
            list(chunk)))
    return owners


def _seen_flags(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TEMP TABLE IF NOT EXISTS seen_flags (id INTEGER PRIMARY KEY)")


def start_seen_flags(db: sqlite_utils.Database) -> None:
    """An empty per-connection table of the flags this run saw hold (for closing)."""
    _seen_flags(db)
    db.execute("DELETE FROM temp.seen_flags")
    db.conn.commit()


_STORED_FLAG = ("id, rule, flag_key, series_key, conflict, severity, figure_ids, explanation,"
                " status, worst_higher, worst_lower")


def save_findings(db: sqlite_utils.Database, run_id: int, holder: str, ttl: float,
                  findings: Sequence[tuple[str, Finding]],
                  partial: Collection[tuple[str, str]] = (),
                  merge: Callable[[Finding, StoredPairs | None], Finding] | None = None,
                  ) -> int:
    """Record one batch of (owner series key, finding) as flags; returns how many flags
    opened (new, or open again).

    The findings whose (rule, key) is in `partial` rest only on pairs with new figures
    (rules.evaluate_additions): each is first merged with its flag as stored, read here
    anyway, by `merge(finding, stored pairs or None when the flag does not hold)`. Raises
    ValueError for a flag that holds but has no worst pair (written before schema 4; the
    0004 step marks such series for a whole re-check, so a run never meets one).

    A flag whose stored fields already say what the finding says is not written at all
    (its last_seen_run is derived, see FLAG_COLUMNS), so a run that changes nothing
    writes nothing but the ids it saw. Runs inside its own write transaction that first
    renews the lease, so a run that lost its lease can never write a flag.
    """
    now_iso = utc_now()
    opened = 0
    with write_transaction(db):
        _hold_lease(db, holder, time.time(), ttl)
        stored: dict[tuple[str, str], tuple] = {}
        by_rule: dict[str, list[str]] = {}
        for _owner, finding in findings:
            by_rule.setdefault(finding.rule, []).append(finding.key)
        for rule, keys in by_rule.items():
            for chunk in _chunks(keys):
                for row in db.execute(f"SELECT {_STORED_FLAG} FROM flags WHERE rule = ?"
                                      f" AND flag_key IN ({_marks(chunk)})", [rule, *chunk]):
                    stored[(row[1], row[2])] = row
        next_id = db.execute("SELECT coalesce(max(id), 0) + 1 FROM flags").fetchone()[0]
        inserts, updates, unlinks, links, seen = [], [], [], [], []
        open_delta: dict[int, int] = {}
        for owner, finding in findings:
            if merge is not None and (finding.rule, finding.key) in partial:
                row = stored.get((finding.rule, finding.key))
                held = None
                if row is not None and row[8] != "obsolete":
                    if row[9] is None or row[10] is None:
                        raise ValueError(f"flag {row[0]} has no worst pair to merge into")
                    held = StoredPairs(tuple(json.loads(row[6])), (row[9], row[10]))
                finding = merge(finding, held)
            ids = finding.figure_ids
            ids_json = "[" + ", ".join(map(str, ids)) + "]"  # as json.dumps writes it
            row = stored.get((finding.rule, finding.key))
            old_ids = json.loads(row[6]) if row else None
            status, is_opening = status_when_seen(row[8] if row else None, old_ids, ids)
            opened += is_opening
            higher, lower = finding.pair or (None, None)
            values = (owner, finding.conflict, finding.severity, ids_json,
                      finding.explanation, status, higher, lower)
            if row is None:
                flag_id, next_id = next_id, next_id + 1
                inserts.append((flag_id, *values, run_id, now_iso, finding.rule, finding.key,
                                run_id, now_iso))
            else:
                flag_id = row[0]
                if tuple(row[3:11]) != values:
                    updates.append((*values, run_id, now_iso, flag_id))
            seen.append((flag_id,))
            if old_ids is None or list(ids) != old_ids:
                # Only the links that change move: a flag merged with new figures
                # (rules.evaluate_additions) keeps its many old ones.
                before = set(old_ids or ())
                unlinks += [(figure_id, flag_id) for figure_id in before.difference(ids)]
                links += [(figure_id, flag_id) for figure_id in ids
                          if figure_id not in before]
                # figures.open_flags: the flags.status trigger has moved the old links'
                # counts with any status change; the links themselves move here.
                if status == "open":
                    for figure_id in old_ids or ():
                        open_delta[figure_id] = open_delta.get(figure_id, 0) - 1
                    for figure_id in ids:
                        open_delta[figure_id] = open_delta.get(figure_id, 0) + 1
        db.conn.executemany(
            "INSERT INTO flags (id, series_key, conflict, severity, figure_ids, explanation,"
            " status, worst_higher, worst_lower, last_seen_run, updated_at, rule, flag_key,"
            " first_seen_run, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            inserts)
        db.conn.executemany(
            "UPDATE flags SET series_key = ?, conflict = ?, severity = ?, figure_ids = ?,"
            " explanation = ?, status = ?, worst_higher = ?, worst_lower = ?,"
            " last_seen_run = ?, updated_at = ? WHERE id = ?", updates)
        db.conn.executemany("DELETE FROM flag_figures WHERE figure_id = ? AND flag_id = ?",
                            unlinks)
        db.conn.executemany("INSERT INTO flag_figures (figure_id, flag_id) VALUES (?, ?)",
                            links)
        db.conn.executemany("UPDATE figures SET open_flags = open_flags + ? WHERE id = ?",
                            [(delta, figure_id) for figure_id, delta in open_delta.items()
                             if delta])
        _seen_flags(db)
        db.conn.executemany("INSERT OR IGNORE INTO temp.seen_flags (id) VALUES (?)", seen)
    return opened


def close_unseen_flags(db: sqlite_utils.Database, run_id: int, holder: str, ttl: float,
                       keys: Sequence[str] | None, checked: Mapping[str, int],
                       rechecked: Iterable[tuple[str, str]] = ()) -> int:
    """End of a run: flags of the re-checked series, and flags of the (rule, flag key)s
    in `rechecked` (re-checked one by one, rules.evaluate_additions), that it did not see
    hold become obsolete, and the dirty marks it saw are cleared, in one transaction.

    `keys` None means every series (a full run). A flag closed now held after the last
    successful run before this one, which becomes its last_seen_run (as a full run would
    have left it). A series changed during the run has a newer changed_seq than `checked`
    holds, so it stays dirty for the next run, and flags it owns are not closed now: the
    run may have read it half-way through a change, and the next run checks it again.
    """
    now_iso = utc_now()
    with write_transaction(db):
        _hold_lease(db, holder, time.time(), ttl)
        db.conn.executemany(
            "DELETE FROM dirty_series WHERE series_key = ? AND changed_seq = ?",
            list(checked.items()))
        if db.execute("SELECT 1 FROM dirty_series LIMIT 1").fetchone() is None:
            db.execute("DELETE FROM dirty_figures")  # SQLite drops the pages whole
        else:
            db.execute("DELETE FROM dirty_figures WHERE NOT EXISTS (SELECT 1 FROM figures f"
                       " JOIN dirty_series d ON d.series_key = f.series_key"
                       " WHERE f.id = dirty_figures.figure_id)")
        _seen_flags(db)
        previous = db.execute(
            "SELECT coalesce(max(id), 0) FROM reconciliation_runs"
            " WHERE status = 'succeeded' AND id < ?", (run_id,)).fetchone()[0]
        scope = " AND series_key NOT IN (SELECT series_key FROM dirty_series)"
        if keys is not None:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS checked_series"
                       " (series_key TEXT PRIMARY KEY)")
            db.execute("DELETE FROM temp.checked_series")
            db.conn.executemany("INSERT INTO temp.checked_series VALUES (?)",
                                [(key,) for key in keys])
            db.execute("CREATE TEMP TABLE IF NOT EXISTS checked_keys"
                       " (rule TEXT NOT NULL, flag_key TEXT NOT NULL,"
                       " PRIMARY KEY (rule, flag_key))")
            db.execute("DELETE FROM temp.checked_keys")
            db.conn.executemany("INSERT INTO temp.checked_keys VALUES (?, ?)",
                                sorted(set(rechecked)))
            scope += (" AND (series_key IN (SELECT series_key FROM temp.checked_series)"
                      " OR id IN (SELECT fl.id FROM flags fl JOIN temp.checked_keys k"
                      " ON k.rule = fl.rule AND k.flag_key = fl.flag_key))")
        closed = db.execute(
            "UPDATE flags SET status = 'obsolete', updated_at = ?,"
            " last_seen_run = CASE WHEN last_seen_run < ? THEN ? ELSE last_seen_run END"
            " WHERE status != 'obsolete' AND id NOT IN (SELECT id FROM temp.seen_flags)"
            f"{scope}", (now_iso, previous, previous)).rowcount
    return closed


_LAST_SUCCESS = ("(SELECT coalesce(max(id), 0) FROM reconciliation_runs"
                 " WHERE status = 'succeeded')")
LAST_SEEN_RUN = (f"CASE WHEN status != 'obsolete' AND last_seen_run < {_LAST_SUCCESS}"
                 f" THEN {_LAST_SUCCESS} ELSE last_seen_run END")
"""A flag's last_seen_run as API §6 defines it: a flag that is not obsolete held after
every successful run since it was last written (nothing that could change it changed, or
the run would have re-checked it), so it is the latest successful run; an obsolete flag
keeps the run it was stamped with when it closed."""
_FLAG_COLUMNS = ("id, rule, severity, conflict, figure_ids, explanation, status, note,"
                 f" first_seen_run, {LAST_SEEN_RUN} AS last_seen_run, created_at, updated_at")


def _flag_row(row: Mapping[str, Any]) -> dict:
    return dict(row) | {"figure_ids": json.loads(row["figure_ids"])}


def get_flag(db: sqlite_utils.Database, flag_id: int) -> dict:
    rows = list(db.query(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE id = ?", (flag_id,)))
    if not rows:
        raise NotFound(f"There is no flag {flag_id}.")
    return _flag_row(rows[0])


def list_flags(db: sqlite_utils.Database, filters: Mapping[str, Any], *, after_id: int,
               limit: int) -> list[dict]:
    where, params = ["id > ?"], [after_id]
    for name in ("status", "rule", "conflict"):
        if filters.get(name) is not None:
            where.append(f"{name} = ?")
            params.append(filters[name])
    if filters.get("figure_id") is not None:
        where.append("id IN (SELECT flag_id FROM flag_figures WHERE figure_id = ?)")
        params.append(filters["figure_id"])
    return [_flag_row(row) for row in db.query(
        f"SELECT {_FLAG_COLUMNS} FROM flags WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        [*params, limit])]


def update_flag(db: sqlite_utils.Database, flag_id: int, changes: Mapping[str, Any]) -> dict:
    """People's judgement on a flag: acknowledged or resolved, with a note."""
    with write_transaction(db):
        current = get_flag(db, flag_id)
        if "status" in changes and current["status"] == "obsolete":
            raise Conflict(f"Flag {flag_id} is obsolete: its condition no longer holds, so "
                           "there is nothing to acknowledge or resolve.")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        db.execute(f"UPDATE flags SET {assignments}, updated_at = ? WHERE id = ?",
                   (*changes.values(), utc_now(), flag_id))
    return get_flag(db, flag_id)


def flag_summary(db: sqlite_utils.Database) -> dict[str, dict[str, int]]:
    """rule -> status -> number of flags, for the CLI's summary."""
    summary: dict[str, dict[str, int]] = {}
    for rule, status, count in db.execute(
            "SELECT rule, status, count(*) FROM flags GROUP BY rule, status ORDER BY rule, status"):
        summary.setdefault(rule, {})[status] = count
    return summary


# --- reconciliation: the report --------------------------------------------------------

def report_conflicts(db: sqlite_utils.Database, conflict: str | None) -> list[str]:
    """The conflicts a report covers: the one asked for, or every conflict with an active
    figure (API §6: the report without `conflict`), in order."""
    if conflict is not None:
        return [conflict]
    return [row[0] for row in db.execute(
        "SELECT DISTINCT conflict FROM figures WHERE status = 'active' ORDER BY conflict")]


def report_figures(db: sqlite_utils.Database, conflict: str) -> Iterable[dict]:
    """The conflict's active figures with their source's affiliation, grouped by series
    (consecutive, oldest figure first: the report spells a series' names as it does)."""
    return db.query(
        "SELECT f.id, f.conflict, f.category, f.side, f.location, f.incident, f.unit,"
        ' f.period_start, f."group", f.as_of, f.reported_on, f.count, f.qualifier, f.low,'
        " f.high, f.source_id, s.name AS source, s.affiliation, f.series_key"
        " FROM figures f JOIN sources s ON s.id = f.source_id"
        " WHERE f.conflict = ? AND f.status = 'active'"
        " ORDER BY f.series_key, f.id",
        (conflict,))


def flag_marks(db: sqlite_utils.Database, conflict: str) -> dict[int, list[tuple[int, str, str]]]:
    """figure id -> [(flag id, rule, status)] for the conflict's open and acknowledged flags."""
    marks: dict[int, list[tuple[int, str, str]]] = {}
    for figure_id, flag_id, rule, status in db.execute(
            "SELECT ff.figure_id, fl.id, fl.rule, fl.status FROM flags fl"
            " JOIN flag_figures ff ON ff.flag_id = fl.id"
            " WHERE fl.conflict = ? AND fl.status IN ('open', 'acknowledged')", (conflict,)):
        marks.setdefault(figure_id, []).append((flag_id, rule, status))
    return marks


# --- pages and series charts (web/, GET /series) ---------------------------------------
# Kept together at the end so the web pages' queries stay in one place.

_SERIES_FIGURE_SELECT = (
    "SELECT f.*, s.name AS source, s.affiliation FROM figures f"
    " JOIN sources s ON s.id = f.source_id"
)


def series_figures(db: sqlite_utils.Database, series_key: str) -> list[dict]:
    """The active figures of one series (every column of `figures`, plus the source's
    name and affiliation), ordered by id: one indexed read on figures_series."""
    return list(db.query(f"{_SERIES_FIGURE_SELECT} WHERE f.series_key = ?"
                         " AND f.status = 'active' ORDER BY f.id", (series_key,)))


def conflict_series_figures(db: sqlite_utils.Database, conflict: str) -> list[dict]:
    """The conflict's active figures like series_figures, grouped by series_key."""
    return list(db.query(f"{_SERIES_FIGURE_SELECT} WHERE f.conflict = ?"
                         " AND f.status = 'active' ORDER BY f.series_key, f.id", (conflict,)))


def open_flagged_figures(db: sqlite_utils.Database, figure_ids: Iterable[int]) -> set[int]:
    """Which of these figures an open flag lists."""
    found: set[int] = set()
    ids = list(figure_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update(row[0] for row in db.execute(
            "SELECT DISTINCT ff.figure_id FROM flag_figures ff"
            " JOIN flags fl ON fl.id = ff.flag_id"
            f" WHERE ff.figure_id IN ({marks}) AND fl.status = 'open'", chunk))
    return found


def series_keys_of(db: sqlite_utils.Database, figure_ids: Iterable[int]) -> dict[int, str]:
    """figure id -> the series_key it is stored under (for linking report rows)."""
    found: dict[int, str] = {}
    ids = list(figure_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update(db.execute(
            f"SELECT id, series_key FROM figures WHERE id IN ({marks})", chunk).fetchall())
    return found


def conflict_exists(db: sqlite_utils.Database, conflict: str) -> bool:
    """Whether any figure, active or retracted, names this conflict."""
    return db.execute("SELECT 1 FROM figures WHERE conflict = ? LIMIT 1",
                      (conflict,)).fetchone() is not None


def conflict_overview(db: sqlite_utils.Database) -> list[dict]:
    """Per conflict: active figures, series with active figures, open flags by severity.

    Counted from the covering index on (series_key, status) rather than the table: a
    series key is a JSON list that begins with its conflict's slug (a slug holds no quote),
    so the index alone gives both counts, several times faster than reading the rows.
    """
    conflicts: dict[str, dict] = {}
    for key, figures in db.execute(
            "SELECT series_key, count(*) FROM figures INDEXED BY figures_series"
            " WHERE status = 'active' GROUP BY series_key"):
        conflict = key[2:key.index('"', 2)]
        entry = conflicts.get(conflict)
        if entry is None:
            entry = conflicts[conflict] = {
                "conflict": conflict, "figures": 0, "series": 0,
                "open_flags": {"high": 0, "medium": 0, "low": 0}}
        entry["figures"] += figures
        entry["series"] += 1
    for conflict, severity, count in db.execute(
            "SELECT conflict, severity, count(*) FROM flags WHERE status = 'open'"
            " GROUP BY conflict, severity"):
        if conflict in conflicts:
            conflicts[conflict]["open_flags"][severity] = count
    return [conflicts[name] for name in sorted(conflicts)]


_SEVERITY_ORDER = "CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END"


def flags_by_severity(db: sqlite_utils.Database, *, status: str, conflict: str | None,
                      rule: str | None, offset: int, limit: int) -> tuple[list[dict], int]:
    """One page of flags, worst severity first, then oldest; and how many match."""
    where, params = ["status = ?"], [status]
    for name, value in (("conflict", conflict), ("rule", rule)):
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    clause = " AND ".join(where)
    total = db.execute(f"SELECT count(*) FROM flags WHERE {clause}", params).fetchone()[0]
    rows = [_flag_row(row) for row in db.query(
        f"SELECT {_FLAG_COLUMNS} FROM flags WHERE {clause}"
        f" ORDER BY {_SEVERITY_ORDER}, id LIMIT ? OFFSET ?", [*params, limit, offset])]
    return rows, total


def figures_by_id(db: sqlite_utils.Database, figure_ids: Iterable[int]) -> dict[int, dict]:
    """id -> figure (as get_figure gives it) for every id that exists."""
    found: dict[int, dict] = {}
    ids = list(dict.fromkeys(figure_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        found.update((row["id"], row) for row in db.query(
            f"{_FIGURE_SELECT} WHERE f.id IN ({marks})", chunk))
    return found


def flags_of_figure(db: sqlite_utils.Database, figure_id: int) -> list[dict]:
    """Every flag, in any status, that lists this figure."""
    return [_flag_row(row) for row in db.query(
        f"SELECT {_FLAG_COLUMNS} FROM flags WHERE id IN"
        " (SELECT flag_id FROM flag_figures WHERE figure_id = ?) ORDER BY id", (figure_id,))]


def api_key_for_hash(db: sqlite_utils.Database, token_hash: str) -> dict | None:
    """{"name", "role", "token_hash"} of the live key with this token hash, or None."""
    rows = list(db.query("SELECT name, role, token_hash FROM api_keys"
                         " WHERE token_hash = ? AND revoked_at IS NULL", (token_hash,)))
    return rows[0] if rows else None


def web_secret_key(db: sqlite_utils.Database, make: Callable[[], str]) -> str:
    """The pages' session-signing key: made once by `make()` and kept in the database, so
    every process serving it signs alike and sessions survive a restart.

    A database made before the table existed gets it here (CREATE TABLE IF NOT EXISTS is
    harmless to run again); racing processes keep the first key written.
    """
    try:  # the usual case, a plain read on either engine
        found = db.execute("SELECT secret FROM web_secret WHERE id = 1").fetchone()
    except DATABASE_ERRORS:  # no such table yet (outside any transaction: nothing to undo)
        found = None
    if found is not None:
        return found[0]
    with write_transaction(db):
        db.execute("CREATE TABLE IF NOT EXISTS web_secret (id INTEGER PRIMARY KEY"
                   " CHECK (id = 1), secret TEXT NOT NULL, created_at TEXT NOT NULL)")
        db.execute("INSERT INTO web_secret (id, secret, created_at) VALUES (1, ?, ?)"
                   " ON CONFLICT (id) DO NOTHING", (make(), utc_now()))
    return db.execute("SELECT secret FROM web_secret WHERE id = 1").fetchone()[0]


def report_fingerprint(db: sqlite_utils.Database, conflict: str | None) -> tuple:
    """A value that changes whenever the conflict's report could change, read cheaply.

    Every figure write (insert, correction, retraction, a source's new affiliation) marks
    its series dirty in the same transaction — the invariant incremental reconciliation
    rests on — and a run clears those marks only as it records itself in
    reconciliation_runs; flags change only with their status or updated_at. So the dirty
    marks, the latest run, the conflict's flags by status and the sources together tell
    when a page's cached report is stale. `conflict` None: every conflict's.
    """
    dirty = db.execute("SELECT count(*), coalesce(sum(changed_seq), 0) FROM dirty_series"
                       ).fetchone()
    run = db.execute("SELECT id, status, finished_at FROM reconciliation_runs"
                     " ORDER BY id DESC LIMIT 1").fetchone()
    flags = db.execute("SELECT status, count(*), max(updated_at) FROM flags"
                       " WHERE coalesce(?, conflict) = conflict GROUP BY status"
                       " ORDER BY status", (conflict,)).fetchall()
    sources = db.execute("SELECT count(*), max(updated_at) FROM sources").fetchone()
    return (tuple(dirty), tuple(run) if run else None, tuple(map(tuple, flags)),
            tuple(sources))
