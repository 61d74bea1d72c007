"""GET /health: is the database reachable, is the schedule running, how did the last run go."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView

from .. import store
from ..db import DatabaseUnavailable, SchemaVersionError, get_db
from ..engines import DATABASE_ERRORS, one_line
from ..errors import problem
from ..schemas import HealthOut
from . import PREFIX, Blueprint

blp = Blueprint("health", __name__, url_prefix=PREFIX, description="Service health.")


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self) -> dict | Response:
        """200 while the database answers; 503 (problem+json) when it does not, so a
        monitor or load balancer can take the instance out of service."""
        try:
            db = get_db()
            last_run = store.latest_run(db)
        except (*DATABASE_ERRORS, SchemaVersionError, DatabaseUnavailable) as error:
            return problem(503, "Service Unavailable",
                           f"The database cannot be used: {one_line(error)}",
                           kind="database-unavailable")
        scheduler = current_app.extensions.get("casualty_tracker_scheduler")
        return {
            "status": "ok",
            "database": "ok",
            "scheduler": "running" if scheduler is not None and scheduler.running else "off",
            "last_run": last_run,
        }
