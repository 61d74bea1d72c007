"""The serving process: waitress in front of the app, and the reconciliation schedule.

Kept apart from create_app so tests and CLI commands never start a server or a scheduler.
"""

from __future__ import annotations

import logging

import waitress

from . import create_app
from .config import Settings
from .engines import describe
from .reconcile.schedule import start_scheduler


def waitress_body_limit(settings: Settings) -> int:
    """Where waitress stops reading a body and answers its own plain-text 413.

    Well above our limit, so that any body a client could plausibly send by mistake
    reaches the app and gets the problem+json 413 the contract promises; still bounded, so
    a hostile client cannot make the server spool gigabytes.
    """
    return 2 * settings.max_body_bytes + 16 * 1024 * 1024


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger(__name__)
    app = create_app(settings)
    scheduler = start_scheduler(settings.db_path, settings.reconcile_seconds)
    app.extensions["casualty_tracker_scheduler"] = scheduler
    log.info("casualty-tracker serving on http://%s:%s (database %s; reconciliation %s)",
             settings.host, settings.port, describe(settings.db_path),
             f"every {settings.reconcile_seconds} s" if scheduler else "schedule off")
    try:
        waitress.serve(app, host=settings.host, port=settings.port, threads=settings.threads,
                       max_request_body_size=waitress_body_limit(settings),
                       ident="casualty-tracker")
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        app.extensions["casualty_tracker_runs"].shutdown()
