"""Security review checks (SECURITY.md, OWASP API Security Top 10, 2023) not already tested
elsewhere: headers on every kind of answer, no CORS, no stack traces, tokens kept out of
logs and answers, injection, mass assignment beyond single figures, no data beyond the
documented fields, and no outbound requests (SSRF)."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlite_utils
from conftest import assert_problem, figure, stored_state
from flask import Flask
from flask.testing import FlaskClient
from realserver import running_server

from service import auth, create_app, db, store
from service.config import Settings
from service.reconcile import run

API = "/api/v1"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
SECRET = "SECRET-internal-detail-42"


def assert_security_headers(headers: Any, label: str) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (label, name, headers.get(name))
    assert not [name for name, _ in headers.items()
                if name.lower().startswith("access-control-")]


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The real app plus throwaway routes that fail the ways a bug or the database could;
    they exercise the real error handlers (nothing of ours is replaced)."""
    app = create_app(settings)

    def unexpected() -> None:
        raise RuntimeError(f"{SECRET} in /srv/casualty-tracker/service/store.py line 1")

    def busy() -> None:
        raise sqlite3.OperationalError("database is locked")

    def broken_sql() -> None:
        raise sqlite3.OperationalError(f"no such column: {SECRET}")

    app.add_url_rule(f"{API}/test-unexpected", view_func=unexpected)
    app.add_url_rule(f"{API}/test-busy", view_func=busy)
    app.add_url_rule(f"{API}/test-broken-sql", view_func=broken_sql)
    yield app
    app.extensions["casualty_tracker_runs"].shutdown()  # runs started by POST /runs


@pytest.fixture
def posted(client: FlaskClient, editor: dict[str, str]) -> dict[str, Any]:
    response = client.post(f"{API}/figures", json=figure(), headers=editor)
    assert response.status_code == 201
    return response.get_json()


# --- API8: security headers and CORS --------------------------------------------------------

def every_kind_of_answer(client: FlaskClient, editor: dict[str, str], reader: dict[str, str],
                         small: FlaskClient, posted: dict) -> Iterator[tuple[str, Any, int, str]]:
    """(label, response, status, content type) of one answer of every kind."""
    json_type, problem, csv = "application/json", "application/problem+json", "text/csv"
    keyed = {**editor, "Idempotency-Key": "headers-test"}
    yield "list", client.get(f"{API}/figures"), 200, json_type
    yield "created", client.post(f"{API}/figures", json=figure(), headers=keyed), 201, json_type
    yield "replayed", client.post(f"{API}/figures", json=figure(), headers=keyed), 201, json_type
    yield "accepted", client.post(f"{API}/reconciliation/runs", headers=editor), 202, json_type
    yield "csv", client.get(f"{API}/exports/figures.csv"), 200, csv
    yield "openapi", client.get(f"{API}/openapi.json"), 200, json_type
    yield "health", client.get(f"{API}/health"), 200, json_type
    yield "options", client.options(f"{API}/figures"), 200, "text/html"
    yield "400", client.post(f"{API}/figures", data=b"{", headers={
        **editor, "Content-Type": "application/json"}), 400, problem
    yield "401", client.get(f"{API}/figures", headers={"Authorization": "Bearer x"}), 401, \
        problem
    yield "403", client.post(f"{API}/figures", json=figure(), headers=reader), 403, problem
    yield "404", client.get(f"{API}/figures/999999"), 404, problem
    # "/" is the pages now (issue 13); an unknown path under the API is still problem+json
    yield "404 unknown API path", client.get(f"{API}/no-such-resource"), 404, problem
    yield "405", client.delete(f"{API}/figures/{posted['id']}", headers=editor), 405, problem
    retract = f"{API}/figures/{posted['id']}/retract"
    yield "retracted", client.post(retract, json={"reason": "x"}, headers=editor), 200, \
        json_type
    yield "409", client.post(retract, json={"reason": "x"}, headers=editor), 409, problem
    yield "413", small.post(f"{API}/figures", data=b"x" * (1024 * 1024 + 1), headers={
        **editor, "Content-Type": "application/json"}), 413, problem
    yield "415", client.post(f"{API}/figures", data="x", headers={
        **editor, "Content-Type": "text/plain"}), 415, problem
    yield "422", client.get(f"{API}/figures?limit=0"), 422, problem
    yield "500", client.get(f"{API}/test-unexpected"), 500, problem
    yield "503", client.get(f"{API}/test-busy"), 503, problem


