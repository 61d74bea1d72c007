"""POST /imports (API §7): figures from CSV in the figures-export columns, all or nothing."""

from __future__ import annotations

import io
from typing import Any

from flask import Response, request
from flask.views import MethodView
from werkzeug.exceptions import BadRequest

from ..csvimport import parse_import, store_import
from ..schemas import IdsOut, ImportQuery
from . import IDEMPOTENCY_PARAMETER, PREFIX, Blueprint, answer_with_ids, idempotency

blp = Blueprint("imports", __name__, url_prefix=PREFIX,
                description="Bulk import of figures from CSV.")


@blp.route("/imports")
class Imports(MethodView):
    @blp.arguments(ImportQuery, location="query")
    @blp.doc(requestBody={"required": True, "content": {"text/csv": {
        "schema": {"type": "string", "description": "CSV with the figures-export columns; "
                                                    "server-managed columns are ignored."},
        "example": "conflict,source,category,side,count,reported_on\r\n"
                   "nagorno-karabakh-2020,Azerbaijani officials,civilian,Azerbaijan,22,"
                   "2020-10-04\r\n"}}})
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.response(201, IdsOut)
    def post(self, query: dict[str, Any]) -> Response:
        """Import figures from CSV: every row is stored, or none (422 names row and field).

        With update=1 a row whose id names a stored figure corrects it (a new version, as
        PATCH would; a row that changes nothing makes none), and status "retracted" with a
        retraction_reason retracts it; a row without id creates a figure. The answer's ids
        are every row's figure, in row order.
        """
        try:
            text = request.get_data().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise BadRequest("The CSV body is not UTF-8.") from None
        parsed = parse_import(io.StringIO(text, newline=""), query.get("conflict"),
                              update=query["update"])
        return idempotency.write_figures(
            lambda db, then: store_import(db, parsed, then=then), answer_with_ids)
