"""CSV exports (API §7): figures, flags and the report, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, stream_with_context
from flask.views import MethodView

from .. import csvexport
from ..schemas import FigureExportQuery, FlagExportQuery, ReportExportQuery
from . import PREFIX, Blueprint

blp = Blueprint("exports", __name__, url_prefix=f"{PREFIX}/exports",
                description="CSV for pandas, R and spreadsheets (RFC 4180, UTF-8, "
                            "formula-injection safe, optional HXL row).")
CSV_RESPONSE = {"200": {"description": "CSV, streamed",
                        "content": {"text/csv": {"schema": {"type": "string"}}}}}


def csv_response(chunks: Iterator[str], name: str, bom: bool = False) -> Response:
    """A streamed text/csv answer; `bom` starts it with a UTF-8 byte-order mark (§7)."""
    body = (chunk.encode("utf-8") for chunk in csvexport.with_bom(chunks, bom))
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _db_path() -> Any:
    return current_app.config["SETTINGS"].db_path


@blp.route("/figures.csv")
class FiguresCsv(MethodView):
    @blp.arguments(FigureExportQuery, location="query")
    @blp.doc(responses=CSV_RESPONSE)
    def get(self, query: dict[str, Any]) -> Response:
        """Every figure matching the GET /figures filters, one row each."""
        hxl, bom = query.pop("hxl"), query.pop("bom")
        return csv_response(csvexport.figures_csv(_db_path(), query, hxl),
                            csvexport.filename("figures", query.get("conflict")), bom)


@blp.route("/flags.csv")
class FlagsCsv(MethodView):
    @blp.arguments(FlagExportQuery, location="query")
    @blp.doc(responses=CSV_RESPONSE)
    def get(self, query: dict[str, Any]) -> Response:
        hxl, bom = query.pop("hxl"), query.pop("bom")
        return csv_response(csvexport.flags_csv(_db_path(), query, hxl),
                            csvexport.filename("flags", query.get("conflict")), bom)


@blp.route("/report.csv")
class ReportCsv(MethodView):
    @blp.arguments(ReportExportQuery, location="query")
    @blp.doc(responses=CSV_RESPONSE)
    def get(self, query: dict[str, Any]) -> Response:
        """The reconciliation report, one row a series."""
        return csv_response(csvexport.report_csv(_db_path(), query["conflict"], query["hxl"]),
                            csvexport.filename("report", query["conflict"]), query["bom"])
