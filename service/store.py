"""Every SQL statement of the service (figures, sources, disputes, keys).

The one module that speaks SQL: a second backend would replace this file. Writes open
their own BEGIN IMMEDIATE transaction (see db.write_transaction), so each public write
function is all-or-nothing. Derived data (low/high, family_key, version snapshots, the
dirty-family marks that drive incremental reconciliation) is computed here, on the single
write path, so it can never disagree with the figure it belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from .db import write_transaction
from .intervals import interval

FIGURE_INPUT_FIELDS = (
    "conflict", "source", "category", "side", "location", "incident", "count", "count_high",
    "qualifier", "unit", "reported_on", "as_of", "period_start", "quote", "url", "notes",
)
FAMILY_FIELDS = ("conflict", "category", "side", "incident", "unit", "period_start")
_FIGURE_COLUMNS = tuple(f for f in FIGURE_INPUT_FIELDS if f != "source")
_FIGURE_SELECT = """
    SELECT f.id, f.conflict, s.name AS source, f.source_id, f.category, f.side, f.location,
           f.incident, f.count, f.count_high, f.qualifier, f.unit, f.reported_on, f.as_of,
           f.period_start, f.quote, f.url, f.notes, f.low, f.high, f.status,
           f.retraction_reason, f.version, f.created_at, f.updated_at
    FROM figures f JOIN sources s ON s.id = f.source_id
"""
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


def family_key(figure: Mapping[str, Any]) -> str:
    """The reconciliation family: every series field but location (see API §6)."""
    return json.dumps([figure[f] for f in FAMILY_FIELDS], ensure_ascii=False,
                      separators=(",", ":"))


# --- sources ---------------------------------------------------------------------------

def _source_id(db: sqlite_utils.Database, name: str, now: str) -> int:
    """The id of the source called `name` (any case), created with this spelling if new."""
    key = name.casefold()
    db.execute(
        "INSERT INTO sources (name, name_key, created_at, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name_key) DO NOTHING",
        (name, key, now, now),
    )
    return db.execute("SELECT id FROM sources WHERE name_key = ?", (key,)).fetchone()[0]


def ensure_source(db: sqlite_utils.Database, name: str, kind: str | None = None,
                  affiliation: str | None = None) -> dict:
    """Create the source if it is new, setting kind/affiliation only then (for seeds)."""
    now = utc_now()
    with write_transaction(db):
        existed = db.execute("SELECT 1 FROM sources WHERE name_key = ?",
                             (name.casefold(),)).fetchone()
        source_id = _source_id(db, name, now)
        if not existed and (kind or affiliation):
            db.execute("UPDATE sources SET kind = coalesce(?, kind), affiliation = ? "
                       "WHERE id = ?", (kind, affiliation, source_id))
    return get_source(db, source_id)


def get_source(db: sqlite_utils.Database, source_id: int) -> dict:
    rows = list(db.query(f"{_SOURCE_SELECT} WHERE id = ?", (source_id,)))
    if not rows:
        raise NotFound(f"There is no source {source_id}.")
    return rows[0]


def list_sources(db: sqlite_utils.Database, *, after_id: int, limit: int,
                 name: str | None = None, kind: str | None = None) -> list[dict]:
    where, params = ["id > ?"], [after_id]
    if name is not None:
        where.append("name_key = ?")
        params.append(name.casefold())
    if kind is not None:
        where.append("kind = ?")
        params.append(kind)
    sql = f"{_SOURCE_SELECT} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
    return list(db.query(sql, [*params, limit]))


def update_source(db: sqlite_utils.Database, source_id: int, changes: Mapping[str, Any]) -> dict:
    """Set kind and/or affiliation; the source's families are re-reconciled next run."""
    with write_transaction(db):
        if not db.execute("SELECT 1 FROM sources WHERE id = ?", (source_id,)).fetchone():
            raise NotFound(f"There is no source {source_id}.")
        assignments = ", ".join(f"{column} = ?" for column in changes)
        db.execute(f"UPDATE sources SET {assignments}, updated_at = ? WHERE id = ?",
                   (*changes.values(), utc_now(), source_id))
        _mark_dirty(db, [row[0] for row in db.execute(
            "SELECT DISTINCT family_key FROM figures WHERE source_id = ?", (source_id,))])
    return get_source(db, source_id)


