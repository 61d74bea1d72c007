"""CSV import (API §7) through POST /imports and `casualty-tracker import`, and the
`casualty-tracker export` command against the HTTP exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient

from service import create_app, store
from service.cli import main
from service.config import Settings
from service.reconcile import run

API = "/api/v1"
IMPORTS = f"{API}/imports"
NK = "nagorno-karabakh-2020"
INPUT_FIELDS = ("conflict", "source", "category", "side", "location", "incident", "count",
                "count_high", "qualifier", "unit", "reported_on", "as_of", "period_start",
                "quote", "url", "notes")
CSV = {"Content-Type": "text/csv"}
HEADER = "conflict,source,category,side,count,reported_on"
GOOD_ROW = f"{NK},Azerbaijani officials,civilian,Azerbaijan,22,2020-10-04"
CATEGORY_ERROR = ("Must be one of: military, civilian, killed, injured, missing, historical, "
                  "damage.")
DATE_ERROR = "Not a valid date; use YYYY-MM-DD."


def whole_number_error(text: str) -> str:
    return f"Not a whole number: {text!r} (write digits only, no separators)."


# Input fields that stress CSV: separators, quotes, line breaks, non-ASCII, formula prefixes,
# apostrophes that look like the guard, and white space that must survive.
ROUND_TRIP = [
    figure(quote='He said: "about 22, maybe more",\nin Gəncə', location="Gəncə",
           url="https://example.org/a?b=1,2&c=\"d\""),
    figure(source="Armenian MoD", category="military", side="Armenia", count=0,
           quote="=HYPERLINK(\"http://evil\")", notes="-3 overnight\r\nthen +2"),
    figure(source="HALO Trust", category="killed", side=None, location="Stepanakert",
           incident="Shelling of the market, 2nd day", count=200, qualifier="about",
           reported_on="2020-10-10", as_of="2020-10-08", period_start="2020-10-01",
           quote="'=already guarded", notes="'plain apostrophe"),
    figure(source="UN OCHA", category="damage", side="Azerbaijan", count=20, count_high=30,
           unit="buildings", reported_on="2020-10-12", quote="  spaced  ", notes="@mention"),
    figure(source="=Cmd source", category="missing", side="-Side", location="+Place",
           incident="@Incident", count=1_000_000_000, qualifier="at_least",
           reported_on="2020-11-20", quote="\tTabbed\tquote", notes="\rCR first"),
    figure(source="Ministry, of \"Defence\"", category="injured", side="Armenia", count=15,
           qualifier="fewer_than", reported_on="2020-10-05", as_of="2020-10-01",
           quote="a\rb", notes="''==twice"),
    figure(source="#hashtag source", category="historical", side="#side", count=30000,
           qualifier="more_than", reported_on="2020-09-27", quote="#not an HXL row"),
]


def post_csv(client: FlaskClient, body: str | bytes, headers: dict[str, str],
             query: str = "") -> Any:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return client.post(f"{IMPORTS}{query}", data=data, headers={**headers, **CSV})


def listed(client: FlaskClient, query: str) -> list[dict]:
    response = client.get(f"{API}/figures?{query}&limit=1000")
    assert response.status_code == 200
    assert response.get_json()["next_cursor"] is None
    return response.get_json()["items"]


def exported(client: FlaskClient, path: str) -> bytes:
    response = client.get(f"{API}/exports/{path}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data()


def inputs(item: dict, conflict: bool = True) -> dict:
    return {f: item[f] for f in INPUT_FIELDS if conflict or f != "conflict"}


@pytest.fixture
def round_trip(client: FlaskClient, editor: dict[str, str]) -> list[dict]:
    response = client.post(f"{API}/figures/batch", json={"figures": ROUND_TRIP}, headers=editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    retracted = client.post(f"{API}/figures/{response.get_json()['ids'][1]}/retract",
                            json={"reason": "+withdrawn"}, headers=editor)
    assert retracted.status_code == 200
    return listed(client, "status=all")


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("hxl", ["0", "1"])
def test_export_then_import_into_a_new_conflict_reproduces_every_input_field(
        client: FlaskClient, editor: dict[str, str], round_trip: list[dict], hxl: str) -> None:
    assert [inputs(item) for item in round_trip] == [
        {**dict.fromkeys(INPUT_FIELDS), "qualifier": "exact", "unit": "people",
         "as_of": body.get("as_of", body["reported_on"]), **body} for body in ROUND_TRIP]
    body = exported(client, f"figures.csv?status=all&hxl={hxl}")
    assert body.count(b"\r\n#meta+id,#crisis+code,") == int(hxl)

    response = post_csv(client, body, editor, "?conflict=new-slug")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    ids = response.get_json()["ids"]
    assert list(response.get_json()) == ["ids"]
    assert len(ids) == len(ROUND_TRIP)
    assert ids == sorted(ids) and min(ids) > max(item["id"] for item in round_trip)

    copies = listed(client, "conflict=new-slug")
    assert [copy["id"] for copy in copies] == ids
    assert [inputs(copy, conflict=False) for copy in copies] == \
        [inputs(item, conflict=False) for item in round_trip]
    assert {copy["conflict"] for copy in copies} == {"new-slug"}
    # server-managed columns were ignored: the retracted original comes back active, v1
    assert [(c["status"], c["version"], c["retraction_reason"]) for c in copies] == \
        [("active", 1, None)] * len(ROUND_TRIP)
    assert [(c["low"], c["high"]) for c in copies] == [(i["low"], i["high"]) for i in round_trip]
    assert copies[1]["quote"] == "=HYPERLINK(\"http://evil\")"
    assert copies[2]["quote"] == "'=already guarded"
    assert copies[4]["source"] == "=Cmd source"


def test_import_without_a_conflict_keeps_the_conflict_column(
        client: FlaskClient, editor: dict[str, str], round_trip: list[dict]) -> None:
    body = exported(client, "figures.csv")
    response = post_csv(client, body, editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    copies = [item for item in listed(client, f"conflict={NK}")
              if item["id"] in response.get_json()["ids"]]
    active = [item for item in round_trip if item["status"] == "active"]
    assert [inputs(copy) for copy in copies] == [inputs(item) for item in active]


def test_an_empty_quote_survives_the_round_trip(client: FlaskClient,
                                               editor: dict[str, str]) -> None:
    response = client.post(f"{API}/figures", json=figure(quote="", notes=""), headers=editor)
    assert response.status_code == 201
    original = response.get_json()
    assert post_csv(client, exported(client, "figures.csv"), editor,
                    "?conflict=copy").status_code == 201
    (copy,) = listed(client, "conflict=copy")
    # blank text is stored as null, which CSV carries exactly (an empty cell)
    assert (copy["quote"], copy["notes"]) == (original["quote"], original["notes"]) == (None,
                                                                                      None)


def test_server_managed_columns_are_ignored(client: FlaskClient, editor: dict[str, str]) -> None:
    text = ("id,conflict,source,category,count,qualifier,reported_on,low,high,status,"
            "retraction_reason,version,created_at,updated_at,source_kind,source_affiliation,"
            "open_flags\r\n"
            f"999,{NK},New source,killed,200,about,2020-10-04,1,2,retracted,because,7,"
            "yesterday,never,ngo,Mars,lots\r\n")
    response = post_csv(client, text, editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    (new_id,) = response.get_json()["ids"]
    assert new_id != 999
    stored = client.get(f"{API}/figures/{new_id}").get_json()
    assert {k: stored[k] for k in ("source", "count", "low", "high", "status", "version",
                                   "retraction_reason", "as_of", "unit")} == {
        "source": "New source", "count": 200, "low": 180, "high": 220, "status": "active",
        "version": 1, "retraction_reason": None, "as_of": "2020-10-04", "unit": "people"}
    assert stored["created_at"] != "yesterday"
    (source,) = client.get(f"{API}/sources?name=New source").get_json()["items"]
    assert (source["kind"], source["affiliation"]) == ("unknown", None)


def test_an_hxl_row_is_recognised_and_skipped(client: FlaskClient,
                                              editor: dict[str, str]) -> None:
    text = (f"{HEADER}\n#crisis+code,#meta+source,#impact+type,#group+name+side,#affected,"
            f"#date+reported\n{GOOD_ROW}\n")
    response = post_csv(client, text, editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert [(f["source"], f["count"]) for f in listed(client, "")] == [
        ("Azerbaijani officials", 22)]


def test_minimal_columns_bom_and_lf_line_ends(client: FlaskClient,
                                             editor: dict[str, str]) -> None:
    text = "\ufeffsource,category,count,reported_on\nA,killed,5,2020-10-04\n\nB,killed,6,2020-10-05"
    response = post_csv(client, text, editor, "?conflict=from-excel")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert [(f["conflict"], f["source"], f["count"], f["side"], f["as_of"])
            for f in listed(client, "conflict=from-excel")] == [
        ("from-excel", "A", 5, None, "2020-10-04"), ("from-excel", "B", 6, None, "2020-10-05")]


# --------------------------------------------------------------------------- refused files


def refused(client: FlaskClient, database: sqlite_utils.Database, body: str | bytes,
            headers: dict[str, str], status: int = 422, query: str = "") -> dict:
    before = stored_state(database)
    response = post_csv(client, body, headers, query)
    problem = assert_problem(response, status)
    assert stored_state(database) == before
    return problem


BAD_CELLS = [
    ("count", "abc", {"count": [whole_number_error("abc")]}),
    ("count", "-1", {"count": [whole_number_error("-1")]}),
    ("count", "2.5", {"count": [whole_number_error("2.5")]}),
    ("count", "1,280", {"count": [whole_number_error("1,280")]}),
    ("count", " 12", {"count": [whole_number_error(" 12")]}),
    ("count", "1e3", {"count": [whole_number_error("1e3")]}),
    ("count", "", {"count": ["Missing data for required field."]}),
    ("count", "1000000001", {"count": [
        "Must be greater than or equal to 0 and less than or equal to 1000000000."]}),
    ("count_high", "lots", {"count_high": [whole_number_error("lots")]}),
    ("reported_on", "2020-02-30", {"reported_on": [DATE_ERROR]}),
    ("reported_on", "04/10/2020", {"reported_on": [DATE_ERROR]}),
    ("reported_on", "2999-01-01", None),
    ("as_of", "2020-10-05", {"as_of": [
        "May not be after reported_on: a figure cannot count past the day it was given."]}),
    ("category", "nope", {"category": [CATEGORY_ERROR]}),
    ("category", "", {"category": ["Missing data for required field."]}),
    ("qualifier", "roughly", None),
    ("url", "javascript:alert(1)", {"url": ["Must be an absolute http or https URL with a host."]}),
    ("conflict", "Nagorno Karabakh", None),
    ("source", "", {"source": ["Missing data for required field."]}),
]


@pytest.mark.parametrize(("column", "value", "errors"), BAD_CELLS,
                         ids=[f"{c}={v!r}" for c, v, _ in BAD_CELLS])
def test_a_bad_cell_names_the_row_and_field_and_stores_nothing(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        column: str, value: str, errors: dict | None) -> None:
    good = {"conflict": NK, "source": "A", "category": "killed", "count": "5",
            "count_high": "", "qualifier": "exact", "reported_on": "2020-10-04",
            "as_of": "2020-10-04", "url": ""}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(good), lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(good)
    writer.writerow(good)
    writer.writerow(good | {column: value})
    problem = refused(client, database, buffer.getvalue(), editor)
    assert list(problem["errors"]) == ["row 4"]
    assert list(problem["errors"]["row 4"]) == [column]
    if errors is not None:
        assert problem["errors"]["row 4"] == errors
    assert problem["detail"] == "Invalid: row 4."
    assert listed(client, "status=all") == []


def test_row_numbers_count_the_hxl_row_and_records_not_lines(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database) -> None:
    text = (f"{HEADER},quote\r\n#crisis+code,#meta+source,,,#affected,,\r\n"
            f'{GOOD_ROW},"three\r\nline\r\nquote"\r\n'
            f"{NK},B,killed,,x,2020-10-04,\r\n"
            f"{GOOD_ROW},\r\n"
            f"{NK},C,killed,,5,2020-13-04,\r\n")
    problem = refused(client, database, text, editor)
    assert problem["errors"] == {"row 4": {"count": [whole_number_error("x")]},
                                 "row 6": {"reported_on": [DATE_ERROR]}}


def test_a_row_names_every_bad_field_at_once(client: FlaskClient, editor: dict[str, str],
                                            database: sqlite_utils.Database) -> None:
    # as a JSON figure does: a whole-number error does not hide the row's other errors
    text = f"{HEADER}\r\n{NK},,killed,,abc,2020-1-5\r\n"
    problem = refused(client, database, text, editor)
    assert problem["errors"] == {"row 2": {
        "source": ["Missing data for required field."],
        "count": [whole_number_error("abc")], "reported_on": [DATE_ERROR]}}


@pytest.mark.parametrize(("text", "errors"), [
    (f"conflict,source,category,count\r\n{NK},A,killed,5\r\n",
     {"columns": ["Missing required column 'reported_on'."]}),
    ("source,category,count,reported_on\r\nA,killed,5,2020-10-04\r\n",
     {"columns": ["Missing required column 'conflict'."]}),
    (f"{HEADER},colour\r\n{GOOD_ROW},red\r\n",
     {"columns": ["Unknown column 'colour': use the figures-export columns."]}),
    (f"{HEADER},Count\r\n{GOOD_ROW},5\r\n",
     {"columns": ["Unknown column 'Count': use the figures-export columns."]}),
    ("", {"row 1": ["missing header row"]}),
    ("\r\n\r\n", {"row 1": ["missing header row"]}),
    (f"{HEADER}\r\n", {"rows": ["The file has a header but no figures."]}),
    (f"{HEADER}\r\n#crisis+code,#meta+source,#impact+type,,#affected,#date+reported\r\n",
     {"rows": ["The file has a header but no figures."]}),
    (f"{HEADER},count\r\n{GOOD_ROW},5\r\n", {"row 1": ["duplicate column name 'count'"]}),
    (f"{HEADER}\r\n{GOOD_ROW}\r\n{GOOD_ROW},extra\r\n",
     {"row 3": ["7 cells but the header has 6 columns"]}),
    (f'{HEADER}\r\n{GOOD_ROW}\r\n{NK},"unterminated,killed,,5,2020-10-04\r\n',
     {"row 3": ["malformed CSV: unexpected end of data"]}),
    (f"{HEADER}\r\n{NK},A\0,killed,,5,2020-10-04\r\n", {"row 2": ["contains a NUL character"]}),
])
def test_a_bad_file_is_refused_whole(client: FlaskClient, editor: dict[str, str],
                                     database: sqlite_utils.Database, text: str,
                                     errors: dict) -> None:
    problem = refused(client, database, text, editor)
    assert problem["errors"] == errors


def test_a_missing_conflict_column_is_fine_with_a_conflict_parameter(
        client: FlaskClient, editor: dict[str, str]) -> None:
    response = post_csv(client, "source,category,count,reported_on\r\nA,killed,5,2020-10-04\r\n",
                        editor, "?conflict=given")
    assert response.status_code == 201
    assert [f["conflict"] for f in listed(client, "")] == ["given"]


@pytest.mark.parametrize(("query", "field"), [("?conflict=Not_A_Slug", "conflict"),
                                              ("?conflict=", "conflict"),
                                              ("?dry_run=1", "dry_run")])
def test_bad_import_query(client: FlaskClient, editor: dict[str, str],
                          database: sqlite_utils.Database, query: str, field: str) -> None:
    problem = refused(client, database, f"{HEADER}\r\n{GOOD_ROW}\r\n", editor, query=query)
    assert list(problem["errors"]) == [field]


def test_a_body_that_is_not_utf8_is_400(client: FlaskClient, editor: dict[str, str],
                                        database: sqlite_utils.Database) -> None:
    body = f"{HEADER}\r\n{NK},Göygöl officials,killed,,5,2020-10-04\r\n".encode("latin-1")
    refused(client, database, body, editor, status=400)


def test_wrong_media_type_is_415(client: FlaskClient, editor: dict[str, str],
                                 database: sqlite_utils.Database) -> None:
    before = stored_state(database)
    text = f"{HEADER}\r\n{GOOD_ROW}\r\n"
    for content_type in ("application/json", "text/plain", None):
        headers = {**editor, **({"Content-Type": content_type} if content_type else {})}
        response = client.post(IMPORTS, data=text.encode(), headers=headers)
        assert_problem(response, 415)
    response = client.post(IMPORTS, json={"figures": [figure()]}, headers=editor)
    assert_problem(response, 415)
    assert stored_state(database) == before


def test_access(client: FlaskClient, reader: dict[str, str],
                database: sqlite_utils.Database) -> None:
    text = f"{HEADER}\r\n{GOOD_ROW}\r\n"
    refused(client, database, text, reader, status=403)
    refused(client, database, text, {}, status=401)
    refused(client, database, text, {"Authorization": "Bearer ct_unknown"}, status=401)


def test_a_body_over_the_limit_is_413(db_path: Path, editor: dict[str, str],
                                      database: sqlite_utils.Database) -> None:
    client = create_app(Settings(db_path=db_path, reconcile_seconds=0,
                                 max_body_mb=1)).test_client()
    rows = "".join(f"{GOOD_ROW}\r\n" for _ in range(20_000))
    assert len(rows) > 1024 * 1024
    refused(client, database, f"{HEADER}\r\n{rows}", editor, status=413)


# --------------------------------------------------------------------------- the command


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def test_cli_import(runner: CliRunner, client: FlaskClient, db_path: Path, tmp_path: Path,
                    round_trip: list[dict]) -> None:
    path = write(tmp_path / "figures.csv", exported(client, "figures.csv?status=all&hxl=1"))
    result = runner.invoke(main, ["import", str(path), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    first = max(item["id"] for item in round_trip) + 1
    assert result.stdout == f"Imported 7 figures (ids {first}-{first + 6}).\n"
    copies = [item for item in listed(client, "status=all") if item["id"] >= first]
    assert [inputs(copy) for copy in copies] == [inputs(item) for item in round_trip]

    result = runner.invoke(main, ["import", str(path), "--conflict", "cli-copy",
                                  "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    copies = listed(client, "conflict=cli-copy")
    assert [inputs(copy, conflict=False) for copy in copies] == \
        [inputs(item, conflict=False) for item in round_trip]


@pytest.mark.parametrize(("text", "message"), [
    (f"{HEADER}\r\n{GOOD_ROW}\r\n{NK},B,killed,,abc,2020-10-04\r\n",
     "row 3: count: " + whole_number_error("abc")),
    (f"{HEADER}\r\n{GOOD_ROW}\r\n{NK},B,nope,,5,2020-10-04\r\n",
     "row 3: category: " + CATEGORY_ERROR),
    (f"{HEADER},colour\r\n{GOOD_ROW},red\r\n",
     "columns: Unknown column 'colour': use the figures-export columns."),
    ("", "row 1: missing header row"),
    (f"{HEADER}\r\n{NK},Göygöl,killed,,5,2020-10-04\r\n".encode("latin-1"), "is not UTF-8 text"),
])
def test_cli_import_of_a_bad_file_exits_non_zero_and_stores_nothing(
        runner: CliRunner, db_path: Path, tmp_path: Path, database: sqlite_utils.Database,
        text: str | bytes, message: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    before = stored_state(database)
    result = runner.invoke(main, ["import", str(path), "--db", str(db_path)])
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Imported" not in result.stdout
    assert stored_state(database) == before


@pytest.fixture
def reconciled(client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
               round_trip: list[dict]) -> list[dict]:
    extra = [figure(count=30, source="Armenian MoD"), figure(count=25), figure(count=26),
             figure(conflict="other-war", count=1, quote="=1")]
    assert client.post(f"{API}/figures/batch", json={"figures": extra},
                       headers=editor).status_code == 201
    finished = run.execute(database, store.create_run(database, "test", False)["id"],
                           full=False)
    assert finished["status"] == "succeeded"
    flags = client.get(f"{API}/flags").get_json()["items"]
    assert sorted(flag["rule"] for flag in flags) == ["disagreement", "duplicate"]
    return flags


CLI_EXPORTS = [
    (["figures"], "figures.csv"),
    (["figures", "--conflict", NK], f"figures.csv?conflict={NK}"),
    (["figures", "--hxl"], "figures.csv?hxl=1"),
    (["figures", "--conflict", "other-war", "--hxl"], "figures.csv?conflict=other-war&hxl=1"),
    (["flags"], "flags.csv"),
    (["flags", "--conflict", NK, "--hxl"], f"flags.csv?conflict={NK}&hxl=1"),
    (["report", "--conflict", NK], f"report.csv?conflict={NK}"),
    (["report", "--conflict", NK, "--hxl"], f"report.csv?conflict={NK}&hxl=1"),
    (["report", "--conflict", "nobody"], "report.csv?conflict=nobody"),
]


@pytest.mark.parametrize(("args", "path"), CLI_EXPORTS, ids=[" ".join(a) for a, _ in CLI_EXPORTS])
def test_cli_export_writes_the_same_bytes_as_http(runner: CliRunner, client: FlaskClient,
                                                  db_path: Path, reconciled: list[dict],
                                                  args: list[str], path: str) -> None:
    result = runner.invoke(main, ["export", *args, "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    http = exported(client, path)
    assert len(http.split(b"\r\n")) > 2 or "nobody" in path
    assert result.stdout_bytes == http


def test_cli_export_report_without_a_conflict_covers_every_conflict(
        runner: CliRunner, client: FlaskClient, db_path: Path, reconciled: list[dict]) -> None:
    # API 1.1 §1: `export report` without --conflict covers every conflict (1.0 refused it).
    result = runner.invoke(main, ["export", "report", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    http = client.get("/api/v1/exports/report.csv").get_data()
    assert result.stdout_bytes.splitlines()[0] == http.splitlines()[0]
    assert len(result.stdout_bytes.splitlines()) == len(http.splitlines()) > 1


def test_cli_export_then_import_round_trip(runner: CliRunner, client: FlaskClient,
                                           db_path: Path, tmp_path: Path,
                                           round_trip: list[dict]) -> None:
    result = runner.invoke(main, ["export", "figures", "--hxl", "--db", str(db_path)])
    assert result.exit_code == 0
    path = write(tmp_path / "out.csv", result.stdout_bytes)
    result = runner.invoke(main, ["import", str(path), "--conflict", "again",
                                  "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    active = [item for item in round_trip if item["status"] == "active"]
    assert [inputs(copy, conflict=False) for copy in listed(client, "conflict=again")] == \
        [inputs(item, conflict=False) for item in active]
