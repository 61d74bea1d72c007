"""The PostgreSQL half of ./scripts/bench (`--db postgresql://...`): the same workloads on
a scratch database created beside the one the URL names (dropped afterwards), measured
against PostgreSQL's own bulk paths in the same run:

- ingest vs `COPY figures_bare FROM STDIN` of the same rows into a bare table (no indexes,
  no keys): the fastest way PostgreSQL takes rows;
- export vs `COPY (SELECT ... FROM figures) TO STDOUT (FORMAT csv)`;
- concurrent writers: 8 threads posting 10-figure batches to one server, then spread over
  three servers on the same database.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import psycopg

from service import auth, engines, store
from service import db as database
from service.intervals import interval

WRITERS = 8
WRITER_BATCHES = 40
WRITER_BATCH = 10
COLUMNS = ("conflict", "category", "side", "location", "incident", "unit", "period_start",
           "count", "count_high", "qualifier", "reported_on", "as_of", "quote", "url", "notes")


def scratch_database(url: str) -> tuple[str, Callable[[], None]]:
    """A new empty database on the URL's server, and a function that drops it."""
    name = f"ct_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    scratch = urlunsplit(parts._replace(path=f"/{name}"))

    def drop() -> None:
        engines.close_pools()
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return scratch, drop


def reference_copy_in(url: str, rows: list[dict]) -> float:
    """COPY FROM STDIN of the same rows (with their derived columns) into a bare table."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE figures_bare (conflict text, category text, side text,"
            " location text, incident text, unit text, period_start text, count bigint,"
            " count_high bigint, qualifier text, reported_on text, as_of text, quote text,"
            " url text, notes text, low bigint, high bigint, family_key text,"
            " series_key text)")
        started = time.perf_counter()
        with connection.transaction(), connection.cursor() as cursor, cursor.copy(
                f"COPY figures_bare ({', '.join(COLUMNS)}, low, high, family_key, series_key)"
                " FROM STDIN") as copy:
            for r in rows:
                copy.write_row([r[c] for c in COLUMNS]
                               + [*interval(r["qualifier"], r["count"]),
                                  store.family_key(r), store.series_key(r)])
        elapsed = time.perf_counter() - started
        connection.execute("DROP TABLE figures_bare")
    return len(rows) / elapsed


def reference_copy_out(url: str) -> float:
    """COPY (SELECT * FROM figures) TO STDOUT (FORMAT csv), read to a null sink."""
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        lines = 0
        with cursor.copy("COPY (SELECT * FROM figures ORDER BY id) TO STDOUT (FORMAT csv)") \
                as copy:
            for block in copy:
                lines += bytes(block).count(b"\n")
        elapsed = time.perf_counter() - started
    return lines / elapsed


def concurrent_writers(ports: list[int], token: str, rows: list[dict]) -> float:
    """figures/s with WRITERS threads posting WRITER_BATCH-figure batches round-robin over
    the servers on `ports`."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    failures: list[str] = []

    def write(writer: int) -> None:
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                       for port in ports]
        for n in range(WRITER_BATCHES):
            start = (writer * WRITER_BATCHES + n) * WRITER_BATCH % len(rows)
            body = json.dumps({"figures": rows[start:start + WRITER_BATCH]}).encode()
            connection = connections[(writer + n) % len(connections)]
            connection.request("POST", "/api/v1/figures/batch", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 201:
                failures.append(str(response.status))
        for connection in connections:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"concurrent writes refused: {failures[:5]}")
    return WRITERS * WRITER_BATCHES * WRITER_BATCH / elapsed


def run(url: str, bench, rows, new_rows, series, rng, report) -> None:  # noqa: ANN001
    """The PostgreSQL measurements; `bench` is scripts/bench.py's module (its Server,
    http_ingest, http_export, timed_run, list_latency), `report` its printer."""
    scratch, drop = scratch_database(url)
    try:
        with psycopg.connect(scratch) as connection:
            version = connection.info.server_version
        print(f"PostgreSQL {version // 10000}.{version % 10000} at {engines.redact(url)}"
              " (scratch database)", flush=True)
        copy_in = reference_copy_in(scratch, rows)
        connection = database.connect(scratch)
        token = auth.create_key(connection, "editor", "bench")
        connection.close()
        server = bench.Server(scratch)
        try:
            rate = bench.http_ingest(server, token, rows)
            report("ingest (POST /figures/batch)", rate, copy_in, "figures/s", ">= 0.1x COPY")
            copy_out = reference_copy_out(scratch)
            export_rate, rss_growth = bench.http_export(server)
            report("export (GET /exports/figures.csv)", export_rate, copy_out, "rows/s",
                   ">= 0.25x COPY")
            report("export peak RSS growth", rss_growth, None, "MB", "flat")
            report("RSS growth after 5 more exports", bench.repeated_export_growth(server),
                   None, "MB", "flat")
            full_seconds, _ = bench.timed_run(scratch, full=True)
            report("full reconciliation run", full_seconds, None, "s", "-")
            bench.http_ingest(server, token, new_rows)
            incremental_seconds, _ = bench.timed_run(scratch, full=False)
            report("incremental / full", 100 * incremental_seconds / full_seconds, None, "%",
                   "-")
            p50, p99 = bench.list_latency(server, series, rng)
            report("GET /figures?conflict&category p50", p50, None, "ms", "-")
            report("GET /figures?conflict&category p99", p99, None, "ms", "< 50 ms")
            one = concurrent_writers([server.port], token, new_rows)
            others = [bench.Server(scratch) for _ in range(2)]
            try:
                three = concurrent_writers([server.port, *(s.port for s in others)], token,
                                           new_rows)
            finally:
                for other in others:
                    other.stop()
            report(f"concurrent writers ({WRITERS}), 1 server", one, None, "figures/s", "-")
            report(f"concurrent writers ({WRITERS}), 3 servers", three, one, "figures/s",
                   ">= 2x one server")
        finally:
            server.stop()
    finally:
        drop()
