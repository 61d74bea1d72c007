"""Schema 1 -> 2 -> 3, upgraded in place at start-up (API §5; issue 9), on both engines.

tests/data/schema1.db was made by the previous release's own code (commit b5f4ee2) with
tests/data/make_schema1_db.py, which says how. Each test upgrades a copy with today's code
and compares what was there before - read with plain sqlite3 or psycopg - with what is
there after.

On PostgreSQL (issue 12) the 1.0 release never ran, so its counterpart is the same 1.0
database rebuilt in PostgreSQL at schema 1: the file's own DDL (translated as
engines.postgres_ddl translates schema.sql) and every row, with schema_version 1. Opening it
runs the same numbered migration steps in place, in one transaction, as SQLite's upgrade
(db.prepare_postgres), and every test below checks the same things there.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlite_utils
from click.testing import CliRunner
from flask.testing import FlaskClient
from psycopg.rows import dict_row

from service import create_app, db, engines, migrations, store
from service.cli import main
from service.config import Settings
from service.names import fold
from service.reconcile import run as run_engine

DATA = Path(__file__).parent / "data"
FIXTURE = json.loads((DATA / "schema1.json").read_text(encoding="utf-8"))
API = "/api/v1"
SCHEMA_1_FIGURE_COLUMNS = (
    "id", "conflict", "source_id", "category", "side", "location", "incident", "count",
    "count_high", "qualifier", "unit", "reported_on", "as_of", "period_start", "quote",
    "url", "notes", "low", "high", "status", "retraction_reason", "version", "created_at",
    "updated_at", "family_key", "series_key",
)
UNCHANGED_TABLES = ("figure_versions", "flag_figures", "api_keys", "idempotency_keys",
                    "reconciliation_runs", "reconciliation_lease")


Target = Path | str
"""A SQLite file, or a postgresql:// URL."""


def rows(path: Target, sql: str) -> list[dict[str, Any]]:
    """Rows as dicts, read with plain sqlite3 or psycopg (no upgrade, no casualty-tracker
    code)."""
    if engines.is_url(path):
        with psycopg.connect(str(path), row_factory=dict_row) as connection:
            return list(connection.execute(sql.encode()).fetchall())
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql)]
    finally:
        conn.close()


def execute(path: Target, *statements: str) -> None:
    """Run statements outside casualty-tracker's code (committed)."""
    if engines.is_url(path):
        with psycopg.connect(str(path), autocommit=True) as connection:
            for statement in statements:
                connection.execute(statement.encode())
        return
    conn = sqlite3.connect(path)
    try:
        for statement in statements:
            conn.execute(statement)
        conn.commit()
    finally:
        conn.close()


def user_version(path: Target) -> int:
    """The schema version: SQLite's PRAGMA user_version, PostgreSQL's schema_version row."""
    if engines.is_url(path):
        return rows(path, "SELECT version FROM schema_version")[0]["version"]
    return rows(path, "PRAGMA user_version")[0]["user_version"]


def set_version(path: Target, version: int) -> None:
    execute(path, f"UPDATE schema_version SET version = {version}" if engines.is_url(path)
            else f"PRAGMA user_version = {version}")


def columns_of(path: Target, table: str) -> set[str]:
    if engines.is_url(path):
        return {row["column_name"] for row in rows(
            path, "SELECT column_name FROM information_schema.columns"
                  f" WHERE table_schema = current_schema() AND table_name = '{table}'")}
    return {row["name"] for row in rows(path, f"PRAGMA table_info({table})")}


def has_table(path: Target, table: str) -> bool:
    if engines.is_url(path):
        return bool(rows(path, "SELECT table_name FROM information_schema.tables WHERE"
                               f" table_schema = current_schema() AND table_name = '{table}'"))
    return bool(rows(path, f"SELECT name FROM sqlite_master WHERE name = '{table}'"))


