"""The serving process: waitress in front of the app, and the reconciliation schedule.

Kept apart from create_app so tests and CLI commands never start a server or a scheduler.

Bodies over the limit (API §3): waitress is told the app's own limit, so it refuses an
oversized body as soon as it reads the Content-Length header (or, for a chunked body, as soon
as the count passes the limit) without spooling the rest. Its answer is made by
:class:`ProblemErrorTask`, so that it is problem+json like every other error instead of
waitress's text/plain page. Then :class:`ProblemHTTPChannel` closes the connection the way
nginx and Apache do ("lingering close"): it ends its side, and reads and discards what the
client still sends for up to ``LINGER_SECONDS``. Closing at once would make the kernel answer
the unread upload with a TCP reset, and a client that sends its whole body before reading
(Python's http.client, requests, most libraries) would see "connection reset" instead of
the 413. Discarding costs no memory and no worker thread (it runs in waitress's event loop).
Bodies within the limit are read whole by waitress (in memory, or a temporary file over
512 KiB) before the app runs.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from typing import Any

import waitress
from flask import request
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask
from werkzeug.exceptions import RequestEntityTooLarge

from . import create_app
from .api import SECURITY_HEADERS
from .config import Settings
from .engines import describe
from .errors import body_too_large_detail, problem_body
from .memory import LARGE_BODY_BYTES, limit_arenas, release_free_memory
from .reconcile.schedule import start_scheduler

CHUNKED_SLACK = 1024 * 1024
"""waitress counts a chunked body with its chunk-size lines; this much more lets a chunked
body within the limit through (the app still refuses anything over it by its own count)."""


LINGER_SECONDS = 30.0
"""How long an over-limit upload is read and discarded after the 413 (nginx's default
lingering_time); a client still sending after that gets the connection closed."""
LINGER_READ = 256 * 1024


def waitress_body_limit(settings: Settings) -> int:
    """Where waitress stops reading a body: just past the app's own limit.

    waitress refuses a Content-Length at or over this number, and a chunked body once its
    raw bytes (with chunk framing) reach it.
    """
    return settings.max_body_bytes + 1 + CHUNKED_SLACK


class ProblemErrorTask(ErrorTask):
    """waitress's own error answers (413, 400 for an unparseable request, 431, 500, 501)
    as application/problem+json with the app's security headers, not text/plain."""

    max_body_mb = 16

    def execute(self) -> None:
        error = self.request.error
        if error.code == 413:
            body = problem_body(413, RequestEntityTooLarge().name,
                                body_too_large_detail(self.max_body_mb), kind="body-too-large")
        else:
            body = problem_body(error.code, error.reason, f"{error.reason}: {error.body}.")
        data = json.dumps(body).encode("utf-8")
        self.channel.linger = True  # the body was not read: let the client finish sending
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/problem+json"))
        self.response_headers.extend(SECURITY_HEADERS.items())
        self.set_close_on_finish()
        self.content_length = len(data)
        self.write(data)


class ProblemHTTPChannel(HTTPChannel):
    """waitress's channel with problem+json errors and a lingering close after them."""

    error_task_class = ProblemErrorTask
    linger = False
    """Set by an error answer sent before the request's body was read."""
    linger_deadline: float | None = None
    """While lingering: when to stop reading and close (time.monotonic())."""

    def handle_close(self) -> None:
        if self.linger and self.linger_deadline is None and self.connected \
                and not self.total_outbufs_len:
            try:
                self.socket.shutdown(socket.SHUT_WR)  # the answer is complete: FIN
            except OSError:
                super().handle_close()
                return
            self.linger_deadline = time.monotonic() + LINGER_SECONDS
            self.will_close = False
            return
        super().handle_close()

    def readable(self) -> bool:
        return True if self.linger_deadline is not None else super().readable()

    def writable(self) -> bool:
        if self.linger_deadline is not None:
            return self.will_close  # set by waitress's idle-channel maintenance
        return super().writable()

    def handle_read(self) -> None:
        if self.linger_deadline is None:
            super().handle_read()
            return
        try:
            data = self.recv(LINGER_READ)  # b"" once the client is done (recv then closes)
        except OSError:
            data = b""
        if self.connected and (not data or time.monotonic() > self.linger_deadline):
            super().handle_close()
        elif data:
            self.last_activity = time.time()


def problem_channel(settings: Settings) -> type[HTTPChannel]:
    """A ProblemHTTPChannel whose 413 names this server's body limit."""
    task = type("ProblemErrorTask", (ProblemErrorTask,), {"max_body_mb": settings.max_body_mb})
    return type("ProblemHTTPChannel", (ProblemHTTPChannel,), {"error_task_class": task})


OUTPUT_BUFFER_BYTES = 1 << 20
"""How far a streamed response may run ahead of the client before the app waits for it.

waitress's default, 16 MiB, let a fast export (PostgreSQL's COPY writes 27 MB of CSV in
about a second) queue 16-20 MB in the server per download, kept afterwards by each worker
thread that served one: 8 downloads left a server 94 MB larger. One MiB keeps the socket
busy all the same."""


def create_server(app: Any, settings: Settings) -> Any:
    """A waitress server for `app` on settings.host:port, its errors in problem+json."""
    socket_map: dict[int, Any] = {}
    server = waitress.create_server(
        app, map=socket_map, host=settings.host, port=settings.port, threads=settings.threads,
        max_request_body_size=waitress_body_limit(settings), ident="casualty-tracker",
        outbuf_high_watermark=OUTPUT_BUFFER_BYTES)
    channel = problem_channel(settings)
    for dispatcher in socket_map.values():
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = channel
    return server


class CannotListen(RuntimeError):
    """The address to serve on cannot be taken (a port in use, an address not ours)."""


def serve(settings: Settings) -> None:
    """Serve the app with waitress until stopped; raises CannotListen (one line) when
    the address cannot be bound, before the schedule starts or anything is logged."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger(__name__)
    limit_arenas()  # before waitress and the scheduler start their threads
    app = create_app(settings)

    @app.teardown_request
    def _release_after_large_bodies(_error: BaseException | None) -> None:
        if (request.content_length or 0) >= LARGE_BODY_BYTES:
            release_free_memory()

    try:
        server = create_server(app, settings)  # binds the socket: before anything starts
    except OSError as error:
        raise CannotListen(f"Cannot listen on {settings.host}:{settings.port}: "
                           f"{error.strerror or error}. Set PORT (or --port) to a free "
                           "port, or HOST to an address of this machine.") from None
    scheduler = start_scheduler(settings.db_path, settings.reconcile_seconds)
    app.extensions["casualty_tracker_scheduler"] = scheduler
    log.info("casualty-tracker serving on http://%s:%s (database %s; reconciliation %s)",
             settings.host, settings.port, describe(settings.db_path),
             f"every {settings.reconcile_seconds} s" if scheduler else "schedule off")
    try:
        server.run()
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        app.extensions["casualty_tracker_runs"].shutdown()
