"""Reconciliation runs and the report (API §6)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask.views import MethodView

from .. import store
from ..db import get_db
from ..reconcile.report import build_report
from ..schemas import ReportOut, ReportQuery, RunIn, RunOut, RunQuery, page_of
from . import PREFIX, Blueprint, paginate

blp = Blueprint("reconciliation", __name__, url_prefix=f"{PREFIX}/reconciliation",
                description="Reconciliation runs, which flag contradicting figures, and "
                            "the report.")


@blp.route("/runs")
class Runs(MethodView):
    @blp.arguments(RunQuery, location="query")
    @blp.response(200, page_of(RunOut))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        return paginate(lambda after, limit: store.list_runs(
            get_db(), after_id=after, limit=limit, status=query.get("status")), query)

    @blp.arguments(RunIn, required=False)
    @blp.response(202, RunOut, headers={"Location": {"schema": {"type": "string"}}})
    def post(self, body: dict[str, Any]) -> tuple[dict, dict]:
        """Start a run now, outside the request; poll its Location for the outcome."""
        full = body.get("full", False) if request.content_length else False
        queued = current_app.extensions["casualty_tracker_runs"].launch("api", full)
        return queued, {"Location": url_for("reconciliation.Run", run_id=queued["id"])}


@blp.route("/runs/<int:run_id>")
class Run(MethodView):
    @blp.response(200, RunOut)
    def get(self, run_id: int) -> dict:
        return store.get_run(get_db(), run_id)


@blp.route("/report")
class Report(MethodView):
    @blp.arguments(ReportQuery, location="query")
    @blp.response(200, ReportOut)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Per series: bounds, best estimates, sources, open flags and a grade; without
        `conflict`, every conflict's series (each names its own conflict)."""
        db = get_db()
        conflict = query.get("conflict")
        return {
            "conflict": conflict,
            "generated_at": store.utc_now(),
            "last_run": store.latest_run(db),
            "series": [entry for each in store.report_conflicts(db, conflict)
                       for entry in build_report(store.report_figures(db, each),
                                                 store.flag_marks(db, each))],
        }