# --- figures ---------------------------------------------------------------------------

def _derived(figure: Mapping[str, Any]) -> dict:
    low, high = interval(figure["qualifier"], figure["count"], figure["count_high"])
    return {"low": low, "high": high, "family_key": family_key(figure)}


def _mark_dirty(db: sqlite_utils.Database, family_keys: Iterable[str]) -> None:
    db.conn.executemany(
        "INSERT INTO dirty_families (family_key, changed_seq) VALUES (?, 1)"
        " ON CONFLICT (family_key) DO UPDATE SET changed_seq = changed_seq + 1",
        [(key,) for key in set(family_keys)],
    )


def _record_version(db: sqlite_utils.Database, figure_id: int, change: str, now: str) -> None:
    figure = get_figure(db, figure_id)
    db.execute(
        "INSERT INTO figure_versions (figure_id, version, change, snapshot, recorded_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (figure_id, figure["version"], change, json.dumps(figure, ensure_ascii=False), now),
    )


def insert_figures(db: sqlite_utils.Database, figures: Sequence[Mapping[str, Any]]) -> list[int]:
    """Store validated figures (each with every FIGURE_INPUT_FIELDS key); all or nothing."""
    now = utc_now()
    columns = (*_FIGURE_COLUMNS, "source_id", "low", "high", "family_key",
               "created_at", "updated_at")
    insert = (f"INSERT INTO figures ({', '.join(columns)}) "
              f"VALUES ({', '.join('?' for _ in columns)})")
    ids: list[int] = []
    with write_transaction(db):
        source_ids: dict[str, int] = {}
        for figure in figures:
            name = figure["source"]
            if name.casefold() not in source_ids:
                source_ids[name.casefold()] = _source_id(db, name, now)
            row = {**figure, **_derived(figure), "source_id": source_ids[name.casefold()],
                   "created_at": now, "updated_at": now}
            ids.append(db.conn.execute(insert, [row[c] for c in columns]).lastrowid)
        _insert_first_versions(db, ids, now)
        _mark_dirty(db, (family_key(f) for f in figures))
    return ids


def _insert_first_versions(db: sqlite_utils.Database, ids: list[int], now: str) -> None:
    """Version 1 snapshots for new figures, read back in pages so a batch stays one pass."""
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.query(f"{_FIGURE_SELECT} WHERE f.id IN ({marks})", chunk)
        db.conn.executemany(
            "INSERT INTO figure_versions (figure_id, version, change, snapshot, recorded_at)"
            " VALUES (?, 1, 'created', ?, ?)",
            [(row["id"], json.dumps(row, ensure_ascii=False), now) for row in rows],
        )


