"""The "From an article" page (issue 14) through the real app: an editor pastes an article,
unticks a wrong candidate, posts the rest; what the API then holds is exactly what was
ticked. Readers get no form; a missing CSRF token or tampered candidates store nothing.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from flask.testing import FlaskClient

API = "/api/v1"
SEED_ARTICLE = Path("/work/shared/seeds/article-2020-10-04-ganja.txt")
PASSAGE = (
    "The Azerbaijani Defence Ministry said on Sunday that 22 civilians had been killed and "
    "74 injured in Ganja. Armenia's Defence Ministry said 40 of its soldiers were killed. "
    "Armenian officials denied the claim."
)
CONFLICT = "nagorno-karabakh-2020"


def csrf_from(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, token: str) -> None:
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post("/sign-in", data={"csrf_token": csrf_from(page), "token": token})
    assert response.status_code == 302


@pytest.fixture
def editor_client(client: FlaskClient, token: Callable[[str], str]) -> FlaskClient:
    sign_in(client, token("editor"))
    return client


def extract_page(client: FlaskClient, text: str, **extra: str) -> Any:
    csrf = csrf_from(client.get("/extract").get_data(as_text=True))
    return client.post("/extract", data={"csrf_token": csrf, "text": text,
                                         "conflict": CONFLICT, "reported_on": "2020-10-04",
                                         **extra})


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name}"
    return html.unescape(found.group(1))


def signed(page: str) -> dict[str, str]:
    """The candidates form's CSRF token and its posting key."""
    return {"csrf_token": csrf_from(page), "key": hidden(page, "key")}


def boxes(page: str, name: str) -> list[str]:
    return re.findall(rf'type="checkbox" name="{name}" value="(\d+)"[^>]*checked', page)


def stored_figures(client: FlaskClient, headers: dict[str, str]) -> list[dict]:
    return client.get(f"{API}/figures?limit=1000", headers=headers).get_json()["items"]


def counts(database: sqlite_utils.Database) -> tuple[int, int]:
    return (database.execute("SELECT count(*) FROM figures").fetchone()[0],
            database.execute("SELECT count(*) FROM disputes").fetchone()[0])


def test_an_editor_posts_exactly_the_ticked_candidates(
        editor_client: FlaskClient, editor: dict[str, str],
        database: sqlite_utils.Database) -> None:
    text = SEED_ARTICLE.read_text(encoding="utf-8") if SEED_ARTICLE.exists() else PASSAGE
    response = extract_page(editor_client, text)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    candidates = json.loads(hidden(page, "candidates"))
    expected = editor_client.post(f"{API}/extractions", headers=editor, json={
        "text": text, "conflict": CONFLICT, "reported_on": "2020-10-04"}).get_json()
    assert candidates == expected  # the page proposes what the API proposes
    assert len(candidates["figures"]) >= 2
    ticked = boxes(page, "figure")
    assert ticked == [str(i) for i in range(len(candidates["figures"]))]  # all ticked
    assert counts(database) == (0, 0)  # extracting stores nothing
    keep = ticked[1:]  # untick the first
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": hidden(page, "candidates"),
        "figure": keep, "dispute": boxes(page, "dispute")})
    assert response.status_code == 302
    result = editor_client.get(response.headers["Location"]).get_data(as_text=True)
    stored = stored_figures(editor_client, editor)
    assert len(stored) == len(keep)
    for figure in stored:
        assert f'href="/figures/{figure["id"]}"' in result
    posted = [candidates["figures"][int(i)] for i in keep]
    assert [(f["source"], f["category"], f["count"], f["quote"]) for f in stored] == \
        [(f["source"], f["category"], f["count"], f["quote"]) for f in posted]
    expected_disputes = [d for d in candidates["disputes"] if str(d["figure_index"]) in keep]
    assert counts(database)[1] == len(expected_disputes)


