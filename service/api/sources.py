"""Sources (API §5): who gave a number, what kind of body it is, whose side it speaks for."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from .. import store
from ..db import get_db
from ..schemas import SourceOut, SourcePatch, SourceQuery, page_of
from . import PREFIX, Blueprint, paginate

blp = Blueprint("sources", __name__, url_prefix=f"{PREFIX}/sources",
                description="Sources, created on first use by name.")


@blp.route("")
class Sources(MethodView):
    @blp.arguments(SourceQuery, location="query")
    @blp.response(200, page_of(SourceOut))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        return paginate(lambda after, limit: store.list_sources(
            get_db(), after_id=after, limit=limit, name=query.get("name"),
            kind=query.get("kind")), query)


@blp.route("/<int:source_id>")
class Source(MethodView):
    @blp.response(200, SourceOut)
    def get(self, source_id: int) -> dict:
        return store.get_source(get_db(), source_id)

    @blp.arguments(SourcePatch)
    @blp.response(200, SourceOut)
    def patch(self, changes: dict[str, Any], source_id: int) -> dict:
        """Set a source's kind and the side it speaks for (null = independent)."""
        return store.update_source(get_db(), source_id, changes)