def test_security_headers_on_every_kind_of_answer(client: FlaskClient, db_path: Path,
                                                  editor: dict[str, str],
                                                  reader: dict[str, str], posted: dict) -> None:
    small = create_app(Settings(db_path=db_path, reconcile_seconds=0, max_body_mb=1))
    seen = set()
    for label, response, status, content_type in every_kind_of_answer(
            client, editor, reader, small.test_client(), posted):
        response.get_data()
        assert response.status_code == status, (label, response.get_data(as_text=True))
        assert response.mimetype == content_type, label
        assert_security_headers(response.headers, label)
        seen.add(status)
    assert seen == {200, 201, 202, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500, 503}


@pytest.mark.parametrize("path", ["/figures", "/figures/{id}", "/figures/batch", "/imports",
                                  "/flags", "/exports/figures.csv", "/health"])
def test_no_cors_even_for_a_preflight(client: FlaskClient, posted: dict, path: str) -> None:
    url = API + path.format(id=posted["id"])
    origin = {"Origin": "https://newsroom.example"}
    preflight = client.options(url, headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code == 200
    assert_security_headers(preflight.headers, "preflight")
    if path not in ("/figures/batch", "/imports"):
        answer = client.get(url, headers=origin)
        answer.get_data()
        assert answer.status_code == 200
        assert answer.headers.get("Access-Control-Allow-Origin") is None
        assert_security_headers(answer.headers, "GET with Origin")


# --- API8: no stack traces, debug off -------------------------------------------------------

def test_an_unexpected_error_is_a_bare_500_problem(app: Flask, client: FlaskClient,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    assert app.debug is False
    assert not app.config["PROPAGATE_EXCEPTIONS"]
    with caplog.at_level("ERROR", logger="service.errors"):
        response = client.get(f"{API}/test-unexpected")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.get_json() == {
        "type": "urn:casualty-tracker:problem:internal-server-error",
        "title": "Internal Server Error", "status": 500,
        "detail": "Something went wrong on our side; nothing was changed."}
    text = response.get_data(as_text=True)
    for leak in (SECRET, "Traceback", "RuntimeError", ".py", "line 1"):
        assert leak not in text
    # the operators' log has what the client does not
    (record,) = [r for r in caplog.records if r.name == "service.errors"]
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])


def test_a_busy_database_is_a_503_that_says_nothing_changed(client: FlaskClient) -> None:
    response = client.get(f"{API}/test-busy")
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert body["detail"] == "The database is busy; nothing was changed. Try again shortly."
    assert "locked" not in response.get_data(as_text=True)


def test_a_database_error_does_not_leak_sql(client: FlaskClient) -> None:
    response = client.get(f"{API}/test-broken-sql")
    assert_problem(response, 500)
    assert SECRET not in response.get_data(as_text=True)
    assert "column" not in response.get_data(as_text=True)


# --- API2: tokens stay out of logs and answers ---------------------------------------------

