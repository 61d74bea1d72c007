"""Access (§2): every write needs editor, reads need reader unless public read is on, a bad
token is refused everywhere but /health and /openapi.json, and tokens are kept only as hashes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import assert_problem, figure, table_names
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.cli import main
from service.config import Settings

PREFIX = "/api/v1/"
OPEN = ("/api/v1/health", "/api/v1/openapi.json")
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
#: Rules of the contract's §4/§5 that must be among those walked (so a walk cannot pass
#: by finding nothing).
KNOWN_WRITES = {("/api/v1/figures", "POST"), ("/api/v1/figures/batch", "POST"),
                ("/api/v1/figures/<int:figure_id>", "PATCH"),
                ("/api/v1/figures/<int:figure_id>/retract", "POST"),
                ("/api/v1/figures/<int:figure_id>/disputes", "POST"),
                ("/api/v1/sources/<int:source_id>", "PATCH")}
KNOWN_READS = {"/api/v1/figures", "/api/v1/figures/<int:figure_id>",
               "/api/v1/figures/<int:figure_id>/history",
               "/api/v1/figures/<int:figure_id>/disputes", "/api/v1/sources",
               "/api/v1/sources/<int:source_id>"}
BAD_TOKENS = ["Bearer ct_not-a-token", "Bearer ", "Basic dXNlcjpwYXNz", "ct_no-scheme",
              "Bearer " + "x" * 5000]


def everything(database: sqlite_utils.Database) -> dict[str, list]:
    """Every row of every table: a refused request changes none of them."""
    return {t: database.execute(f'SELECT * FROM "{t}"').fetchall()
            for t in table_names(database)}


@pytest.fixture
def ids(client: FlaskClient, editor: dict[str, str]) -> dict[str, int]:
    created = client.post("/api/v1/figures", json=figure(), headers=editor).get_json()
    return {"figure_id": created["id"], "source_id": created["source_id"]}


def api_rules(app: Flask) -> Iterator[tuple[str, str, set[str]]]:
    """(rule, endpoint, methods) of every rule under /api/v1."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX):
            yield rule.rule, rule.endpoint, set(rule.methods or ())


def url_for_rule(app: Flask, endpoint: str, rule: str, ids: dict[str, int]) -> str:
    (found,) = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule]
    values = {}
    for name in found.arguments:
        converter = type(found._converters[name]).__name__  # noqa: SLF001
        values[name] = ids.get(name, 1) if "Integer" in converter else "x"
    with app.test_request_context():
        return app.url_for(endpoint, **values)


def writes(app: Flask) -> list[tuple[str, str, str]]:
    return sorted((rule, endpoint, method) for rule, endpoint, methods in api_rules(app)
                  for method in methods - READ_METHODS if rule not in OPEN)


def reads(app: Flask) -> list[tuple[str, str]]:
    return sorted((rule, endpoint) for rule, endpoint, methods in api_rules(app)
                  if "GET" in methods and rule not in OPEN)


def write_body() -> dict[str, Any]:
    """A body that would pass for most writes; auth must refuse before it is even read."""
    return {**figure(), "figures": [figure()], "reason": "test", "kind": "media",
            "status": "acknowledged"}


def call(client: FlaskClient, url: str, method: str = "GET", **kwargs: Any) -> Any:
    """The response, read to the end and closed (CSV exports stream their bodies)."""
    response = client.open(url, method=method, **kwargs)
    response.get_data()
    response.close()
    return response


def test_the_walk_covers_the_contract(app: Flask) -> None:
    assert {(rule, method) for rule, _, method in writes(app)} >= KNOWN_WRITES
    assert {rule for rule, _ in reads(app)} >= KNOWN_READS
    assert not any(method == "DELETE" and rule.startswith("/api/v1/figures")
                   for rule, _, method in writes(app))