def test_disputes_are_listed_under_their_figure_and_posted_only_when_ticked(
        editor_client: FlaskClient, editor: dict[str, str],
        database: sqlite_utils.Database) -> None:
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    candidates = json.loads(hidden(page, "candidates"))
    assert candidates["disputes"], "the passage's denial should be proposed"
    index = candidates["disputes"][0]["figure_index"]
    assert "Armenian officials</strong> disputes row" in page
    # the dispute unticked: its figure is posted, no dispute recorded
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": hidden(page, "candidates"),
        "figure": [str(index)]})
    assert response.status_code == 302
    assert counts(database) == (1, 0)
    # ticked: recorded against the new figure (a new extraction: a list posts once)
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": hidden(page, "candidates"),
        "figure": [str(index)], "dispute": ["0"]})
    assert response.status_code == 302
    new_id = stored_figures(editor_client, editor)[-1]["id"]
    disputes = editor_client.get(f"{API}/figures/{new_id}/disputes").get_json()["items"]
    assert [d["source"] for d in disputes] == [candidates["disputes"][0]["source"]]


def test_readers_and_visitors_see_no_form(client: FlaskClient, token: Callable[[str], str],
                                          database: sqlite_utils.Database) -> None:
    page = client.get("/extract")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Sign in as an editor" in body and 'name="text"' not in body
    sign_in(client, token("reader"))
    body = client.get("/extract").get_data(as_text=True)
    assert "reader's" in body and 'name="text"' not in body and "<textarea" not in body
    csrf = csrf_from(body)  # the sign-out form's token: a valid one
    response = client.post("/extract", data={"csrf_token": csrf, "text": PASSAGE,
                                             "conflict": CONFLICT,
                                             "reported_on": "2020-10-04"})
    assert response.status_code == 403
    response = client.post("/extract/post", data={"csrf_token": csrf, "candidates": "{}"})
    assert response.status_code == 403
    assert counts(database) == (0, 0)


def test_bad_article_form_names_the_field_and_stores_nothing(
        editor_client: FlaskClient, database: sqlite_utils.Database) -> None:
    response = extract_page(editor_client, PASSAGE, reported_on="2999-01-01")
    assert response.status_code == 400
    assert "reported_on:" in response.get_data(as_text=True)
    response = extract_page(editor_client, "x" * 100_001)
    assert response.status_code == 400
    assert "text:" in response.get_data(as_text=True)
    response = extract_page(editor_client, PASSAGE, conflict="Not A Slug!")
    assert "conflict:" in response.get_data(as_text=True)
    assert counts(database) == (0, 0)


def test_posting_without_csrf_is_400_and_stores_nothing(
        editor_client: FlaskClient, database: sqlite_utils.Database) -> None:
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    response = editor_client.post("/extract/post", data={
        "key": hidden(page, "key"), "candidates": hidden(page, "candidates"),
        "figure": boxes(page, "figure")})
    assert response.status_code == 400
    assert "text/html" in response.content_type
    assert counts(database) == (0, 0)


@pytest.mark.parametrize("tamper", [
    lambda c: "{not json",
    lambda c: json.dumps({**c, "extra": 1}),
    lambda c: json.dumps({"figures": [{**c["figures"][0], "count": -5}], "disputes": []}),
    lambda c: json.dumps({"figures": [{**c["figures"][0], "secret": "x"}], "disputes": []}),
    lambda c: json.dumps({"figures": c["figures"],
                          "disputes": [{"figure_index": 99, "source": "X",
                                        "reported_on": "2020-10-04", "quote": None}]}),
])
def test_tampered_candidates_are_a_clear_error_and_store_nothing(
        editor_client: FlaskClient, database: sqlite_utils.Database,
        tamper: Callable[[dict], str]) -> None:
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    candidates = json.loads(hidden(page, "candidates"))
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": tamper(candidates), "figure": ["0"]})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Nothing was stored" in body
    assert counts(database) == (0, 0)