def test_tokens_never_reach_the_log_or_an_answer(db_path: Path | str, tmp_path: Path) -> None:
    connection = db.connect(db_path)
    editor = auth.create_key(connection, "editor", "log test")
    reader = auth.create_key(connection, "reader", "log test reader")
    connection.close()
    unknown = auth.new_token()  # well-formed, never stored
    secrets = {editor, reader, unknown}
    answers = []
    with running_server(db_path, tmp_path / "server.log",
                        CASUALTY_TRACKER_PUBLIC_READ="0") as server:
        def call(method: str, path: str, token: str | None, body: Any = None,
                 data: bytes | None = None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if data is not None:
                headers["Content-Type"] = "application/json"
            answer = server.request(method, API + path, body, headers=headers, data=data)
            answers.append(answer)
            return answer.status

        assert call("POST", "/figures", editor, figure()) == 201
        assert call("GET", "/figures", reader) == 200
        assert call("POST", "/figures", reader, figure()) == 403
        assert call("GET", "/figures", unknown) == 401
        assert call("GET", "/figures", None) == 401
        assert call("POST", "/figures", editor, data=b"{broken") == 400
        assert call("POST", "/figures", editor, {**figure(), "count": "many"}) == 422
        assert call("GET", "/figures/999", editor) == 404
        # a token is taken only from the Authorization header, never from the query string
        assert call("GET", f"/figures?access_token={reader}", None) == 401
        assert call("GET", f"/figures?access_token={reader}", reader) == 422
        assert call("POST", "/reconciliation/runs", editor) == 202
        # the real server sends the headers too, and names no version of anything
        assert all(answer.headers.get("X-Content-Type-Options") == "nosniff"
                   for answer in answers)
        assert {answer.headers.get("Server") for answer in answers} == {"casualty-tracker"}
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert "casualty-tracker serving on http://127.0.0.1" in log  # the log was captured
    password = urlsplit(str(db_path)).password
    if password:  # PostgreSQL: the database URL is logged without its password
        assert password not in log and ":***@" in log
    for secret in secrets:
        assert secret not in log
        assert secret[3:20] not in log
        assert auth.hash_token(secret) not in log
        for answer in answers:
            assert secret.encode() not in answer.body
            assert auth.hash_token(secret).encode() not in answer.body


# --- API8/API10: injection ------------------------------------------------------------------

INJECTIONS = ["' OR 1=1 --", "x' OR 'a'='a", "1; DROP TABLE figures; --",
              "' UNION SELECT token_hash FROM api_keys --", "%", "_", "*", "\\", '" OR ""="']
TEXT_FILTERS = {
    "/figures": ["source", "side", "location", "incident"],
    "/exports/figures.csv": ["source", "side", "location", "incident"],
    "/sources": ["name"],
}
CHOICE_FILTERS = {
    "/figures": ["conflict", "category", "status", "reported_from", "reported_to",
                 "as_of_from", "as_of_to", "limit", "cursor"],
    "/exports/figures.csv": ["conflict", "category", "status", "reported_from", "hxl"],
    "/sources": ["kind", "limit", "cursor"],
    "/flags": ["conflict", "status", "rule", "figure_id", "limit", "cursor"],
    "/exports/flags.csv": ["conflict", "status", "rule", "figure_id"],
    "/reconciliation/runs": ["status", "limit", "cursor"],
    "/reconciliation/report": ["conflict"],
    "/exports/report.csv": ["conflict"],
}


@pytest.fixture
def corpus(client: FlaskClient, editor: dict[str, str],
           database: sqlite_utils.Database) -> dict[str, Any]:
    for source, count in (("Source A", 10), ("Source B", 1000)):
        assert client.post(f"{API}/figures", json=figure(source=source, count=count,
                                                         location="Ganja"),
                           headers=editor).status_code == 201
    queued = store.create_run(database, "cli", True)
    assert run.execute(database, queued["id"], full=True)["status"] == "succeeded"
    assert len(client.get(f"{API}/flags").get_json()["items"]) == 1
    return stored_state(database)


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_a_text_filter_matches_nothing(client: FlaskClient, database: Any,
                                                    corpus: dict, payload: str) -> None:
    for path, names in TEXT_FILTERS.items():
        for name in names:
            response = client.get(f"{API}{path}", query_string={name: payload})
            assert response.status_code == 200, (path, name, response.get_data(as_text=True))
            if path.endswith(".csv"):  # the header row only
                assert response.get_data(as_text=True).count("\r\n") == 1, (path, name)
            else:
                assert response.get_json() == {"items": [], "next_cursor": None}, (path, name)
    assert stored_state(database) == corpus
    assert database.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)


