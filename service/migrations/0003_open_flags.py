"""Schema 2 -> 3 (issue 10): figures.open_flags, kept by triggers.

The figures export (API §7) gives each figure's number of open flags. Counting them for
every row made the export's cost grow with the number of flags (0.26x a plain dump with
240,000 flags); a column kept exact by triggers on `flags` and `flag_figures`, in the same
transaction as every flag change, makes it a plain read. This step adds the column, fills
it from the flags as they stand, and creates the triggers (the same text as schema.sql).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

_SCHEMA = Path(__file__).resolve().parent.parent.parent / "schema.sql"


def _triggers() -> list[str]:
    """The CREATE TRIGGER statements of schema.sql (one source for both paths)."""
    statements, buffer = [], []
    for line in _SCHEMA.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("--"):
            continue
        if line.startswith("CREATE TRIGGER") or buffer:
            buffer.append(line)
            if line.strip() == "END;":
                statements.append("\n".join(buffer))
                buffer = []
    return statements


def upgrade(conn: sqlite3.Connection) -> None:
    """Add and fill figures.open_flags; create the triggers that keep it."""
    conn.execute("ALTER TABLE figures ADD COLUMN open_flags INTEGER NOT NULL DEFAULT 0")
    conn.execute(
        "UPDATE figures SET open_flags = (SELECT count(*) FROM flag_figures ff"
        " JOIN flags fl ON fl.id = ff.flag_id WHERE ff.figure_id = figures.id"
        " AND fl.status = 'open')"
        " WHERE id IN (SELECT ff.figure_id FROM flag_figures ff JOIN flags fl"
        " ON fl.id = ff.flag_id WHERE fl.status = 'open')")
    for statement in _triggers():
        conn.execute(statement)
