"""One reconciliation run: read the changed families, apply the rules, write the flags.

Every rule of API §6 relates figures of one *family* (rules.family_fields), so a run reads
and evaluates a family (or a few small ones) at a time: its memory is bounded by the largest
family, never by the database.

An incremental run re-checks only the series whose flags can have changed since the last
successful run: the series touched (figures added, corrected, retracted or disputed; sources
re-affiliated), the series owning a flag that lists one of their figures, and the series a
changed figure is related to (its wholes, and for a cumulative toll its source's period
counts: rules.related_series). For those series it computes exactly the flags a full run
would (rules.evaluate_family with ``owners``). `full=True` re-checks everything.

`last_seen_run` is kept as a full run leaves it without touching flags nobody re-checked:
a flag that is not obsolete held after the latest successful run, so the store reports
that run for it (store.FLAG_COLUMNS), and a flag closed by a run is stamped with the last
successful run before it.

Families are read outside any write lock and their flags written a batch per short
transaction, so writers are never held up for the length of a run. A figure changed while
the run reads it is marked dirty again and checked by the next run. A batch whose write
the engine rolls back with "run it again" (a serialization failure or deadlock on
PostgreSQL) is read, evaluated and written again (service/retry.py), so such a failure
does not fail the run unless every try meets it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator, Sequence

import sqlite_utils

from .. import store
from ..retry import retrying
from .rules import Dispute, Fact, Finding, evaluate_family, related_series, series_fields

LEASE_TTL_SECONDS = 60.0
LEASE_POLL_SECONDS = 0.2
FIGURES_PER_BATCH = 2_000
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
    while not retrying(lambda: store.take_lease(db, holder, run_id, time.time(),
                                                LEASE_TTL_SECONDS)):
        if time.monotonic() >= deadline:
            _finish(db, run_id, "failed", {},
                    error=f"another run held the lease for over {wait_seconds:g} s")
            return store.get_run(db, run_id)
        time.sleep(LEASE_POLL_SECONDS)
    counts = dict.fromkeys(("series_checked", "figures_checked", "flags_opened",
                            "flags_closed"), 0)
    try:
        _check(db, run_id, holder, full, counts)
        _finish(db, run_id, "succeeded", counts)
    except Exception as error:  # a failed run is recorded, never raised into a scheduler
        log.exception("reconciliation run %s failed", run_id)
        _finish(db, run_id, "failed", counts, error=f"{type(error).__name__}: {error}")
    finally:
        retrying(lambda: store.release_lease(db, holder))
    return store.get_run(db, run_id)


def _finish(db: sqlite_utils.Database, run_id: int, status: str, counts: dict[str, int],
            error: str | None = None) -> None:
    retrying(lambda: store.finish_run(db, run_id, status, counts, error=error))


def _check(db: sqlite_utils.Database, run_id: int, holder: str, full: bool,
           counts: dict[str, int]) -> None:
    dirty = store.dirty_series(db)
    store.start_seen_flags(db)
    if full:
        checked: set[str] | None = None
        sizes = store.family_sizes(db, None)
    else:
        # Flags listing a changed figure may belong to a series that did not change (a
        # whole whose part was retracted): their owners are checked too.
        checked = set(dirty) | store.flag_owners_listing(db, list(dirty))
        sizes = store.family_sizes(db, sorted({store.family_of_series(key)
                                               for key in checked}))
    for families in _batches(sizes, FIGURES_PER_BATCH):
        # the batch is the unit of work: read, evaluate and write its flags again when the
        # engine asks (service/retry.py); the failed try's write was rolled back whole
        def batch(families: list[str] = families) -> tuple[int, int, int]:
            owned, series, figures = _evaluate(db, families, None if full else set(dirty),
                                               checked)
            return series, figures, store.save_findings(db, run_id, holder,
                                                        LEASE_TTL_SECONDS, owned)
        series, figures, opened = retrying(batch, before_retry=db.conn.rollback)
        counts["series_checked"] += series
        counts["figures_checked"] += figures
        counts["flags_opened"] += opened
    if checked is not None:
        counts["series_checked"] = len(checked)  # an emptied series is re-checked too
    counts["flags_closed"] = retrying(lambda: store.close_unseen_flags(
        db, run_id, holder, LEASE_TTL_SECONDS, None if full else sorted(checked or ()),
        dirty))


def _evaluate(db: sqlite_utils.Database, families: Sequence[str], dirty: set[str] | None,
              checked: set[str] | None) -> tuple[list[tuple[str, Finding]], int, int]:
    """The findings owned by the series to check in these families, each with its owner's
    series key; how many series and figures were checked.

    `dirty` None means a full run: every series is checked. Otherwise the series checked
    are `checked` (changed series and owners of flags listing their figures) and the
    series related to a changed figure; `checked` grows by those, so the run closes
    exactly the flags of the series it re-checked.
    """
    series_of: dict[int, str] = {}
    with store.read_snapshot(db):
        rows = store.family_facts(db, families)
        facts_by_family: dict[str, list[Fact]] = {}
        for *fields, series_key, family_key in rows:
            fact = Fact(*fields)
            series_of[fact.id] = series_key
            facts_by_family.setdefault(family_key, []).append(fact)
        disputes = [Dispute(*row) for row in store.family_disputes(db, families)]
    owned: list[tuple[str, Finding]] = []
    series_count = figure_count = 0
    for facts in facts_by_family.values():
        if dirty is None or checked is None:
            owners = None
            series_count += len({series_of[fact.id] for fact in facts})
            figure_count += len(facts)
        else:
            changed = [fact.id for fact in facts if series_of[fact.id] in dirty]
            related = related_series(facts, changed)
            keys = {series_of[fact.id] for fact in facts if series_fields(fact) in related}
            checked |= keys
            owners = {series_fields(fact) for fact in facts if series_of[fact.id] in checked}
            series_count += len(owners)
            figure_count += sum(1 for fact in facts if series_fields(fact) in owners)
        owned += [(series_of[finding.owner], finding)
                  for finding in evaluate_family(facts, disputes, owners)]
    return owned, series_count, figure_count


def _batches(sizes: Sequence[tuple[str, int]], limit: int) -> Iterator[list[str]]:
    """Families packed into batches of about `limit` figures (a bigger family alone)."""
    batch: list[str] = []
    total = 0
    for family, size in sizes:
        if batch and total + size > limit:
            yield batch
            batch, total = [], 0
        batch.append(family)
        total += size
    if batch:
        yield batch
