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

A series whose only changes are new figures (store.dirty_marks; the common case, a day of
news) is not re-checked whole: its new figures are merged into the flags
(rules.evaluate_additions; store.save_findings merges each partial disagreement or
decrease finding with its stored flag through rules.merge_pairs), and of the flags not
merged only the keys re-checked one by one can close. The cost follows the new figures,
not their series. A series that gained too many figures at once (MERGE_SHARE,
MERGE_PAIRS) is re-checked whole like any other change.

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
from collections.abc import Collection, Iterator, Sequence

import sqlite_utils

from .. import store
from ..retry import retrying
from .rules import (
    Dispute,
    Fact,
    Finding,
    StoredPairs,
    evaluate_additions,
    evaluate_family,
    merge_pairs,
    ordered_findings,
    related_series,
    series_fields,
)

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


MERGED_RULES = ("disagreement", "decrease")
MERGE_SHARE = 4
MERGE_PAIRS = 2_000
"""New figures are merged into their series' flags when they are at most 1/MERGE_SHARE of
the series, or when new × series is at most MERGE_PAIRS; otherwise the series is re-checked
whole: merging costs O(new × series) comparisons, a whole check O(series · log series)
with larger constants (a bulk import gains whole series at once)."""


def _finish(db: sqlite_utils.Database, run_id: int, status: str, counts: dict[str, int],
            error: str | None = None) -> None:
    retrying(lambda: store.finish_run(db, run_id, status, counts, error=error))


def _check(db: sqlite_utils.Database, run_id: int, holder: str, full: bool,
           counts: dict[str, int]) -> None:
    dirty, additions_only = store.dirty_marks(db)
    store.start_seen_flags(db)
    rechecked: set[tuple[str, str]] = set()
    merged: set[str] = set()
    changed: list[str] = []
    if full:
        checked: set[str] | None = None
        sizes = store.family_sizes(db, None)
    else:
        # Flags listing a changed figure may belong to a series that did not change (a
        # whole whose part was retracted): their owners are checked too. A series that
        # only gained figures changes no flag through its old figures.
        changed = [key for key in dirty if key not in additions_only]
        checked = set(changed) | store.flag_owners_listing(db, changed)
        sizes = store.family_sizes(db, sorted({store.family_of_series(key)
                                               for key in checked | additions_only}))
    for families in _batches(sizes, FIGURES_PER_BATCH):
        # the batch is the unit of work: read, evaluate and write its flags again when the
        # engine asks (service/retry.py); the failed try's write was rolled back whole, and
        # the run's sets are put back as they were before the batch
        before = (set(rechecked), set(merged), None if checked is None else set(checked))

        def batch(families: list[str] = families) -> tuple[int, int, int]:
            additions = None
            if checked is not None:
                additions = _Additions(additions_only, rechecked, merged)
            owned, series, figures = _evaluate(db, families, None if full else set(changed),
                                               checked, additions)
            return series, figures, store.save_findings(
                db, run_id, holder, LEASE_TTL_SECONDS, owned,
                *((additions.partial, additions.merge) if additions else ()))

        def again(before: tuple = before) -> None:
            db.conn.rollback()
            for current, saved in zip((rechecked, merged, checked), before, strict=True):
                if current is not None:
                    current.clear()
                    current.update(saved)

        series, figures, opened = retrying(batch, before_retry=again)
        counts["series_checked"] += series
        counts["figures_checked"] += figures
        counts["flags_opened"] += opened
    if checked is not None:
        # an emptied series is re-checked too
        counts["series_checked"] = len(checked | merged)
    counts["flags_closed"] = retrying(lambda: store.close_unseen_flags(
        db, run_id, holder, LEASE_TTL_SECONDS, None if full else sorted(checked or ()),
        dirty, rechecked))


