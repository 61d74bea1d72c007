"""The pages' routes: conflicts, one conflict's report and chart, flags, a figure, sign-in.

Each view reads through the same store functions and pure cores as the JSON API, so a
page never shows a number the API would not give.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from marshmallow import ValidationError

from .. import auth, store
from ..api.series import series_document
from ..db import get_db
from ..reconcile.report import build_report
from ..reconcile.series import encode_series_id
from ..store import Conflict, NotFound
from . import NAV, blp, csrf, error_page
from .forms import (
    ConflictPageQuery,
    FlagsPageQuery,
    SignInForm,
    SignOutForm,
    TriageForm,
    form_errors,
    load,
)
from .table import PAGE_SIZE, SORT_COLUMNS, choices, filter_rows, page_of, sort_rows
from .viewer import Viewer, current_viewer

SEVERITIES = ("high", "medium", "low")
CARDS_PER_FLAG = 12  # a flag can list hundreds of figures; the rest are linked by id
OPEN_ENDPOINTS = frozenset({"web.sign_in", "web.static"})


@blp.before_request
def guard() -> Response | None:
    """Who is looking; every form is CSRF-checked; reading follows PUBLIC_READ (API §2).

    Static files (the chart library, the style sheet) hold no data: served to anyone.
    """
    if request.endpoint == "web.static":
        return None
    g.viewer = current_viewer(get_db())
    if request.method == "POST":
        csrf.protect()
    if (g.viewer is None and request.endpoint not in OPEN_ENDPOINTS
            and not current_app.config["SETTINGS"].public_read):
        return redirect(url_for("web.sign_in", next=request.full_path.rstrip("?")))
    return None


@blp.app_context_processor
def page_context() -> dict[str, Any]:
    viewer: Viewer | None = g.get("viewer")
    return {"viewer": viewer,
            "nav": [item for item in NAV
                    if item.role is None or (viewer is not None and viewer.has(item.role))]}


def bad_query(error: ValidationError) -> Response:
    return error_page(400, "This page cannot show that", form_errors(error))


# --- conflicts -------------------------------------------------------------------------

@blp.get("/")
def index() -> str:
    db = get_db()
    overview = current_app.extensions["casualty_tracker_reports"].get(
        None, store.report_fingerprint(db, None), lambda: store.conflict_overview(db))
    return render_template("index.html", conflicts=overview, last_run=store.latest_run(db))


@blp.get("/conflicts/<slug>")
def conflict(slug: str) -> Any:
    """The report as a paged, filterable, sortable table, and the chosen series' charts."""
    try:
        query = load(ConflictPageQuery(), request.args)
    except ValidationError as error:
        return bad_query(error)
    db = get_db()
    # the fingerprint is read before the report, so a change landing in between makes the
    # next request rebuild rather than keep a report older than its fingerprint says
    reports = current_app.extensions["casualty_tracker_reports"]
    entries = reports.get(slug, store.report_fingerprint(db, slug), lambda: list(build_report(
        store.report_figures(db, slug), store.flag_marks(db, slug))))
    if not entries and not store.conflict_exists(db, slug):
        abort(404)
    rows = filter_rows(entries, query)
    if query.get("sort"):
        rows = sort_rows(rows, query["sort"], query["order"] == "desc")
    shown, pages = page_of(rows, query["page"])
    keys = store.series_keys_of(db, [row["sources"][0]["figure_id"] for row in shown])
    ids = [encode_series_id(keys[row["sources"][0]["figure_id"]]) for row in shown]
    chosen = query.get("series") or (ids[0] if ids else None)
    chart = None
    if chosen is not None:
        try:
            chart = series_document(db, {"conflict": slug, "series": chosen})["series"][0]
        except NotFound:
            abort(404)
    filters = {name: query[name] for name in ("category", "side", "location", "group",
                                               "grade", "flagged", "sort", "order")
               if query.get(name)}
    return render_template(
        "conflict.html", slug=slug, rows=list(zip(shown, ids, strict=True)),
        total=len(rows), series_total=len(entries), page=min(query["page"], pages),
        pages=pages, page_size=PAGE_SIZE, query=query, filters=filters, chart=chart,
        chosen=chosen, sort_columns=SORT_COLUMNS,
        has_group=any("group" in entry for entry in entries),
        options={name: choices(entries, name) for name in ("side", "location", "group")},
        link=lambda **changes: _link(slug, filters, changes))


