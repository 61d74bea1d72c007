"""Make the README's screenshots (docs/screenshots/*.png) from the current code.

The same set-up as the browser tests: a real server on 127.0.0.1 over a fresh database
with the seeds and the fictional example conflict, reconciled, driven by the machine's
Chromium through Playwright (never a downloaded browser). Run: .venv/bin/python
scripts/screenshots.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import (  # noqa: E402
    EXAMPLE_CONFLICT,
    example_series_id,
    find_chromium,
    launch,
    load_example,
    watched_context,
)
from playwright.sync_api import sync_playwright  # noqa: E402
from realserver import cli, environment, running_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 900}


def main() -> None:
    chromium = find_chromium()
    if chromium is None:
        sys.exit("No Chromium found (apt-get install chromium); no screenshots made.")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ct-shots-") as tmp:
        db_path = Path(tmp) / "shots.db"
        env = environment(db_path)
        subprocess.run([cli(), "seed", "--db", str(db_path)], env=env, check=True,
                       capture_output=True)
        token = subprocess.run([cli(), "keys", "create", "--role", "editor", "--name",
                                "Desk editor", "--db", str(db_path)], env=env, check=True,
                               capture_output=True, text=True).stdout.strip()
        with running_server(db_path, Path(tmp) / "server.log") as server, \
                sync_playwright() as playwright:
            load_example(server, token)
            series = example_series_id(server)
            browser = launch(playwright, chromium)
            with watched_context(browser, viewport=VIEWPORT) as (context, watch):
                page = watch.page(context)

                def shot(path: str, name: str, full_page: bool = True) -> None:
                    page.goto(server.base + path)
                    if "series=" in path:
                        page.wait_for_selector("#change-charts[data-drawn=true]")
                    page.screenshot(path=str(OUT / name), full_page=full_page)
                    print(f"docs/screenshots/{name}: {path}")

                shot("/", "conflicts.png")
                shot(f"/conflicts/{EXAMPLE_CONFLICT}?series={series}", "conflict.png")
                page.goto(server.base + "/sign-in")
                page.fill("#token", token)
                page.click("form.stack button[type=submit]")
                page.wait_for_load_state()
                shot(f"/flags?conflict={EXAMPLE_CONFLICT}", "flags.png")
                shot("/figures/6", "figure.png")  # a seed figure another source disputes
                if watch.errors or watch.outside:
                    sys.exit(f"the pages misbehaved: {watch.errors} {watch.outside}")
            browser.close()


if __name__ == "__main__":
    main()
