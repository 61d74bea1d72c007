"""Limits (README "Errors and limits"), where test_validation.py does not already test them:
each refusal is a 4xx problem+json naming the field (or the row) and the limit, and
changes nothing.

Already tested elsewhere: the body limit with Content-Length (test_validation), 10,001
figures in a batch, limit=1001 on figures, sources, history and disputes, 201-character
names and 2,001-character quotes, notes and reasons in a figure, counts over 10^9.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient
from realserver import running_server

from service import auth, create_app, db, store
from service.config import Settings
from service.csvimport import MAX_IMPORT_ROWS
from service.reconcile import run


@pytest.fixture
def refused(client: FlaskClient, database: Any, editor: dict[str, str]) -> Callable[..., dict]:
    def check(method: str, path: str, status: int, field: str | None, **kwargs: Any) -> dict:
        before = stored_state(database)
        response = client.open(path, method=method,
                               headers={**editor, **kwargs.pop("headers", {})}, **kwargs)
        body = assert_problem(response, status, field)
        assert stored_state(database) == before
        return body
    return check


@pytest.fixture
def flag_id(client: FlaskClient, database: Any, editor: dict[str, str]) -> int:
    """An open disagreement flag: two sources, 10 and 1000 killed on the same day."""
    for source, count in (("Source A", 10), ("Source B", 1000)):
        assert client.post("/api/v1/figures", json=figure(source=source, count=count),
                           headers=editor).status_code == 201
    queued = store.create_run(database, "cli", True)
    assert run.execute(database, queued["id"], full=True)["status"] == "succeeded"
    (flag,) = client.get("/api/v1/flags").get_json()["items"]
    return flag["id"]


# --- page size ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/flags", "/api/v1/reconciliation/runs"])
@pytest.mark.parametrize("limit", ["1001", "0", "100000000000000000000"])
def test_page_size_on_the_other_lists(refused: Callable, flag_id: int, path: str,
                                      limit: str) -> None:
    body = refused("GET", f"{path}?limit={limit}", 422, "limit")
    assert body["errors"] == {
        "limit": ["Must be greater than or equal to 1 and less than or equal to 1000."]}


@pytest.mark.parametrize("path", ["/api/v1/flags", "/api/v1/reconciliation/runs"])
def test_a_page_of_1000_is_allowed_on_the_other_lists(client: FlaskClient, flag_id: int,
                                                      path: str) -> None:
    response = client.get(f"{path}?limit=1000")
    assert response.status_code == 200
    assert len(response.get_json()["items"]) == 1


# --- text lengths in query strings and bodies ----------------------------------------------

@pytest.mark.parametrize(("path", "field"), [
    ("/api/v1/figures?source={}", "source"),
    ("/api/v1/figures?location={}", "location"),
    ("/api/v1/figures?incident={}", "incident"),
    ("/api/v1/sources?name={}", "name"),
    ("/api/v1/exports/figures.csv?side={}", "side"),
])
def test_query_text_over_200_characters(client: FlaskClient, refused: Callable, path: str,
                                        field: str) -> None:
    body = refused("GET", path.format("s" * 201), 422, field)
    assert body["errors"][field] == ["Must be at most 200 characters (got 201)."]
    allowed = client.get(path.format("s" * 200))
    assert allowed.status_code == 200
    allowed.close()


@pytest.mark.parametrize("path", ["/api/v1/figures", "/api/v1/flags",
                                  "/api/v1/reconciliation/report", "/api/v1/exports/report.csv"])
def test_a_conflict_filter_over_100_characters(client: FlaskClient, refused: Callable,
                                               path: str) -> None:
    refused("GET", f"{path}?conflict={'a' * 101}", 422, "conflict")
    allowed = client.get(f"{path}?conflict={'a' * 100}")
    assert allowed.status_code == 200
    allowed.close()


def test_batch_item_text_over_the_limit_names_index_and_field(refused: Callable) -> None:
    items = [figure(), figure(source="s" * 201), figure(quote="q" * 2001)]
    body = refused("POST", "/api/v1/figures/batch", 422, None, json={"figures": items})
    assert body["errors"] == {
        "1": {"source": ["Must be at most 200 characters (got 201)."]},
        "2": {"quote": ["Must be at most 2,000 characters (got 2,001)."]},
    }


def test_dispute_source_over_200_characters(client: FlaskClient, refused: Callable,
                                            editor: dict[str, str]) -> None:
    posted = client.post("/api/v1/figures", json=figure(), headers=editor).get_json()
    refused("POST", f"/api/v1/figures/{posted['id']}/disputes", 422, "source",
            json={"source": "s" * 201, "reported_on": "2020-10-05"})


def test_flag_note_over_2000_characters(client: FlaskClient, refused: Callable,
                                        editor: dict[str, str], flag_id: int) -> None:
    before = client.get(f"/api/v1/flags/{flag_id}").get_json()
    body = refused("PATCH", f"/api/v1/flags/{flag_id}", 422, "note",
                   json={"status": "acknowledged", "note": "n" * 2001})
    assert body["errors"]["note"] == ["Must be at most 2,000 characters (got 2,001)."]
    assert client.get(f"/api/v1/flags/{flag_id}").get_json() == before
    accepted = client.patch(f"/api/v1/flags/{flag_id}", headers=editor,
                            json={"status": "acknowledged", "note": "n" * 2000})
    assert accepted.status_code == 200
    assert accepted.get_json()["note"] == "n" * 2000


# --- CSV imports ---------------------------------------------------------------------------

def csv_of(rows: int, source: Callable[[int], str] = lambda n: f"Source {n % 7}") -> bytes:
    lines = ["conflict,source,category,count,reported_on"]
    lines += [f"limit-test,{source(n)},killed,{n},2020-10-04" for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def test_an_import_of_more_than_100000_figures_is_refused(db_path: Path, database: Any,
                                                          editor: dict[str, str]) -> None:
    data = csv_of(MAX_IMPORT_ROWS + 1)
    assert len(data) < 8 * 1024 * 1024  # well under the body limit: the row limit refuses it
    app = create_app(Settings(db_path=db_path, reconcile_seconds=0, max_body_mb=16))
    before = stored_state(database)
    response = app.test_client().post("/api/v1/imports", data=data, headers={
        **editor, "Content-Type": "text/csv"})
    body = assert_problem(response, 422, "rows")
    assert body["errors"]["rows"] == ["An import holds at most 100,000 figures; split the file."]
    assert stored_state(database) == before


def test_an_import_cell_over_the_limit_names_the_row(refused: Callable) -> None:
    data = csv_of(3, source=lambda n: "s" * 201 if n == 1 else "Source")
    body = refused("POST", "/api/v1/imports", 422, "row 3", data=data,
                   headers={"Content-Type": "text/csv"})
    assert body["errors"] == {"row 3": {"source": ["Must be at most 200 characters (got 201)."]}}


def test_an_import_over_the_body_limit(db_path: Path, database: Any,
                                       editor: dict[str, str]) -> None:
    small = create_app(Settings(db_path=db_path, reconcile_seconds=0, max_body_mb=1))
    data = csv_of(30_000)
    assert len(data) > 1024 * 1024
    before = stored_state(database)
    response = small.test_client().post("/api/v1/imports", data=data, headers={
        **editor, "Content-Type": "text/csv"})
    body = assert_problem(response, 413)
    assert body["detail"] == ("The request body is larger than the limit of 1 MB "
                              "(CASUALTY_TRACKER_MAX_BODY_MB); nothing was changed.")
    assert stored_state(database) == before


# --- the body limit on a real server, with chunked bodies ---------------------------------

def post_chunked(port: int, token: str, body: bytes) -> tuple[int, str, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        chunks = (body[start:start + 65536] for start in range(0, len(body), 65536))
        connection.request("POST", "/api/v1/figures", body=chunks, encode_chunked=True,
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def test_a_chunked_body_over_the_limit_is_refused(db_path: Path | str, tmp_path: Path) -> None:
    connection = db.connect(db_path)
    token = auth.create_key(connection, "editor", "chunked")
    connection.close()

    def body(size: int) -> bytes:
        return json.dumps(figure(quote="x" * size)).encode()

    with running_server(db_path, tmp_path / "server.log",
                        CASUALTY_TRACKER_MAX_BODY_MB="1") as server:
        # over the limit, without a Content-Length: the app counts and refuses it
        status, content_type, answer = post_chunked(server.port, token, body(1536 * 1024))
        assert (status, content_type) == (413, "application/problem+json")
        assert json.loads(answer)["detail"].startswith(
            "The request body is larger than the limit of 1 MB")
        # twice the limit still reaches the app and gets its problem+json 413
        status, content_type, _ = post_chunked(server.port, token, body(2 * 1024 * 1024))
        assert (status, content_type) == (413, "application/problem+json")
        # far over it the WSGI server stops reading and answers 413 itself, in problem+json
        # too since API 1.1 (tests/test_body_limit.py tests this at any size)
        status, content_type, _ = post_chunked(server.port, token, body(19 * 1024 * 1024))
        assert (status, content_type) == (413, "application/problem+json")
        # a chunked body under the limit is read whole
        status, _, answer = post_chunked(server.port, token, body(1000))
        assert status == 201, answer
        assert server.request("GET", "/api/v1/health").status == 200
    connection = db.connect(db_path)
    try:
        assert connection.execute("SELECT count(*) FROM figures").fetchone() == (1,)
    finally:
        connection.close()
