"""Extraction (API §9): candidate figures and disputes read from an article, storing nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.views import MethodView

from ..extract import extract
from ..schemas import ExtractionIn, ExtractionOut
from . import PREFIX, Blueprint

blp = Blueprint("extractions", __name__, url_prefix=f"{PREFIX}/extractions",
                description="Candidate figures read from an article's text, for a recorder "
                            "to review and post through POST /figures/batch.")
EXAMPLE = {"text": "Azerbaijani officials say 22 civilians have been killed and 74 injured.",
           "conflict": "nagorno-karabakh-2020", "reported_on": "2020-10-04"}


@blp.route("")
class Extractions(MethodView):
    @blp.arguments(ExtractionIn, example=EXAMPLE)
    @blp.response(200, ExtractionOut)
    def post(self, article: dict[str, Any]) -> dict[str, Any]:
        """Propose the figures and disputes in an article (editor). Nothing is stored: each
        figure is a POST /figures body; each dispute points into `figures`."""
        return extract(article["text"], article["conflict"],
                       date.fromisoformat(article["reported_on"]), article.get("url"))
