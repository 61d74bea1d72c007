"""Bench section for the web pages and GET /series (issue 13).

Called by scripts/bench.py on its server and database (one line there); also runs alone:
`.venv/bin/python scripts/bench_pages.py --figures 100000` builds a database the way the
bench does (rows straight into the store), reconciles it, starts a real server and measures.

Targets: GET /conflicts/<slug> p95 < 300 ms, GET /api/v1/series of one series p95 < 50 ms.
The reference beside each is plain sqlite3 reading the same rows in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.reconcile.series import encode_series_id  # noqa: E402

PAGE_REQUESTS = 100
SERIES_REQUESTS = 300
Report = Callable[[str, float, "float | None", str, str], None]


def _percentiles(timings: list[float]) -> tuple[float, float]:
    timings = sorted(timings)
    return statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]


def _timed_get(server, path: str) -> float:  # noqa: ANN001 - bench.Server
    conn = server.connection()
    try:
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return elapsed


def _reference(db_path: Path, sql: str, params: list[tuple]) -> float:
    """Median ms of plain sqlite3 reading the same rows, for each parameter tuple."""
    conn = sqlite3.connect(db_path)
    timings = []
    for values in params:
        started = time.perf_counter()
        conn.execute(sql, values).fetchall()
        timings.append((time.perf_counter() - started) * 1000)
    conn.close()
    return statistics.median(timings)


def measure(server, db_path: Path, report: Report,  # noqa: ANN001 - bench.Server
            seed: int = 13) -> None:
    """Time the conflict page and one series' JSON on the running server."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db_path)
    conflicts = [row[0] for row in conn.execute(
        "SELECT conflict FROM figures GROUP BY conflict ORDER BY count(*) DESC")]
    keys = [row[0] for row in conn.execute(
        "SELECT DISTINCT series_key FROM figures WHERE status = 'active'")]
    conn.close()
    sample = rng.sample(keys, min(len(keys), SERIES_REQUESTS))
    variants = ["", "?sort=best&order=desc", "?page=3", "?category=killed",
                "?flagged=1&sort=open_flags&order=desc"]
    reference = _reference(db_path, "SELECT * FROM figures WHERE conflict = ?"
                           " AND status = 'active'", [(c,) for c in conflicts[:8]])
    # the first view of a conflict summarises all its figures; later views (other pages,
    # sorts, filters) reuse that summary while the data stay the same
    cold = [_timed_get(server, f"/conflicts/{conflict}") for conflict in conflicts[:8]]
    report("GET /conflicts/<slug>, first view (median)", statistics.median(cold), reference,
           "ms", "-")
    page_paths = [f"/conflicts/{rng.choice(conflicts[:8])}{rng.choice(variants)}"
                  for _ in range(PAGE_REQUESTS)]
    p50, p95 = _percentiles([_timed_get(server, path) for path in page_paths])
    report("GET /conflicts/<slug> p50", p50, reference, "ms", "-")
    report("GET /conflicts/<slug> p95", p95, reference, "ms", "< 300 ms")
    series_paths = []
    for key in sample:
        conflict = json.loads(key)[0]
        series_paths.append("/api/v1/series?" + urlencode(
            {"conflict": conflict, "series": encode_series_id(key)}))
    p50, p95 = _percentiles([_timed_get(server, path) for path in series_paths])
    reference = _reference(db_path, "SELECT * FROM figures WHERE series_key = ?"
                           " AND status = 'active'", [(key,) for key in sample[:100]])
    report("GET /series (one series) p50", p50, reference, "ms", "-")
    report("GET /series (one series) p95", p95, reference, "ms", "< 50 ms")


def main() -> None:
    import bench  # scripts/bench.py: the same data and server

    from service import db as database
    from service import store
    from service.reconcile import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(2020)
    blank = dict.fromkeys(store.FIGURE_INPUT_FIELDS)  # fields the generator leaves out
    rows = [{**blank, **row} for row in
            bench.make_figures(rng, bench.make_series(rng, args.series), args.figures)]

    def report(name: str, ours: float, reference: float | None, unit: str,
               target: str) -> None:
        ref = f"{reference:,.1f} {unit}" if reference else "-"
        print(f"{name}: {ours:,.1f} {unit} (reference {ref}; target {target})", flush=True)

    with tempfile.TemporaryDirectory(prefix="ct-bench-pages-") as tmp:
        db_path = Path(tmp) / "bench.db"
        conn = database.connect(db_path)
        for offset in range(0, len(rows), bench.BATCH):
            store.insert_figures(conn, rows[offset:offset + bench.BATCH])
        queued = store.create_run(conn, "bench", True)
        run.execute(conn, queued["id"], full=True)
        conn.close()
        print(f"{args.figures:,} figures over {args.series:,} series, reconciled", flush=True)
        server = bench.Server(db_path)
        try:
            measure(server, db_path, report)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
