"""The serving process: waitress in front of the app, and (later) the reconciliation schedule.

Kept apart from create_app so tests and CLI commands never start a server or a scheduler.
"""

from __future__ import annotations

import logging

import waitress

from . import create_app
from .config import Settings


def serve(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    app = create_app(settings)
    logging.getLogger(__name__).info("casualty-tracker serving on http://%s:%s (database %s)",
                                     settings.host, settings.port, settings.db_path)
    waitress.serve(app, host=settings.host, port=settings.port, threads=settings.threads,
                   max_request_body_size=settings.max_body_bytes + 1024 * 1024,
                   ident="casualty-tracker")
