"""Schema 1 -> 2 (API 1.1 §4 and §5): names matched folded; location_code, group and via.

1. New figure columns: `location_code`, `"group"`, `via` (null for every old figure), and
   the folded name columns GET /figures filters on (`side_key`, `location_key`,
   `incident_key`, `via_key`), indexed where a filter needs it; the indexes on category,
   side, status and dates, which cost every insert and no query needed, are dropped.
2. Sources whose names now fold alike (composed/decomposed letters, case, white space)
   are merged into the oldest (earliest created_at, then lowest id): its figures and
   disputes move to it and keep every other field; it keeps its name, kind and
   affiliation, except that a merged source's kind fills it where the oldest's is
   `unknown`. Each merged-away source is kept whole in `source_merges`, so its id answers
   404 naming the source it went into, and nothing it said is lost.
3. Every figure's series and family keys are recomputed (names folded, group appended),
   and so are the flags' keys and series, and the dirty marks, so flags keep their ids.
   A flag whose new key another (older) flag already holds keeps its old key: no run
   produces that key any more, so the next run of its series makes it obsolete.
4. Series that moved - two old series now one, or figures of a merged source - are marked
   dirty, so the next incremental run re-checks exactly them.

Figure versions (the history) are left exactly as recorded: a snapshot is what the figure
was, and the fields it lacks read as null.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ..names import fold, fold_or_none
from ..store import family_key, series_key

SERIES_RULES = frozenset({"disagreement", "decrease", "duplicate"})
OLD_SERIES_FIELDS = 7  # conflict, category, side, location, incident, unit, period_start

_STATEMENTS = """
ALTER TABLE figures ADD COLUMN location_code TEXT COLLATE NOCASE;
ALTER TABLE figures ADD COLUMN "group" TEXT;
ALTER TABLE figures ADD COLUMN via TEXT;
ALTER TABLE figures ADD COLUMN side_key TEXT;
ALTER TABLE figures ADD COLUMN location_key TEXT;
ALTER TABLE figures ADD COLUMN incident_key TEXT;
ALTER TABLE figures ADD COLUMN via_key TEXT;
CREATE TABLE source_merges (
    source_id INTEGER PRIMARY KEY,
    merged_into INTEGER NOT NULL REFERENCES sources(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    affiliation TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    merged_at TEXT NOT NULL
);
"""

_INDEXES = """
DROP INDEX figures_side;
DROP INDEX figures_location;
DROP INDEX figures_incident;
DROP INDEX figures_category;
DROP INDEX figures_status;
DROP INDEX figures_reported_on;
DROP INDEX figures_as_of;
CREATE INDEX figures_location ON figures (location_key, id);
CREATE INDEX figures_incident ON figures (incident_key, id);
"""


def upgrade(conn: sqlite3.Connection) -> None:
    """Apply the step inside the caller's transaction (see the module docstring)."""
    _run(conn, _STATEMENTS)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    merged = _merge_sources(conn, now)
    dirty = _rekey_figures(conn, merged)
    dirty |= _rekey_flags(conn, merged)
    _rekey_dirty_marks(conn, dirty)
    _run(conn, _INDEXES)
    _run(conn, _WEB_SECRET)


# Issue 13 (web pages): the table schema.sql gained beside this step; IF NOT EXISTS, since
# store.web_secret_key also makes it in a database that predates it.
_WEB_SECRET = """
CREATE TABLE IF NOT EXISTS web_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def _run(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _key(values: Sequence[Any]) -> str:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def _new_series_fields(old: Sequence[Any]) -> list[Any]:
    """Schema-1 series fields (7, names as typed) -> schema 2's (names folded, group null)."""
    conflict, category, side, location, incident, unit, period_start = old
    return [conflict, category, fold_or_none(side), fold_or_none(location),
            fold_or_none(incident), fold(unit), period_start, None]


def _new_series_key(old_key: str) -> str:
    return _key(_new_series_fields(json.loads(old_key)))


def _merge_sources(conn: sqlite3.Connection, now: str) -> dict[int, int]:
    """Merge sources whose names fold alike into the oldest; returns merged id -> oldest id."""
    rows = conn.execute("SELECT id, name, kind, affiliation, created_at, updated_at"
                        " FROM sources ORDER BY created_at, id").fetchall()
    groups: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[fold(row[1])].append(row)
    merged: dict[int, int] = {}
    for oldest, *others in groups.values():
        if not others:
            continue
        oldest_id, kind = oldest[0], oldest[2]
        for other in others:
            conn.execute(
                "INSERT INTO source_merges (source_id, merged_into, name, kind, affiliation,"
                " created_at, updated_at, merged_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (other[0], oldest_id, other[1], other[2], other[3], other[4], other[5], now))
            merged[other[0]] = oldest_id
        if kind == "unknown":
            filler = next((other[2] for other in others if other[2] != "unknown"), None)
            if filler is not None:
                conn.execute("UPDATE sources SET kind = ?, updated_at = ? WHERE id = ?",
                             (filler, now, oldest_id))
    moves = list(merged.items())
    conn.executemany("UPDATE figures SET source_id = ? WHERE source_id = ?",
                     [(into, away) for away, into in moves])
    conn.executemany("UPDATE disputes SET source_id = ? WHERE source_id = ?",
                     [(into, away) for away, into in moves])
    conn.executemany("DELETE FROM sources WHERE id = ?", [(away,) for away in merged])
    # Two passes, so no name_key ever holds another row's key half-way through.
    # no folded name begins with a space (fold trims), and this runs on either engine
    conn.execute("UPDATE sources SET name_key = ' ' || id")
    conn.executemany("UPDATE sources SET name_key = ? WHERE id = ?",
                     [(fold(name), source_id) for source_id, name, *_ in rows
                      if source_id not in merged])
    return merged


def _rekey_figures(conn: sqlite3.Connection, merged: dict[int, int]) -> set[str]:
    """Recompute every figure's keys; returns the series that moved."""
    updates = []
    sources_of: dict[str, set[str]] = defaultdict(set)
    moved: set[str] = set()
    for (figure_id, conflict, category, side, location, incident, unit, period_start,
         old_key, source_id) in conn.execute(
            "SELECT id, conflict, category, side, location, incident, unit, period_start,"
            " series_key, source_id FROM figures"):
        figure = {"conflict": conflict, "category": category, "side": side,
                  "location": location, "incident": incident, "unit": unit,
                  "period_start": period_start, "group": None}
        new_key = series_key(figure)
        sources_of[new_key].add(old_key)
        if source_id in merged.values():
            moved.add(new_key)
        updates.append((new_key, family_key(figure), fold_or_none(side),
                        fold_or_none(location), fold_or_none(incident), figure_id))
    conn.executemany("UPDATE figures SET series_key = ?, family_key = ?, side_key = ?,"
                     " location_key = ?, incident_key = ? WHERE id = ?", updates)
    return moved | {key for key, old_keys in sources_of.items() if len(old_keys) > 1}


def _rekey_flags(conn: sqlite3.Connection, merged: dict[int, int]) -> set[str]:
    """New keys and series for every flag, oldest first; returns series to re-check."""
    dirty: set[str] = set()
    taken: set[tuple[str, str]] = set()
    updates = []
    for flag_id, rule, flag_key, owner, whole_owner in conn.execute(
            "SELECT id, rule, flag_key, series_key, whole_series_key FROM flags ORDER BY id"):
        new_owner = _new_series_key(owner)
        new_whole = None if whole_owner is None else _new_series_key(whole_owner)
        new_key = flag_key
        if rule in SERIES_RULES:
            values = json.loads(flag_key)
            fields, rest = values[:OLD_SERIES_FIELDS], values[OLD_SERIES_FIELDS:]
            ids = rest if rule == "disagreement" else rest[:1]  # source ids in the key
            moved = [merged.get(source_id, source_id) for source_id in ids]
            if moved != ids:
                dirty.add(new_owner)
            rest = sorted(moved) if rule == "disagreement" else [moved[0], *rest[1:]]
            new_key = _key(_new_series_fields(fields) + rest)
        if (rule, new_key) in taken:
            new_key = flag_key
            dirty.add(new_owner)
        taken.add((rule, new_key))
        updates.append((new_key, new_owner, new_whole, flag_id))
    conn.executemany("UPDATE flags SET flag_key = ?, series_key = ?, whole_series_key = ?"
                     " WHERE id = ?", updates)
    return dirty


def _rekey_dirty_marks(conn: sqlite3.Connection, moved: set[str]) -> None:
    """Carry the dirty marks over to the new keys, and mark the series that moved."""
    marks: dict[str, int] = defaultdict(int)
    for key, changed_seq in conn.execute("SELECT series_key, changed_seq FROM dirty_series"):
        new_key = _new_series_key(key)
        marks[new_key] = max(marks[new_key], changed_seq)
    for key in moved:
        marks[key] += 1
    conn.execute("DELETE FROM dirty_series")
    conn.executemany("INSERT INTO dirty_series (series_key, changed_seq) VALUES (?, ?)",
                     sorted(marks.items()))