def test_every_write_needs_an_editor(app: Flask, client: FlaskClient, database: Any,
                                     reader: dict[str, str], ids: dict[str, int]) -> None:
    before = everything(database)
    checked = 0
    for rule, endpoint, method in writes(app):
        url = url_for_rule(app, endpoint, rule, ids)
        anonymous = call(client, url, method, json=write_body())
        assert_problem(anonymous, 401)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer"), (rule, method)
        for bad in BAD_TOKENS:
            refused = call(client, url, method, json=write_body(),
                                  headers={"Authorization": bad})
            assert_problem(refused, 401)
            assert refused.headers["WWW-Authenticate"].startswith("Bearer"), (rule, bad)
        forbidden = call(client, url, method, json=write_body(), headers=reader)
        assert_problem(forbidden, 403)
        # whatever the body or its media type
        assert_problem(call(client, url, method, data="x", headers={
            **reader, "Content-Type": "text/plain"}), 403)
        assert everything(database) == before, (rule, method)
        checked += 1
    assert checked >= len(KNOWN_WRITES)


def test_every_read_is_public_by_default(app: Flask, client: FlaskClient,
                                         ids: dict[str, int]) -> None:
    for rule, endpoint in reads(app):
        url = url_for_rule(app, endpoint, rule, ids)
        response = call(client, url)
        assert response.status_code not in (401, 403), (rule, response.status_code)
        assert response.status_code < 500, rule
        if rule in KNOWN_READS:
            assert response.status_code == 200, rule


def test_a_bad_token_is_refused_even_on_get(app: Flask, client: FlaskClient,
                                            ids: dict[str, int]) -> None:
    for rule, endpoint in reads(app):
        url = url_for_rule(app, endpoint, rule, ids)
        for bad in BAD_TOKENS:
            response = call(client, url, headers={"Authorization": bad})
            assert_problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), (rule, bad)


def test_reads_need_a_token_when_public_read_is_off(db_path: Path, ids: dict[str, int],
                                                    reader: dict[str, str],
                                                    editor: dict[str, str]) -> None:
    private = create_app(Settings(db_path=db_path, reconcile_seconds=0, public_read=False))
    client = private.test_client()
    for rule, endpoint in reads(private):
        url = url_for_rule(private, endpoint, rule, ids)
        anonymous = call(client, url)
        assert_problem(anonymous, 401)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer"), rule
        for headers in (reader, editor):
            allowed = call(client, url, headers=headers)
            assert allowed.status_code not in (401, 403), rule
            assert allowed.status_code < 500, rule
            if rule in KNOWN_READS:
                assert allowed.status_code == 200, rule
    figure_ids = [f["id"] for f in client.get("/api/v1/figures", headers=reader)
                  .get_json()["items"]]
    assert figure_ids == [ids["figure_id"]]


@pytest.mark.parametrize("public_read", [True, False])
@pytest.mark.parametrize("authorization", [None, *BAD_TOKENS])
def test_health_and_openapi_are_always_open(db_path: Path, public_read: bool,
                                            authorization: str | None) -> None:
    app = create_app(Settings(db_path=db_path, reconcile_seconds=0, public_read=public_read))
    headers = {"Authorization": authorization} if authorization is not None else {}
    client = app.test_client()
    health = client.get("/api/v1/health", headers=headers)
    assert health.status_code == 200
    assert health.get_json()["status"] == "ok"
    spec = client.get("/api/v1/openapi.json", headers=headers)
    assert spec.status_code == 200
    assert spec.get_json()["openapi"].startswith("3")


def test_editor_can_write(client: FlaskClient, editor: dict[str, str],
                          ids: dict[str, int]) -> None:
    assert client.post("/api/v1/figures", json=figure(), headers=editor).status_code == 201
    patched = client.patch(f"/api/v1/figures/{ids['figure_id']}", json={"count": 23},
                           headers=editor)
    assert (patched.status_code, patched.get_json()["count"]) == (200, 23)
    source = client.patch(f"/api/v1/sources/{ids['source_id']}", json={"kind": "government"},
                          headers=editor)
    assert (source.status_code, source.get_json()["kind"]) == (200, "government")


