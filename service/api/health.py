"""GET /health: is the database reachable, is the schedule running, how did the last run go."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from .. import store
from ..db import get_db
from ..schemas import HealthOut
from . import PREFIX, Blueprint

blp = Blueprint("health", __name__, url_prefix=PREFIX, description="Service health.")


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self) -> dict:
        db = get_db()
        scheduler = current_app.extensions.get("casualty_tracker_scheduler")
        return {
            "status": "ok",
            "database": "ok",
            "scheduler": "running" if scheduler is not None and scheduler.running else "off",
            "last_run": store.latest_run(db),
        }