def schema1_in_postgres(url: str) -> str:
    """The 1.0 file rebuilt in the (empty) PostgreSQL database at `url`, at schema 1."""
    with closing(sqlite3.connect(DATA / "schema1.db")) as old, psycopg.connect(url) as new:
        for statement in engines.POSTGRES_PREAMBLE:
            new.execute(statement.encode())
        new.execute("UPDATE schema_version SET version = 1")
        tables = [name for name, in old.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
        for (sql,) in old.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"
                                  " ORDER BY type = 'index', rowid"):
            sql = sql.replace("    full INTEGER", '    "full" INTEGER')  # reserved in PG
            new.execute(engines.postgres_ddl(sql).encode())
        for table in tables:
            cursor = old.execute(f"SELECT * FROM {table}")
            names = ", ".join(f'"{d[0]}"' for d in cursor.description)
            marks = ", ".join("%s" for _ in cursor.description)
            with new.cursor() as insert:
                insert.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})".encode(),
                                   cursor.fetchall())
            if table in engines.ID_TABLES:
                insert_id = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), " \
                            f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
                new.execute(insert_id.encode())
    return url


def state(path: Target) -> dict[str, list[dict[str, Any]]]:
    """Every row that matters, schema-1 columns only, in a stable order."""
    return {
        "figures": rows(path, f"SELECT {', '.join(SCHEMA_1_FIGURE_COLUMNS)} FROM figures"
                              " ORDER BY id"),
        "sources": rows(path, "SELECT * FROM sources ORDER BY id"),
        "disputes": rows(path, "SELECT * FROM disputes ORDER BY id"),
        "flags": rows(path, "SELECT * FROM flags ORDER BY id"),
        "dirty_series": rows(path, "SELECT * FROM dirty_series ORDER BY series_key"),
        **{table: rows(path, f"SELECT * FROM {table} ORDER BY 1, 2")
           for table in UNCHANGED_TABLES},
    }


