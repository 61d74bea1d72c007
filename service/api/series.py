"""Series over time (issue 13): per series, per source, the points and the daily changes.

The pages' charts draw exactly this document (embedded in the page, so a signed-in reader
needs no API token), and analysts can fetch it as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlite_utils
from flask.views import MethodView

from .. import store
from ..db import get_db
from ..reconcile.series import build_series, decode_series_id, encode_series_id, matches
from ..schemas import SeriesOut, SeriesQuery
from ..store import NotFound
from . import PREFIX, Blueprint

blp = Blueprint("series", __name__, url_prefix=f"{PREFIX}/series",
                description="Each series' figures over time, per source, with daily changes.")

def series_document(db: sqlite_utils.Database, query: Mapping[str, Any]) -> dict[str, Any]:
    """{"conflict", "generated_at", "series": [...]} for a SeriesQuery.

    With `series`, one indexed read of that series; an id that is not a series of this
    conflict raises NotFound. Without it, the conflict's series narrowed by the filters.
    """
    conflict = query["conflict"]
    if query.get("series") is not None:
        key = decode_series_id(query["series"])
        figures = store.series_figures(db, key) if key is not None else []
        figures = [figure for figure in figures if figure["conflict"] == conflict]
        if not figures:
            raise NotFound(f"There is no series {query['series']!r} with active figures "
                           f"in {conflict}.")
    else:
        figures = store.conflict_series_figures(db, conflict)
    figures = [figure for figure in figures if matches(figure, query)]
    flagged = store.open_flagged_figures(db, (figure["id"] for figure in figures))
    return {"conflict": conflict, "generated_at": store.utc_now(),
            "series": build_series(figures, flagged, store.SERIES_FIELDS, encode_series_id)}


@blp.route("")
class Series(MethodView):
    @blp.arguments(SeriesQuery, location="query")
    @blp.response(200, SeriesOut)
    @blp.alt_response(404, response="NOT_FOUND", description="`series` names no series "
                      "with active figures in this conflict")
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Per series (the report's), per source: points and daily changes.

        Retracted figures are left out; `flagged` marks figures an open flag lists.
        """
        return series_document(get_db(), query)