def count_figures(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM figures").fetchone()[0]


def get_figure(db: sqlite_utils.Database, figure_id: int) -> dict:
    rows = list(db.query(f"{_FIGURE_SELECT} WHERE f.id = ?", (figure_id,)))
    if not rows:
        raise NotFound(f"There is no figure {figure_id}.")
    return rows[0]


_EQUALITY_FILTERS = ("conflict", "category", "side", "location", "incident")
_RANGE_FILTERS = {
    "reported_from": ("reported_on", ">="), "reported_to": ("reported_on", "<="),
    "as_of_from": ("as_of", ">="), "as_of_to": ("as_of", "<="),
}


def list_figures(db: sqlite_utils.Database, filters: Mapping[str, Any], *, after_id: int,
                 limit: int) -> list[dict]:
    """Figures matching `filters` (the GET /figures query), ordered by id, after `after_id`."""
    where, params = ["f.id > ?"], [after_id]
    for name in _EQUALITY_FILTERS:
        if filters.get(name) is not None:
            where.append(f"f.{name} = ?")
            params.append(filters[name])
    if filters.get("source") is not None:
        where.append("f.source_id = (SELECT id FROM sources WHERE name_key = ?)")
        params.append(filters["source"].casefold())
    status = filters.get("status") or "active"
    if status != "all":
        where.append("f.status = ?")
        params.append(status)
    for name, (column, operator) in _RANGE_FILTERS.items():
        if filters.get(name) is not None:
            where.append(f"f.{column} {operator} ?")
            params.append(filters[name])
    sql = f"{_FIGURE_SELECT} WHERE {' AND '.join(where)} ORDER BY f.id LIMIT ?"
    return list(db.query(sql, [*params, limit]))


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
        changed = {f: v for f, v in merged.items() if v != current[f]}
        if "source" in changed and changed["source"].casefold() == current["source"].casefold():
            del changed["source"]
        if not changed:
            return current
        row = {f: merged[f] for f in _FIGURE_COLUMNS} | _derived(merged)
        row["source_id"] = _source_id(db, merged["source"], now)
        assignments = ", ".join(f"{column} = ?" for column in row)
        db.execute(
            f"UPDATE figures SET {assignments}, version = version + 1, updated_at = ? "
            "WHERE id = ?", (*row.values(), now, figure_id),
        )
        _mark_dirty(db, [family_key(current), row["family_key"]])
        _record_version(db, figure_id, "corrected", now)
    return get_figure(db, figure_id)


def retract_figure(db: sqlite_utils.Database, figure_id: int, reason: str) -> dict:
    now = utc_now()
    with write_transaction(db):
        current = get_figure(db, figure_id)
        if current["status"] == "retracted":
            raise Conflict(f"Figure {figure_id} is already retracted.")
        db.execute(
            "UPDATE figures SET status = 'retracted', retraction_reason = ?,"
            " version = version + 1, updated_at = ? WHERE id = ?", (reason, now, figure_id),
        )
        _mark_dirty(db, [family_key(current)])
        _record_version(db, figure_id, "retracted", now)
    return get_figure(db, figure_id)


def figure_history(db: sqlite_utils.Database, figure_id: int) -> list[dict]:
    """Every version of the figure, oldest first, each as the whole figure then stood."""
    get_figure(db, figure_id)
    rows = db.execute(
        "SELECT snapshot, change, recorded_at FROM figure_versions WHERE figure_id = ?"
        " ORDER BY version", (figure_id,),
    )
    return [json.loads(snapshot) | {"change": change, "recorded_at": recorded_at}
            for snapshot, change, recorded_at in rows]


def find_figure_id(db: sqlite_utils.Database, figure: Mapping[str, Any]) -> int | None:
    """An active figure with the same statement (source, series, dates, number, quote), if any.

    Seeds use it so that loading them twice adds nothing.
    """
    fields = ("conflict", "category", "side", "location", "incident", "unit", "period_start",
              "reported_on", "as_of", "count", "qualifier", "quote")
    where = " AND ".join(f"f.{f} IS ?" for f in fields)
    row = db.execute(
        f"SELECT f.id FROM figures f JOIN sources s ON s.id = f.source_id"
        f" WHERE {where} AND s.name_key = ? LIMIT 1",
        [figure[f] for f in fields] + [figure["source"].casefold()],
    ).fetchone()
    return row[0] if row else None


# --- disputes --------------------------------------------------------------------------

_DISPUTE_SELECT = """
    SELECT d.id, d.figure_id, s.name AS source, d.source_id, d.reported_on, d.quote, d.url,
           d.created_at
    FROM disputes d JOIN sources s ON s.id = d.source_id
"""


def add_dispute(db: sqlite_utils.Database, figure_id: int, dispute: Mapping[str, Any]) -> dict:
    """Record that a source contests a figure; the source must not be the figure's own."""
    now = utc_now()
    with write_transaction(db):
        figure = get_figure(db, figure_id)
        if dispute["source"].casefold() == figure["source"].casefold():
            raise Invalid("source", "A source cannot dispute its own figure; the disputing "
                                    "source must differ from the figure's.")
        source_id = _source_id(db, dispute["source"], now)
        dispute_id = db.execute(
            "INSERT INTO disputes (figure_id, source_id, reported_on, quote, url, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (figure_id, source_id, dispute["reported_on"], dispute.get("quote"),
             dispute.get("url"), now),
        ).lastrowid
        _mark_dirty(db, [family_key(figure)])
    return next(db.query(f"{_DISPUTE_SELECT} WHERE d.id = ?", (dispute_id,)))


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
        (figure_id, source.casefold(), reported_on),
    ).fetchone() is not None


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
