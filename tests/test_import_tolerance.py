"""Import reads what spreadsheets and HXL tools write (API §7): a byte-order mark, 30.0 in
whole-number columns, title rows above the header, a hashtag row with a free-text cell, and
a file whose only header is the export's hashtag row."""

from __future__ import annotations

from typing import Any

import pytest
import sqlite_utils
from conftest import assert_problem, stored_state
from flask.testing import FlaskClient

from service.csvio import FIGURE_HXL

API = "/api/v1"
NK = "nagorno-karabakh-2020"
HEADER = "conflict,source,category,side,count,count_high,reported_on"
TAGS = "#crisis+code,#meta+source,#impact+type,#group+name+side,#affected,#affected+upper," \
       "#date+reported"
ROW = f"{NK},Azerbaijani officials,civilian,Azerbaijan,20,30,2020-10-04"
EXPECTED = {"conflict": NK, "source": "Azerbaijani officials", "category": "civilian",
            "side": "Azerbaijan", "count": 20, "count_high": 30, "reported_on": "2020-10-04"}


def post(client: FlaskClient, editor: dict[str, str], text: str | bytes,
         query: str = "") -> Any:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return client.post(f"{API}/imports{query}", data=data,
                       headers={**editor, "Content-Type": "text/csv"})


def imported(client: FlaskClient, editor: dict[str, str], text: str | bytes) -> list[dict]:
    response = post(client, editor, text)
    assert response.status_code == 201, response.get_data(as_text=True)
    return [client.get(f"{API}/figures/{i}").get_json() for i in response.get_json()["ids"]]


def fields_of(item: dict) -> dict:
    return {key: item[key] for key in EXPECTED}


@pytest.mark.parametrize("text", [
    f"\ufeff{HEADER}\r\n{ROW}\r\n",
    f"{HEADER}\r\n{ROW.replace(',20,30,', ',20.0,30.00,')}\r\n",
    f"Casualty figures, exported 2026-11-29\r\n{HEADER}\r\n{ROW}\r\n",
    f"\ufeffTitle\r\n\r\nSubtitle,,,\r\nSource: our desk\r\n{HEADER}\r\n{ROW}\r\n",
    f"{HEADER},,\r\n{ROW},,\r\n",  # empty cells a spreadsheet leaves at the row ends
    f"{HEADER}\r\n{TAGS}\r\n{ROW}\r\n",
    f"{HEADER}\r\n{TAGS.replace('#date+reported', 'reported day')}\r\n{ROW}\r\n",
    f"Title\r\n{HEADER}\r\n{TAGS}\r\n{ROW}\r\n",
    f"{TAGS}\r\n{ROW}\r\n",
    f"\ufeff{TAGS.upper().replace('+NAME+SIDE', ' +Side+name')}\r\n{ROW}\r\n",
    f"Title\r\nConflict,Who,What,Side,Number,Upper,Day\r\n{TAGS}\r\n{ROW}\r\n",
], ids=["bom", "integral-decimals", "title-row", "four-title-rows", "trailing-empty-cells",
        "hashtag-row", "hashtag-row-with-free-text", "title-header-hashtags", "hashtags-only",
        "hashtags-only-case-order-bom", "human-header-and-hashtags"])
def test_spreadsheet_and_hxl_shapes_are_read(client: FlaskClient, editor: dict[str, str],
                                              text: str) -> None:
    (item,) = imported(client, editor, text)
    assert fields_of(item) == EXPECTED


def test_a_hashtag_only_file_ignores_untagged_columns_and_numbers_rows(
        client: FlaskClient, editor: dict[str, str]) -> None:
    text = f"{TAGS},\r\n{ROW},a note nobody tagged\r\n{ROW.replace('civilian', 'x')},\r\n"
    body = assert_problem(post(client, editor, text), 422)
    assert list(body["errors"]) == ["row 3"] and list(body["errors"]["row 3"]) == ["category"]
    items = imported(client, editor, f"{TAGS},\r\n{ROW},a note nobody tagged\r\n")
    assert fields_of(items[0]) == EXPECTED


