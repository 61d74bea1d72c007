"""One reconciliation run: read the changed families, apply the rules, write the flags.

A run re-examines only the series touched since the last successful run (figures added,
corrected, retracted or disputed; sources re-affiliated), so its cost follows the change,
not the size of the database; `full=True` re-checks everything. Series are read outside
any write lock and their flags written a batch per short transaction, so writers are never
held up for the length of a run. A figure changed while the run reads it is marked dirty
again and checked by the next run.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

import sqlite_utils

from .. import store
from .rules import Dispute, Fact, Finding, evaluate_parts_and_wholes, evaluate_series

LEASE_TTL_SECONDS = 60.0
LEASE_POLL_SECONDS = 0.2
SERIES_PER_BATCH = 500
T = TypeVar("T")
log = logging.getLogger(__name__)


def new_holder() -> str:
    """A lease holder name that is unique across hosts, processes and runs."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def execute(db: sqlite_utils.Database, run_id: int, *, full: bool,
            wait_seconds: float = 600.0) -> dict:
    """Run `run_id` to the end (succeeded or failed) once it holds the lease; never raises.

    Runs never overlap, whichever process started them: each waits up to `wait_seconds`
    for the one lease, and a run that cannot get it is marked failed, saying why.
    """
    holder = new_holder()
    deadline = time.monotonic() + wait_seconds
    while not store.take_lease(db, holder, run_id, time.time(), LEASE_TTL_SECONDS):
        if time.monotonic() >= deadline:
            store.finish_run(db, run_id, "failed", {},
                             error=f"another run held the lease for over {wait_seconds:g} s")
            return store.get_run(db, run_id)
        time.sleep(LEASE_POLL_SECONDS)
    counts = dict.fromkeys(("series_checked", "figures_checked", "flags_opened",
                            "flags_closed"), 0)
    try:
        _check(db, run_id, holder, full, counts)
        store.finish_run(db, run_id, "succeeded", counts)
    except Exception as error:  # a failed run is recorded, never raised into a scheduler
        log.exception("reconciliation run %s failed", run_id)
        store.finish_run(db, run_id, "failed", counts, error=f"{type(error).__name__}: {error}")
    finally:
        store.release_lease(db, holder)
    return store.get_run(db, run_id)


def _check(db: sqlite_utils.Database, run_id: int, holder: str, full: bool,
           counts: dict[str, int]) -> None:
    dirty = store.dirty_series(db)
    keys = store.all_series_keys(db) if full else list(dirty)
    # A family's series side by side, its whole-conflict series first, so a batch usually
    # holds a whole and its parts together.
    keys.sort(key=lambda key: (store.family_of_series(key), key))
    for batch in _batches(keys, SERIES_PER_BATCH):
        findings, figures = _evaluate(db, batch)
        counts["series_checked"] += len(batch)
        counts["figures_checked"] += figures
        counts["flags_opened"] += store.save_findings(db, run_id, holder, LEASE_TTL_SECONDS,
                                                      findings)
    counts["flags_closed"] = store.close_unseen_flags(
        db, run_id, holder, LEASE_TTL_SECONDS, None if full else keys, dirty)


Owned = tuple[str, str | None, Finding]
"""A finding with the series that own it: its own, and for part_exceeds_whole the whole's."""


def _evaluate(db: sqlite_utils.Database, keys: Sequence[str]) -> tuple[list[Owned], int]:
    """Every finding that involves a figure of these series, and how many figures it read.

    Series rules need each series whole. part_exceeds_whole needs, for a changed part
    series, its family's whole-conflict figures; for a changed whole series, only the parts
    whose low exceeds the smallest high among the wholes, which an index finds at once,
    so a run never reads a whole family for one new figure.
    """
    series_of: dict[int, str] = {}
    with store.read_snapshot(db):
        facts = _facts(store.series_facts(db, keys), series_of)
        disputes = [Dispute(*row) for row in store.series_disputes(db, keys)]
        comparisons = [_parts_and_wholes(db, family, members, facts, series_of)
                       for family, members in _group(keys, store.family_of_series).items()]
    owned: list[Owned] = []
    for key, members in _group(facts, lambda fact: series_of[fact.id]).items():
        owned += [(key, None, finding) for finding in evaluate_series(members, disputes)]
    for pair_facts in comparisons:
        for finding in evaluate_parts_and_wholes(pair_facts):
            part_id, whole_id = json.loads(finding.key)
            owned.append((series_of[part_id], series_of[whole_id], finding))
    return owned, len(series_of)


def _parts_and_wholes(db: sqlite_utils.Database, family: str, keys: Sequence[str],
                      facts: Sequence[Fact], series_of: dict[int, str]) -> list[Fact]:
    """The figures of one family that part_exceeds_whole must compare for these series."""
    whole_key = store.whole_series_of_family(family)
    changed = set(keys)
    if whole_key in changed:
        wholes = [fact for fact in facts if series_of[fact.id] == whole_key]
        bounded = [fact.high for fact in wholes if fact.high is not None]
        if not bounded:
            return []
        return wholes + _facts(store.part_candidates(db, family, min(bounded)), series_of)
    wholes = _facts(store.series_facts(db, [whole_key]), series_of)
    parts = [fact for fact in facts if series_of[fact.id] in changed]
    return wholes + parts if wholes and parts else []


def _facts(rows: Sequence[tuple], series_of: dict[int, str]) -> list[Fact]:
    """Facts from store rows (the series key last), noting each figure's series."""
    facts = []
    for *fields, key in rows:
        fact = Fact(*fields)
        series_of[fact.id] = key
        facts.append(fact)
    return facts


def _group(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return groups


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
