"""Starting runs outside the request, and the in-process schedule.

APScheduler cannot coordinate processes, so it only decides *when* this process tries a
run; the lease in the database (see run.execute) decides that only one run executes at a
time across every process serving the same database.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler

from .. import db, store
from ..memory import release_free_memory
from ..retry import retrying
from . import run

log = logging.getLogger(__name__)


class RunLauncher:
    """Queues runs for one worker thread of this process, created on first use."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def launch(self, trigger: str, full: bool = False) -> dict:
        """Record a queued run and start it at once in the background; return the record."""
        connection = db.connect(self.db_path)
        try:
            queued = store.create_run(connection, trigger, full)
        finally:
            connection.close()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="reconcile")
            self._executor.submit(run_in_new_connection, self.db_path, queued["id"], full)
        return queued

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


def run_in_new_connection(db_path: Path, run_id: int, full: bool) -> dict:
    """Execute a queued run on its own connection (a worker thread has no request)."""
    connection = db.connect(db_path)
    try:
        return run.execute(connection, run_id, full=full)
    finally:
        connection.close()
        release_free_memory()  # a run's peak need not stay the server's size


def scheduled_run(db_path: Path) -> None:
    """The schedule's job: one incremental run, recorded like any other."""
    connection = db.connect(db_path)
    try:
        queued = retrying(lambda: store.create_run(connection, "schedule", full=False))
        finished = run.execute(connection, queued["id"], full=False)
        log.info("scheduled reconciliation run %s %s: %s flags opened, %s closed",
                 finished["id"], finished["status"], finished["flags_opened"],
                 finished["flags_closed"])
    finally:
        connection.close()


def start_scheduler(db_path: Path, seconds: int) -> BackgroundScheduler | None:
    """Start the schedule (None when `seconds` is 0, the setting that turns it off)."""
    if seconds <= 0:
        return None
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(scheduled_run, "interval", seconds=seconds, args=[db_path],
                      id="reconcile", coalesce=True, max_instances=1,
                      misfire_grace_time=seconds)
    scheduler.start()
    return scheduler
