"""Figures (API §4): create, batch, list, read, correct, history, retract, dispute."""

from __future__ import annotations

from typing import Any

from flask import Response, url_for
from flask.views import MethodView
from marshmallow import ValidationError

from .. import store
from ..db import get_db
from ..schemas import (
    DisputeIn,
    DisputeOut,
    FigureBatchIn,
    FigureIn,
    FigureOut,
    FigurePatch,
    FigureQuery,
    FigureVersionOut,
    IdsOut,
    PageQuery,
    RetractIn,
    complete_figure,
    figure_rule_errors,
    page_of,
)
from . import IDEMPOTENCY_PARAMETER, PREFIX, Blueprint, answer_with_ids, idempotency, paginate

blp = Blueprint("figures", __name__, url_prefix=f"{PREFIX}/figures",
                description="Casualty figures: one number one source gave on one date.")
FIGURE_EXAMPLE = {
    "conflict": "nagorno-karabakh-2020", "source": "Azerbaijani officials",
    "category": "civilian", "side": "Azerbaijan", "count": 22, "reported_on": "2020-10-04",
    "quote": "Azerbaijani officials say 22 civilians have been killed",
}


@blp.route("")
class Figures(MethodView):
    @blp.arguments(FigureQuery, location="query")
    @blp.response(200, page_of(FigureOut))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List figures, filtered, ordered by id, a page at a time."""
        return paginate(lambda after, limit: store.list_figures(
            get_db(), query, after_id=after, limit=limit), query)

    @blp.arguments(FigureIn, example=FIGURE_EXAMPLE)
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.response(201, FigureOut, headers={"Location": {"schema": {"type": "string"}}})
    def post(self, figure: dict[str, Any]) -> Response:
        """Record one figure."""
        def respond(db: Any, ids: list[int]) -> tuple[int, dict, str]:
            stored = FigureOut().dump(store.get_figure(db, ids[0]))
            return 201, stored, url_for("figures.Figure", figure_id=ids[0])
        return idempotency.create_figures([complete_figure(figure)], respond)


@blp.route("/batch")
class FigureBatch(MethodView):
    @blp.arguments(FigureBatchIn, example={"figures": [
        FIGURE_EXAMPLE, {**FIGURE_EXAMPLE, "source": "Armenian Defence Ministry",
                         "side": "Armenia", "count": 30, "qualifier": "about",
                         "quote": None}]})
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.response(201, IdsOut)
    def post(self, batch: dict[str, Any]) -> Response:
        """Record up to 10,000 figures at once: all are stored, or none."""
        figures = [complete_figure(figure) for figure in batch["figures"]]
        return idempotency.create_figures(figures, answer_with_ids)


@blp.route("/<int:figure_id>")
class Figure(MethodView):
    @blp.response(200, FigureOut)
    def get(self, figure_id: int) -> dict:
        return store.get_figure(get_db(), figure_id)

    @blp.arguments(FigurePatch)
    @blp.response(200, FigureOut)
    def patch(self, changes: dict[str, Any], figure_id: int) -> dict:
        """Correct a figure: its version rises by one and the old version is kept."""
        return store.correct_figure(get_db(), figure_id, changes, check=_check_merged)


def _check_merged(figure: dict[str, Any]) -> None:
    errors = figure_rule_errors(figure)
    if errors:
        raise ValidationError(errors)


@blp.route("/<int:figure_id>/history")
class FigureHistory(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, page_of(FigureVersionOut))
    def get(self, query: dict[str, Any], figure_id: int) -> dict[str, Any]:
        """Every version of the figure, oldest first."""
        def fetch(after: int, limit: int) -> list[dict]:
            return [v for v in store.figure_history(get_db(), figure_id)
                    if v["version"] > after][:limit]
        return paginate(fetch, query, key="version")


@blp.route("/<int:figure_id>/retract")
class FigureRetraction(MethodView):
    @blp.arguments(RetractIn)
    @blp.response(200, FigureOut)
    def post(self, body: dict[str, Any], figure_id: int) -> dict:
        """Retract a figure, with the reason; figures are never deleted."""
        return store.retract_figure(get_db(), figure_id, body["reason"])


@blp.route("/<int:figure_id>/disputes")
class FigureDisputes(MethodView):
    @blp.arguments(PageQuery, location="query")
    @blp.response(200, page_of(DisputeOut))
    def get(self, query: dict[str, Any], figure_id: int) -> dict[str, Any]:
        return paginate(lambda after, limit: store.list_disputes(
            get_db(), figure_id, after_id=after, limit=limit), query)

    @blp.arguments(DisputeIn)
    @blp.response(201, DisputeOut)
    def post(self, dispute: dict[str, Any], figure_id: int) -> dict:
        """Record that another source denies or contests the figure."""
        return store.add_dispute(get_db(), figure_id, dispute)