def test_a_ticked_box_beyond_the_candidates_stores_nothing(
        editor_client: FlaskClient, database: sqlite_utils.Database) -> None:
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": hidden(page, "candidates"),
        "figure": ["0", "500"]})
    assert response.status_code == 400
    assert counts(database) == (0, 0)


def test_a_quote_holding_script_is_escaped(editor_client: FlaskClient,
                                           database: sqlite_utils.Database) -> None:
    text = ("Local officials said <script>alert(1)</script> 22 civilians were killed "
            "in Ganja.")
    page = extract_page(editor_client, text).get_data(as_text=True)
    candidates = json.loads(hidden(page, "candidates"))
    assert any("<script>" in (f["quote"] or "") for f in candidates["figures"])
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": hidden(page, "candidates"),
        "figure": boxes(page, "figure")})
    assert response.status_code == 302
    figure_page = editor_client.get("/figures/1").get_data(as_text=True)
    assert "<script>alert" not in figure_page


def test_the_result_page_refuses_a_bad_query(editor_client: FlaskClient) -> None:
    assert editor_client.get("/extract/posted?figure=abc").status_code == 400
    assert editor_client.get("/extract/posted").status_code == 400


def test_a_refused_dispute_undoes_the_whole_post(
        editor_client: FlaskClient, database: sqlite_utils.Database) -> None:
    """Figures and disputes go in one transaction: a dispute the store refuses (its source
    is the figure's own) leaves no figure behind."""
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    candidates = json.loads(hidden(page, "candidates"))
    own = {"figure_index": 0, "source": candidates["figures"][0]["source"],
           "reported_on": "2020-10-04", "quote": None}
    response = editor_client.post("/extract/post", data={
        **signed(page), "figure": ["0", "1"], "dispute": ["0"],
        "candidates": json.dumps({"figures": candidates["figures"], "disputes": [own]})})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Nothing was stored" in body and "source" in body
    assert counts(database) == (0, 0)


def test_a_list_posted_twice_stores_nothing_twice(
        editor_client: FlaskClient, database: sqlite_utils.Database) -> None:
    page = extract_page(editor_client, PASSAGE).get_data(as_text=True)
    data = {**signed(page),
            "candidates": hidden(page, "candidates"), "figure": boxes(page, "figure"),
            "dispute": boxes(page, "dispute")}
    first = editor_client.post("/extract/post", data=data)
    assert first.status_code == 302
    stored = counts(database)
    assert stored[0] == len(data["figure"])
    again = editor_client.post("/extract/post", data=data)  # a double click
    assert again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert "posted already" in editor_client.get(again.headers["Location"]).get_data(
        as_text=True)
    other = editor_client.post("/extract/post", data={**data, "figure": data["figure"][:1]})
    assert other.status_code == 409
    assert counts(database) == stored
    # a missing or malformed key is refused like any tampering
    for key in (None, "short", "x" * 20 + "<"):
        body = {name: value for name, value in data.items() if name != "key"}
        if key is not None:
            body["key"] = key
        assert editor_client.post("/extract/post", data=body).status_code == 400
    assert counts(database) == stored


def test_a_long_article_in_any_script_and_its_many_candidates_fit_the_forms(
        editor_client: FlaskClient, database: sqlite_utils.Database) -> None:
    """A browser sends a form URL-encoded: 100,000 non-ASCII characters are about 600 kB,
    and a long article's hidden candidates more; both must get through (413 otherwise)."""
    text = ("Украина " * 12_500)[:100_000]
    response = extract_page(editor_client, text)
    assert response.status_code == 200
    sentences = "".join(f"The Azerbaijani Defence Ministry said {n} civilians had been "
                        f"killed in Ganja. " for n in range(20, 1_200))
    page = extract_page(editor_client, sentences[:100_000]).get_data(as_text=True)
    assert len(hidden(page, "candidates")) > 500_000
    response = editor_client.post("/extract/post", data={
        **signed(page), "candidates": hidden(page, "candidates"),
        "figure": boxes(page, "figure")[:2]})
    assert response.status_code == 302
    assert counts(database)[0] == 2