@pytest.mark.parametrize("payload", INJECTIONS[:4])
def test_injection_in_a_typed_filter_is_a_422(client: FlaskClient, database: Any,
                                              corpus: dict, payload: str) -> None:
    for path, names in CHOICE_FILTERS.items():
        for name in names:
            response = client.get(f"{API}{path}", query_string={name: payload})
            assert_problem(response, 422, name)
    assert stored_state(database) == corpus


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_text_is_stored_and_found_literally(client: FlaskClient,
                                                      editor: dict[str, str],
                                                      corpus: dict, payload: str) -> None:
    name = f"Robert{payload}"
    created = client.post(f"{API}/figures", json=figure(source=name, location=payload),
                          headers=editor)
    assert created.status_code == 201
    assert (created.get_json()["source"], created.get_json()["location"]) == (name, payload)
    for query in ({"source": name}, {"location": payload}):
        found = client.get(f"{API}/figures", query_string=query).get_json()["items"]
        assert [item["id"] for item in found] == [created.get_json()["id"]]


def test_injection_in_a_path_is_a_404(client: FlaskClient, corpus: dict) -> None:
    for path in ("/figures/1%20OR%201=1", "/figures/1;DROP%20TABLE%20figures",
                 "/sources/1'--", "/flags/1%27"):
        assert_problem(client.get(API + path), 404)


# --- API3: mass assignment and data exposure ---------------------------------------------
# (a single figure's server fields on POST and PATCH: test_validation.py; a source's:
# test_sources.py; CSV server columns: test_imports.py; a flag's status: test_reconciliation.py)

@pytest.mark.parametrize("field", ["id", "low", "high", "status", "version", "created_at",
                                   "source_id", "family_key"])
def test_server_fields_in_a_batch_item_are_refused(client: FlaskClient, database: Any,
                                                   editor: dict[str, str], field: str) -> None:
    before = stored_state(database)
    response = client.post(f"{API}/figures/batch", headers=editor,
                           json={"figures": [figure(), figure(**{field: 1})]})
    body = assert_problem(response, 422)
    assert body["errors"] == {"1": {field: ["Unknown field."]}}
    assert stored_state(database) == before


@pytest.mark.parametrize("field", ["rule", "severity", "figure_ids", "explanation", "conflict",
                                   "first_seen_run", "last_seen_run", "id", "flag_key"])
def test_server_fields_of_a_flag_are_refused(client: FlaskClient, editor: dict[str, str],
                                             corpus: dict, field: str) -> None:
    (flag,) = client.get(f"{API}/flags").get_json()["items"]
    response = client.patch(f"{API}/flags/{flag['id']}", headers=editor,
                            json={"status": "acknowledged", field: flag.get(field, "x")})
    assert_problem(response, 422, field)
    assert client.get(f"{API}/flags/{flag['id']}").get_json() == flag


@pytest.mark.parametrize("field", ["id", "status", "trigger", "figures_checked", "error"])
def test_server_fields_of_a_run_are_refused(client: FlaskClient, database: Any,
                                            editor: dict[str, str], field: str) -> None:
    response = client.post(f"{API}/reconciliation/runs", headers=editor,
                           json={"full": True, field: "succeeded"})
    assert_problem(response, 422, field)
    assert database.execute("SELECT count(*) FROM reconciliation_runs").fetchone() == (0,)


def documented_fields(client: FlaskClient, component: str) -> set[str]:
    spec = client.get(f"{API}/openapi.json").get_json()
    return set(spec["components"]["schemas"][component]["properties"])