def test_every_export_hashtag_is_matched(client: FlaskClient, editor: dict[str, str]) -> None:
    exported = client.get(f"{API}/exports/figures.csv?hxl=1").get_data(as_text=True)
    assert exported.split("\r\n")[1] == ",".join(FIGURE_HXL.values())
    # the hashtag row alone is a complete header: no tag is unknown, there are just no rows
    response = post(client, editor, exported.split("\r\n", 1)[1])
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"rows": ["The file has a header but no figures."]}


@pytest.mark.parametrize(("text", "row", "column"), [
    (f"{HEADER}\r\n{ROW.replace(',20,30,', ',30.5,40,')}\r\n", "row 2", "count"),
    (f"{HEADER}\r\n{ROW.replace(',20,30,', ',20,30.1,')}\r\n", "row 2", "count_high"),
    (f"{HEADER}\r\n{ROW.replace(',20,30,', ',2e1,30,')}\r\n", "row 2", "count"),
    (f"{TAGS.replace('#affected+upper', '#affected+killed')}\r\n{ROW}\r\n",
     "row 1", "#affected+killed"),
    (f"Title\r\n{TAGS.replace('#meta+source', '#org')}\r\n{ROW}\r\n", "row 2", "#org"),
    (f"{TAGS.replace('#meta+source', '#crisis+code')}\r\n{ROW}\r\n", "row 1", "#crisis+code"),
])
def test_bad_input_names_row_and_column_and_stores_nothing(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        text: str, row: str, column: str) -> None:
    before = stored_state(database)
    body = assert_problem(post(client, editor, text), 422)
    assert list(body["errors"]) == [row], body
    assert list(body["errors"][row]) == [column], body
    assert stored_state(database) == before


@pytest.mark.parametrize("titles", [5, 6, 12])
def test_a_title_block_of_five_rows_or_more_is_refused(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        titles: int) -> None:
    # the header must be one of the first 5 rows, so at most 4 title rows fit above it
    text = "".join(f"Title line {n}\r\n" for n in range(titles)) + f"{HEADER}\r\n{ROW}\r\n"
    before = stored_state(database)
    body = assert_problem(post(client, editor, text), 422)
    header_row = f"row {titles + 1}"
    assert list(body["errors"]) == [header_row], body
    assert "first 5 rows" in body["errors"][header_row][0]
    assert stored_state(database) == before


def test_a_long_title_block_above_a_hashtag_header_is_refused(
        client: FlaskClient, editor: dict[str, str]) -> None:
    text = "Title\r\n" * 6 + f"{TAGS}\r\n{ROW}\r\n"
    body = assert_problem(post(client, editor, text), 422)
    assert list(body["errors"]) == ["row 7"]


def test_a_first_row_that_is_not_a_header_still_names_unknown_columns(
        client: FlaskClient, editor: dict[str, str]) -> None:
    body = assert_problem(post(client, editor, f"{HEADER},colour\r\n{ROW},red\r\n"), 422)
    assert body["errors"] == {"columns": [
        "Unknown column 'colour': use the figures-export columns."]}


def test_extra_non_empty_cells_are_still_an_error(client: FlaskClient,
                                                  editor: dict[str, str]) -> None:
    body = assert_problem(post(client, editor, f"{HEADER}\r\n{ROW},,x\r\n"), 422)
    assert body["errors"] == {"row 2": ["9 cells but the header has 7 columns"]}


def test_a_data_row_of_mostly_text_after_the_header_is_data(
        client: FlaskClient, editor: dict[str, str]) -> None:
    row = ROW.replace("Azerbaijani officials", "#hashtag source").replace("Azerbaijan,", "#az,")
    (item,) = imported(client, editor, f"{HEADER}\r\n{row}\r\n")
    assert (item["source"], item["side"]) == ("#hashtag source", "#az")
