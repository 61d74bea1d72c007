"""The pages: one blueprint of server-rendered HTML at `/`, outside the JSON API.

Pages work without JavaScript; the charts (uPlot, vendored in static/ with its licence) are
the enhancement. Reading follows the API's rule (public unless CASUALTY_TRACKER_PUBLIC_READ
is 0, then a signed-in reader); flag triage needs an editor signed in with a token. Every
form is CSRF-protected (Flask-WTF), only here: the JSON API under /api/v1 takes bearer
tokens, which a browser never sends on its own, and keeps its behaviour.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from .. import store
from ..db import connect
from ..errors import http_problem
from .cache import ReportCache

blp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                static_url_path="/static")
csrf = CSRFProtect()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: str
    role: str | None = None  # the least role that sees the link; None: everyone who reads


#: The pages named in the header, in order. A page another feature adds (e.g. "From an
#: article") registers its routes on `blp` in its own module and appends its item here.
NAV: list[NavItem] = [NavItem("web.index", "Conflicts"), NavItem("web.flags", "Flags")]

#: Pages may run only our own scripts and styles; nothing is framed, nothing leaves.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    # same-origin, not no-referrer: Flask-WTF checks the Referer of a form sent over HTTPS
    "Referrer-Policy": "same-origin",
}


class PageSessionInterface(SecureCookieSessionInterface):
    """The signed session cookie, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def is_page_path(path: str) -> bool:
    """Everything outside the JSON API is a page (or a page's static file)."""
    return not (path == "/api" or path.startswith("/api/"))


def add_page_headers(response: Response) -> Response:
    """after_request: pages get their own CSP (scripts from here only) and referrer rule;
    the API's headers (added after, with setdefault) then fill in the rest."""
    if is_page_path(request.path):
        for name, value in PAGE_HEADERS.items():
            response.headers[name] = value
    return response


def error_page(status: int, title: str, message: str) -> Response:
    response = Response(render_template("error.html", status=status, title=title,
                                        message=message), status=status)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _http_error(error: HTTPException) -> Response:
    """HTTP errors: problem+json under /api, an HTML page everywhere else."""
    if not is_page_path(request.path):
        return http_problem(error)
    if isinstance(error, CSRFError):
        return error_page(400, "The form has expired or was not sent from this site",
                          "Nothing was changed. Go back, reload the page and try again.")
    code = error.code or 500
    messages = {404: "There is no such page here.",
                405: "This page does not take that kind of request."}
    detail = messages.get(code) or error.description or error.name
    response = error_page(code, error.name, detail)
    if code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    return response


def init_app(app: Flask) -> None:
    """Register the pages, their session, CSRF protection and error pages on the app."""
    from . import extract_page, views  # noqa: F401 - register the routes on blp

    settings = app.config["SETTINGS"]
    secret = settings.secret_key
    if secret is None:
        db = connect(settings.db_path)
        try:
            secret = store.web_secret_key(db, lambda: secrets.token_urlsafe(48))
        finally:
            db.close()
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="casualty_tracker_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=12 * 60 * 60,
        WTF_CSRF_CHECK_DEFAULT=False,  # only the pages' forms are checked (views.protect)
        WTF_CSRF_TIME_LIMIT=None,  # a form's token lasts as long as its session
    )
    app.session_interface = PageSessionInterface()
    app.extensions["casualty_tracker_reports"] = ReportCache()  # one per app: per database
    csrf.init_app(app)
    app.register_blueprint(blp)
    app.after_request(add_page_headers)
    app.register_error_handler(HTTPException, _http_error)
    api_unexpected = app.error_handler_spec[None][None][Exception]

    def unexpected(error: Exception) -> Response:
        """A bug on a page: an HTML page, logged; under /api the API's problem+json."""
        if not is_page_path(request.path):
            return api_unexpected(error)
        log.exception("unexpected error on page %s", request.path)
        return error_page(500, "Something went wrong on our side",
                          "Nothing was changed. Try again; if it keeps happening, tell the "
                          "people who run this service.")

    app.register_error_handler(Exception, unexpected)
