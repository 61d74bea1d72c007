"""Idempotency-Key on the POSTs that create figures: /figures, /figures/batch and /imports.

A retry with the same key and body answers the first answer again (status, body,
Location, plus `Idempotent-Replayed: true`) and stores nothing; the same key with another
body is a 422 naming Idempotency-Key; keys belong to one token; racing requests with one
key store once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient
from realserver import running_server

from service import auth, db

KEY = "Idempotency-Key"
CSV = ("conflict,source,category,side,count,reported_on\r\n"
       "nagorno-karabakh-2020,Azerbaijani officials,civilian,Azerbaijan,22,2020-10-04\r\n"
       "nagorno-karabakh-2020,Armenian officials,military,Armenia,7,2020-10-05\r\n")
OTHER_CSV = CSV.replace(",22,", ",23,")


def figure_request(count: int = 22) -> dict[str, Any]:
    return {"path": "/api/v1/figures", "json": figure(count=count)}


def batch_request(count: int = 22) -> dict[str, Any]:
    return {"path": "/api/v1/figures/batch",
            "json": {"figures": [figure(count=count), figure(count=count + 1, side=None)]}}


def import_request(count: int = 22) -> dict[str, Any]:
    return {"path": "/api/v1/imports", "data": CSV if count == 22 else OTHER_CSV,
            "headers": {"Content-Type": "text/csv"}}


ENDPOINTS = {"figures": figure_request, "batch": batch_request, "imports": import_request}


@pytest.fixture(params=sorted(ENDPOINTS))
def make(request: pytest.FixtureRequest) -> Callable[..., dict[str, Any]]:
    return ENDPOINTS[request.param]


def post(client: FlaskClient, request: dict[str, Any], headers: dict[str, str]) -> Any:
    request = dict(request)
    return client.post(request.pop("path"), headers={**headers, **request.pop("headers", {})},
                       **request)


def new_ids(response: Any) -> list[int]:
    body = response.get_json()
    return body["ids"] if "ids" in body else [body["id"]]


def test_a_retry_answers_the_first_answer_and_stores_nothing(
        client: FlaskClient, database: Any, editor: dict[str, str],
        make: Callable[..., dict[str, Any]]) -> None:
    headers = {**editor, KEY: "3f1c9d2e-retry"}
    first = post(client, make(), headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert "Idempotent-Replayed" not in first.headers
    after_first = stored_state(database)
    assert len(after_first["figures"]) == len(new_ids(first))

    for _ in range(2):
        again = post(client, make(), headers)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.get_data() == first.get_data()
        assert again.headers.get("Location") == first.headers.get("Location")
        assert again.headers["Content-Type"] == first.headers["Content-Type"]
        assert stored_state(database) == after_first


def test_the_replayed_figure_is_the_stored_one(client: FlaskClient,
                                               editor: dict[str, str]) -> None:
    headers = {**editor, KEY: "one-figure"}
    first = post(client, figure_request(), headers)
    assert first.headers["Location"] == f"/api/v1/figures/{first.get_json()['id']}"
    again = post(client, figure_request(), headers)
    assert again.headers["Location"] == first.headers["Location"]
    assert client.get(first.headers["Location"]).get_data() == again.get_data()


def test_the_same_key_with_another_body_is_a_422(
        client: FlaskClient, database: Any, editor: dict[str, str],
        make: Callable[..., dict[str, Any]]) -> None:
    headers = {**editor, KEY: "used-once"}
    assert post(client, make(), headers).status_code == 201
    before = stored_state(database)
    other = post(client, make(count=23), headers)
    body = assert_problem(other, 422, KEY)
    assert "different request" in body["errors"][KEY][0]
    assert "Idempotent-Replayed" not in other.headers
    assert stored_state(database) == before


def test_the_same_key_with_another_query_string_is_a_422(
        client: FlaskClient, database: Any, editor: dict[str, str]) -> None:
    headers = {**editor, KEY: "import-once", "Content-Type": "text/csv"}
    assert client.post("/api/v1/imports", data=CSV, headers=headers).status_code == 201
    before = stored_state(database)
    other = client.post("/api/v1/imports?conflict=other-war", data=CSV, headers=headers)
    assert_problem(other, 422, KEY)
    assert stored_state(database) == before


def test_another_token_may_use_the_same_key(
        client: FlaskClient, database: Any, editor: dict[str, str],
        token: Callable[[str], str], make: Callable[..., dict[str, Any]]) -> None:
    shared = "shared-key"
    first = post(client, make(), {**editor, KEY: shared})
    other_editor = {"Authorization": f"Bearer {token('editor')}", KEY: shared}
    second = post(client, make(), other_editor)
    assert second.status_code == 201
    assert "Idempotent-Replayed" not in second.headers
    assert set(new_ids(second)).isdisjoint(new_ids(first))
    assert len(stored_state(database)["figures"]) == 2 * len(new_ids(first))
    # and each token's retry replays its own first answer
    assert post(client, make(), other_editor).get_data() == second.get_data()
    assert post(client, make(), {**editor, KEY: shared}).get_data() == first.get_data()


def test_one_key_on_two_endpoints_is_two_keys(client: FlaskClient, database: Any,
                                              editor: dict[str, str]) -> None:
    headers = {**editor, KEY: "per-endpoint"}
    single = post(client, figure_request(), headers)
    batch = post(client, batch_request(), headers)
    assert (single.status_code, batch.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in batch.headers
    assert len(stored_state(database)["figures"]) == 3


def test_a_refused_request_does_not_use_up_its_key(client: FlaskClient, database: Any,
                                                   editor: dict[str, str]) -> None:
    headers = {**editor, KEY: "after-a-typo"}
    assert_problem(post(client, {"path": "/api/v1/figures", "json": figure(count=-1)},
                        headers), 422, "count")
    assert stored_state(database)["figures"] == []
    fixed = post(client, figure_request(), headers)
    assert fixed.status_code == 201
    assert "Idempotent-Replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["has spaces", "x" * 201, "tab\tkey", "clé", ""])
def test_a_malformed_key_is_a_422(client: FlaskClient, database: Any,
                                  editor: dict[str, str], make: Callable[..., dict[str, Any]],
                                  key: str) -> None:
    before = stored_state(database)
    response = post(client, make(), {**editor, KEY: key})
    assert_problem(response, 422, KEY)
    assert stored_state(database) == before


def test_a_key_of_200_visible_characters_is_accepted(client: FlaskClient,
                                                     editor: dict[str, str]) -> None:
    key = "".join(chr(33 + n % 94) for n in range(200))
    first = post(client, figure_request(), {**editor, KEY: key})
    again = post(client, figure_request(), {**editor, KEY: key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"


RACERS = 8


def test_racing_requests_with_one_key_store_once(db_path: Path | str, tmp_path: Path) -> None:
    """Eight threads send the same keyed request at once to a real (8-thread) server, for
    each endpoint: one stores, the others replay its answer."""
    connection = db.connect(db_path)
    editor = {"Authorization": f"Bearer {auth.create_key(connection, 'editor', 'race')}"}
    connection.close()
    with running_server(db_path, tmp_path / "server.log") as server:
        for name, make_request in sorted(ENDPOINTS.items()):
            request = make_request()
            data = request.get("data", "").encode() or None
            headers = {**editor, KEY: f"race-{name}", **request.get("headers", {})}
            barrier = threading.Barrier(RACERS)
            answers: list[Any] = []

            def send(request: dict[str, Any] = request, data: bytes | None = data,
                     headers: dict[str, str] = headers,
                     barrier: threading.Barrier = barrier,
                     answers: list[Any] = answers) -> None:
                barrier.wait(timeout=30)
                answers.append(server.request("POST", request["path"], request.get("json"),
                                              data=data, headers=headers))

            threads = [threading.Thread(target=send, daemon=True) for _ in range(RACERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert len(answers) == RACERS, name
            assert {answer.status for answer in answers} == {201}, name
            assert len({answer.body for answer in answers}) == 1, name
            assert len({answer.headers.get("Location") for answer in answers}) == 1, name
            originals = [a for a in answers if a.headers.get("Idempotent-Replayed") != "true"]
            assert len(originals) == 1, name

    connection = db.connect(db_path)
    try:
        # once each: 1 figure, 2 for the batch, 2 for the import
        assert connection.execute("SELECT count(*) FROM figures").fetchone() == (5,)
        assert connection.execute("SELECT count(*) FROM idempotency_keys").fetchone() == (3,)
    finally:
        connection.close()
