"""The "From an article" page (issue 14): paste an article, review its candidate figures
(API §9), tick the right ones, post them as one batch (API §4 POST /figures/batch).

Editors only. The candidates travel from the first request to the second in a hidden form
field as JSON, not in the session; the second request trusts none of it: the ticked figures
go through FigureBatchIn (the batch endpoint's schema) and the ticked disputes through
DisputeIn, and figures and disputes are stored in one transaction, all or nothing.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date
from typing import Any

from flask import Response, flash, g, redirect, render_template, request, session, url_for
from marshmallow import ValidationError, fields, validate

from .. import store
from ..db import get_db
from ..extract import extract
from ..schemas import (
    MAX_BATCH,
    DisputeIn,
    ExtractionIn,
    FigureBatchIn,
    StrictSchema,
    complete_figure,
)
from . import NAV, NavItem, blp, error_page
from .forms import form_errors, load

NAV.append(NavItem("web.extract_article", "From an article"))

#: The hidden field's bound: far above what a 100,000-character article yields, far below
#: the request body limit.
MAX_CANDIDATES_JSON = 4_000_000
FORM_FIELDS = ("text", "conflict", "reported_on", "url")
#: A posted list of candidates is remembered under its key like an Idempotency-Key (24 h),
#: so a double click or a resubmitted form stores nothing twice.
POST_SCOPE = "POST /extract/post"


class CandidateDispute(StrictSchema):
    """A proposed dispute as the page carried it: which candidate it disputes, and the
    dispute itself (checked again by DisputeIn before anything is stored)."""

    figure_index = fields.Integer(required=True, validate=validate.Range(min=0))
    source = fields.Raw(required=True)
    reported_on = fields.Raw(required=True)
    quote = fields.Raw(allow_none=True)


class Candidates(StrictSchema):
    """The hidden field: the extraction's answer, its shapes only (the figures' rules are
    FigureBatchIn's)."""

    figures = fields.List(fields.Dict(), required=True,
                          validate=validate.Length(min=1, max=MAX_BATCH))
    disputes = fields.List(fields.Nested(CandidateDispute), load_default=list)


class PostForm(StrictSchema):
    csrf_token = fields.String()
    key = fields.String(required=True, validate=validate.Regexp(r"[A-Za-z0-9_-]{16,64}\Z"))
    candidates = fields.String(required=True,
                               validate=validate.Length(min=2, max=MAX_CANDIDATES_JSON))
    figure = fields.List(fields.Integer(validate=validate.Range(min=0)), load_default=list)
    dispute = fields.List(fields.Integer(validate=validate.Range(min=0)), load_default=list)


class PostedQuery(StrictSchema):
    figure = fields.List(fields.Integer(validate=validate.Range(min=1)),
                         validate=validate.Length(min=1, max=MAX_BATCH), required=True)
    disputes = fields.Integer(load_default=0, validate=validate.Range(min=0))


def _editor_only() -> Response | None:
    """None for a signed-in editor; otherwise the page's short message, without a form."""
    viewer = g.get("viewer")
    if viewer is not None and viewer.has("editor"):
        return None
    status = 200 if request.method == "GET" else 403
    return Response(render_template("extract.html", allowed=False, signed_in=viewer is not None,
                                    values={}, message=None), status=status)


@blp.route("/extract", methods=["GET", "POST"])
def extract_article() -> Any:
    """GET: the form. POST: the article's candidate figures, to tick and post."""
    refused = _editor_only()
    if refused is not None:
        return refused
    if request.method == "GET":
        return render_template("extract.html", allowed=True, values={}, message=None)
    values = {name: request.form.get(name, "") for name in FORM_FIELDS}
    try:
        article = load(ExtractionIn(), {name: value for name, value in request.form.items()
                                        if name != "csrf_token"})
    except ValidationError as error:
        return render_template("extract.html", allowed=True, values=values,
                               message=form_errors(error)), 400
    found = extract(article["text"], article["conflict"],
                    date.fromisoformat(article["reported_on"]), article.get("url"))
    return render_template("extract.html", allowed=True, values=values, message=None,
                           **_review(found, ticked=None, ticked_disputes=None))


def _review(found: dict[str, Any], ticked: set[int] | None,
            ticked_disputes: set[int] | None) -> dict[str, Any]:
    """What the candidates table needs: each figure with its disputes under it (with their
    index in `disputes`), what is ticked (None: everything), and the hidden JSON."""
    under: dict[int, list[tuple[int, dict]]] = {}
    for number, dispute in enumerate(found["disputes"]):
        under.setdefault(dispute["figure_index"], []).append((number, dispute))
    return {"candidates": found["figures"], "disputes_of": under,
            "ticked": ticked, "ticked_disputes": ticked_disputes,
            "candidates_json": json.dumps(found, ensure_ascii=False, separators=(",", ":")),
            "post_key": secrets.token_urlsafe(24)}