def test_admin_can_write(client: FlaskClient, token: Callable[[str], str],
                         ids: dict[str, int]) -> None:
    admin = {"Authorization": f"Bearer {token('admin')}"}
    created = client.post("/api/v1/figures", json=figure(count=5), headers=admin)
    assert (created.status_code, created.get_json()["count"]) == (201, 5)
    batch = client.post("/api/v1/figures/batch", json={"figures": [figure()]}, headers=admin)
    assert batch.status_code == 201
    retracted = client.post(f"/api/v1/figures/{ids['figure_id']}/retract",
                            json={"reason": "test"}, headers=admin)
    assert (retracted.status_code, retracted.get_json()["status"]) == (200, "retracted")
    dispute = client.post(f"/api/v1/figures/{created.get_json()['id']}/disputes",
                          json={"source": "Armenia", "reported_on": "2020-10-04"},
                          headers=admin)
    assert dispute.status_code == 201
    assert client.get("/api/v1/figures", headers=admin).status_code == 200


def test_reader_can_read(client: FlaskClient, reader: dict[str, str],
                         ids: dict[str, int]) -> None:
    response = client.get(f"/api/v1/figures/{ids['figure_id']}", headers=reader)
    assert (response.status_code, response.get_json()["id"]) == (200, ids["figure_id"])


def test_scheme_is_case_insensitive(client: FlaskClient, token: Callable[[str], str]) -> None:
    response = client.post("/api/v1/figures", json=figure(),
                           headers={"Authorization": f"bearer {token('editor')}"})
    assert response.status_code == 201


def test_revoked_token_is_refused(client: FlaskClient, runner: CliRunner, db_path: Path,
                                  editor: dict[str, str]) -> None:
    created = runner.invoke(main, ["keys", "create", "--role", "editor", "--name", "revokee",
                                   "--db", str(db_path)])
    assert created.exit_code == 0, created.output
    headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
    assert client.post("/api/v1/figures", json=figure(), headers=headers).status_code == 201

    revoked = runner.invoke(main, ["keys", "revoke", "--name", "revokee", "--db", str(db_path)])
    assert revoked.exit_code == 0, revoked.output
    assert_problem(client.post("/api/v1/figures", json=figure(), headers=headers), 401)
    assert_problem(client.get("/api/v1/figures", headers=headers), 401)
    # other keys live on
    assert client.post("/api/v1/figures", json=figure(), headers=editor).status_code == 201
    # revoking a name with no live key is an error, not silence
    again = runner.invoke(main, ["keys", "revoke", "--name", "revokee", "--db", str(db_path)])
    assert again.exit_code != 0


def test_tokens_are_stored_only_as_hashes(client: FlaskClient, runner: CliRunner,
                                          database: Any, db_path: Path) -> None:
    tokens = []
    for role in ("reader", "editor", "admin"):
        result = runner.invoke(main, ["keys", "create", "--role", role, "--name", f"k {role}",
                                      "--db", str(db_path)])
        assert result.exit_code == 0, result.output
        tokens.append(result.stdout.strip())
    assert client.get("/api/v1/figures", headers={
        "Authorization": f"Bearer {tokens[0]}"}).status_code == 200

    if isinstance(db_path, Path):
        files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
        assert db_path in files
        contents = b"".join(p.read_bytes() for p in files)
    else:  # PostgreSQL: every cell of every table, as text
        contents = repr(everything(database)).encode()
        assert b"token_hash" not in contents and len(contents) > 100
    stored = {row[0] for row in database.execute("SELECT token_hash FROM api_keys")}
    for secret in tokens:
        assert secret.encode() not in contents
        assert secret[-20:].encode() not in contents
        assert hashlib.sha256(secret.encode()).hexdigest() in stored
    listing = runner.invoke(main, ["keys", "list", "--db", str(db_path)])
    assert listing.exit_code == 0
    assert not any(secret in listing.output for secret in tokens)
    assert json.dumps(tokens)  # tokens are plain text, printable
