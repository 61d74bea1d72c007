"""Series over time (issue 13): the pure core and GET /api/v1/series."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlite_utils
from conftest import assert_problem, figure
from flask.testing import FlaskClient

from service import store
from service.reconcile import run
from service.reconcile.series import (
    daily_changes,
    decode_series_id,
    encode_series_id,
    point_value,
)

API = "/api/v1"


def fig(figure_id: int, as_of: str, count: int, qualifier: str = "exact",
        reported_on: str | None = None) -> dict[str, Any]:
    return {"id": figure_id, "as_of": as_of, "reported_on": reported_on or as_of,
            "count": count, "qualifier": qualifier}


def test_point_values_follow_the_contract() -> None:
    assert point_value(fig(1, "2020-10-01", 350, "more_than")) == 351
    assert point_value(fig(1, "2020-10-01", 20, "fewer_than")) == 19
    assert point_value(fig(1, "2020-10-01", 0, "fewer_than")) == 0
    for qualifier in ("exact", "about", "nearly", "at_least", "at_most"):
        assert point_value(fig(1, "2020-10-01", 200, qualifier)) == 200


def test_daily_changes_spread_a_gap_and_mark_a_fall() -> None:
    changes = daily_changes([fig(3, "2020-10-05", 61), fig(1, "2020-10-01", 12),
                             fig(4, "2020-10-06", 55), fig(2, "2020-10-02", 30)])
    assert [(c["since"], c["as_of"], c["days"], c["change"], c["fall"]) for c in changes] == [
        ("2020-10-01", "2020-10-02", 1, 18, False),
        ("2020-10-02", "2020-10-05", 3, 31, False),  # one change over the gap, no zeros
        ("2020-10-05", "2020-10-06", 1, -6, True),
    ]
    assert changes[1]["per_day"] == pytest.approx(10.333)
    assert (changes[2]["figure_id"], changes[2]["previous_figure_id"]) == (4, 3)


def test_the_latest_figure_of_a_day_stands_for_it() -> None:
    changes = daily_changes([fig(1, "2020-10-01", 10), fig(2, "2020-10-02", 40),
                             fig(3, "2020-10-02", 20, reported_on="2020-10-03")])
    assert [(c["change"], c["figure_id"]) for c in changes] == [(10, 3)]
    assert daily_changes([fig(1, "2020-10-01", 10)]) == []
    assert daily_changes([]) == []


def test_series_ids_round_trip_and_refuse_what_we_did_not_issue() -> None:
    key = '["nagorno-karabakh-2020","military","Ärmenia",null,null,"people",null]'
    assert decode_series_id(encode_series_id(key)) == key
    for junk in ("", "!!!", "abc", encode_series_id("not a key"), encode_series_id(key) + "="):
        assert decode_series_id(junk) is None


@pytest.fixture
def posted(client: FlaskClient, editor: dict[str, str],
           database: sqlite_utils.Database) -> Callable[..., dict]:
    def post(**fields: Any) -> dict:
        response = client.post(f"{API}/figures", json=figure(**fields), headers=editor)
        assert response.status_code == 201, response.get_json()
        return response.get_json()
    return post


def reconcile(database: sqlite_utils.Database) -> None:
    queued = store.create_run(database, "test", True)
    assert run.execute(database, queued["id"], full=True)["status"] == "succeeded"


def test_series_gives_points_and_changes_per_source(
        client: FlaskClient, posted: Callable[..., dict], editor: dict[str, str],
        database: sqlite_utils.Database) -> None:
    north = [posted(source="North MoD", category="military", side="North", count=count,
                    reported_on=day, as_of=day, qualifier=qualifier)
             for day, count, qualifier in (("2020-10-01", 12, "exact"),
                                           ("2020-10-03", 30, "exact"),
                                           ("2020-10-04", 25, "exact"),
                                           ("2020-10-06", 350, "more_than"))]
    south = posted(source="South MoD", category="military", side="North", count=400,
                   reported_on="2020-10-04")
    gone = posted(source="South MoD", category="military", side="North", count=1,
                  reported_on="2020-10-02")
    assert client.post(f"{API}/figures/{gone['id']}/retract", json={"reason": "typo"},
                       headers=editor).status_code == 200
    posted(category="civilian", side="North", count=5)  # another series
    reconcile(database)
    answer = client.get(f"{API}/series?conflict=nagorno-karabakh-2020&category=military")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["conflict"] == "nagorno-karabakh-2020" and body["generated_at"].endswith("Z")
    (series,) = body["series"]
    assert (series["category"], series["side"], series["location"], series["group"]) == \
        ("military", "North", None, None)
    assert series["figure_count"] == 5  # the retracted figure is not shown
    by_source = {entry["source"]: entry for entry in series["sources"]}
    assert list(by_source) == ["North MoD", "South MoD"]
    points = by_source["North MoD"]["points"]
    assert [p["figure_id"] for p in points] == [f["id"] for f in north]
    assert points[3] == {"as_of": "2020-10-06", "count": 350, "low": 351, "high": None,
                         "figure_id": north[3]["id"], "flagged": False,
                         "qualifier": "more_than", "value": 351}
    # 30 then 25: a decrease; 25 against the South's 400 that day: a disagreement
    assert [p["flagged"] for p in points] == [False, True, True, False]
    assert by_source["South MoD"]["points"][0]["flagged"] is True
    changes = by_source["North MoD"]["changes"]
    assert [(c["days"], c["change"], c["fall"]) for c in changes] == \
        [(2, 18, False), (1, -5, True), (2, 326, False)]
    assert changes[0]["per_day"] == 9
    assert by_source["South MoD"]["points"][0]["figure_id"] == south["id"]
    assert by_source["South MoD"]["changes"] == []
    # one series by its id answers the same
    one = client.get(f"{API}/series?conflict=nagorno-karabakh-2020"
                     f"&series={series['series_id']}").get_json()
    assert one["series"] == [series]


def test_series_filters_compare_names_folded(client: FlaskClient,
                                             posted: Callable[..., dict]) -> None:
    posted(side="Azerbaijan", location="Ganja")
    posted(side="Azerbaijan")
    posted(side="Armenia")
    def sides(query: str) -> list[tuple]:
        body = client.get(f"{API}/series?conflict=nagorno-karabakh-2020&{query}").get_json()
        return sorted((s["side"], s["location"] or "") for s in body["series"])
    assert sides("side=%20AZERBAIJAN%20") == [("Azerbaijan", ""), ("Azerbaijan", "Ganja")]
    assert sides("location=ganja") == [("Azerbaijan", "Ganja")]
    assert sides("category=military") == []
    assert sides("group=children") == []
    assert len(sides("unit=people")) == 3
    assert client.get(f"{API}/series?conflict=no-such-conflict").get_json()["series"] == []


def test_series_refuses_bad_queries(client: FlaskClient, posted: Callable[..., dict]) -> None:
    posted()
    assert_problem(client.get(f"{API}/series"), 422, "conflict")
    assert_problem(client.get(f"{API}/series?conflict=Not_A_Slug"), 422, "conflict")
    assert_problem(client.get(f"{API}/series?conflict=x&colour=red"), 422, "colour")
    assert_problem(client.get(f"{API}/series?conflict=x&category=deaths"), 422, "category")
    assert_problem(client.get(f"{API}/series?conflict=x&period_start=2020-13-01"), 422,
                   "period_start")
    assert_problem(client.get(f"{API}/series?conflict=x&series="), 422, "series")
    assert_problem(client.get(f"{API}/series?conflict=nagorno-karabakh-2020&series=nonsense"),
                   404)
    known = client.get(f"{API}/series?conflict=nagorno-karabakh-2020").get_json()["series"][0]
    assert_problem(client.get(f"{API}/series?conflict=other&series={known['series_id']}"), 404)


def test_series_is_read_access_like_the_report(
        client: FlaskClient, reader: dict[str, str], settings: Any) -> None:
    from dataclasses import replace

    from service import create_app

    private = create_app(replace(settings, public_read=False)).test_client()
    assert_problem(private.get(f"{API}/series?conflict=x"), 401)
    assert private.get(f"{API}/series?conflict=x", headers=reader).status_code == 200
    assert_problem(client.get(f"{API}/series?conflict=x",
                              headers={"Authorization": "Bearer wrong"}), 401)


def test_series_is_in_the_openapi_document(client: FlaskClient) -> None:
    spec = client.get(f"{API}/openapi.json").get_json()
    operation = spec["paths"]["/api/v1/series"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"conflict", "series", "category", "side", "location", "group"} <= names
    schemas = spec["components"]["schemas"]
    assert set(schemas["SeriesPointOut"]["properties"]) >= {
        "as_of", "count", "low", "high", "figure_id", "flagged"}
    assert "changes" in schemas["SeriesSourceOut"]["properties"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] \
        .endswith("/SeriesOut")
