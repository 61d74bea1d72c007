"""The `casualty-tracker` command (click, as Flask ships it).

Every command that opens the database creates it from schema.sql when the file does not
exist yet (db.connect does that), and reads --db, else CASUALTY_TRACKER_DB, else the default.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlite_utils
from marshmallow import ValidationError

from . import auth, csvexport, csvimport, db, engines, seeds, store
from .config import ConfigError, Settings, database_target
from .reconcile import run
from .retry import retrying
from .schemas import ROLES, SLUG


def _settings(db_path: str | None, **overrides: object) -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if db_path is not None:
        overrides["db_path"] = database_target(db_path)
    return dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _open(settings: Settings) -> sqlite_utils.Database:
    """The database, closed when the command ends (an unclosed sqlite3 connection is a
    ResourceWarning from Python 3.13 on)."""
    try:
        database = db.connect(settings.db_path)
    except (db.SchemaVersionError, db.DatabaseUnavailable) as error:
        raise click.ClickException(str(error)) from None
    except sqlite3.DatabaseError as error:
        raise click.ClickException(f"Cannot open {settings.db_path}: {error}") from None
    except engines.DATABASE_ERRORS as error:
        raise click.ClickException(f"Cannot open {engines.describe(settings.db_path)}: "
                                   f"{engines.one_line(error, str(settings.db_path))}") from None
    click.get_current_context().call_on_close(database.close)
    return database


T = TypeVar("T")


def _retrying(work: Callable[[], T]) -> T:
    """A command's store call, run again when the engine asks (service/retry.py); when every
    try failed, one line instead of a traceback (each try was rolled back whole)."""
    try:
        return retrying(work)
    except engines.RETRYABLE_ERRORS as error:
        raise click.ClickException(
            "The database could not complete the command because of concurrent changes, "
            f"even when retried; nothing was changed. ({engines.one_line(error)})") from None


db_option = click.option("--db", "db_path", metavar="PATH",
                         help="SQLite database file or postgresql:// URL (default: "
                              "$CASUALTY_TRACKER_DB or ./data/casualty-tracker.db).")


@click.group()
def main() -> None:
    """casualty-tracker: record, version and reconcile published casualty figures."""


@main.command()
@click.option("--host", help="Address to listen on (default: $HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: $PORT or 8000).")
@db_option
def serve(host: str | None, port: int | None, db_path: str | None) -> None:
    """Serve the API with waitress (a production WSGI server)."""
    from .server import CannotListen
    from .server import serve as run_server

    settings = _settings(db_path, host=host, port=port)
    _open(settings).close()
    try:
        run_server(settings)
    except CannotListen as error:
        raise click.ClickException(str(error)) from None


@main.group()
def keys() -> None:
    """Create, list and revoke API tokens."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", required=True, help="Who or what the token is for.")
@db_option
def keys_create(role: str, name: str, db_path: str | None) -> None:
    """Print a new token (only the token) on standard output; only its hash is stored."""
    database = _open(_settings(db_path))
    click.echo(_retrying(lambda: auth.create_key(database, role, name)))


@keys.command("revoke")
@click.option("--name", required=True, help="Revoke every live token with this name.")
@db_option
def keys_revoke(name: str, db_path: str | None) -> None:
    """Revoke tokens by name; they are refused from the next request on."""
    database = _open(_settings(db_path))
    revoked = _retrying(lambda: store.revoke_api_keys(database, name))
    if not revoked:
        raise click.ClickException(f"No live token is named {name!r}.")
    click.echo(f"Revoked {revoked} token(s) named {name!r}.", err=True)


@keys.command("list")
@db_option
def keys_list(db_path: str | None) -> None:
    """List tokens (names, roles, dates; never the tokens themselves)."""
    for key in store.list_api_keys(_open(_settings(db_path))):
        state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "live"
        click.echo(f"{key['id']}\t{key['role']}\t{key['name']}\t{key['created_at']}\t{state}")


@main.command()
@click.option("--if-empty", is_flag=True,
              help="Load only into a database that holds no figures yet (./scripts/run).")
@db_option
def seed(if_empty: bool, db_path: str | None) -> None:
    """Load seeds/ into the database; a second load adds nothing."""
    database = _open(_settings(db_path))
    if if_empty and store.count_figures(database):
        click.echo("The database already holds figures; seeds not loaded.")
        return
    result = _retrying(lambda: seeds.load_seeds(database))
    click.echo(f"Seeds loaded: {result.figures_added} figures and "
               f"{result.disputes_added} disputes added.")


@main.command()
@click.option("--full", is_flag=True, help="Re-check every series, not only changed ones.")
@db_option
def reconcile(full: bool, db_path: str | None) -> None:
    """Run one reconciliation now and print a summary by rule."""
    database = _open(_settings(db_path))
    queued = _retrying(lambda: store.create_run(database, "cli", full))
    finished = run.execute(database, queued["id"], full=full)
    click.echo(f"Run {finished['id']} {finished['status']}"
               f"{' (full)' if full else ''}: {finished['series_checked']} series, "
               f"{finished['figures_checked']} figures checked; "
               f"{finished['flags_opened']} flags opened, {finished['flags_closed']} closed.")
    for rule, statuses in store.flag_summary(database).items():
        counts = ", ".join(f"{count} {status}" for status, count in statuses.items())
        click.echo(f"  {rule}: {counts}")
    if finished["status"] != "succeeded":
        raise click.ClickException(f"The run failed: {finished['error']}")


@main.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--conflict", help="Import every row into this conflict (slug).")
@click.option("--update", is_flag=True,
              help="A row whose id names a stored figure corrects it (status 'retracted' with "
                   "a retraction_reason retracts it); rows without id create figures.")
