"""Schema 3 -> 4 (issue 10): what an incremental run needs to merge new figures.

dirty_series.additions_only and the table dirty_figures record which figures were added to
a series since the last run, when nothing else changed there; flags.worst_higher and
worst_lower keep the worst pair of a disagreement or decrease flag. Marks made before this
step count as other changes (additions_only 0), and a flag without a worst pair makes the
run re-check its series whole, so nothing stored earlier is read wrongly.
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
)


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the columns and the table (the same text as schema.sql)."""
    for statement in STATEMENTS:
        conn.execute(statement)