def test_answers_hold_exactly_the_documented_fields(client: FlaskClient,
                                                    editor: dict[str, str],
                                                    corpus: dict) -> None:
    """No internal column (family_key, name_key, flag_key, a token hash) leaves the API."""
    figure_item = client.get(f"{API}/figures").get_json()["items"][0]
    disputed = client.post(f"{API}/figures/{figure_item['id']}/disputes", headers=editor,
                           json={"source": "Someone else", "reported_on": "2020-10-05"})
    answers = {
        "FigureOut": figure_item,
        "FigureVersionOut": client.get(
            f"{API}/figures/{figure_item['id']}/history").get_json()["items"][0],
        "SourceOut": client.get(f"{API}/sources").get_json()["items"][0],
        "FlagOut": client.get(f"{API}/flags").get_json()["items"][0],
        "RunOut": client.get(f"{API}/reconciliation/runs").get_json()["items"][0],
        "DisputeOut": disputed.get_json(),
        "HealthOut": client.get(f"{API}/health").get_json(),
    }
    for component, answer in answers.items():
        assert set(answer) == documented_fields(client, component), component
    everything = json.dumps(answers)
    for internal in ("family_key", "name_key", "flag_key", "token_hash", "holder"):
        assert internal not in everything


# --- API9: one versioned prefix, every route documented -----------------------------------

def test_every_route_is_under_the_prefix_and_documented(settings: Settings) -> None:
    """No shadow endpoint: every route the app serves is /api/v1/... and is in the
    OpenAPI document with its methods (the document itself aside), or is one of the web
    pages (issue 13), which are HTML for people, not API."""
    fresh = create_app(settings)
    spec = fresh.test_client().get(f"{API}/openapi.json").get_json()
    served = set()
    pages = set()
    for rule in fresh.url_map.iter_rules():
        if rule.endpoint.startswith("web."):
            pages.add(rule.rule)
            continue
        assert rule.rule.startswith(f"{API}/"), rule.rule
        if rule.rule == f"{API}/openapi.json":
            continue
        path = rule.rule.replace("<int:", "{").replace(">", "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    documented = {(path, method) for path, operations in spec["paths"].items()
                  for method in operations if method != "parameters"}
    assert served == documented
    assert len(served) == 26  # GET /series (issue 13), POST /extractions (§9)
    assert pages == {"/", "/conflicts/<slug>", "/flags", "/flags/<int:flag_id>",
                     "/figures/<int:figure_id>", "/sign-in", "/sign-out", "/static/<path:filename>",
                     "/extract", "/extract/post", "/extract/posted"}


# --- API7: the service makes no outbound request ------------------------------------------

def test_urls_in_figures_are_never_fetched(client: FlaskClient, editor: dict[str, str],
                                           database: sqlite_utils.Database) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as trap:
        trap.bind(("127.0.0.1", 0))
        trap.listen(8)
        trap.setblocking(False)
        url = f"http://127.0.0.1:{trap.getsockname()[1]}/latest-toll"
        created = client.post(f"{API}/figures", json=figure(url=url), headers=editor)
        assert created.status_code == 201
        figure_id = created.get_json()["id"]
        assert client.post(f"{API}/figures/{figure_id}/disputes", headers=editor, json={
            "source": "Other", "reported_on": "2020-10-05", "url": url}).status_code == 201
        queued = store.create_run(database, "cli", True)
        assert run.execute(database, queued["id"], full=True)["status"] == "succeeded"
        for path in (f"/figures/{figure_id}", "/exports/figures.csv", "/flags",
                     "/reconciliation/report?conflict=nagorno-karabakh-2020"):
            response = client.get(API + path)
            assert response.status_code == 200
            response.get_data()
        assert url in client.get(f"{API}/exports/figures.csv").get_data(as_text=True)
        with pytest.raises(BlockingIOError):
            trap.accept()  # nobody ever connected to the URL
