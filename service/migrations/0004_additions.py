"""Schema 3 -> 4 (issue 10): what an incremental run needs to merge new figures.

dirty_series.additions_only and the table dirty_figures record which figures were added to
a series since the last run, when nothing else changed there; flags.worst_higher and
worst_lower keep the worst pair of a disagreement or decrease flag. Marks made before this
step count as other changes (additions_only 0), and every series owning such a flag that
holds is marked for a whole re-check, which stores its worst pair: new figures are only
ever merged into a flag that has one.
"""

from __future__ import annotations

import sqlite3

STATEMENTS = (
    "ALTER TABLE dirty_series ADD COLUMN additions_only INTEGER NOT NULL DEFAULT 0",
    """CREATE TABLE dirty_figures (
    figure_id INTEGER PRIMARY KEY
)""",
    "ALTER TABLE flags ADD COLUMN worst_higher INTEGER",
    "ALTER TABLE flags ADD COLUMN worst_lower INTEGER",
    "INSERT INTO dirty_series (series_key, changed_seq, additions_only)"
    " SELECT DISTINCT series_key, 1, 0 FROM flags"
    " WHERE rule IN ('disagreement', 'decrease') AND status != 'obsolete'"
    " ON CONFLICT (series_key) DO UPDATE SET changed_seq = dirty_series.changed_seq + 1,"
    " additions_only = 0",
)


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the columns and the table (the same text as schema.sql); mark the series whose
    flags lack a worst pair."""
    for statement in STATEMENTS:
        conn.execute(statement)
