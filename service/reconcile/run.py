"""One reconciliation run: read the changed families, apply the rules, write the flags.

A run re-examines only the families touched since the last successful run (figures added,
corrected, retracted or disputed; sources re-affiliated), so its cost follows the change,
not the size of the database; `full=True` re-checks everything. Families are read outside
any write lock and their flags written a batch per short transaction, so writers are never
held up for the length of a run. A figure changed while the run reads it is marked dirty
again and checked by the next run.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence

import sqlite_utils

from .. import store
from .rules import Dispute, Fact, Finding, evaluate_family

LEASE_TTL_SECONDS = 60.0
LEASE_POLL_SECONDS = 0.2
FAMILIES_PER_BATCH = 200
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
    counts = dict.fromkeys(("families_checked", "figures_checked", "flags_opened",
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
    dirty = store.dirty_families(db)
    families = store.all_family_keys(db) if full else sorted(dirty)
    for batch in _batches(families, FAMILIES_PER_BATCH):
        findings, figures = _evaluate(db, batch)
        counts["families_checked"] += len(batch)
        counts["figures_checked"] += figures
        counts["flags_opened"] += store.save_findings(db, run_id, holder, LEASE_TTL_SECONDS,
                                                      findings)
    counts["flags_closed"] = store.close_unseen_flags(
        db, run_id, holder, LEASE_TTL_SECONDS, None if full else families, dirty)


def _evaluate(db: sqlite_utils.Database, families: Sequence[str]
              ) -> tuple[list[tuple[str, Finding]], int]:
    """(family_key, finding) for every finding in these families, and the figures read."""
    rows, dispute_rows = store.family_facts(db, families)
    facts_by_family: dict[str, list[Fact]] = defaultdict(list)
    family_of_figure: dict[int, str] = {}
    for *fields, family in rows:
        fact = Fact(*fields)
        facts_by_family[family].append(fact)
        family_of_figure[fact.id] = family
    disputes_by_family: dict[str, list[Dispute]] = defaultdict(list)
    for figure_id, source, reported_on in dispute_rows:
        disputes_by_family[family_of_figure[figure_id]].append(
            Dispute(figure_id, source, reported_on))
    findings = [(family, finding)
                for family, facts in facts_by_family.items()
                for finding in evaluate_family(facts, disputes_by_family[family])]
    return findings, len(rows)


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
