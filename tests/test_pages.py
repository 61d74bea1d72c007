"""The web pages through the real app (issue 13): access, sign-in, CSRF, escaping, errors.

The browser tests (test_browser.py) check what a person sees; these check the rules that
hold whatever the browser: statuses, headers, cookies, what is stored and what is not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from conftest import figure
from flask import Flask
from flask.testing import FlaskClient

from service import auth, create_app, store
from service.config import ConfigError, Settings
from service.reconcile import run
from service.reconcile.series import encode_series_id
from service.seeds import load_seeds

API = "/api/v1"
SEED = "nagorno-karabakh-2020"
HOSTILE = 'He said "<script>alert(1)</script>" & left.'


@pytest.fixture
def seeded(database: sqlite_utils.Database) -> sqlite_utils.Database:
    load_seeds(database)
    return database


def reconcile(database: sqlite_utils.Database) -> None:
    queued = store.create_run(database, "test", True)
    assert run.execute(database, queued["id"], full=True)["status"] == "succeeded"


@pytest.fixture
def open_flag(client: FlaskClient, editor: dict[str, str],
              seeded: sqlite_utils.Database) -> dict:
    """A disagreement between two sources, reconciled: an open flag."""
    for source, count in (("Source A", 10), ("Source B", 50)):
        response = client.post(f"{API}/figures", json=figure(source=source, count=count,
                                                             category="missing"),
                               headers=editor)
        assert response.status_code == 201
    reconcile(seeded)
    flags = client.get(f"{API}/flags?status=open&rule=disagreement").get_json()["items"]
    (flag,) = flags
    return flag


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, token: str, next_path: str | None = None) -> Any:
    page = client.get("/sign-in")
    data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "token": token}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/sign-in", data=data)


def flag_state(database: sqlite_utils.Database, flag_id: int) -> tuple:
    return database.execute("SELECT status, note, updated_at FROM flags WHERE id = ?",
                            (flag_id,)).fetchone()


def test_every_page_answers_html_with_the_page_headers(
        client: FlaskClient, seeded: sqlite_utils.Database) -> None:
    reconcile(seeded)
    for path in ("/", f"/conflicts/{SEED}", "/flags", "/flags?status=obsolete", "/figures/1",
                 "/sign-in", f"/conflicts/{SEED}?category=civilian&sort=best&order=desc"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html", path
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "<script>" not in response.get_data(as_text=True)  # no inline script
    with client.get("/static/uPlot.iife.min.js") as script:
        assert script.status_code == 200 and script.mimetype == "text/javascript"
    with client.get("/static/uPlot.LICENSE") as licence:
        assert licence.status_code == 200 and b"MIT License" in licence.data
    # the API keeps its own headers
    api = client.get(f"{API}/figures")
    assert api.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["Referrer-Policy"] == "no-referrer"


def test_unknown_conflicts_series_and_figures_are_404_pages(
        client: FlaskClient, seeded: sqlite_utils.Database, editor: dict[str, str]) -> None:
    other = client.post(f"{API}/figures", json=figure(conflict="another-war"), headers=editor)
    other_series = encode_series_id(seeded.execute(
        "SELECT series_key FROM figures WHERE id = ?", (other.get_json()["id"],)).fetchone()[0])
    for path in ("/conflicts/no-such-war", f"/conflicts/{SEED}?series=nonsense",
                 f"/conflicts/{SEED}?series={other_series}", "/figures/999999",
                 "/figures/99999999999999999999999", "/no-such-page"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html", path
        assert "<h1>Not Found</h1>" in response.get_data(as_text=True)
    assert client.get(f"/conflicts/another-war?series={other_series}").status_code == 200
    assert client.get(f"{API}/no-such-thing").mimetype == "application/problem+json"


def test_bad_page_queries_are_400_pages_naming_the_field(
        client: FlaskClient, seeded: sqlite_utils.Database) -> None:
    for path, field in ((f"/conflicts/{SEED}?colour=red", "colour"),
                        (f"/conflicts/{SEED}?page=0", "page"),
                        (f"/conflicts/{SEED}?sort=quote", "sort"),
                        (f"/conflicts/{SEED}?category=deaths", "category"),
                        ("/flags?status=closed", "status")):
        response = client.get(path)
        assert response.status_code == 400, path
        assert f"{field}:" in response.get_data(as_text=True), path
    # an empty filter box is no filter
    assert client.get(f"/conflicts/{SEED}?category=&side=&grade=").status_code == 200


def test_the_report_table_filters_sorts_and_pages(
        client: FlaskClient, editor: dict[str, str]) -> None:
    bodies = [figure(conflict="big-war", location=f"Town {n:02d}", count=n + 1)
              for n in range(60)]
    assert client.post(f"{API}/figures/batch", json={"figures": bodies},
                       headers=editor).status_code == 201

    def rows(path: str) -> list[str]:
        html = client.get(path).get_data(as_text=True)
        table = html[html.index('id="report-table"'):]
        return re.findall(r"<td>(Town \d+)</td>", table[:table.index("</table>")])

    assert len(rows("/conflicts/big-war")) == 50
    assert len(rows("/conflicts/big-war?page=2")) == 10
    assert rows("/conflicts/big-war?sort=best&order=desc")[:3] == ["Town 59", "Town 58",
                                                                    "Town 57"]
    assert rows("/conflicts/big-war?sort=best&order=desc&page=2")[-1] == "Town 00"
    assert rows("/conflicts/big-war?location=town%2007") == ["Town 07"]
    assert rows("/conflicts/big-war?category=military") == []
    assert rows("/conflicts/big-war?page=99") == rows("/conflicts/big-war?page=2")


def test_a_bad_token_shows_the_form_again_with_one_message(
        client: FlaskClient, seeded: sqlite_utils.Database) -> None:
    response = sign_in(client, "ct_wrong")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert html.count('role="alert"') == 1
    assert "That token is unknown or revoked." in html
    assert 'name="token"' in html
    assert "token_hash" not in str(client.get_cookie("casualty_tracker_session"))
    assert sign_in(client, "   ").status_code == 400


def test_sign_in_keeps_only_the_hash_in_a_locked_down_cookie(
        app: Flask, seeded: sqlite_utils.Database, token: Callable[[str], str]) -> None:
    editor = token("editor")
    client = app.test_client()
    response = sign_in(client, editor, next_path="/flags")
    assert response.status_code == 302 and response.location == "/flags"
    cookie_header = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie_header and "SameSite=Lax" in cookie_header
    assert "Secure" not in cookie_header
    cookie = client.get_cookie("casualty_tracker_session")
    session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    assert session["token_hash"] == auth.hash_token(editor)
    assert editor not in cookie.value and editor not in str(session)
    assert "Signed in as" in client.get("/").get_data(as_text=True)
    # over HTTPS the cookie is Secure too
    secure = app.test_client()
    page = secure.get("/sign-in", base_url="https://localhost")
    answer = secure.post("/sign-in", base_url="https://localhost",
                         headers={"Referer": "https://localhost/sign-in"},
                         data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                               "token": editor})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    assert "Secure" in answer.headers["Set-Cookie"]


def test_sign_in_goes_back_only_to_this_site(
        client: FlaskClient, seeded: sqlite_utils.Database, token: Callable[[str], str]) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        assert sign_in(client, token("reader"), next_path=target).location == "/"


def test_triage_needs_a_valid_csrf_token_and_changes_nothing_without(
        app: Flask, open_flag: dict, seeded: sqlite_utils.Database,
        token: Callable[[str], str]) -> None:
    client = app.test_client()
    sign_in(client, token("editor"))
    before = flag_state(seeded, open_flag["id"])
    url = f"/flags/{open_flag['id']}"
    missing = client.post(url, data={"status": "acknowledged", "note": "x"})
    assert missing.status_code == 400 and missing.mimetype == "text/html"
    forged = client.post(url, data={"status": "acknowledged", "note": "x",
                                    "csrf_token": "IjEyMyI.forged.token"})
    assert forged.status_code == 400
    other = app.test_client()  # a valid token from another visitor's session
    foreign = csrf_from(other.get("/sign-in").get_data(as_text=True))
    assert client.post(url, data={"status": "resolved", "csrf_token": foreign}).status_code \
        == 400
    assert flag_state(seeded, open_flag["id"]) == before
    page = client.get("/flags").get_data(as_text=True)
    done = client.post(url, data={"status": "acknowledged", "note": "Both checked.",
                                  "csrf_token": csrf_from(page), "next": "/flags"})
    assert done.status_code == 302 and done.location == "/flags"
    stored = client.get(f"{API}/flags/{open_flag['id']}").get_json()
    assert (stored["status"], stored["note"]) == ("acknowledged", "Both checked.")
    assert f"Flag {open_flag['id']} is acknowledged." in client.get("/flags").get_data(
        as_text=True)


def test_a_bad_triage_form_changes_nothing(app: Flask, open_flag: dict,
                                           seeded: sqlite_utils.Database,
                                           token: Callable[[str], str]) -> None:
    client = app.test_client()
    sign_in(client, token("editor"))
    before = flag_state(seeded, open_flag["id"])
    csrf = csrf_from(client.get("/flags").get_data(as_text=True))
    for data in ({"status": "open"}, {"status": "resolved", "note": "x" * 2001},
                 {"status": "resolved", "colour": "red"}, {"note": "no status"}):
        answer = client.post(f"/flags/{open_flag['id']}", data={**data, "csrf_token": csrf})
        assert answer.status_code == 302
    assert flag_state(seeded, open_flag["id"]) == before
    assert "was not changed" in client.get("/flags").get_data(as_text=True)
    assert client.post("/flags/999999", data={"status": "resolved",
                                              "csrf_token": csrf}).status_code == 404


def test_readers_and_visitors_cannot_triage(app: Flask, open_flag: dict,
                                            seeded: sqlite_utils.Database,
                                            token: Callable[[str], str]) -> None:
    before = flag_state(seeded, open_flag["id"])
    visitor = app.test_client()
    csrf = csrf_from(visitor.get("/sign-in").get_data(as_text=True))
    answer = visitor.post(f"/flags/{open_flag['id']}",
                          data={"status": "resolved", "csrf_token": csrf})
    assert answer.status_code == 302 and answer.location.startswith("/sign-in")
    reader = app.test_client()
    sign_in(reader, token("reader"))
    html = reader.get("/flags").get_data(as_text=True)
    assert 'class="triage"' not in html and "Acknowledge" not in html
    answer = reader.post(f"/flags/{open_flag['id']}",
                         data={"status": "resolved", "csrf_token": csrf_from(html)})
    assert answer.status_code == 403
    assert flag_state(seeded, open_flag["id"]) == before
    editor = app.test_client()
    sign_in(editor, token("editor"))
    assert 'class="triage"' in editor.get("/flags").get_data(as_text=True)


def test_the_json_api_keeps_bearer_tokens_and_needs_no_csrf(
        app: Flask, open_flag: dict, token: Callable[[str], str]) -> None:
    client = app.test_client()
    editor = token("editor")
    sign_in(client, editor)  # a browser session is present: the API must not care
    bearer = {"Authorization": f"Bearer {editor}"}
    answer = client.patch(f"{API}/flags/{open_flag['id']}",
                          json={"status": "resolved", "note": "by API"}, headers=bearer)
    assert answer.status_code == 200 and answer.get_json()["note"] == "by API"
    assert client.post(f"{API}/figures", json=figure(), headers=bearer).status_code == 201
    # the session cookie alone is no API credential, so a forged cross-site API call fails
    assert client.post(f"{API}/figures", json=figure()).status_code == 401
    assert client.patch(f"{API}/flags/{open_flag['id']}",
                        json={"status": "acknowledged"}).status_code == 401


def test_a_revoked_key_ends_its_page_session(app: Flask, seeded: sqlite_utils.Database,
                                             token: Callable[[str], str]) -> None:
    client = app.test_client()
    editor = token("editor")
    sign_in(client, editor)
    assert "Signed in as" in client.get("/").get_data(as_text=True)
    store.revoke_api_keys(seeded, "test editor")
    assert "Signed in as" not in client.get("/").get_data(as_text=True)


def test_sign_out_needs_csrf_and_ends_the_session(app: Flask, seeded: sqlite_utils.Database,
                                                  token: Callable[[str], str]) -> None:
    client = app.test_client()
    sign_in(client, token("editor"))
    assert client.post("/sign-out").status_code == 400
    html = client.get("/").get_data(as_text=True)
    assert "Signed in as" in html
    assert client.post("/sign-out", data={"csrf_token": csrf_from(html)}).status_code == 302
    assert "Signed in as" not in client.get("/").get_data(as_text=True)


def test_pages_need_a_signed_in_reader_when_reading_is_not_public(
        settings: Settings, seeded: sqlite_utils.Database,
        token: Callable[[str], str]) -> None:
    client = create_app(replace(settings, public_read=False)).test_client()
    for path in ("/", f"/conflicts/{SEED}", "/flags", "/figures/1"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.location.startswith("/sign-in"), path
        assert SEED not in answer.get_data(as_text=True) or path != "/"
    assert client.get("/sign-in").status_code == 200
    with client.get("/static/site.css") as css:
        assert css.status_code == 200
    answer = sign_in(client, token("reader"), next_path=f"/conflicts/{SEED}")
    assert answer.location == f"/conflicts/{SEED}"
    assert client.get(f"/conflicts/{SEED}").status_code == 200


def test_text_from_the_database_is_escaped(client: FlaskClient, editor: dict[str, str],
                                           seeded: sqlite_utils.Database) -> None:
    for source, count in (("<b>Bold</b> Ministry", 7), ("Town council", 19)):
        response = client.post(f"{API}/figures", json=figure(
            source=source, count=count, quote=HOSTILE, location="<i>Harbour</i>",
            category="missing"), headers=editor)
        assert response.status_code == 201
    hostile_id = response.get_json()["id"]
    reconcile(seeded)
    for path in (f"/figures/{hostile_id}", "/flags",
                 f"/conflicts/{SEED}?category=missing", f"/conflicts/{SEED}"):
        html = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in html and "<b>Bold" not in html and "<i>Harbour" not in html
        assert "&lt;i&gt;Harbour&lt;/i&gt;" in html, path
    figure_page = client.get(f"/figures/{hostile_id}").get_data(as_text=True)
    assert "He said &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34; &amp; left." in figure_page
    # the chart's embedded JSON cannot close its script element either
    conflict_page = client.get(f"/conflicts/{SEED}?location=%3Ci%3EHarbour%3C%2Fi%3E")
    data = conflict_page.get_data(as_text=True)
    block = data[data.index('id="series-data">'):]
    assert "</script>" not in block[:block.index("</script>")].replace("\\u003c/", "")
    assert "\\u003ci\\u003eHarbour\\u003c/i\\u003e" in block


def test_the_signing_key_is_made_once_and_kept_in_the_database(
        settings: Settings, db_path: Path, database: sqlite_utils.Database) -> None:
    first = create_app(settings)
    stored = database.execute("SELECT secret FROM web_secret").fetchall()
    assert len(stored) == 1 and first.secret_key == stored[0][0]
    assert len(first.secret_key) >= 32
    assert create_app(settings).secret_key == first.secret_key
    # a database made before the table existed gets it
    database.execute("DROP TABLE web_secret")
    again = create_app(settings)
    assert again.secret_key == database.execute("SELECT secret FROM web_secret").fetchone()[0]
    # the environment's key wins
    chosen = "k" * 40
    assert create_app(replace(settings, secret_key=chosen)).secret_key == chosen
    env = {"CASUALTY_TRACKER_SECRET_KEY": chosen}
    assert Settings.from_env(env).secret_key == chosen
    assert chosen not in repr(Settings.from_env(env))
    with pytest.raises(ConfigError, match="CASUALTY_TRACKER_SECRET_KEY"):
        Settings.from_env({"CASUALTY_TRACKER_SECRET_KEY": "short"})


def test_the_conflict_page_never_shows_a_stale_report(
        app: Flask, editor: dict[str, str], seeded: sqlite_utils.Database,
        token: Callable[[str], str]) -> None:
    """The page keeps the report between requests; every change shows at once."""
    client = app.test_client()
    page = f"/conflicts/{SEED}?category=missing"

    def row() -> str:
        html = client.get(page).get_data(as_text=True)
        table = html[html.index('id="report-table"'):]
        return re.sub(r"\s+", " ", table[:table.index("</table>")])

    assert "No series match" in row()
    first = client.post(f"{API}/figures", json=figure(category="missing", count=10),
                        headers=editor).get_json()
    assert ">10<" in row() and "single source" in row()
    client.patch(f"{API}/figures/{first['id']}", json={"count": 12}, headers=editor)
    assert ">12<" in row()
    second = client.post(f"{API}/figures", json=figure(category="missing", count=50,
                                                       source="Monitor"), headers=editor)
    assert ">31<" in row() and "corroborated" in row()  # the median of 12 and 50
    reconcile(seeded)
    assert "contested" in row()
    (flag,) = client.get(f"{API}/flags?rule=disagreement&status=open").get_json()["items"]
    client.patch(f"{API}/flags/{flag['id']}", json={"status": "resolved"}, headers=editor)
    assert "corroborated" in row()
    monitor = client.get(f"{API}/sources?name=Monitor").get_json()["items"][0]
    independent = r'<td class="num">50</td> <td><span class="grade'  # the monitor's 50
    assert re.search(independent, row()) is not None
    client.patch(f"{API}/sources/{monitor['id']}", json={"affiliation": "Azerbaijan"},
                 headers=editor)
    assert re.search(independent, row()) is None and "—" in row()  # no independent source
    client.post(f"{API}/figures/{second.get_json()['id']}/retract", json={"reason": "x"},
                headers=editor)
    assert ">12<" in row() and "single source" in row()


def test_the_conflicts_page_counts_active_figures_series_and_open_flags(
        client: FlaskClient, editor: dict[str, str], seeded: sqlite_utils.Database) -> None:
    def counts() -> list[str]:
        html = client.get("/").get_data(as_text=True)
        row = html[html.index(f">{SEED}</a>"):]
        return re.findall(r'<td class="num">(?:<a[^>]*>)?([\d,]+)', row[:row.index("</tr>")])

    assert counts() == ["7", "7", "0", "0", "0"]  # series, figures, open flags h/m/l
    bodies = [figure(source=source, count=count, category="missing")
              for source, count in (("A", 10), ("B", 500))]
    ids = client.post(f"{API}/figures/batch", json={"figures": bodies},
                      headers=editor).get_json()["ids"]
    assert counts() == ["8", "9", "0", "0", "0"]
    reconcile(seeded)
    assert counts() == ["8", "9", "1", "1", "0"]  # the disagreement; the seed's dispute
    client.post(f"{API}/figures/{ids[0]}/retract", json={"reason": "x"}, headers=editor)
    assert counts()[:2] == ["8", "8"]
    client.post(f"{API}/figures/{ids[1]}/retract", json={"reason": "x"}, headers=editor)
    assert counts()[:2] == ["7", "7"]


def test_a_flag_with_many_figures_shows_a_dozen_and_links_the_rest(
        client: FlaskClient, editor: dict[str, str], seeded: sqlite_utils.Database) -> None:
    bodies = [figure(source="A", count=100, category="missing",
                     reported_on=f"2020-10-{day:02d}") for day in range(1, 15)]
    bodies.append(figure(source="B", count=1, category="missing", reported_on="2020-10-15"))
    ids = client.post(f"{API}/figures/batch", json={"figures": bodies},
                      headers=editor).get_json()["ids"]
    reconcile(seeded)
    html = client.get("/flags?rule=disagreement").get_data(as_text=True)
    assert html.count('class="figure-card') == 12
    assert "And 3 more figures:" in html
    for figure_id in ids[12:]:
        assert f'href="/figures/{figure_id}">#{figure_id}</a>' in html


def test_a_bug_on_a_page_is_an_html_500_and_the_api_keeps_problem_json(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("SECRET internal detail")

    app.add_url_rule("/broken-page", view_func=broken)
    app.add_url_rule(f"{API}/broken", view_func=broken)
    client = app.test_client()
    page = client.get("/broken-page")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "SECRET" not in page.get_data(as_text=True)
    assert "Nothing was changed" in page.get_data(as_text=True)
    api = client.get(f"{API}/broken")
    assert api.status_code == 500 and api.mimetype == "application/problem+json"
    assert "SECRET internal detail" in caplog.text  # logged for the operators


def test_the_table_core_filters_folded_sorts_nulls_last_and_pages() -> None:
    from service.web.table import choices, filter_rows, page_of, sort_rows

    rows = [{"side": "Russia", "best": 5, "open_flags": 0},
            {"side": " RUSSIA ", "best": None, "open_flags": 2},
            {"side": "Ukraine", "best": 9, "open_flags": 1},
            {"side": None, "best": 1, "open_flags": 0}]
    assert filter_rows(rows, {"side": "russia"}) == rows[:2]
    assert filter_rows(rows, {"flagged": True}) == [rows[1], rows[2]]
    assert [r["best"] for r in sort_rows(rows, "best", False)] == [1, 5, 9, None]
    assert [r["best"] for r in sort_rows(rows, "best", True)] == [9, 5, 1, None]
    assert [r["side"] for r in sort_rows(rows, "side", False)][-1] is None
    assert page_of(list(range(120)), 3) == (list(range(100, 120)), 3)
    assert page_of([], 1) == ([], 1)
    assert choices(rows, "side") == ["Russia", "Ukraine"]


def test_flag_cards_and_the_figure_page_show_via_and_group(
        client: FlaskClient, editor: dict[str, str], seeded: sqlite_utils.Database) -> None:
    posted = [client.post(f"{API}/figures", json=figure(
        source=source, count=count, category="civilian", group="children", via=via),
        headers=editor).get_json() for source, count, via in (("Ministry", 3, "Wire <Agency>"),
                                                             ("Monitor", 30, None))]
    reconcile(seeded)
    html = client.get("/flags?rule=disagreement").get_data(as_text=True)
    assert "(via Wire &lt;Agency&gt;)" in html and ", children</small>" in html
    page = client.get(f"/figures/{posted[0]['id']}").get_data(as_text=True)
    assert "(via Wire &lt;Agency&gt;)" in page and "(children)" in page
