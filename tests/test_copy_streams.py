"""`casualty-tracker copy` streams (issue 12): a database of 50,000 figures is copied from
SQLite into PostgreSQL and back, every table arriving unchanged, while the copying
process's peak memory grows by a bounded amount that a whole-table read breaks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import figure
from pgcluster import Cluster
from test_copy import everything, filled

from service import db, engines, store
from service.dbcopy import BATCH_ROWS
from service.schemas import complete_figure

FIGURES = 50_000
QUOTE = "«Officials said» " + "the toll rose again, ə " * 20  # a row of realistic size
MAX_GROWTH_MIB = 40
"""The bound on the copying process's peak RSS growth. Measured with this data: about 17
MiB (SQLite -> PostgreSQL) and 20 MiB (PostgreSQL -> SQLite) streamed, a batch of
BATCH_ROWS rows at a time; 84 MiB PostgreSQL -> SQLite when the figures table was read
whole (the copy before it streamed), which this bound refuses."""

# Runs the copy in a process of its own, so the test process's memory cannot blur the
# figure: the resident size before, then (the peak reset through /proc/self/clear_refs, as
# the imports made their own peak) the peak while copying, in KiB.
MEASURE = """
import json, sys
from service.dbcopy import copy_database
def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) for line in lines if line.startswith(field + ":"))
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")
before = status("VmRSS")
copied = copy_database(sys.argv[1], sys.argv[2])
print(json.dumps({"before_kib": before, "after_kib": status("VmHWM"), "copied": copied}))
"""


def copy_measured(source: Path | str, target: Path | str) -> tuple[dict[str, int], float]:
    """Copy in a subprocess; (rows copied per table, peak RSS growth in MiB)."""
    finished = subprocess.run([sys.executable, "-c", MEASURE, str(source), str(target)],
                              capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    return report["copied"], (report["after_kib"] - report["before_kib"]) / 1024


@pytest.fixture(scope="module")
def big_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Something in every table, and 50,000 figures with quotes."""
    path = tmp_path_factory.mktemp("copy-streams") / "big.db"
    filled(path)
    connection = db.connect(path)
    try:
        batch = [complete_figure(figure(
            conflict=f"stream-{n % 40}", source=f"Source {n % 50}", side=f"Side {n % 7}",
            count=n, quote=f"{QUOTE}{n}", location=f"Town {n % 300}"))
            for n in range(FIGURES)]
        for start in range(0, FIGURES, 5000):
            store.insert_figures(connection, batch[start:start + 5000])
    finally:
        connection.close()
    return path


def test_a_large_database_is_copied_both_ways_in_bounded_memory(
        postgres: Cluster, big_sqlite: Path, tmp_path: Path) -> None:
    before = everything(big_sqlite)
    assert len(before["figures"]) > FIGURES > 10 * BATCH_ROWS
    url = postgres.create_database()
    back = tmp_path / "back.db"
    try:
        copied_in, growth_in = copy_measured(big_sqlite, url)
        assert copied_in == {table: len(rows) for table, rows in before.items()}
        assert everything(url) == before
        copied_out, growth_out = copy_measured(url, back)
        assert copied_out == copied_in
        assert everything(back) == before
    finally:
        engines.close_pool(url)
    print(f"\ncopy of {len(before['figures'])} figures: peak RSS grew by {growth_in:.1f} MiB "
          f"(SQLite -> PostgreSQL) and {growth_out:.1f} MiB (PostgreSQL -> SQLite)")
    assert growth_in < MAX_GROWTH_MIB
    assert growth_out < MAX_GROWTH_MIB
