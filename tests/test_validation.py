"""Bad input is refused (API §3, §4): the right status, a problem+json body naming the field,
and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings

FIGURES = "/api/v1/figures"
REQUIRED = ("conflict", "source", "category", "count", "reported_on")
TEXT_FIELDS = ("source", "side", "location", "incident", "unit", "quote", "notes", "url",
               "conflict")


def tomorrow() -> str:
    """The first date no place on Earth has reached yet: the day after today in UTC+14."""
    return (datetime.now(UTC) + timedelta(hours=14, days=1)).date().isoformat()


@pytest.fixture
def refused(client: FlaskClient, database: Any, editor: dict[str, str]) -> Callable[..., dict]:
    """refused(method, path, status, field, json=... | data=...): the request fails as told
    and leaves every stored row as it was."""

    def check(method: str, path: str, status: int, field: str | None = None,
              **kwargs: Any) -> dict:
        headers = {**editor, **kwargs.pop("headers", {})}
        before = stored_state(database)
        response = client.open(path, method=method, headers=headers, **kwargs)
        body = assert_problem(response, status, field)
        assert stored_state(database) == before
        return body

    return check


@pytest.fixture
def posted(client: FlaskClient, editor: dict[str, str]) -> dict:
    response = client.post(FIGURES, json=figure(), headers=editor)
    assert response.status_code == 201
    return response.get_json()


# --- one figure ------------------------------------------------------------------------

@pytest.mark.parametrize("count", [-1, 2.5, 2.0, "200", True, False, 10**30, 1_000_000_001,
                                   None, [200], {"n": 200}])
def test_count_must_be_a_plain_integer_in_range(refused: Callable, count: Any) -> None:
    refused("POST", FIGURES, 422, "count", json=figure(count=count))


@pytest.mark.parametrize("count_high", [-1, 2.5, "30", True, 10**30])
def test_count_high_must_be_a_plain_integer_in_range(refused: Callable, count_high: Any) -> None:
    refused("POST", FIGURES, 422, "count_high", json=figure(count=20, count_high=count_high))


@pytest.mark.parametrize("field", ["reported_on", "as_of", "period_start"])
@pytest.mark.parametrize("value", ["2020-13-01", "yesterday", "", "2020-02-30", "20201004",
                                   "2020-10-4", " 2020-10-04", "2020-10-04T00:00:00Z",
                                   "٢٠٢٠-١٠-٠٤", 20201004])
def test_dates_must_be_real_iso_dates(refused: Callable, field: str, value: Any) -> None:
    refused("POST", FIGURES, 422, field, json=figure(**{field: value}))


def test_reported_on_may_not_be_in_the_future(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "reported_on",
            json=figure(reported_on=tomorrow(), as_of=None))


def test_reported_on_today_is_accepted(client: FlaskClient, editor: dict[str, str]) -> None:
    today = datetime.now(UTC).date().isoformat()
    response = client.post(FIGURES, json=figure(reported_on=today), headers=editor)
    assert response.status_code == 201
    assert response.get_json()["reported_on"] == today


def test_as_of_may_not_be_after_reported_on(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "as_of", json=figure(reported_on="2020-10-04",
                                                       as_of="2020-10-05"))


def test_period_start_may_not_be_after_as_of(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "period_start",
            json=figure(reported_on="2020-10-04", as_of="2020-10-02",
                        period_start="2020-10-03"))


def test_period_start_may_not_be_after_the_defaulted_as_of(refused: Callable) -> None:
    body = refused("POST", FIGURES, 422, "period_start",
                   json=figure(reported_on="2020-10-04", period_start="2020-10-05"))
    # no as_of was sent: the message says which date it was compared with
    assert body["errors"]["period_start"] == [
        "May not be after as_of, which is reported_on when not given."]


def test_unknown_category(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "category", json=figure(category="wounded"))


def test_unknown_qualifier(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "qualifier", json=figure(qualifier="roughly"))


def test_unknown_field_is_refused_not_ignored(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "casualties", json=figure(casualties=5))


@pytest.mark.parametrize("field", ["id", "low", "high", "status", "version", "created_at"])
def test_server_managed_field_on_create_is_refused(refused: Callable, field: str) -> None:
    refused("POST", FIGURES, 422, field, json=figure(**{field: 1}))


@pytest.mark.parametrize("field", REQUIRED)
def test_required_field_missing(refused: Callable, field: str) -> None:
    body = figure()
    del body[field]
    refused("POST", FIGURES, 422, field, json=body)


@pytest.mark.parametrize("field", REQUIRED)
def test_required_field_null(refused: Callable, field: str) -> None:
    refused("POST", FIGURES, 422, field, json=figure(**{field: None}))


@pytest.mark.parametrize("field", ["qualifier", "unit"])
def test_defaulted_field_may_not_be_null(refused: Callable, field: str) -> None:
    refused("POST", FIGURES, 422, field, json=figure(**{field: None}))


def test_damage_with_unit_people(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "unit", json=figure(category="damage", unit="people"))


def test_damage_with_unit_omitted(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "unit", json=figure(category="damage"))


def test_count_high_below_count(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "count_high", json=figure(count=30, count_high=20))


@pytest.mark.parametrize("qualifier", ["about", "nearly", "at_least", "more_than", "at_most",
                                       "fewer_than"])
def test_count_high_only_with_exact(refused: Callable, qualifier: str) -> None:
    refused("POST", FIGURES, 422, "count_high",
            json=figure(count=20, count_high=30, qualifier=qualifier))


@pytest.mark.parametrize("url", ["javascript:alert(1)", "/news/2020/10/04", "news.html",
                                 "ftp://example.org/a", "http://", "https:///path",
                                 "http://exa mple.org/", "", "//example.org/a"])
def test_url_must_be_absolute_http(refused: Callable, url: str) -> None:
    refused("POST", FIGURES, 422, "url", json=figure(url=url))


def test_quote_of_2001_chars_is_refused(refused: Callable) -> None:
    refused("POST", FIGURES, 422, "quote", json=figure(quote="q" * 2001))


def test_quote_of_2000_chars_is_accepted(client: FlaskClient, editor: dict[str, str]) -> None:
    quote = "q" * 1999 + "ə"
    response = client.post(FIGURES, json=figure(quote=quote), headers=editor)
    assert response.status_code == 201
    assert response.get_json()["quote"] == quote


@pytest.mark.parametrize("field", ["notes"])
def test_long_text_of_2001_chars_is_refused(refused: Callable, field: str) -> None:
    refused("POST", FIGURES, 422, field, json=figure(**{field: "n" * 2001}))


@pytest.mark.parametrize("field", ["source", "side", "location", "incident", "unit"])
def test_short_text_of_201_chars_is_refused(refused: Callable, field: str) -> None:
    refused("POST", FIGURES, 422, field, json=figure(**{field: "s" * 201}))


def test_source_of_200_chars_is_accepted(client: FlaskClient, editor: dict[str, str]) -> None:
    name = "S" * 200
    response = client.post(FIGURES, json=figure(source=name), headers=editor)
    assert response.status_code == 201
    assert response.get_json()["source"] == name


@pytest.mark.parametrize("source", ["", "   ", "\t\n"])
def test_empty_source_is_refused(refused: Callable, source: str) -> None:
    refused("POST", FIGURES, 422, "source", json=figure(source=source))


@pytest.mark.parametrize("conflict", ["Nagorno Karabakh", "nagorno karabakh",
                                      "nagorno-karabakh-2020\n", "-nagorno", "", "a" * 101,
                                      "nagorno_karabakh", "nagorno-karabakh/2020"])
def test_conflict_must_be_a_slug(refused: Callable, conflict: str) -> None:
    refused("POST", FIGURES, 422, "conflict", json=figure(conflict=conflict))


def test_conflict_slug_of_100_chars_is_accepted(client: FlaskClient,
                                                editor: dict[str, str]) -> None:
    slug = "0" + "a-" * 49 + "z"
    response = client.post(FIGURES, json=figure(conflict=slug), headers=editor)
    assert response.status_code == 201
    assert response.get_json()["conflict"] == slug


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_nul_in_text_is_refused(refused: Callable, field: str) -> None:
    value = {"url": "https://example.org/a\x00b", "conflict": "nagorno\x00"}.get(field, "A\x00B")
    refused("POST", FIGURES, 422, field, json=figure(**{field: value}))


def test_lone_surrogate_in_text_is_refused(refused: Callable) -> None:
    body = json.dumps(figure(source="PLACEHOLDER")).replace("PLACEHOLDER", "\\ud800")
    refused("POST", FIGURES, 422, "source", data=body,
            headers={"Content-Type": "application/json"})


# --- bodies that are not a figure ------------------------------------------------------

@pytest.mark.parametrize("data", [b"{not json", b'{"count": 1', b"\x00", b"{}}", b"NaN x"])
def test_non_json_body(refused: Callable, data: bytes) -> None:
    refused("POST", FIGURES, 400, data=data, headers={"Content-Type": "application/json"})


def test_empty_json_body_is_a_figure_without_fields(refused: Callable) -> None:
    # The contract does not say; an empty body is read as "no fields", so every required
    # field is named (a 422, not a 400).
    body = refused("POST", FIGURES, 422, data=b"", headers={"Content-Type": "application/json"})
    assert set(body["errors"]) == set(REQUIRED)


def test_non_utf8_body(refused: Callable) -> None:
    data = json.dumps(figure(source="Gəncə officials"), ensure_ascii=False).encode("utf-8")
    data = data.replace("ə".encode(), b"\xc3\x28")  # an invalid two-byte sequence
    assert data.decode("utf-8", errors="replace")  # valid JSON if decoded leniently
    refused("POST", FIGURES, 400, data=data, headers={"Content-Type": "application/json"})


def test_latin1_body(refused: Callable) -> None:
    data = json.dumps(figure(source="Ganca résidents"), ensure_ascii=False).encode("latin-1")
    refused("POST", FIGURES, 400, data=data, headers={"Content-Type": "application/json"})


def test_deeply_nested_json_is_a_400_not_a_500(refused: Callable) -> None:
    refused("POST", FIGURES, 400, data=b"[" * 100_000 + b"]" * 100_000,
            headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("body", [[figure()], "figure", 22, None, True])
def test_json_of_the_wrong_shape(refused: Callable, body: Any) -> None:
    refused("POST", FIGURES, 422, data=json.dumps(body),
            headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8",
                                          "application/json; charset=UTF-8",
                                          "application/json"])
def test_utf8_json_is_accepted(client: FlaskClient, editor: dict[str, str],
                               content_type: str) -> None:
    data = json.dumps(figure(location="Gəncə"), ensure_ascii=False).encode("utf-8")
    response = client.post(FIGURES, data=data, headers={**editor, "Content-Type": content_type})
    assert response.status_code == 201
    assert response.get_json()["location"] == "Gəncə"


def test_text_plain_body(refused: Callable) -> None:
    refused("POST", FIGURES, 415, data=json.dumps(figure()),
            headers={"Content-Type": "text/plain"})


def test_no_content_type(refused: Callable) -> None:
    refused("POST", FIGURES, 415, data=json.dumps(figure()))


def test_json_in_another_charset(refused: Callable) -> None:
    refused("POST", FIGURES, 415, data=json.dumps(figure()),
            headers={"Content-Type": "application/json; charset=latin-1"})


def test_body_over_the_limit(db_path: Any, database: Any, editor: dict[str, str]) -> None:
    small = create_app(Settings(db_path=db_path, reconcile_seconds=0, max_body_mb=1))
    data = json.dumps(figure(quote="x" * (1024 * 1024 + 1)))
    before = stored_state(database)
    response = small.test_client().post(FIGURES, data=data, headers={
        **editor, "Content-Type": "application/json"})
    assert_problem(response, 413)
    assert stored_state(database) == before
    # just under the limit is read (and then refused only for the over-long quote)
    under = small.test_client().post(FIGURES, data=json.dumps(figure(quote="x" * 1000)),
                                     headers={**editor, "Content-Type": "application/json"})
    assert under.status_code == 201


# --- batches ---------------------------------------------------------------------------

BATCH = f"{FIGURES}/batch"


def test_batch_with_one_bad_item_stores_nothing(refused: Callable) -> None:
    items = [figure(count=1), figure(count=-5), figure(count=3)]
    body = refused("POST", BATCH, 422, json={"figures": items})
    assert list(body["errors"]) == ["1"]
    assert list(body["errors"]["1"]) == ["count"]


def test_batch_errors_name_every_bad_item(refused: Callable) -> None:
    items = [figure(category="nope"), figure(), figure(count="2", as_of="x")]
    body = refused("POST", BATCH, 422, json={"figures": items})
    assert set(body["errors"]) == {"0", "2"}
    assert set(body["errors"]["0"]) == {"category"}
    assert set(body["errors"]["2"]) == {"count", "as_of"}


def test_batch_cross_field_rule_on_one_item(refused: Callable) -> None:
    items = [figure(), figure(), figure(as_of="2020-10-05")]
    body = refused("POST", BATCH, 422, json={"figures": items})
    assert list(body["errors"]) == ["2"]
    assert "as_of" in body["errors"]["2"]


def test_batch_item_that_is_not_an_object(refused: Callable) -> None:
    body = refused("POST", BATCH, 422, json={"figures": [figure(), 5]})
    assert list(body["errors"]) == ["1"]


def test_batch_unknown_envelope_field_is_reported_beside_bad_items(refused: Callable) -> None:
    body = refused("POST", BATCH, 422, json={"figures": [figure(count=-1)], "dry_run": True})
    assert set(body["errors"]) == {"0", "dry_run"}


def test_batch_of_10001_items(refused: Callable) -> None:
    refused("POST", BATCH, 422, "figures", json={"figures": [figure()] * 10_001})


def test_empty_batch(refused: Callable) -> None:
    refused("POST", BATCH, 422, "figures", json={"figures": []})


@pytest.mark.parametrize("body", [{}, {"figures": None}, {"figures": figure()}, [figure()]])
def test_batch_of_the_wrong_shape(refused: Callable, body: Any) -> None:
    refused("POST", BATCH, 422, json=body)


# --- query strings ---------------------------------------------------------------------

@pytest.mark.parametrize(("query", "field"), [
    ("limit=1001", "limit"), ("limit=0", "limit"), ("limit=abc", "limit"),
    ("limit=-1", "limit"), ("limit=2.5", "limit"),
    ("colour=red", "colour"), ("Conflict=x", "Conflict"),
    ("category=nope", "category"), ("status=deleted", "status"),
    ("reported_from=2020-13-01", "reported_from"), ("reported_to=yesterday", "reported_to"),
    ("as_of_from=2020-02-30", "as_of_from"), ("as_of_to=", "as_of_to"),
    ("source=a%00b", "source"),
    ("cursor=forged", "cursor"), ("cursor=YWZ0ZXI6LTE", "cursor"),  # "after:-1"
    ("cursor=YmVmb3JlOjU", "cursor"),  # "before:5"
    ("cursor=" + "A" * 300, "cursor"),
])
def test_bad_figure_query(refused: Callable, query: str, field: str) -> None:
    refused("GET", f"{FIGURES}?{query}", 422, field)


@pytest.mark.parametrize("path", ["/api/v1/sources", "/api/v1/figures/{id}/history",
                                  "/api/v1/figures/{id}/disputes"])
@pytest.mark.parametrize(("query", "field"), [
    ("limit=1001", "limit"), ("limit=0", "limit"), ("limit=abc", "limit"),
    ("colour=red", "colour"), ("cursor=forged", "cursor"),
])
def test_bad_query_on_every_list(refused: Callable, posted: dict, path: str, query: str,
                                 field: str) -> None:
    refused("GET", f"{path.format(id=posted['id'])}?{query}", 422, field)


def test_limit_of_1000_is_accepted(client: FlaskClient, posted: dict) -> None:
    response = client.get(f"{FIGURES}?limit=1000")
    assert response.status_code == 200
    assert [f["id"] for f in response.get_json()["items"]] == [posted["id"]]


# --- corrections -----------------------------------------------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("id", 99), ("status", "retracted"), ("version", 7), ("low", 0), ("high", 10**6),
    ("created_at", "2020-01-01T00:00:00Z"), ("updated_at", "2020-01-01T00:00:00Z"),
    ("source_id", 5), ("retraction_reason", "x"),
])
def test_patch_server_managed_field(client: FlaskClient, refused: Callable, posted: dict,
                                    field: str, value: Any) -> None:
    path = f"{FIGURES}/{posted['id']}"
    refused("PATCH", path, 422, field, json={field: value, "count": 23})
    assert client.get(path).get_json() == posted


@pytest.mark.parametrize(("changes", "field"), [
    ({"as_of": "2020-10-05"}, "as_of"),
    ({"reported_on": "2020-10-01", "as_of": "2020-10-02"}, "as_of"),
    ({"reported_on": "TOMORROW"}, "reported_on"),
    ({"period_start": "2020-10-05"}, "period_start"),
    ({"count_high": 10}, "count_high"),
    ({"category": "damage"}, "unit"),
    ({"count": None}, "count"),
    ({"source": ""}, "source"),
    ({"conflict": "Nagorno Karabakh"}, "conflict"),
    ({"url": "javascript:alert(1)"}, "url"),
    ({"notes": "a\x00b"}, "notes"),
])
def test_patch_making_the_figure_invalid(client: FlaskClient, refused: Callable,
                                         posted: dict, changes: dict, field: str) -> None:
    if changes.get("reported_on") == "TOMORROW":
        changes = {"reported_on": tomorrow()}
    path = f"{FIGURES}/{posted['id']}"
    refused("PATCH", path, 422, field, json=changes)
    assert client.get(path).get_json() == posted


def test_patch_count_high_on_an_about_figure(client: FlaskClient, refused: Callable,
                                             editor: dict[str, str]) -> None:
    about = client.post(FIGURES, json=figure(count=200, qualifier="about"),
                        headers=editor).get_json()
    path = f"{FIGURES}/{about['id']}"
    refused("PATCH", path, 422, "count_high", json={"count_high": 250})
    assert client.get(path).get_json() == about


def test_patch_qualifier_about_on_a_range(client: FlaskClient, refused: Callable,
                                          editor: dict[str, str]) -> None:
    ranged = client.post(FIGURES, json=figure(count=20, count_high=30),
                         headers=editor).get_json()
    path = f"{FIGURES}/{ranged['id']}"
    refused("PATCH", path, 422, "count_high", json={"qualifier": "about"})
    refused("PATCH", path, 422, "count_high", json={"count": 31})
    assert client.get(path).get_json() == ranged


@pytest.mark.parametrize("body", [{}, None, [], "count"])
def test_patch_with_nothing_to_correct(client: FlaskClient, refused: Callable, posted: dict,
                                       body: Any) -> None:
    path = f"{FIGURES}/{posted['id']}"
    refused("PATCH", path, 422, data=json.dumps(body),
            headers={"Content-Type": "application/json"})
    assert client.get(path).get_json() == posted


# --- retractions and disputes ----------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({}, "reason"), ({"reason": ""}, "reason"), ({"reason": "   "}, "reason"),
    ({"reason": None}, "reason"), ({"reason": 5}, "reason"), ({"reason": "r" * 2001}, "reason"),
    ({"reason": "duplicate", "status": "active"}, "status"),
])
def test_retract_needs_a_reason(client: FlaskClient, refused: Callable, posted: dict,
                                body: dict, field: str) -> None:
    refused("POST", f"{FIGURES}/{posted['id']}/retract", 422, field, json=body)
    assert client.get(f"{FIGURES}/{posted['id']}").get_json() == posted


@pytest.mark.parametrize("source", ["AZERBAIJANI OFFICIALS", "Azerbaijani officials",
                                    " azerbaijani Officials "])
def test_dispute_by_the_figures_own_source(refused: Callable, posted: dict,
                                           source: str) -> None:
    refused("POST", f"{FIGURES}/{posted['id']}/disputes", 422, "source",
            json={"source": source, "reported_on": "2020-10-05"})


def test_dispute_in_the_future(refused: Callable, posted: dict) -> None:
    refused("POST", f"{FIGURES}/{posted['id']}/disputes", 422, "reported_on",
            json={"source": "Armenian Defense Ministry", "reported_on": tomorrow()})


@pytest.mark.parametrize(("body", "field"), [
    ({"reported_on": "2020-10-05"}, "source"),
    ({"source": "Armenian Defense Ministry"}, "reported_on"),
    ({"source": "Armenian Defense Ministry", "reported_on": "2020-10-05",
      "url": "javascript:alert(1)"}, "url"),
    ({"source": "Armenian Defense Ministry", "reported_on": "2020-10-05",
      "quote": "q" * 2001}, "quote"),
    ({"source": "Armenian Defense Ministry", "reported_on": "2020-10-05",
      "figure_id": 1}, "figure_id"),
])
def test_bad_dispute(refused: Callable, posted: dict, body: dict, field: str) -> None:
    refused("POST", f"{FIGURES}/{posted['id']}/disputes", 422, field, json=body)


# --- unknown ids, routes and methods ---------------------------------------------------

@pytest.mark.parametrize(("method", "suffix", "body"), [
    ("GET", "", None),
    ("PATCH", "", {"count": 5}),
    ("GET", "/history", None),
    ("POST", "/retract", {"reason": "wrong"}),
    ("GET", "/disputes", None),
    ("POST", "/disputes", {"source": "Armenian Defense Ministry", "reported_on": "2020-10-05"}),
])
@pytest.mark.parametrize("figure_id", ["999", "99999999999999999999999"])
def test_unknown_figure_id(refused: Callable, posted: dict, method: str, suffix: str,
                           body: Any, figure_id: str) -> None:
    refused(method, f"{FIGURES}/{figure_id}{suffix}", 404, json=body)


def test_unknown_route(refused: Callable) -> None:
    refused("GET", "/api/v1/casualties", 404)


def test_delete_is_not_allowed(client: FlaskClient, refused: Callable, posted: dict) -> None:
    before = stored_state_of(client, posted)
    body = refused("DELETE", f"{FIGURES}/{posted['id']}", 405)
    assert body["status"] == 405
    assert stored_state_of(client, posted) == before


def test_delete_answers_with_the_allowed_methods(client: FlaskClient, editor: dict[str, str],
                                                 posted: dict) -> None:
    response = client.delete(f"{FIGURES}/{posted['id']}", headers=editor)
    assert_problem(response, 405)
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert "DELETE" not in allowed
    assert {"GET", "PATCH"} <= allowed


def stored_state_of(client: FlaskClient, posted: dict) -> dict:
    return client.get(f"{FIGURES}/{posted['id']}").get_json()
