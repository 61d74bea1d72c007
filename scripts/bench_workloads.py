"""Reconciliation workloads for ./scripts/bench --workload realistic|chaos (issue 10).

Both load --figures figures (default 100,000) in 2,000 series over a real server, then
measure what flag volume costs:

- a full reconciliation run, started over HTTP (POST /reconciliation/runs), and the number
  of flags it leaves;
- GET /exports/figures.csv (rows/s) against a plain sqlite3 -> csv.writer dump of the same
  table (target >= 0.5x);
- the server's peak RSS while it runs and exports (target < 150 MB);
- an incremental run after 1,000 new figures in 100 series (target <= 5 % of the full run),
  each run timed by its own recorded started_at and finished_at (and, beside, over HTTP).

The 2,000 series are 250 families of 8 series each: a country-wide `killed` toll (with a
location code), its `civilian` and `military` parts, two regions (codes below the
country's), two groups (`children`, `women`) and a count since a ceasefire (a
`period_start`), so every rule of API §6 has work to do.

- ``realistic``: rising tolls, parts in proportion to their whole, each source near the
  truth with occasional outliers (about 40,000 flags at 100,000 figures);
- ``chaos``: random counts from 20 sources, so most pairs contradict (about 240,000 flags).
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

SERIES_PER_FAMILY = 8
SERIES = 2_000
SOURCES = [f"Source {n}" for n in range(20)]
NEW_FIGURES = 1_000
NEW_SERIES = 100
START = date(2024, 1, 1)
CEASEFIRE_DAY = 40
DAYS = 120

# (category, location, code suffix, group, period, share of the whole)
SHAPES = [
    ("killed", None, "", None, False, 1.0),
    ("civilian", None, "", None, False, 0.6),
    ("military", None, "", None, False, 0.35),
    ("killed", "North Region", "01", None, False, 0.5),
    ("killed", "South Region", "02", None, False, 0.4),
    ("killed", None, "", "children", False, 0.2),
    ("killed", None, "", "women", False, 0.25),
    ("killed", None, "", None, True, 1.0),
]


def make_series(count: int) -> list[dict]:
    """`count` series, SERIES_PER_FAMILY per family, with each family's toll rate."""
    series = []
    for family in range(count // SERIES_PER_FAMILY):
        code = f"C{family % 10}{family:03d}"
        for category, location, suffix, group, period, share in SHAPES:
            series.append({
                "conflict": f"conflict-{family % 5}", "category": category,
                "side": f"Side {family}", "location": location,
                "location_code": code + suffix, "group": group, "incident": None,
                "unit": "people",
                "period_start": (START + timedelta(days=CEASEFIRE_DAY)).isoformat()
                if period else None,
                "_share": share, "_rate": 5 + family % 17, "_period": period})
    return series


def _toll(series: dict, day: int) -> int:
    return int(series["_share"] * series["_rate"] * (day + 10))


def make_figures(rng: random.Random, series: list[dict], count: int, workload: str,
                 first_day: int = 0, days: int = DAYS) -> list[dict]:
    """`count` figures spread evenly over `series`."""
    figures = []
    sources_of = {id(s): rng.sample(SOURCES, 12 if workload == "chaos" else 6)
                  for s in series}
    for n in range(count):
        s = series[n % len(series)]
        low_day = CEASEFIRE_DAY + 1 if s["_period"] else 0
        day = max(first_day, low_day) + rng.randrange(days)
        as_of = START + timedelta(days=day)
        if workload == "chaos":
            # Random counts; a part's range is a fraction of its whole's, or nearly every
            # part would exceed nearly every whole (a million pairs, not a workload).
            value = rng.randrange(max(1, int(2_000 * (s["_share"] * 0.4
                                                      if s["_share"] < 1 else 1))))
            qualifier = rng.choice(("exact", "exact", "about", "at_least", "at_most",
                                    "more_than", "nearly"))
        else:
            true = _toll(s, day) - (_toll(s, CEASEFIRE_DAY) if s["_period"] else 0)
            noise = rng.random()
            value = max(0, int(true * (1 + (rng.uniform(-0.4, 0.6) if noise < 0.1
                                            else rng.uniform(-0.02, 0.02)))))
            qualifier = rng.choice(("exact",) * 6 + ("about", "about", "at_least", "nearly"))
        figure = {k: v for k, v in s.items() if not k.startswith("_")}
        figures.append({
            **figure, "source": rng.choice(sources_of[id(s)]), "count": value,
            "count_high": None, "qualifier": qualifier,
            "reported_on": (as_of + timedelta(days=rng.randrange(2))).isoformat(),
            "as_of": as_of.isoformat(), "via": None,
            "quote": f"{value} people were killed, officials said.",
            "url": f"https://news.example.org/{workload}/{n}", "notes": None})
    return figures


def _run_over_http(server: Any, token: str, full: bool) -> tuple[float, float, dict]:
    """Start a run over HTTP and wait for it: (the run's own seconds, from its recorded
    started_at to finished_at; seconds from the POST until a poll (every 10 ms) saw it
    finished; the finished run). The first is what the run costs; the second adds the
    request, the hand-over to the run's thread and the first commit after the preceding
    ingest (which pays for SQLite's WAL checkpoint of that ingest)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    status, body = server.request("POST", "/api/v1/reconciliation/runs",
                                  json.dumps({"full": full}).encode(), headers)
    if status != 202:
        raise RuntimeError(f"run refused: {status} {body[:300]!r}")
    run_id = json.loads(body)["id"]
    while True:
        status, body = server.request("GET", f"/api/v1/reconciliation/runs/{run_id}")
        run = json.loads(body)
        if run["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    if run["status"] != "succeeded":
        raise RuntimeError(f"run failed: {run['error']}")
    own = (datetime.fromisoformat(run["finished_at"])
           - datetime.fromisoformat(run["started_at"])).total_seconds()
    return own, elapsed, run


class PeakRss:
    """The largest RSS of the server process while the block runs (sampled every 20 ms)."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.peak_kib = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample)

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak_kib = max(self.peak_kib, self.server.rss_kib())
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def run_workload(workload: str, figures: int, seed: int, bench: Any,
                 report: Callable[[str, float, float | None, str, str], None]) -> None:
    """Load the workload into a fresh database behind a real server and measure it.

    `bench` is scripts/bench.py as a module (its Server, http_ingest and reference_dump).
    """
    from service import auth
    from service import db as database

    rng = random.Random(seed)
    series = make_series(SERIES)
    rows = make_figures(rng, series, figures, workload)
    # A day of news: new figures for the series in the news, a hundred of them (side by
    # side, as news clusters); the spread case (a hundred random series) is measured too.
    new_rows = make_figures(rng, series[:NEW_SERIES], NEW_FIGURES, workload,
                            first_day=DAYS, days=10)
    spread_rows = make_figures(rng, rng.sample(series, NEW_SERIES), NEW_FIGURES, workload,
                               first_day=DAYS + 10, days=10)
    with tempfile.TemporaryDirectory(prefix=f"ct-bench-{workload}-") as tmp:
        db_path = Path(tmp) / "bench.db"
        conn = database.connect(db_path)
        token = auth.create_key(conn, "editor", "bench")
        conn.close()
        server = bench.Server(db_path)
        try:
            bench.http_ingest(server, token, rows)
            baseline = server.rss_kib()
            with PeakRss(server) as peak:
                full_seconds, full_http, full_run = _run_over_http(server, token, full=True)
                flags = _count_flags(db_path)
                report(f"[{workload}] full reconciliation run ({flags:,} flags)", full_seconds,
                       None, "s", "-")
                report(f"[{workload}] full run over HTTP, POST to finished", full_http, None,
                       "s", "-")
                dump_rate = bench.reference_dump(db_path)
                export_rate, _growth = bench.http_export(server)
            report(f"[{workload}] export (GET /exports/figures.csv)", export_rate, dump_rate,
                   "rows/s", ">= 0.5x")
            report(f"[{workload}] server peak RSS during run + export", peak.peak_kib / 1024,
                   None, "MB", "< 150 MB")
            report(f"[{workload}] server RSS before the run", baseline / 1024, None, "MB",
                   "-")
            bench.http_ingest(server, token, new_rows)
            incremental_seconds, incremental_http, incremental = _run_over_http(
                server, token, full=False)
            report(f"[{workload}] incremental run after {NEW_FIGURES:,} new figures "
                   f"({NEW_SERIES} series; {incremental['series_checked']} series checked)",
                   incremental_seconds, None, "s", "-")
            report(f"[{workload}] incremental / full", 100 * incremental_seconds / full_seconds,
                   None, "%", "<= 5%")
            report(f"[{workload}] incremental / full, over HTTP (POST to finished)",
                   100 * incremental_http / full_http, None, "%", "-")
            bench.http_ingest(server, token, spread_rows)
            spread_seconds, _spread_http, spread = _run_over_http(server, token, full=False)
            report(f"[{workload}] incremental / full, {NEW_FIGURES:,} new figures in "
                   f"{NEW_SERIES} random series ({spread['series_checked']} series checked)",
                   100 * spread_seconds / full_seconds, None, "%", "-")
        finally:
            server.stop()


def _count_flags(db_path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM flags WHERE status != 'obsolete'").fetchone()[0]
    finally:
        conn.close()


def main(args: Any, bench: Any) -> None:
    """--workload: print each measure as it comes, then the table."""
    import os
    import sqlite3
    import sys

    figures = 100_000 if args.figures == 1_000_000 else args.figures
    results = []

    def report(name: str, ours: float, reference: float | None, unit: str,
               target: str) -> None:
        ratio = f"{ours / reference:.2f}x" if reference else "-"
        ref = f"{reference:,.0f} {unit}" if reference else "-"
        print(f"{name}: {ours:,.1f} {unit} (reference {ref}; ratio {ratio}; target {target})",
              flush=True)
        results.append((name, f"{ours:,.1f} {unit}", ref, ratio, target))

    print(f"workload {args.workload}: {figures:,} figures over {SERIES:,} series; machine: "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"SQLite {sqlite3.sqlite_version}", flush=True)
    run_workload(args.workload, figures, args.seed, bench, report)
    print("\n| measure | ours | plain-SQLite reference | ratio | target |")
    print("|---|---|---|---|---|")
    for row in results:
        print("| " + " | ".join(row) + " |")