def _link(slug: str, filters: dict[str, Any], changes: dict[str, Any]) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    params = {**filters, **changes}
    params = {name: ("1" if value is True else value) for name, value in params.items()
              if value is not None and value is not False}
    query = urlencode(params)
    return url_for("web.conflict", slug=slug) + (f"?{query}" if query else "")


# --- flags -----------------------------------------------------------------------------

@blp.get("/flags")
def flags() -> Any:
    """Flags by severity, each with its sentence and its figures side by side."""
    try:
        query = load(FlagsPageQuery(), request.args)
    except ValidationError as error:
        return bad_query(error)
    db = get_db()
    page_size = 25
    rows, total = store.flags_by_severity(
        db, status=query["status"], conflict=query.get("conflict"), rule=query.get("rule"),
        offset=(query["page"] - 1) * page_size, limit=page_size)
    figures = store.figures_by_id(db, (i for flag in rows
                                       for i in flag["figure_ids"][:CARDS_PER_FLAG]))
    pages = max(1, -(-total // page_size))
    params = {name: query[name] for name in ("status", "conflict", "rule") if query.get(name)}
    return render_template("flags.html", flags=rows, figures=figures, total=total,
                           page=query["page"], pages=pages, query=query, params=params,
                           severities=SEVERITIES, cards=CARDS_PER_FLAG,
                           can_triage=g.viewer is not None and g.viewer.has("editor"))


@blp.post("/flags/<int:flag_id>")
def triage(flag_id: int) -> Response:
    """An editor acknowledges or resolves a flag with a note, then goes back."""
    viewer: Viewer | None = g.viewer
    if viewer is None:
        return redirect(url_for("web.sign_in", next=url_for("web.flags")))
    if not viewer.has("editor"):
        return error_page(403, "Editors only",
                          "Your token is a reader's: it can read flags, not change them.")
    back = _safe_next(request.form.get("next")) or url_for("web.flags")
    try:
        form = load(TriageForm(), request.form)
    except ValidationError as error:
        flash(f"Flag {flag_id} was not changed: {form_errors(error)}", "error")
        return redirect(back)
    changes = {"status": form["status"], "note": form.get("note") or None}
    try:
        store.update_flag(get_db(), flag_id, changes)
    except NotFound:
        abort(404)
    except Conflict as error:
        flash(str(error), "error")
        return redirect(back)
    flash(f"Flag {flag_id} is {form['status']}.", "ok")
    return redirect(back)


# --- figures ---------------------------------------------------------------------------

@blp.get("/figures/<int:figure_id>")
def figure(figure_id: int) -> Any:
    """Every version of a figure, the sources that dispute it, and the flags that list it."""
    db = get_db()
    try:
        current = store.get_figure(db, figure_id)
    except (NotFound, OverflowError):
        abort(404)
    return render_template(
        "figure.html", figure=current, history=store.figure_history(db, figure_id),
        disputes=store.list_disputes(db, figure_id, after_id=0, limit=1000),
        flags=store.flags_of_figure(db, figure_id))


# --- signing in ------------------------------------------------------------------------

def _safe_next(target: str | None) -> str | None:
    """A path on this site to go back to; anything else (another host) is dropped."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return None


@blp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """Sign in with an API token; only its hash is kept, in the signed session cookie."""
    if request.method == "GET":
        return render_template("sign_in.html", next=_safe_next(request.args.get("next")),
                               message=None)
    try:
        form = load(SignInForm(), request.form)
    except ValidationError as error:
        return render_template("sign_in.html", next=_safe_next(request.form.get("next")),
                               message=form_errors(error)), 400
    db = get_db()
    role = auth.role_of(db, form["token"])  # one indexed read, compared in constant time
    if role is None:
        response = Response(render_template(
            "sign_in.html", next=_safe_next(form.get("next")),
            message="That token is unknown or revoked. Check it and try again."), status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="casualty-tracker"'
        return response
    session.clear()
    session["token_hash"] = auth.hash_token(form["token"])
    session.permanent = True
    flash("You are signed in.", "ok")
    return redirect(_safe_next(form.get("next")) or url_for("web.index"))


@blp.post("/sign-out")
def sign_out() -> Response:
    try:
        load(SignOutForm(), request.form)
    except ValidationError as error:
        return bad_query(error)
    session.clear()
    return redirect(url_for("web.index"))
