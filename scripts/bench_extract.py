"""Benchmark extraction (API.md §9): a 2,000-word article in < 1 s, and what loading the
pipeline costs the service at start-up and after first use (< 50 MB).

Run alone (`.venv/bin/python scripts/bench_extract.py`) or from scripts/bench.py, which
passes its `report(name, ours, reference, unit, target)` printer. The reference, measured in
the same run, is one pass of a plain regex tokeniser over the same article: the floor any
reading of the text costs.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SENTENCES = [
    "Officials in {town} said at least {n} civilians were killed and {m} injured when "
    "missiles struck a market on {day}.",
    "The army said its troops had killed more than {n} insurgents near {town}, a claim the "
    "rebels rejected.",
    "According to the Red Cross, about {n} people remain missing after the shelling.",
    "A spokesman for the regional governor, Elena Marsh, told reporters that {n} houses were "
    "destroyed and {m} damaged.",
    "The convoy travelled {m} km from the border before it was stopped at {hour}:30.",
    "Health ministry figures show {n} people have been killed since the war began, including "
    "{m} children.",
    "Around {n} people protested in the capital, and {m} were detained by police.",
    "He said the strike killed between {m} and {n} fighters of the Crimson Brigade.",
    "The town, home to {n} people, lies in a valley where four helicopters landed.",
    "It was the worst violence since the 1990s, when nearly {n} people were killed.",
    "The monitor's report, dated February {hour}, says {n} civilians died in {town}.",
]
TOWNS = ["Alder", "Brightwater", "Corven", "Dunmore", "Eastfold", "Fairhaven"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def article(words: int = 2000, seed: int = 14) -> str:
    """A deterministic invented news article of about `words` words, in paragraphs."""
    rng = random.Random(seed)
    out: list[str] = []
    count = 0
    while count < words:
        template = rng.choice(SENTENCES)
        text = template.format(n=rng.randint(20, 5000), m=rng.randint(2, 19),
                               town=rng.choice(TOWNS), day=rng.choice(DAYS),
                               hour=rng.randint(1, 12))
        out.append(text)
        count += len(text.split())
        if len(out) % 4 == 0:
            out.append("\n\n")
    return " ".join(out)


def _rss_probe() -> dict:
    """RSS (KiB) of a fresh interpreter: with the app's other dependencies loaded, after
    importing the extraction pipeline, and after its first extraction."""
    code = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
import flask, flask_smorest, marshmallow, sqlite_utils, apscheduler, waitress  # the app's
before = rss()
t = time.perf_counter()
import service.extract
imported = time.perf_counter() - t
after_import = rss()
from datetime import date
t = time.perf_counter()
service.extract.extract(sys.argv[2], "bench-2020", date(2024, 3, 13))
first = time.perf_counter() - t
print(json.dumps({"before": before, "after_import": after_import, "after_use": rss(),
                  "import_s": imported, "first_s": first}))
"""
    text = article()
    result = subprocess.run([sys.executable, "-c", code, str(ROOT), text], check=True,
                            capture_output=True, text=True)
    return json.loads(result.stdout)


def run(report: Callable[[str, float, float | None, str, str], None]) -> None:
    """Measure and print through `report` (scripts/bench.py's printer)."""
    from service.extract import extract

    text = article()
    words = len(text.split())
    probe = _rss_probe()
    times = []
    figures = 0
    for _ in range(5):
        t = time.perf_counter()
        out = extract(text, "bench-2020", date(2024, 3, 13))
        times.append(time.perf_counter() - t)
        figures = len(out["figures"])
    token = re.compile(r"\w+|[^\w\s]")
    ref = []
    for _ in range(5):
        t = time.perf_counter()
        token.findall(text)
        ref.append(time.perf_counter() - t)
    warm = statistics.median(times)
    report(f"extract a {words:,}-word article, first call in a fresh process",
           probe["first_s"] * 1000, None, "ms", "< 1000 ms")
    report(f"extract a {words:,}-word article, warm median of 5 ({figures} figures)",
           warm * 1000, statistics.median(ref) * 1000, "ms", "< 1000 ms")
    report("start-up: importing the extraction pipeline", probe["import_s"] * 1000, None,
           "ms", "-")
    report("start-up RSS growth for loading the pipeline",
           (probe["after_import"] - probe["before"]) / 1024, None, "MB", "< 50 MB")
    report("RSS growth after the first extraction",
           (probe["after_use"] - probe["before"]) / 1024, None, "MB", "< 50 MB")


def main() -> None:
    def report(name: str, ours: float, reference: float | None, unit: str,
               target: str) -> None:
        ratio = f"{ours / reference:.2f}x" if reference else "-"
        ref = f"{reference:,.1f} {unit}" if reference else "-"
        print(f"{name}: {ours:,.1f} {unit} (reference {ref}; ratio {ratio}; target {target})",
              flush=True)

    run(report)


if __name__ == "__main__":
    main()
