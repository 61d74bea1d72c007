"""Flags (API §6): what reconciliation found, and people's judgement on it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from .. import store
from ..db import get_db
from ..schemas import FlagOut, FlagPatch, FlagQuery, page_of
from . import PREFIX, Blueprint, paginate

blp = Blueprint("flags", __name__, url_prefix=f"{PREFIX}/flags",
                description="Flags raised by reconciliation runs.")


@blp.route("")
class Flags(MethodView):
    @blp.arguments(FlagQuery, location="query")
    @blp.response(200, page_of(FlagOut))
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        return paginate(lambda after, limit: store.list_flags(
            get_db(), query, after_id=after, limit=limit), query)


@blp.route("/<int:flag_id>")
class Flag(MethodView):
    @blp.response(200, FlagOut)
    def get(self, flag_id: int) -> dict:
        return store.get_flag(get_db(), flag_id)

    @blp.arguments(FlagPatch)
    @blp.response(200, FlagOut)
    def patch(self, changes: dict[str, Any], flag_id: int) -> dict:
        """Acknowledge or resolve a flag, with a note; a later run keeps that status."""
        return store.update_flag(get_db(), flag_id, changes)