@pytest.fixture
def schema1(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[
        Callable[[str], Target]]:
    """schema1(name) -> a new schema-1 database, never opened by today's code yet: a copy
    of the file, or the file rebuilt in a new PostgreSQL database."""
    made: list[str] = []

    def make(name: str) -> Target:
        if engine == "sqlite":
            path = tmp_path / f"{name}.db"
            shutil.copyfile(DATA / "schema1.db", path)
        else:
            path = schema1_in_postgres(request.getfixturevalue("pg_cluster").create_database())
            made.append(path)
        assert user_version(path) == 1
        return path

    yield make
    for url in made:
        engines.close_pool(url)


@pytest.fixture
def old_db(schema1: Callable[[str], Target]) -> Target:
    return schema1("casualty-tracker")


def upgrade(path: Target) -> sqlite_utils.Database:
    connection = db.connect(path)
    assert user_version(path) == db.SCHEMA_VERSION  # 3 since issue 10 (open_flags)
    return connection


def client_for(path: Target) -> FlaskClient:
    return create_app(Settings(db_path=path, reconcile_seconds=0)).test_client()


def expected_merges(sources: list[dict[str, Any]]) -> dict[int, int]:
    """merged-away id -> the oldest source whose name folds alike (§5)."""
    oldest: dict[str, dict[str, Any]] = {}
    merges = {}
    for source in sorted(sources, key=lambda s: (s["created_at"], s["id"])):
        first = oldest.setdefault(fold(source["name"]), source)
        if first is not source:
            merges[source["id"]] = first["id"]
    return merges


def reconcile(connection: sqlite_utils.Database, full: bool) -> dict:
    queued = store.create_run(connection, "test", full)
    finished = run_engine.execute(connection, queued["id"], full=full)
    assert finished["status"] == "succeeded", finished
    return finished


# --- nothing lost ---------------------------------------------------------------------------

def test_the_fixture_is_a_schema_1_file_with_every_kind_of_row(old_db: Target) -> None:
    before = state(old_db)
    assert all(before[table] for table in ("figures", "sources", "disputes", "flags",
                                           "dirty_series", *UNCHANGED_TABLES))
    assert {f["status"] for f in before["figures"]} == {"active", "retracted"}
    assert max(f["version"] for f in before["figures"]) == 3
    assert {f["status"] for f in before["flags"]} == {"open", "acknowledged", "resolved"}
    assert expected_merges(before["sources"]) == {2: 1, 4: 3, 6: 5, 7: 5}


def test_upgrade_keeps_every_figure_version_dispute_flag_and_token(old_db: Target) -> None:
    before = state(old_db)
    merges = expected_merges(before["sources"])
    upgrade(old_db).close()
    after = state(old_db)

    for table in UNCHANGED_TABLES:
        assert after[table] == before[table], table

    assert len(after["figures"]) == len(before["figures"])
    new_columns = rows(old_db, 'SELECT id, location_code, "group", via, side_key,'
                               " location_key, incident_key, via_key FROM figures ORDER BY id")
    for old, new, extra in zip(before["figures"], after["figures"], new_columns, strict=True):
        moved = {"source_id": merges.get(old["source_id"], old["source_id"])}
        keys = {**old, "group": None}
        moved["series_key"] = store.series_key(keys)
        moved["family_key"] = store.family_key(keys)
        assert new == old | moved
        assert json.loads(new["series_key"])[2] == (old["side"] and fold(old["side"]))
        assert extra == {"id": old["id"], "location_code": None, "group": None, "via": None,
                         "side_key": old["side"] and fold(old["side"]),
                         "location_key": old["location"] and fold(old["location"]),
                         "incident_key": None, "via_key": None}

    for old, new in zip(before["disputes"], after["disputes"], strict=True):
        assert new == old | {"source_id": merges.get(old["source_id"], old["source_id"])}

    unchanged_flag_fields = [c for c in before["flags"][0]
                             if c not in ("flag_key", "series_key", "whole_series_key")]
    for old, new in zip(before["flags"], after["flags"], strict=True):
        assert {c: new[c] for c in unchanged_flag_fields} == \
            {c: old[c] for c in unchanged_flag_fields}

    by_id = {s["id"]: s for s in after["sources"]}
    assert set(by_id) == {s["id"] for s in before["sources"]} - set(merges)
    for old in before["sources"]:
        if old["id"] in by_id:
            new = by_id[old["id"]]
            assert new["name"] == old["name"] and new["affiliation"] == old["affiliation"]
            assert new["name_key"] == fold(old["name"])
    # Kind fills the oldest only where it was unknown; affiliation stays the oldest's.
    assert (by_id[1]["kind"], by_id[1]["affiliation"]) == ("government", None)
    assert (by_id[3]["kind"], by_id[3]["affiliation"]) == ("military", "Russia")
    assert by_id[5]["kind"] == "military"
    kept = rows(old_db, "SELECT source_id, merged_into, name, kind, affiliation, created_at"
                        " FROM source_merges ORDER BY source_id")
    old_sources = {s["id"]: s for s in before["sources"]}
    assert kept == [{"source_id": away, "merged_into": into,
                     **{c: old_sources[away][c] for c in ("name", "kind", "affiliation",
                                                          "created_at")}}
                    for away, into in sorted(merges.items())]


def test_the_api_serves_the_upgraded_file(old_db: Target) -> None:
    before = state(old_db)
    names = {s["id"]: s["name"] for s in before["sources"]}
    merges = expected_merges(before["sources"])
    client = client_for(old_db)
    tokens = FIXTURE["tokens"]
    for figure in before["figures"]:
        served = client.get(f"{API}/figures/{figure['id']}").get_json()
        source_id = merges.get(figure["source_id"], figure["source_id"])
        assert served["source_id"] == source_id
        assert served["source"] == names[source_id]  # always its source's name
        for field in ("count", "qualifier", "status", "version", "reported_on", "as_of",
                      "quote", "notes", "side", "location", "unit", "low", "high"):
            assert served[field] == figure[field], field
        assert (served["location_code"], served["group"], served["via"]) == (None, None, None)
        history = client.get(f"{API}/figures/{figure['id']}/history").get_json()["items"]
        assert len(history) == figure["version"]
        recorded = rows(old_db, "SELECT snapshot FROM figure_versions WHERE figure_id = "
                                f"{figure['id']} ORDER BY version")
        for version, row in zip(history, recorded, strict=True):
            snapshot = json.loads(row["snapshot"])
            assert {k: version[k] for k in snapshot} == snapshot
            assert (version["location_code"], version["group"], version["via"]) == \
                (None, None, None)
    corrected = client.get(f"{API}/figures/{FIXTURE['figures']['ministry_corrected']}"
                           "/history").get_json()["items"]
    assert [v["count"] for v in corrected] == [5200, 5100, 5100]
    # Tokens: every live one still works with its role; the revoked one does not.
    assert client.get(f"{API}/flags", headers={
        "Authorization": f"Bearer {tokens['reader']}"}).status_code == 200
    assert client.post(f"{API}/reconciliation/runs", json={}, headers={
        "Authorization": f"Bearer {tokens['reader']}"}).status_code == 403
    patched = client.patch(f"{API}/sources/9", json={"kind": "ngo"},
                           headers={"Authorization": f"Bearer {tokens['editor']}"})
    assert patched.status_code == 200
    # The idempotency key answers the retry with the first response.
    retry = client.post(f"{API}/figures", headers={
        "Authorization": f"Bearer {tokens['editor']}", "Idempotency-Key": "retry-1"},
        json={"conflict": "ukraine-2022", "source": "Wire Desk", "category": "killed",
              "count": 77, "reported_on": "2022-07-01"})
    assert retry.status_code == 201
    assert retry.get_json()["id"] == FIXTURE["figures"]["keyed"]
    assert len(state(old_db)["figures"]) == len(before["figures"])


@pytest.mark.parametrize(("away", "into"), [(2, 1), (4, 3), (6, 5), (7, 5)])
def test_a_merged_away_source_answers_404_naming_where_it_went(old_db: Target, away: int,
                                                               into: int) -> None:
    client = client_for(old_db)
    for response in (client.get(f"{API}/sources/{away}"),
                     client.patch(f"{API}/sources/{away}", json={"kind": "ngo"}, headers={
                         "Authorization": f"Bearer {FIXTURE['tokens']['editor']}"})):
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert f"merged into source {into}" in response.get_json()["detail"]
    assert client.get(f"{API}/sources/{into}").status_code == 200
    assert "There is no source 999" in client.get(f"{API}/sources/999").get_json()["detail"]


def test_a_new_figure_from_any_spelling_joins_the_oldest_source(old_db: Target) -> None:
    client = client_for(old_db)
    response = client.post(f"{API}/figures", headers={
        "Authorization": f"Bearer {FIXTURE['tokens']['editor']}"},
        json={"conflict": "ukraine-2022", "source": "MINISTRY  OF DEFENCE OF ARMENIA",
              "category": "military", "side": "armenia", "count": 15,
              "reported_on": "2022-05-04"})
    assert response.status_code == 201
    assert (response.get_json()["source_id"], response.get_json()["source"]) == \
        (5, "Ministry of Defence of Armenia")


# --- flags after the upgrade ----------------------------------------------------------

def test_the_next_run_rechecks_what_moved_and_flags_keep_their_ids(
        old_db: Target, schema1: Callable[[str], Target]) -> None:
    twin = schema1("twin")
    before = {f["id"]: f for f in state(old_db)["flags"]}
    incremental = upgrade(old_db)
    reconcile(incremental, full=False)
    incremental.close()
    full = upgrade(twin)
    reconcile(full, full=True)
    full.close()

    def flags_of(path: Target) -> list[dict[str, Any]]:
        return [{k: v for k, v in flag.items() if k not in ("created_at", "updated_at")}
                for flag in state(path)["flags"]]

    # However the run works inside, it leaves what a full run leaves (§6).
    assert flags_of(old_db) == flags_of(twin)
    after = {f["id"]: f for f in state(old_db)["flags"]}
    monitor, duplicates = FIXTURE["figures"]["monitor"], FIXTURE["figures"]["duplicates"]
    ministry = FIXTURE["figures"]["ministry_first"]
    # The example: 5,000 (side "Russia") vs 200 (side "russia") is now flagged.
    new = [f for flag_id, f in after.items() if flag_id not in before]
    disagreement = next(f for f in new if f["rule"] == "disagreement")
    assert {ministry, monitor} <= set(json.loads(disagreement["figure_ids"]))
    assert disagreement["status"] == "open" and disagreement["severity"] == "high"
    # The two duplicate flags of one source and day fold into the older one, which lists
    # all four figures and, its figures having changed, opens again; the other is obsolete.
    acknowledged = next(f for f in before.values() if f["status"] == "acknowledged")
    merged_into = after[acknowledged["id"]]
    assert json.loads(merged_into["figure_ids"]) == duplicates
    assert (merged_into["status"], merged_into["note"]) == ("open", acknowledged["note"])
    other = next(i for i, f in before.items() if f["rule"] == "duplicate"
                 and i != acknowledged["id"])
    assert after[other]["status"] == "obsolete"
    # Flags whose condition still holds keep their id and the status people set.
    resolved = next(f for f in before.values() if f["status"] == "resolved")
    assert after[resolved["id"]]["status"] == "resolved"
    for flag_id in before:
        assert after[flag_id]["first_seen_run"] == before[flag_id]["first_seen_run"]


# --- refusals and atomicity ------------------------------------------------------------

def test_a_database_newer_than_the_code_is_refused_unchanged(old_db: Target) -> None:
    set_version(old_db, db.SCHEMA_VERSION + 1)
    before = state(old_db)
    content = None if engines.is_url(old_db) else Path(old_db).read_bytes()
    with pytest.raises(db.SchemaVersionError) as refused:
        db.connect(old_db)
    message = str(refused.value)
    assert f"schema version {db.SCHEMA_VERSION + 1}" in message
    assert f"needs version {db.SCHEMA_VERSION}" in message
    assert "newer" in message
    assert user_version(old_db) == db.SCHEMA_VERSION + 1
    assert state(old_db) == before
    if content is not None:
        assert Path(old_db).read_bytes() == content


def refuse_updates(path: Target) -> None:
    """A trigger that makes every UPDATE of figures fail (as a disk or a bug might)."""
    if engines.is_url(path):
        execute(path, "CREATE FUNCTION no_updates_fn() RETURNS trigger LANGUAGE plpgsql AS"
                      " $$ BEGIN RAISE EXCEPTION 'refused for the test'; END $$",
                "CREATE TRIGGER no_updates BEFORE UPDATE ON figures FOR EACH ROW"
                " EXECUTE FUNCTION no_updates_fn()")
    else:
        execute(path, "CREATE TRIGGER no_updates BEFORE UPDATE ON figures"
                      " BEGIN SELECT RAISE(ABORT, 'refused for the test'); END")


def test_a_failed_upgrade_leaves_the_file_as_it_was(old_db: Target) -> None:
    refuse_updates(old_db)
    before = state(old_db)
    refused = psycopg.errors.RaiseException if engines.is_url(old_db) \
        else sqlite3.IntegrityError
    with pytest.raises(refused, match="refused for the test"):
        db.connect(old_db)
    assert user_version(old_db) == 1
    assert state(old_db) == before
    assert "location_code" not in columns_of(old_db, "figures")
    assert not has_table(old_db, "source_merges")
    execute(old_db, "DROP TRIGGER no_updates" + (" ON figures" if engines.is_url(old_db)
                                                 else ""))
    upgrade(old_db).close()


def test_opening_an_upgraded_file_again_changes_nothing(old_db: Target) -> None:
    upgrade(old_db).close()
    first = state(old_db)
    upgrade(old_db).close()
    assert state(old_db) == first


def test_an_upgraded_file_has_the_schema_of_a_new_one(
        old_db: Target, tmp_path: Path, engine: str,
        request: pytest.FixtureRequest) -> None:
    """Same columns (types, defaults, keys, collations), tables and indexes; only column
    order differs, as ALTER TABLE appends."""
    fresh = tmp_path / "fresh.db" if engine == "sqlite" \
        else request.getfixturevalue("pg_cluster").create_database()
    db.connect(fresh).close()
    upgrade(old_db).close()
    if engine == "postgresql":
        engines.close_pool(str(fresh))

    def shape(path: Target) -> dict[str, Any]:
        if engines.is_url(path):
            return {
                "tables": sorted(tuple(row.values()) for row in rows(
                    path, "SELECT table_name, column_name, data_type, is_nullable,"
                          " column_default, is_identity, collation_name"
                          " FROM information_schema.columns"
                          " WHERE table_schema = current_schema()")),
                "indexes": sorted(tuple(row.values()) for row in rows(
                    path, "SELECT tablename, indexname, indexdef FROM pg_indexes"
                          " WHERE schemaname = current_schema()")),
                "triggers": sorted(tuple(row.values()) for row in rows(
                    path, "SELECT event_object_table, trigger_name, event_manipulation,"
                          " action_timing, action_statement"
                          " FROM information_schema.triggers")),
            }
        tables = [r["name"] for r in rows(path, "SELECT name FROM sqlite_master WHERE"
                                                " type = 'table' ORDER BY name")]
        return {
            "tables": {t: sorted((c["name"], c["type"], c["notnull"], c["dflt_value"], c["pk"])
                                 for c in rows(path, f"PRAGMA table_info('{t}')"))
                       for t in tables},
            "indexes": sorted((r["tbl_name"], r["name"], " ".join(r["sql"].split()))
                              for r in rows(path, "SELECT tbl_name, name, sql FROM sqlite_master"
                                                  " WHERE type = 'index' AND sql IS NOT NULL")),
        }

    assert shape(old_db) == shape(fresh)
    if engine == "postgresql":
        assert rows(old_db, "SELECT collation_name FROM information_schema.columns WHERE"
                            " table_name = 'figures' AND column_name = 'location_code'"
                    ) == [{"collation_name": "nocase"}]
        return
    collation = rows(old_db, "SELECT sql FROM sqlite_master WHERE name = 'figures'")[0]["sql"]
    assert "location_code TEXT COLLATE NOCASE" in collation


def test_migrations_are_numbered_steps_ending_at_the_schema_version() -> None:
    steps = migrations.steps()
    assert [step.version for step in steps] == list(range(2, db.SCHEMA_VERSION + 1))
    assert migrations.latest_version() == db.SCHEMA_VERSION
    assert f"PRAGMA user_version = {db.SCHEMA_VERSION};" in db.SCHEMA_PATH.read_text()


def test_the_command_line_upgrades_at_start_and_refuses_a_newer_file(
        old_db: Target, schema1: Callable[[str], Target]) -> None:
    newer = schema1("newer")
    set_version(newer, 7)
    runner = CliRunner()
    result = runner.invoke(main, ["reconcile", "--db", str(old_db)])
    assert result.exit_code == 0, result.output
    assert user_version(old_db) == db.SCHEMA_VERSION
    before = state(newer)
    content = None if engines.is_url(newer) else Path(newer).read_bytes()
    refused = runner.invoke(main, ["reconcile", "--db", str(newer)])
    assert refused.exit_code == 1
    assert "schema version 7" in refused.stderr
    assert f"needs version {db.SCHEMA_VERSION}" in refused.stderr
    assert user_version(newer) == 7
    assert state(newer) == before
    if content is not None:
        assert Path(newer).read_bytes() == content
