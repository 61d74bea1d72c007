"""The seed figures (seeds/nagorno-karabakh-2020.json) as the API shows them after `seed`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from service.cli import main

CONFLICT = "nagorno-karabakh-2020"
ARTICLE = (Path(__file__).resolve().parents[2] / "shared" / "seeds"
           / "article-2020-10-04-ganja.txt")
GANJA_INCIDENT = "Missile attack on Ganja, 2020-10-04"


@pytest.fixture
def seeded(client: FlaskClient, runner: CliRunner, db_path: Path) -> dict[str, dict]:
    """The seed figures by a short name, read through the API."""
    result = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    page = client.get(f"/api/v1/figures?conflict={CONFLICT}").get_json()
    assert page["next_cursor"] is None
    by_name: dict[str, dict] = {}
    for item in page["items"]:
        name = f"{item['category']}:{item['location'] or '-'}:{item['count']}"
        assert name not in by_name
        by_name[name] = item
    return by_name


def test_the_seed_lists_seven_figures(seeded: dict[str, dict]) -> None:
    assert sorted(seeded) == sorted([
        "military:-:200", "civilian:-:22", "injured:-:74", "civilian:Ganja:1",
        "injured:Ganja:4", "damage:Ganja:1", "historical:-:30000"])
    for item in seeded.values():
        assert (item["conflict"], item["reported_on"], item["as_of"], item["status"],
                item["version"]) == (CONFLICT, "2020-10-04", "2020-10-04", "active", 1)


def test_about_200_soldiers(seeded: dict[str, dict]) -> None:
    item = seeded["military:-:200"]
    assert {k: item[k] for k in ("source", "side", "location", "incident", "qualifier",
                                 "unit", "period_start", "low", "high")} == {
        "source": "Nagorno-Karabakh officials", "side": "Nagorno-Karabakh", "location": None,
        "incident": None, "qualifier": "about", "unit": "people", "period_start": None,
        "low": 180, "high": 220}


@pytest.mark.parametrize(("name", "count"), [("civilian:-:22", 22), ("injured:-:74", 74)])
def test_azerbaijani_officials_figures(seeded: dict[str, dict], name: str, count: int) -> None:
    item = seeded[name]
    assert {k: item[k] for k in ("source", "side", "location", "incident", "count",
                                 "qualifier", "period_start", "low", "high")} == {
        "source": "Azerbaijani officials", "side": "Azerbaijan", "location": None,
        "incident": None, "count": count, "qualifier": "exact", "period_start": None,
        "low": count, "high": count}


@pytest.mark.parametrize(("name", "count"), [("civilian:Ganja:1", 1), ("injured:Ganja:4", 4)])
def test_ganja_attack(seeded: dict[str, dict], name: str, count: int) -> None:
    item = seeded[name]
    assert {k: item[k] for k in ("source", "side", "location", "incident", "count",
                                 "qualifier", "unit", "period_start", "low", "high")} == {
        "source": "Azerbaijan's Foreign Ministry", "side": "Azerbaijan", "location": "Ganja",
        "incident": GANJA_INCIDENT, "count": count, "qualifier": "exact", "unit": "people",
        "period_start": "2020-10-04", "low": count, "high": count}


def test_airfield_claim_and_its_denial(client: FlaskClient, seeded: dict[str, dict]) -> None:
    item = seeded["damage:Ganja:1"]
    assert {k: item[k] for k in ("source", "category", "unit", "incident", "period_start",
                                 "low", "high")} == {
        "source": "Vahram Poghosyan", "category": "damage", "unit": "airfields",
        "incident": GANJA_INCIDENT, "period_start": "2020-10-04", "low": 1, "high": 1}
    disputes = client.get(f"/api/v1/figures/{item['id']}/disputes").get_json()
    assert disputes["next_cursor"] is None
    assert [(d["source"], d["reported_on"], d["figure_id"]) for d in disputes["items"]] == [
        ("Azerbaijani officials", "2020-10-04", item["id"])]
    for other in seeded.values():
        if other["id"] != item["id"]:
            listed = client.get(f"/api/v1/figures/{other['id']}/disputes").get_json()
            assert listed["items"] == []


def test_historical_toll(seeded: dict[str, dict]) -> None:
    item = seeded["historical:-:30000"]
    assert {k: item[k] for k in ("source", "side", "qualifier", "low", "high")} == {
        "source": "The article's own text", "side": None, "qualifier": "nearly",
        "low": 27000, "high": 30000}


def test_seed_sources_are_described(client: FlaskClient, seeded: dict[str, dict]) -> None:
    sources = {s["name"]: (s["kind"], s["affiliation"])
               for s in client.get("/api/v1/sources").get_json()["items"]}
    assert sources == {
        "Nagorno-Karabakh officials": ("official", "Nagorno-Karabakh"),
        "Azerbaijani officials": ("government", "Azerbaijan"),
        "Azerbaijan's Foreign Ministry": ("government", "Azerbaijan"),
        "Vahram Poghosyan": ("official", "Nagorno-Karabakh"),
        "The article's own text": ("media", None),
    }


def test_seeding_again_adds_nothing(client: FlaskClient, runner: CliRunner, db_path: Path,
                                    seeded: dict[str, dict]) -> None:
    assert runner.invoke(main, ["seed", "--db", str(db_path)]).exit_code == 0
    page = client.get("/api/v1/figures?status=all").get_json()
    assert sorted(item["id"] for item in page["items"]) == sorted(
        item["id"] for item in seeded.values())
    airfield = seeded["damage:Ganja:1"]["id"]
    assert len(client.get(f"/api/v1/figures/{airfield}/disputes").get_json()["items"]) == 1


def words(text: str) -> str:
    """The article wraps its lines; a quote spans a line break as a single space."""
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.skipif(not ARTICLE.is_file(),
                    reason=f"the seed article is not beside the repository ({ARTICLE})")
def test_quotes_are_the_articles_words(client: FlaskClient, seeded: dict[str, dict]) -> None:
    article = words(ARTICLE.read_text(encoding="utf-8"))
    quotes = [item["quote"] for item in seeded.values()]
    airfield = seeded["damage:Ganja:1"]["id"]
    quotes += [d["quote"] for d in
               client.get(f"/api/v1/figures/{airfield}/disputes").get_json()["items"]]
    assert len(quotes) == 8
    for quote in quotes:
        assert quote and words(quote) == quote
        assert quote in article, quote
    # each number is in its own quote, as the article gives it
    for name, item in seeded.items():
        spelled = {1: "one civilian", 4: "four others", 30000: "30,000"}.get(
            item["count"], str(item["count"]))
        assert spelled in item["quote"] or "airfield" in item["quote"], name


def test_seeding_again_after_a_seed_figure_was_corrected_adds_nothing(
        runner: CliRunner, db_path: Path, client: FlaskClient,
        editor: dict[str, str]) -> None:
    assert runner.invoke(main, ["seed", "--db", str(db_path)]).exit_code == 0
    seeded = client.get("/api/v1/figures?conflict=nagorno-karabakh-2020").get_json()["items"]
    airfield = next(f for f in seeded if f["unit"] == "airfields")
    corrected = client.patch(f"/api/v1/figures/{airfield['id']}", json={"count": 2},
                             headers=editor)
    assert corrected.status_code == 200
    again = runner.invoke(main, ["seed", "--db", str(db_path)])
    assert again.exit_code == 0, again.output
    assert "0 figures and 0 disputes added" in again.output
    after = client.get("/api/v1/figures?conflict=nagorno-karabakh-2020").get_json()["items"]
    assert [f["id"] for f in after] == [f["id"] for f in seeded]
