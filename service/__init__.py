"""casualty-tracker: record, version and reconcile published casualty figures."""

from __future__ import annotations

from flask import Flask

from .config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """The application factory; starts no scheduler (the serving process does that)."""
    from . import auth, db
    from .api import (
        add_security_headers,
        exports,
        extractions,
        figures,
        flags,
        health,
        imports,
        reconciliation,
        require_media_type,
        series,
        sources,
    )
    from .api.unit_of_work import App
    from .errors import register_error_handlers
    from .openapi import make_api
    from .reconcile.schedule import RunLauncher
    from .web import init_app as init_pages

    settings = settings or Settings.from_env()
    app = App(__name__, static_folder=None)  # the pages serve their own static files
    app.config.update(
        SETTINGS=settings,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    app.json.sort_keys = False  # keep fields in the contract's order
    db.connect(settings.db_path).close()  # create or check the schema before serving
    app.extensions["casualty_tracker_runs"] = RunLauncher(settings.db_path)
    app.teardown_appcontext(db.close_db)
    app.before_request(auth.authorize)
    app.before_request(require_media_type)
    app.after_request(add_security_headers)
    api = make_api(app)
    for blueprint in (figures.blp, sources.blp, flags.blp, reconciliation.blp, exports.blp,
                      imports.blp, extractions.blp, health.blp, series.blp):
        api.register_blueprint(blueprint)
    register_error_handlers(app)
    init_pages(app)  # after the API's error handlers: pages answer errors in HTML
    return app
