"""A body over the limit is a problem+json 413 however large (API §3), on the real server:
answered without reading the body first, and readable by a client that sends its whole body
before reading the answer (Python's http.client, requests). On SQLite and on PostgreSQL:
the server answers before the database is involved, but what it stores (nothing, or a whole
import) is checked on each."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from realserver import HOST, Server, running_server

from service import auth, db

MIB = 1024 * 1024
BLOCK = b"x" * 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           module_db_path: Path | str) -> Iterator[tuple[Server, str]]:
    """A real server limited to 1 MB bodies, on each engine in turn (module_engine)."""
    work = tmp_path_factory.mktemp("body-limit")
    db_path = module_db_path
    connection = db.connect(db_path)
    token = auth.create_key(connection, "editor", "limit")
    connection.close()
    with running_server(db_path, work / "server.log", CASUALTY_TRACKER_MAX_BODY_MB="1") as running:
        yield running, token


def lazy_body(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        part = BLOCK[:min(len(BLOCK), size - sent)]
        sent += len(part)
        yield part


def send_then_read(port: int, token: str, size: int, *, chunked: bool,
                   path: str = "/api/v1/figures",
                   content_type: str = "application/json") -> tuple[int, str, dict]:
    """POST `size` bytes the way most client libraries do: all of it, then read."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    try:
        if chunked:
            connection.request("POST", path, body=lazy_body(size), encode_chunked=True,
                               headers=headers)
        else:
            connection.putrequest("POST", path)
            for key, value in {**headers, "Content-Length": str(size)}.items():
                connection.putheader(key, value)
            connection.endheaders()
            for part in lazy_body(size):
                connection.send(part)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), json.loads(
            response.read())
    finally:
        connection.close()


def figures_stored(server: Server) -> int:
    connection = db.connect(server.db_path)
    try:
        return connection.execute("SELECT count(*) FROM figures").fetchone()[0]
    finally:
        connection.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("size_mib", [2, 64, 256])
def test_any_body_over_the_limit_is_a_problem_413(server: tuple[Server, str], chunked: bool,
                                                  size_mib: int) -> None:
    running, token = server
    status, content_type, body = send_then_read(running.port, token, size_mib * MIB,
                                                chunked=chunked)
    assert (status, content_type) == (413, "application/problem+json")
    assert body["status"] == 413
    assert body["type"] == "urn:casualty-tracker:problem:body-too-large"
    assert body["detail"] == ("The request body is larger than the limit of 1 MB "
                              "(CASUALTY_TRACKER_MAX_BODY_MB); nothing was changed.")
    assert figures_stored(running) == 0
    assert running.request("GET", "/api/v1/health").status == 200


def test_an_import_over_the_limit_is_a_problem_413(server: tuple[Server, str]) -> None:
    running, token = server
    status, content_type, _ = send_then_read(running.port, token, 64 * MIB, chunked=False,
                                             path="/api/v1/imports", content_type="text/csv")
    assert (status, content_type) == (413, "application/problem+json")


def test_the_413_comes_before_the_body_is_read(server: tuple[Server, str]) -> None:
    """The server answers on the headers alone: the client has sent 64 KiB of a 1 GiB body
    and sends nothing more, yet the answer arrives (a buffering server would wait)."""
    running, token = server
    with socket.create_connection((HOST, running.port), timeout=20) as raw:
        raw.sendall(b"POST /api/v1/figures HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Authorization: Bearer {token}\r\n".encode()
                    + f"Content-Length: {1024 * MIB}\r\n\r\n".encode() + BLOCK)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = raw.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nContent-Type: application/problem+json" in head
    assert b"\r\nConnection: close" in head
    assert json.loads(body)["status"] == 413


def test_bodies_within_the_limit_still_work(server: tuple[Server, str]) -> None:
    running, token = server
    quote = "q" * 1999
    figure = {"conflict": "limit-test", "source": "A", "category": "killed", "count": 1,
              "reported_on": "2020-10-04", "quote": quote}
    answer = running.request("POST", "/api/v1/figures", figure,
                             headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 201, answer.body
    # a CSV import of nearly 1 MB, sent chunked
    rows = "".join(f"limit-test,Source {n},killed,{n},2020-10-04\r\n" for n in range(20_000))
    text = f"conflict,source,category,count,reported_on\r\n{rows}".encode()
    assert 900_000 < len(text) < MIB
    connection = http.client.HTTPConnection(HOST, running.port, timeout=60)
    try:
        connection.request("POST", "/api/v1/imports", body=iter([text]), encode_chunked=True,
                           headers={"Authorization": f"Bearer {token}",
                                    "Content-Type": "text/csv"})
        response = connection.getresponse()
        assert response.status == 201, response.read()
        assert len(json.loads(response.read())["ids"]) == 20_000
    finally:
        connection.close()


def test_the_servers_own_errors_are_problems_too(server: tuple[Server, str]) -> None:
    running, _ = server
    with socket.create_connection((HOST, running.port), timeout=20) as raw:
        raw.sendall(b"POST /api/v1/figures HTTP/1.1\r\nHost: x\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\nnot-hex\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"\r\nContent-Type: application/problem+json" in head
    assert b"\r\nX-Content-Type-Options: nosniff" in head
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["title"] == "Bad Request"

