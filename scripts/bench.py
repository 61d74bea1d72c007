"""Benchmark casualty-tracker against a plain-SQLite reference measured in the same run.

Starts a real server (waitress) on 127.0.0.1 over a fresh database, and for each figure
prints our number, the reference's, and the ratio:

- batch ingest over HTTP (figures/s) vs sqlite3 executemany of the same rows into the same
  schema, committed in the same batch size, and vs executemany of the same rows (built
  beforehand) into a bare table of the same columns: no index, no constraint;
- GET /exports/figures.csv (rows/s) vs a plain sqlite3 -> csv.writer dump of the table, with
  the server's peak RSS growth during the export;
- a full reconciliation run, and an incremental run after 1,000 new figures;
- GET /figures with two filters: p50 and p99 latency over 1,000 requests.

Data are generated deterministically (seeded): --figures N spread over 20,000 series.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bench_pages  # noqa: E402 - scripts/bench_pages.py, issue 13's section

from service import db as database  # noqa: E402
from service import store  # noqa: E402
from service.intervals import interval  # noqa: E402
from service.names import fold_or_none  # noqa: E402

CONFLICTS = [f"conflict-{n}" for n in range(8)]
CATEGORIES = ["military", "civilian", "killed", "injured", "missing", "damage"]
SIDES = [None, "North", "South", "East"]
LOCATIONS = [None] * 20 + [f"Town {n}" for n in range(200)]
QUALIFIERS = ["exact"] * 6 + ["about", "about", "at_least", "more_than", "nearly", "at_most"]
SOURCES = [f"Source {n}" for n in range(60)]
BATCH = 10_000
NEW_FIGURES = 1_000
NEW_FIGURE_SERIES = 100
LIST_REQUESTS = 1_000


def make_series(rng: random.Random, count: int) -> list[dict]:
    """`count` distinct series keys."""
    seen: set[tuple] = set()
    series = []
    while len(series) < count:
        category = rng.choice(CATEGORIES)
        key = (rng.choice(CONFLICTS), category, rng.choice(SIDES), rng.choice(LOCATIONS),
               None if rng.random() < 0.95 else f"Strike {rng.randrange(50)}",
               "buildings" if category == "damage" else "people",
               None if rng.random() < 0.9 else "2021-03-01")
        if key not in seen:
            seen.add(key)
            series.append(dict(zip(("conflict", "category", "side", "location", "incident",
                                    "unit", "period_start"), key, strict=True), group=None))
    return series


def make_figures(rng: random.Random, series: list[dict], count: int,
                 start_day: int = 0) -> list[dict]:
    """Figures over `series`: rising tolls with noise, several sources each."""
    figures = []
    base = date(2021, 3, 5)
    for n in range(count):
        s = series[n % len(series)]
        day = start_day + rng.randrange(600)
        reported = base + timedelta(days=day)
        qualifier = rng.choice(QUALIFIERS)
        figure = {**s, "source": rng.choice(SOURCES[:8]) if rng.random() < 0.7
                  else rng.choice(SOURCES),
                  "count": 10 + day * 3 + rng.randrange(40), "count_high": None,
                  "qualifier": qualifier, "reported_on": reported.isoformat(),
                  "as_of": (reported - timedelta(days=rng.randrange(3))).isoformat(),
                  "quote": f"About {n} people were reported killed, officials said.",
                  "url": f"https://news.example.org/{n}", "notes": None,
                  "location_code": s["location"] and "XX" + s["location"].split()[-1],
                  "via": rng.choice((None, None, None, "Wire Agency", "Radio Desk"))}
        figures.append(figure)
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A real `casualty-tracker serve` process on 127.0.0.1."""

    def __init__(self, db_path: Path | str) -> None:
        self.port = free_port()
        env = {**os.environ, "CASUALTY_TRACKER_RECONCILE_SECONDS": "0",
               "CASUALTY_TRACKER_MAX_BODY_MB": "64"}
        self.process = subprocess.Popen(
            [str(ROOT / ".venv/bin/casualty-tracker"), "serve", "--port", str(self.port),
             "--db", str(db_path)], env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.request("GET", "/api/v1/health")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        conn = self.connection()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


REFERENCE_COLUMNS = ("conflict", "category", "side", "location", "location_code", "group",
                     "incident", "unit", "period_start", "count", "count_high", "qualifier",
                     "reported_on", "as_of", "via", "quote", "url", "notes")
_QUOTED = ", ".join(f'"{c}"' for c in REFERENCE_COLUMNS)
REFERENCE_SQL = (f"INSERT INTO figures ({_QUOTED},"
                 " source_id, low, high, family_key, series_key, side_key, location_key,"
                 " incident_key, via_key, created_at, updated_at)"
                 f" VALUES ({', '.join('?' * len(REFERENCE_COLUMNS))}, 1, ?, ?, ?, ?, ?, ?, ?,"
                 " ?, '', '')")


def reference_row(r: dict) -> list:
    """Every stored column of one figure, derived as the service derives it."""
    return ([r.get(c) for c in REFERENCE_COLUMNS]
            + [*interval(r["qualifier"], r["count"]), store.family_key(r), store.series_key(r)]
            + [fold_or_none(r.get(c)) for c in ("side", "location", "incident", "via")])


def reference_db(path: Path, bare: bool) -> sqlite3.Connection:
    """A database with our schema; `bare`: its figures table without index or constraint."""
    conn = sqlite3.connect(path)
    conn.executescript((ROOT / "schema.sql").read_text())
    if bare:
        columns = conn.execute("PRAGMA table_info(figures)").fetchall()
        conn.execute("DROP TABLE figures")
        conn.execute("CREATE TABLE figures (id INTEGER PRIMARY KEY, "
                     + ", ".join(f'"{c[1]}" {c[2]}' for c in columns if c[1] != "id") + ")")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("INSERT INTO sources (id, name, name_key, created_at, updated_at)"
                 " VALUES (1, 'x', 'x', '', '')")
    conn.commit()
    return conn


def reference_ingest(rows: list[dict], path: Path) -> float:
    """Plain sqlite3: executemany of the same rows into the same schema, same batches."""
    conn = reference_db(path, bare=False)
    started = time.perf_counter()
    for offset in range(0, len(rows), BATCH):
        conn.executemany(REFERENCE_SQL, [reference_row(r) for r in rows[offset:offset + BATCH]])
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def bare_reference_ingest(rows: list[dict], path: Path) -> float:
    """Plain sqlite3 at its fastest: the same rows, built before the clock starts, by
    executemany into a bare table of the same columns, committed in the same batches."""
    conn = reference_db(path, bare=True)
    prepared = [reference_row(r) for r in rows]
    started = time.perf_counter()
    for offset in range(0, len(prepared), BATCH):
        conn.executemany(REFERENCE_SQL, prepared[offset:offset + BATCH])
        conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def http_ingest(server: Server, token: str, rows: list[dict]) -> float:
    bodies = [json.dumps({"figures": rows[o:o + BATCH]}).encode()
              for o in range(0, len(rows), BATCH)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = server.connection()
    started = time.perf_counter()
    for body in bodies:
        conn.request("POST", "/api/v1/figures/batch", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 201:
            raise RuntimeError(f"batch refused: {response.status} {answer[:300]!r}")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def reference_dump(db_path: Path) -> float:
    """Plain sqlite3 -> csv.writer of the figures table (to a null sink)."""
    conn = sqlite3.connect(db_path)
    sink = io.StringIO()
    started = time.perf_counter()
    rows = 0
    writer = csv.writer(sink)
    for row in conn.execute("SELECT * FROM figures"):
        writer.writerow(row)
        rows += 1
        if sink.tell() > 1 << 20:
            sink.seek(0)
            sink.truncate()
    elapsed = time.perf_counter() - started
    conn.close()
    return rows / elapsed


def http_export(server: Server) -> tuple[float, float]:
    """(rows/s, peak RSS growth in MB) while streaming the whole figures export."""
    baseline = server.rss_kib()
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss_kib())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    conn = server.connection()
    started = time.perf_counter()
    conn.request("GET", "/api/v1/exports/figures.csv?status=all")
    response = conn.getresponse()
    lines = 0
    while chunk := response.read(1 << 16):
        lines += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    conn.close()
    return (lines - 1) / elapsed, (peak - baseline) / 1024


def repeated_export_growth(server: Server, exports: int = 5) -> float:
    """The server's RSS growth (MB) after `exports` more whole exports: what each worker
    thread that served a download keeps (waitress's output buffer; server.py)."""
    before = server.rss_kib()
    for _ in range(exports):
        http_export(server)
    return (server.rss_kib() - before) / 1024


def timed_run(db_path: Path, full: bool) -> tuple[float, dict]:
    conn = database.connect(db_path)
    from service.reconcile import run

    queued = store.create_run(conn, "bench", full)
    started = time.perf_counter()
    finished = run.execute(conn, queued["id"], full=full)
    elapsed = time.perf_counter() - started
    conn.close()
    if finished["status"] != "succeeded":
        raise RuntimeError(f"run failed: {finished['error']}")
    return elapsed, finished


def list_latency(server: Server, series: list[dict], rng: random.Random) -> tuple[float, float]:
    """p50, p99 (ms) of GET /figures?conflict=..&category=.. over LIST_REQUESTS requests."""
    conn = server.connection()
    timings = []
    for _ in range(LIST_REQUESTS):
        s = rng.choice(series)
        query = urlencode({"conflict": s["conflict"], "category": s["category"]})
        started = time.perf_counter()
        conn.request("GET", f"/api/v1/figures?{query}")
        response = conn.getresponse()
        response.read()
        timings.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"list failed: {response.status}")
    conn.close()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--db", help="a postgresql:// URL: measure PostgreSQL instead (a "
                        "scratch database beside the one named, dropped afterwards)")
    parser.add_argument("--workload", choices=("realistic", "chaos"),
                        help="reconciliation under flag volume instead (scripts/"
                             "bench_workloads.py; --figures defaults to 100,000 there)")
    args = parser.parse_args()
    if args.workload:
        import bench_workloads

        bench_workloads.main(args, sys.modules[__name__])
        return
    rng = random.Random(args.seed)
    series = make_series(rng, args.series)
    rows = make_figures(rng, series, args.figures)
    # A day of news: new figures for the series in the news (a hundred of them). The
    # spread case (each new figure in another random series) is measured too, for honesty.
    new_rows = make_figures(rng, series[:NEW_FIGURE_SERIES], NEW_FIGURES, start_day=600)
    spread_rows = make_figures(rng, rng.sample(series, NEW_FIGURES), NEW_FIGURES,
                               start_day=620)
    results = []

    def report(name: str, ours: float, reference: float | None, unit: str,
               target: str) -> None:
        ratio = f"{ours / reference:.2f}x" if reference else "-"
        ref = f"{reference:,.0f} {unit}" if reference else "-"
        line = (f"{name}: {ours:,.1f} {unit} (reference {ref}; ratio {ratio}; target {target})")
        print(line, flush=True)
        results.append((name, f"{ours:,.1f} {unit}", ref, ratio, target))

    if args.db:  # PostgreSQL: its own module, same workloads, COPY as the reference
        import bench_pg

        print(f"{args.figures:,} figures over {args.series:,} series; machine: "
              f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
        bench_pg.run(args.db, sys.modules[__name__], rows, new_rows, series, rng, report)
        print_table(results, "PostgreSQL COPY reference")
        return

    with tempfile.TemporaryDirectory(prefix="ct-bench-") as tmp:
        tmp_path = Path(tmp)
        print(f"{args.figures:,} figures over {args.series:,} series; machine: "
              f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
              f"SQLite {sqlite3.sqlite_version}", flush=True)
        reference_rate = reference_ingest(rows, tmp_path / "reference.db")
        bare_rate = bare_reference_ingest(rows, tmp_path / "bare.db")
        db_path = tmp_path / "bench.db"
        conn = database.connect(db_path)
        from service import auth

        token = auth.create_key(conn, "editor", "bench")
        conn.close()
        server = Server(db_path)
        try:
            rate = http_ingest(server, token, rows)
            report("ingest (POST /figures/batch)", rate, reference_rate, "figures/s",
                   ">= 0.25x")
            report("ingest vs a bare table", rate, bare_rate, "figures/s", ">= 0.15x")
            dump_rate = reference_dump(db_path)
            export_rate, rss_growth = http_export(server)
            report("export (GET /exports/figures.csv)", export_rate, dump_rate, "rows/s",
                   ">= 0.5x")
            report("export peak RSS growth", rss_growth, None, "MB", "< 50 MB")
            report("RSS growth after 5 more exports", repeated_export_growth(server), None,
                   "MB", "flat")
            full_seconds, full_run = timed_run(db_path, full=True)
            report("full reconciliation run", full_seconds, None, "s", "-")
            http_ingest(server, token, new_rows)
            incremental_seconds, _ = timed_run(db_path, full=False)
            report(f"incremental run after {NEW_FIGURES:,} new figures "
                   f"({NEW_FIGURE_SERIES} series)", incremental_seconds, None, "s",
                   "<= 5% of full")
            report("incremental / full", 100 * incremental_seconds / full_seconds, None, "%",
                   "<= 5%")
            http_ingest(server, token, spread_rows)
            spread_seconds, _ = timed_run(db_path, full=False)
            report(f"incremental / full, {NEW_FIGURES:,} new figures in {NEW_FIGURES:,} "
                   "random series", 100 * spread_seconds / full_seconds, None, "%", "-")
            p50, p99 = list_latency(server, series, rng)
            report("GET /figures?conflict&category p50", p50, None, "ms", "-")
            report("GET /figures?conflict&category p99", p99, None, "ms", "< 50 ms")
            bench_pages.measure(server, db_path, report)  # the web pages and GET /series
        finally:
            server.stop()
    __import__("bench_extract").run(report)  # extraction (§9): its own module
    print_table(results, "plain-SQLite reference")


def print_table(results: list[tuple], reference: str) -> None:
    print(f"\n| measure | ours | {reference} | ratio | target |")
    print("|---|---|---|---|---|")
    for row in results:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
