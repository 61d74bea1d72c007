"""The "From an article" page in a real Chromium against a real server (issue 14): an editor
extracts a passage, unticks one candidate, posts, and the API holds exactly the rest.

Same fixtures and guards as test_browser.py: skipped with one line when no Chromium is
installed (a failure under CI), no console error, nothing sent beyond 127.0.0.1, and no
serious or critical axe-core violation on the candidates page.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser import watched_context
from realserver import cli, environment, running_server

SERIOUS = ("serious", "critical")
PASSAGE = (
    "The Azerbaijani Defence Ministry said on Sunday that 22 civilians had been killed and "
    "74 injured in Ganja. Armenia's Defence Ministry said 40 of its soldiers were killed. "
    "Local officials said <script>alert(1)</script> 12 people were missing in Stepanakert."
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory,
         module_db_path: Path | str) -> Iterator[dict[str, Any]]:
    """A real server over an empty database (each engine in turn), with an editor's token."""
    tmp = tmp_path_factory.mktemp("extract-site")
    db_path = module_db_path
    env = environment(db_path)
    token = subprocess.run([cli(), "keys", "create", "--role", "editor", "--name",
                            "Editor Example", "--db", str(db_path)], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    with running_server(db_path, tmp / "server.log") as server:
        yield {"server": server, "token": token}


def test_an_editor_extracts_unticks_one_and_posts_the_rest(
        browser: Any, site: dict[str, Any]) -> None:
    server = site["server"]
    headers = {"Authorization": f"Bearer {site['token']}"}
    with watched_context(browser) as (context, watch):
        page = watch.page(context)
        page.goto(server.base + "/sign-in?next=/extract")
        page.fill("#token", site["token"])
        page.click("form.stack button[type=submit]")
        page.wait_for_url(server.base + "/extract")
        page.get_by_label("Article text").fill(PASSAGE)
        page.get_by_label("Conflict (slug)").fill("nagorno-karabakh-2020")
        page.get_by_label("Published on (reported_on)").fill("2020-10-04")
        page.click("#article-form button[type=submit]")
        page.wait_for_selector("#candidates-table")
        rows = page.locator("#candidates-table input[name=figure]")
        total = rows.count()
        assert total >= 3
        assert all(rows.nth(i).is_checked() for i in range(total))
        # the hostile text is shown as text, never run
        assert page.locator("#candidates-table q.quote", has_text="<script>").count() >= 1
        results = Axe().run(page, options={"resultTypes": ["violations", "passes"]})
        assert len(results.response["passes"]) > 10  # it really checked the page
        serious = [v for v in results.response["violations"] if v["impact"] in SERIOUS]
        assert serious == [], [(v["id"], v["help"], [n["target"] for n in v["nodes"]])
                               for v in serious]
        rows.nth(0).uncheck()
        page.get_by_role("button", name="Post the ticked figures").click()
        page.wait_for_selector("#posted-figures")
        links = page.locator("#posted-figures a")
        assert links.count() == total - 1
        stored = server.request("GET", "/api/v1/figures?limit=100", headers=headers).json()
        ids = [figure["id"] for figure in stored["items"]]
        assert len(ids) == total - 1
        assert [links.nth(i).get_attribute("href") for i in range(links.count())] == \
            [f"/figures/{i}" for i in ids]
        links.nth(0).click()
        page.wait_for_url(server.base + f"/figures/{ids[0]}")
        assert watch.errors == [], watch.errors
        assert watch.outside == [], watch.outside
