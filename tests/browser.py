"""The browser set-up shared by the browser tests and scripts/screenshots.py.

Playwright drives the machine's own Chromium (Debian's package); it never downloads a
browser. The example data are a fictional conflict, so that screenshots never put invented
numbers in a real party's mouth.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from realserver import Server

#: Flags for a headless Chromium that talks to nobody but the page it is given.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
EXAMPLE_CONFLICT = "example-2025"
#: The example series: (source, affiliation, [(as_of, count, qualifier)]).
EXAMPLE_SERIES = [
    ("Northern Ministry of Defence", "North",
     [("2025-03-01", 12, "exact"), ("2025-03-02", 30, "exact"), ("2025-03-05", 61, "exact"),
      ("2025-03-06", 55, "exact"), ("2025-03-08", 90, "about")]),
    ("Southern Ministry of Defence", "South",
     [("2025-03-02", 140, "exact"), ("2025-03-04", 310, "exact"),
      ("2025-03-08", 500, "more_than")]),
    ("Independent Casualty Monitor", None,
     [("2025-03-03", 40, "at_least"), ("2025-03-07", 72, "exact")]),
]
#: A quote that must reach every page as text, never as markup.
HOSTILE_QUOTE = 'He said "<script>alert(document.cookie)</script>" & left.'


def find_chromium() -> str | None:
    """The installed Chromium: CASUALTY_TRACKER_CHROMIUM, else chromium on PATH."""
    explicit = os.environ.get("CASUALTY_TRACKER_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def launch(playwright: Any, chromium: str) -> Any:
    return playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)


def example_figures() -> list[dict]:
    """The example conflict's figures as POST /figures bodies: one military series of
    three sources (a fall, gaps, an unbounded figure, disagreement), and a hostile quote."""
    bodies = []
    for source, _affiliation, points in EXAMPLE_SERIES:
        for as_of, count, qualifier in points:
            bodies.append({"conflict": EXAMPLE_CONFLICT, "source": source,
                           "category": "military", "side": "North", "count": count,
                           "qualifier": qualifier, "reported_on": as_of, "as_of": as_of,
                           "quote": f"{source} said {count} soldiers of the North were killed.",
                           "url": "https://example.org/news"})
    bodies.append({"conflict": EXAMPLE_CONFLICT, "source": "Southern <b>Ministry</b> of Health",
                   "category": "civilian", "side": "South", "location": "Harbour Town",
                   "count": 7, "reported_on": "2025-03-04", "quote": HOSTILE_QUOTE})
    bodies.append({"conflict": EXAMPLE_CONFLICT, "source": "Harbour Town council",
                   "category": "civilian", "side": "South", "location": "Harbour Town",
                   "count": 19, "reported_on": "2025-03-04",
                   "quote": "Nineteen civilians were killed in the shelling."})
    return bodies


def load_example(server: Server, editor_token: str) -> None:
    """Post the example figures and sources through the API, then run reconciliation."""
    headers = {"Authorization": f"Bearer {editor_token}"}
    answer = server.request("POST", "/api/v1/figures/batch", {"figures": example_figures()},
                            headers=headers)
    assert answer.status == 201, answer.body
    for source, affiliation, _points in EXAMPLE_SERIES:
        found = server.request("GET", "/api/v1/sources?" + urlencode({"name": source}),
                               headers=headers).json()["items"][0]
        kind = "independent" if affiliation is None else "military"
        changed = server.request("PATCH", f"/api/v1/sources/{found['id']}",
                                 {"kind": kind, "affiliation": affiliation}, headers=headers)
        assert changed.status == 200, changed.body
    run_reconciliation(server, editor_token)


def run_reconciliation(server: Server, editor_token: str) -> dict:
    headers = {"Authorization": f"Bearer {editor_token}"}
    queued = server.request("POST", "/api/v1/reconciliation/runs", headers=headers).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = server.request("GET", f"/api/v1/reconciliation/runs/{queued['id']}").json()
        if run["status"] in ("succeeded", "failed"):
            assert run["status"] == "succeeded", run
            return run
        time.sleep(0.1)
    raise AssertionError("the reconciliation run did not finish")


def example_series_id(server: Server) -> str:
    """The series_id of the example conflict's military series (from GET /series)."""
    answer = server.request("GET", "/api/v1/series?" + urlencode(
        {"conflict": EXAMPLE_CONFLICT, "category": "military"})).json()
    (series,) = answer["series"]
    return series["series_id"]


class Watch:
    """Everything a page did that it should not: console errors, uncaught exceptions,
    and any request to a host other than 127.0.0.1 (stopped before it leaves)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []

    def attach(self, context: Any) -> None:
        def route(route: Any) -> None:
            host = urlsplit(route.request.url).hostname
            if route.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                route.continue_()
            else:
                self.outside.append(route.request.url)
                route.abort()

        context.route("**/*", route)

    def page(self, context: Any) -> Any:
        page = context.new_page()
        page.on("console", lambda message: self.errors.append(message.text)
                if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return page


@contextmanager
def watched_context(browser: Any, **options: Any) -> Iterator[tuple[Any, Watch]]:
    context = browser.new_context(**options)
    watch = Watch()
    watch.attach(context)
    try:
        yield context, watch
    finally:
        context.close()