@db_option
def import_csv(csv_file: str, conflict: str | None, update: bool, db_path: str | None) -> None:
    """Import figures from CSV in the figures-export columns: all rows, or none."""
    if conflict is not None and not SLUG.fullmatch(conflict):
        raise click.BadParameter("must be a slug: lowercase letters, digits and hyphens.",
                                 param_hint="--conflict")
    database = _open(_settings(db_path))
    size = Path(csv_file).stat().st_size
    try:
        with open(csv_file, encoding="utf-8-sig", newline="") as handle, \
                click.progressbar(length=size, label="Reading", file=sys.stderr) as bar:
            parsed = csvimport.parse_import(_tracking(handle, bar), conflict, update=update)
        before = _versions(database, [r.figure_id for r in parsed.rows if r.figure_id])
        ids = _retrying(lambda: csvimport.store_import(database, parsed))
    except UnicodeDecodeError:
        raise click.ClickException(f"{csv_file} is not UTF-8 text.") from None
    except ValidationError as error:
        raise click.ClickException(_describe(error.messages)) from None
    if not update:
        click.echo(f"Imported {len(ids)} figures (ids {ids[0]}-{ids[-1]}).")
        return
    after = _versions(database, list(before))
    changed = sum(after[figure_id] != version for figure_id, version in before.items())
    click.echo(f"Imported {len(ids)} rows: {len(ids) - len(before)} figures created, "
               f"{changed} corrected or retracted, {len(before) - changed} unchanged.")


def _versions(database: sqlite_utils.Database, ids: list[int]) -> dict[int, int]:
    """{id: version} of the stored figures among `ids`."""
    return {figure_id: figure["version"]
            for figure_id, figure in store.get_figures(database, ids).items()}


def _tracking(lines: Iterable[str], bar: Any) -> Iterator[str]:
    """Pass lines through, advancing the progress bar by their size."""
    for line in lines:
        bar.update(len(line.encode("utf-8")))
        yield line


def _describe(errors: Any) -> str:
    """'row 3: count: Not a whole number ...' lines from a marshmallow error mapping."""
    if isinstance(errors, dict):
        return "\n".join(f"{key}: {_describe(value)}" for key, value in errors.items())
    if isinstance(errors, list):
        return "; ".join(_describe(item) for item in errors)
    return str(errors)


@main.command("export")
@click.argument("what", type=click.Choice(("figures", "flags", "report")))
@click.option("--conflict", help="Only this conflict (the report without it: every conflict).")
@click.option("--hxl", is_flag=True, help="Add a row of HXL hashtags under the header.")
@click.option("--bom", is_flag=True,
              help="Start with a UTF-8 byte-order mark, so that Excel reads UTF-8.")
@db_option
def export_csv(what: str, conflict: str | None, hxl: bool, bom: bool,
               db_path: str | None) -> None:
    """Write figures, flags or the report as CSV to standard output."""
    settings = _settings(db_path)
    _open(settings).close()
    filters = {"conflict": conflict} if conflict else {}
    if what == "figures":
        chunks = csvexport.figures_csv(settings.db_path, filters, hxl)
    elif what == "flags":
        chunks = csvexport.flags_csv(settings.db_path, filters, hxl)
    else:
        chunks = csvexport.report_csv(settings.db_path, conflict, hxl)
    out = sys.stdout.buffer  # click.get_binary_stream is deprecated since Click 8.5
    for chunk in csvexport.with_bom(chunks, bom):
        out.write(chunk.encode("utf-8"))
    out.flush()


@main.command("copy")
@click.option("--from", "source", required=True, metavar="PATH",
              help="The database to copy: a SQLite file or a postgresql:// URL.")
@click.option("--to", "target", required=True, metavar="URL",
              help="An empty PostgreSQL database (postgresql://...) or a new SQLite file.")
def copy_command(source: str, target: str) -> None:
    """Copy every figure, version, dispute, source, flag, run and token to another
    database, unchanged (e.g. from SQLite into PostgreSQL, API §10)."""
    from .dbcopy import CopyError, copy_database

    if not engines.is_url(source) and not Path(source).is_file():
        raise click.UsageError(f"--from {source}: no such database file.")
    try:
        copied = copy_database(database_target(source), database_target(target))
    except (CopyError, db.SchemaVersionError, db.DatabaseUnavailable) as error:
        raise click.ClickException(str(error)) from None
    except engines.DATABASE_ERRORS as error:
        raise click.ClickException(f"Cannot copy: {engines.one_line(error, target)}") from None
    for table, rows in copied.items():
        click.echo(f"{table}: {rows}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


@main.command("extract")
@click.argument("text_file", metavar="FILE.txt", type=click.File("rb"))
@click.option("--conflict", required=True, help="Conflict slug every proposed figure gets.")
@click.option("--reported-on", "reported_on", required=True, metavar="YYYY-MM-DD",
              help="The day the article was published.")
@click.option("--url", help="The article's address, copied onto every figure.")
def extract_article(text_file: Any, conflict: str, reported_on: str, url: str | None) -> None:
    """Print the §9 extraction of an article (FILE.txt, or - for standard input) as JSON.

    Nothing is stored: review the figures, then post the right ones through
    POST /figures/batch.
    """
    import json
    from datetime import date

    from .extract import extract
    from .schemas import ExtractionIn

    raw = text_file.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{text_file.name} is not UTF-8 text: {error}") from None
    body = {"text": text, "conflict": conflict, "reported_on": reported_on}
    if url is not None:
        body["url"] = url
    try:
        article = ExtractionIn().load(body)
    except ValidationError as error:
        raise click.ClickException(_describe(error.messages)) from None
    result = extract(article["text"], article["conflict"],
                     date.fromisoformat(article["reported_on"]), article.get("url"))
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))