class _Additions:
    """The series that only gained figures since the last run (`series`), for one batch of
    an incremental run. The run adds to `rechecked` the flag keys it re-checked one by one,
    to `merged` the series it merged new figures into, to `partial` the keys of the
    findings that save_findings merges with their stored flags (`merge`), and to `facts`
    the batch's facts by id, which `merge` reads."""

    def __init__(self, series: Collection[str], rechecked: set[tuple[str, str]],
                 merged: set[str]) -> None:
        self.series, self.rechecked, self.merged = series, rechecked, merged
        self.partial: set[tuple[str, str]] = set()
        self.facts: dict[int, Fact] = {}

    @staticmethod
    def mergeable(members: Sequence[Fact], new: int) -> bool:
        """Whether a series (its active figures `members`, `new` of them added) has few
        enough new figures for merging them to pay."""
        return bool(new) and (new * MERGE_SHARE <= len(members)
                              or new * len(members) <= MERGE_PAIRS)

    def merge(self, finding: Finding, stored: StoredPairs | None) -> Finding:
        """A partial finding merged with its flag as stored (rules.merge_pairs)."""
        return merge_pairs(finding, stored, self.facts)


def _evaluate(db: sqlite_utils.Database, families: Sequence[str], dirty: set[str] | None,
              checked: set[str] | None, additions: _Additions | None = None,
              ) -> tuple[list[tuple[str, Finding]], int, int]:
    """The findings owned by the series to check in these families, each with its owner's
    series key; how many series and figures were checked.

    `dirty` None means a full run: every series is checked. Otherwise the series checked
    are `checked` (changed series and owners of flags listing their figures) and the
    series related to a changed figure; `checked` grows by those, so the run closes
    exactly the flags of the series it re-checked. The series in `additions` that only
    gained figures have them merged into their flags (rules.evaluate_additions) unless
    they cannot be (see _Additions.mergeable): then they count as changed.
    """
    series_of: dict[int, str] = {}
    added: set[int] = set()
    with store.read_snapshot(db):
        rows = store.family_facts(db, families)
        facts_by_family: dict[str, list[Fact]] = {}
        for *fields, series_key, family_key, is_added in rows:
            fact = Fact(*fields)
            series_of[fact.id] = series_key
            if is_added:
                added.add(fact.id)
            facts_by_family.setdefault(family_key, []).append(fact)
            if additions is not None:
                additions.facts[fact.id] = fact
        disputes = [Dispute(*row) for row in store.family_disputes(db, families)]
    owned: list[tuple[str, Finding]] = []
    series_count = figure_count = 0
    for facts in facts_by_family.values():
        if dirty is None or checked is None or additions is None:
            series_count += len({series_of[fact.id] for fact in facts})
            figure_count += len(facts)
            owned += [(series_of[finding.owner], finding)
                      for finding in evaluate_family(facts, disputes, None)]
            continue
        by_series: dict[str, list[Fact]] = {}
        for fact in facts:
            by_series.setdefault(series_of[fact.id], []).append(fact)
        new_of = {key: [fact.id for fact in by_series[key] if fact.id in added]
                  for key in by_series if key in additions.series}
        whole = {key for key, new in new_of.items()
                 if not additions.mergeable(by_series[key], len(new))}
        changed = [fact.id for key in dirty | whole if key in by_series
                   for fact in by_series[key]]
        related = related_series(facts, changed)
        checked |= whole | {series_of[fact.id] for fact in facts
                            if series_fields(fact) in related}
        owners = {series_fields(members[0]) for key, members in by_series.items()
                  if key in checked}
        merging = [key for key in new_of if key not in whole]
        findings: list[Finding] = []
        if owners:
            findings += evaluate_family(facts, disputes, owners)
            series_count += len(owners)
            figure_count += sum(len(by_series[key]) for key in by_series if key in checked)
        if merging:
            merged, rechecked = evaluate_additions(
                facts, [figure_id for key in merging for figure_id in new_of[key]],
                lambda fact, whole_checked=owners: fact.series not in whole_checked)
            findings += merged
            additions.partial.update((finding.rule, finding.key) for finding in merged
                                     if finding.rule in MERGED_RULES)
            additions.rechecked |= rechecked
            fresh = [key for key in merging if key not in checked]
            additions.merged.update(fresh)
            series_count += len(fresh)
            figure_count += sum(len(by_series[key]) for key in fresh)
        owned += [(series_of[finding.owner], finding) for finding in ordered_findings(findings)]
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
