"""Loading seeds/: the figures a new database starts with (idempotent).

Seed figures pass through the same FigureIn schema as the API, so a seed can never hold
what a client could not have posted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from . import store
from .schemas import DisputeIn, FigureIn, complete_figure

SEEDS_DIR = Path(__file__).resolve().parent.parent / "seeds"


@dataclass
class SeedResult:
    figures_added: int = 0
    disputes_added: int = 0


def load_seeds(db: sqlite_utils.Database, directory: Path = SEEDS_DIR) -> SeedResult:
    """Load every seeds/*.json; figures and disputes already present are skipped."""
    result = SeedResult()
    for path in sorted(directory.glob("*.json")):
        _load_file(db, json.loads(path.read_text(encoding="utf-8")), result)
    return result


def _load_file(db: sqlite_utils.Database, seed: dict, result: SeedResult) -> None:
    for source in seed.get("sources", []):
        store.ensure_source(db, source["name"], source.get("kind"), source.get("affiliation"))
    ids_by_key: dict[str, int] = {}
    for item in seed.get("figures", []):
        key = item["key"]
        figure = complete_figure(FigureIn().load({k: v for k, v in item.items() if k != "key"}))
        figure_id = store.find_figure_id(db, figure)
        if figure_id is None:
            (figure_id,) = store.insert_figures(db, [figure])
            result.figures_added += 1
        ids_by_key[key] = figure_id
    for item in seed.get("disputes", []):
        figure_id = ids_by_key[item["figure"]]
        dispute = DisputeIn().load({k: v for k, v in item.items() if k != "figure"})
        if not store.dispute_exists(db, figure_id, dispute["source"], dispute["reported_on"]):
            store.add_dispute(db, figure_id, dispute)
            result.disputes_added += 1
