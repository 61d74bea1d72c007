"""Numbered schema migrations: schema 1 -> 2 -> ..., applied at start-up in one transaction.

Each step is a module named `NNNN_what_it_does.py` here, whose number is the schema version
it produces and which defines `upgrade(conn: sqlite3.Connection) -> None`. The next
migration is one more file. `service.db.connect` runs every step newer than the database's
`PRAGMA user_version` inside one BEGIN IMMEDIATE transaction, setting the version after
each, so an upgrade either completes or leaves the file exactly as it was.

A new database is created from schema.sql at the latest version directly; the steps only
ever run on databases made by an earlier release.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

_STEP_NAME = re.compile(r"(\d{4})_[a-z0-9_]+")


@dataclass(frozen=True)
class Step:
    """One migration: the schema version it produces, its module name and its function."""

    version: int
    name: str
    upgrade: Callable[[sqlite3.Connection], None]


def steps() -> list[Step]:
    """Every migration step in this package, in version order (numbers must be 2, 3, ...)."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        match = _STEP_NAME.fullmatch(module.name)
        if match:
            loaded = importlib.import_module(f"{__name__}.{module.name}")
            found.append(Step(int(match.group(1)), module.name, loaded.upgrade))
    found.sort(key=lambda step: step.version)
    expected = list(range(2, len(found) + 2))
    if [step.version for step in found] != expected:
        raise RuntimeError(f"migration steps must be numbered {expected}, found "
                           f"{[step.name for step in found]}")
    return found


def latest_version() -> int:
    """The schema version the code works with: the last step's, or 1 with no steps."""
    found = steps()
    return found[-1].version if found else 1


def upgrade(conn: sqlite3.Connection, from_version: int) -> list[str]:
    """Apply every step newer than `from_version`, inside the caller's transaction.

    Sets `PRAGMA user_version` after each step (transactional in SQLite, so a failure
    later rolls it back too). Returns the names of the steps applied.
    """
    applied = []
    for step in steps():
        if step.version > from_version:
            step.upgrade(conn)
            conn.execute(f"PRAGMA user_version = {step.version:d}")
            applied.append(step.name)
    return applied