@blp.post("/extract/post")
def post_extracted() -> Any:
    """Store the ticked candidates through the batch path, and their ticked disputes.

    The hidden JSON is re-validated: unreadable or reshaped candidates are a 400 page;
    a ticked figure the batch schema refuses shows the table again with the errors, by
    row. Nothing is stored unless every ticked figure and dispute is valid.
    """
    refused = _editor_only()
    if refused is not None:
        return refused
    form = {name: (request.form.getlist(name) if name in ("figure", "dispute")
                   else request.form.get(name)) for name in request.form}
    try:
        posted = PostForm().load(form)
        found = Candidates().load(json.loads(posted["candidates"]))
    except (ValidationError, ValueError, TypeError) as error:
        detail = form_errors(error) if isinstance(error, ValidationError) else str(error)
        return error_page(400, "The candidates could not be read",
                          "Nothing was stored: the page's list of candidates was changed "
                          f"or cut short ({detail[:300]}). Extract the article again.")
    figures, disputes = found["figures"], found["disputes"]
    chosen = sorted(set(posted["figure"]))
    chosen_disputes = sorted(set(posted["dispute"]))
    bad_index = [i for i in chosen if i >= len(figures)] + [
        i for i in chosen_disputes if i >= len(disputes)] + [
        d["figure_index"] for d in disputes if d["figure_index"] >= len(figures)]
    if bad_index:
        return error_page(400, "The candidates could not be read",
                          "Nothing was stored: a ticked box or a dispute points at no "
                          "candidate. Extract the article again.")

    def again(message: str) -> tuple[str, int]:
        return render_template("extract.html", allowed=True, values={}, message=message,
                               **_review(found, set(chosen), set(chosen_disputes))), 400

    if not chosen:
        return again("Tick at least one figure to post.")
    try:
        batch = FigureBatchIn().load({"figures": [figures[i] for i in chosen]})
    except ValidationError as error:
        return again(_row_errors(error, chosen))
    new_disputes: list[tuple[int, dict]] = []  # (position among the posted figures, body)
    position = {index: n for n, index in enumerate(chosen)}
    try:
        for number in chosen_disputes:
            dispute = disputes[number]
            if dispute["figure_index"] not in position:
                continue  # its figure is not posted: nothing to dispute
            body = {name: dispute[name] for name in ("source", "reported_on", "quote")
                    if dispute.get(name) is not None}
            new_disputes.append((position[dispute["figure_index"]], DisputeIn().load(body)))
    except ValidationError as error:
        return again(f"Dispute by row {dispute['figure_index'] + 1}: {form_errors(error)}")

    db = get_db()
    owner, key = session["token_hash"], posted["key"]
    digest = hashlib.sha256(json.dumps(
        [posted["candidates"], chosen, chosen_disputes]).encode()).hexdigest()
    earlier = store.idempotent_response(db, owner, key, POST_SCOPE)
    if earlier is not None:
        return _posted_before(earlier, digest)
    location: list[str] = []

    def record_disputes(ids: list[int]) -> None:
        for n, body in new_disputes:
            store.insert_dispute(db, ids[n], body)
        location.append(url_for("web.extract_posted", figure=ids, disputes=len(new_disputes)))
        store.remember_response(db, owner, key, POST_SCOPE, digest, 302, "", location[0])

    try:
        store.insert_figures(db, [complete_figure(f) for f in batch["figures"]],
                             then=record_disputes)
    except store.Invalid as error:
        return again(f"Nothing was stored. A dispute: {error.field}: {error}")
    except store.KeyAlreadyUsed:  # the same form, sent twice at once: the other one stored
        earlier = store.idempotent_response(db, owner, key, POST_SCOPE)
        if earlier is None:
            raise
        return _posted_before(earlier, digest)
    return redirect(location[0])


def _posted_before(earlier: dict[str, Any], digest: str) -> Response:
    """This list of candidates was posted already: nothing is stored twice."""
    if earlier["request_hash"] != digest:
        return error_page(409, "These candidates were posted already",
                          "Nothing more was stored: this list was posted before with other "
                          "boxes ticked. Extract the article again to post more of it.")
    flash("These figures were posted already; nothing was stored twice.", "ok")
    return redirect(earlier["location"])


def _row_errors(error: ValidationError, chosen: list[int]) -> str:
    """The batch schema's errors, named by the table's row number rather than batch index."""
    messages = error.normalized_messages().get("figures", error.normalized_messages())
    if not isinstance(messages, dict):
        return f"Nothing was stored. {form_errors(error)}"
    parts = []
    for index, problems in messages.items():
        row = chosen[index] + 1 if isinstance(index, int) and index < len(chosen) else index
        if isinstance(problems, dict):
            text = " ".join(f"{field}: {'; '.join(map(str, p)) if isinstance(p, list) else p}"
                            for field, p in problems.items())
        else:
            text = str(problems)
        parts.append(f"Row {row}: {text}")
    return "Nothing was stored. " + " ".join(parts)


@blp.get("/extract/posted")
def extract_posted() -> Any:
    """The figures just posted, each linked to its page."""
    try:
        query = PostedQuery().load({"figure": request.args.getlist("figure"),
                                    **{k: v for k, v in request.args.items() if k != "figure"}})
    except ValidationError as error:
        return error_page(400, "This page cannot show that", form_errors(error))
    figures = store.get_figures(get_db(), query["figure"])
    return render_template("extract_posted.html", ids=query["figure"], figures=figures,
                           disputes=query["disputes"])
