"""Imports that correct stored figures (API §7 `?update=1`, `import --update`), and `?bom=1`
/ `export --bom` on every export."""

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

from service.cli import main

API = "/api/v1"
CSV = {"Content-Type": "text/csv"}


def post_csv(client: FlaskClient, text: str, headers: dict[str, str],
             query: str = "?update=1") -> Any:
    return client.post(f"{API}/imports{query}", data=text.encode("utf-8"),
                       headers={**headers, **CSV})


def export(client: FlaskClient, query: str = "status=all") -> list[dict[str, str]]:
    response = client.get(f"{API}/exports/figures.csv?{query}")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def to_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def history(client: FlaskClient, figure_id: int) -> list[dict]:
    return client.get(f"{API}/figures/{figure_id}/history").get_json()["items"]


@pytest.fixture
def stored(client: FlaskClient, editor: dict[str, str]) -> list[int]:
    bodies = [figure(), figure(source="Armenian MoD", side="Armenia", count=30,
                               category="military", count_high=40),
              figure(source="HALO Trust", count=200, qualifier="about", side=None)]
    response = client.post(f"{API}/figures/batch", json={"figures": bodies}, headers=editor)
    assert response.status_code == 201
    return response.get_json()["ids"]


def test_an_unedited_export_changes_nothing(client: FlaskClient, editor: dict[str, str],
                                           database: sqlite_utils.Database,
                                           stored: list[int]) -> None:
    before = stored_state(database)
    response = post_csv(client, to_csv(export(client)), editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json() == {"ids": stored}
    assert stored_state(database) == before


def test_corrections_retraction_and_new_rows_in_row_order(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    rows = export(client)
    rows[0]["count"] = "20"
    rows[1]["count_high"] = "35.0"  # pandas writes an integer column with gaps this way
    rows[2] |= {"status": "retracted", "retraction_reason": "Duplicate of a later report"}
    new = {**rows[0], "id": "", "source": "ICRC", "count": "7", "version": ""}
    response = post_csv(client, to_csv([rows[2], new, rows[0], rows[1]]), editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    ids = response.get_json()["ids"]
    assert ids[0] == stored[2] and ids[2:] == [stored[0], stored[1]]
    assert ids[1] > max(stored)

    first = history(client, stored[0])
    assert [(v["version"], v["change"], v["count"]) for v in first] == [
        (1, "created", 22), (2, "corrected", 20)]
    assert [(v["version"], v["count_high"]) for v in history(client, stored[1])] == [
        (1, 40), (2, 35)]
    retracted = client.get(f"{API}/figures/{stored[2]}").get_json()
    assert (retracted["status"], retracted["retraction_reason"], retracted["version"]) == (
        "retracted", "Duplicate of a later report", 2)
    created = client.get(f"{API}/figures/{ids[1]}").get_json()
    assert (created["source"], created["count"], created["version"]) == ("ICRC", 7, 1)

    # the same file again: every figure is already as it says, so no version is made
    again = post_csv(client, to_csv([rows[2], rows[0], rows[1]]), editor)
    assert again.status_code == 201
    assert again.get_json() == {"ids": [stored[2], stored[0], stored[1]]}
    assert [len(history(client, i)) for i in stored] == [2, 2, 2]


def test_ids_written_as_integral_decimals_are_ids(client: FlaskClient, editor: dict[str, str],
                                                  stored: list[int]) -> None:
    # pandas writes 12.0 in an id column once a new row (no id) leaves a gap in it
    rows = export(client)
    rows[1] |= {"id": f"{stored[1]}.0", "count": "29"}
    new = {**rows[0], "id": "", "count": "3"}
    response = post_csv(client, to_csv([rows[1], new]), editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["ids"][0] == stored[1]
    assert client.get(f"{API}/figures/{stored[1]}").get_json()["count"] == 29


def test_a_correction_and_a_retraction_in_one_row_make_two_versions(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    rows = export(client)
    rows[0] |= {"count": "21", "status": "retracted", "retraction_reason": "Superseded"}
    assert post_csv(client, to_csv(rows[:1]), editor).status_code == 201
    assert [(v["change"], v["count"], v["status"]) for v in history(client, stored[0])] == [
        ("created", 22, "active"), ("corrected", 21, "active"),
        ("retracted", 21, "retracted")]


def test_columns_the_file_lacks_keep_their_values(client: FlaskClient, editor: dict[str, str],
                                                 stored: list[int]) -> None:
    text = f"id,count\r\n{stored[1]},31\r\n{stored[0]},22\r\n"
    response = post_csv(client, text, editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    corrected = client.get(f"{API}/figures/{stored[1]}").get_json()
    assert (corrected["count"], corrected["count_high"], corrected["source"],
            corrected["version"]) == (31, 40, "Armenian MoD", 2)
    assert len(history(client, stored[0])) == 1


def test_an_empty_cell_clears_the_field(client: FlaskClient, editor: dict[str, str],
                                        stored: list[int]) -> None:
    rows = export(client)
    rows[1]["count_high"] = ""
    rows[1]["side"] = ""
    assert post_csv(client, to_csv(rows[1:2]), editor).status_code == 201
    corrected = client.get(f"{API}/figures/{stored[1]}").get_json()
    assert (corrected["count_high"], corrected["side"], corrected["version"]) == (None, None, 2)


def test_without_update_an_id_column_is_ignored_and_rows_are_new(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    response = post_csv(client, to_csv(export(client)), editor, query="")
    assert response.status_code == 201
    assert min(response.get_json()["ids"]) > max(stored)


@pytest.mark.parametrize(("edit", "row", "field"), [
    ({"id": "abc"}, 2, "id"),
    ({"id": "1.5"}, 2, "id"),
    ({"id": "999999"}, 2, "id"),
    ({"id": "9223372036854775808"}, 2, "id"),  # 2^63: more than SQLite can hold
    ({"id": "99999999999999999999"}, 2, "id"),
    ({"count": "30.5"}, 2, "count"),
    ({"count": "-1"}, 2, "count"),
    ({"status": "retracted"}, 2, "retraction_reason"),
    ({"status": "retracted", "retraction_reason": "   "}, 2, "retraction_reason"),
    ({"status": "deleted"}, 2, "status"),
    ({"count_high": "10"}, 2, "count_high"),  # below count on the merged figure
    ({"reported_on": "2020-13-01"}, 2, "reported_on"),
    ({"source": ""}, 2, "source"),
])
def test_a_bad_update_row_is_a_422_naming_row_and_column_and_stores_nothing(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        stored: list[int], edit: dict[str, str], row: int, field: str) -> None:
    rows = export(client)
    good = {**rows[2], "count": "190"}  # a valid correction in the same file is undone too
    before = stored_state(database)
    response = post_csv(client, to_csv([rows[1] | edit, good]), editor)
    body = assert_problem(response, 422)
    assert list(body["errors"]) == [f"row {row}"], body
    assert list(body["errors"][f"row {row}"]) == [field], body
    assert stored_state(database) == before


def test_every_bad_update_row_is_named(client: FlaskClient, editor: dict[str, str],
                                       stored: list[int]) -> None:
    rows = export(client)
    text = to_csv([rows[0] | {"count": "x"}, rows[1] | {"id": "424242"},
                   rows[2] | {"count_high": "1"}])
    body = assert_problem(post_csv(client, text, editor), 422)
    assert set(body["errors"]) == {"row 2"}  # type errors first, before the database is read
    body = assert_problem(post_csv(client, to_csv([rows[1] | {"id": "424242"}, rows[0]]),
                                   editor), 422)
    assert body["errors"] == {"row 2": {"id": [
        "There is no figure 424242; leave id empty to create a figure."]}}
    body = assert_problem(post_csv(client, to_csv(
        [rows[0] | {"count_high": "1"}, rows[2], rows[1] | {"count": "99"}]), editor), 422)
    assert list(body["errors"]) == ["row 2", "row 4"]


def test_one_figure_twice_in_a_file_is_refused(client: FlaskClient, editor: dict[str, str],
                                              database: sqlite_utils.Database,
                                              stored: list[int]) -> None:
    rows = export(client)
    before = stored_state(database)
    body = assert_problem(post_csv(client, to_csv([rows[0], rows[1], rows[0]]), editor), 422)
    assert list(body["errors"]) == ["row 4"] and list(body["errors"]["row 4"]) == ["id"]
    assert stored_state(database) == before


def test_a_retracted_figure_is_neither_corrected_nor_restored(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        stored: list[int]) -> None:
    assert client.post(f"{API}/figures/{stored[0]}/retract", json={"reason": "wrong"},
                       headers=editor).status_code == 200
    rows = export(client)
    # as exported (status retracted, its reason): nothing to do
    assert post_csv(client, to_csv(rows[:1]), editor).status_code == 201
    assert len(history(client, stored[0])) == 2
    before = stored_state(database)
    for edit in ({"count": "5"}, {"status": "active"}):
        body = assert_problem(post_csv(client, to_csv([rows[0] | edit]), editor), 422)
        assert list(body["errors"]["row 2"]) == ["status"]
    assert stored_state(database) == before


def test_update_rows_without_id_need_the_required_columns(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    body = assert_problem(post_csv(client, "id,count\r\n,31\r\n", editor), 422)
    assert set(body["errors"]["row 2"]) == {"conflict", "source", "category", "reported_on"}


def test_update_with_a_conflict_parameter_moves_the_figures(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    rows = export(client)
    response = post_csv(client, to_csv(rows[:1]), editor, query="?update=1&conflict=other-war")
    assert response.status_code == 201
    assert client.get(f"{API}/figures/{stored[0]}").get_json()["conflict"] == "other-war"


def test_the_update_parameter_is_validated(client: FlaskClient, editor: dict[str, str],
                                           stored: list[int]) -> None:
    assert_problem(post_csv(client, "id\r\n1\r\n", editor, query="?update=maybe"), 422, "update")


def test_an_update_with_an_idempotency_key_is_answered_once(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    rows = export(client)
    rows[0]["count"] = "10"
    text = to_csv(rows[:1])
    headers = {**editor, "Idempotency-Key": "update-1"}
    first = post_csv(client, text, headers)
    second = post_csv(client, text, headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json() == {"ids": [stored[0]]}
    assert len(history(client, stored[0])) == 2


def test_cli_import_update(runner: CliRunner, client: FlaskClient, db_path: Path,
                           tmp_path: Path, database: sqlite_utils.Database,
                           stored: list[int]) -> None:
    rows = export(client)
    rows[0]["count"] = "19"
    rows[1] |= {"status": "retracted", "retraction_reason": "Withdrawn by the ministry"}
    path = tmp_path / "edited.csv"
    path.write_text(to_csv(rows), encoding="utf-8")
    result = runner.invoke(main, ["import", str(path), "--update", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Imported 3 rows: 0 figures created, 2 corrected or retracted, "
                             "1 unchanged.\n")
    assert client.get(f"{API}/figures/{stored[0]}").get_json()["count"] == 19
    assert client.get(f"{API}/figures/{stored[1]}").get_json()["status"] == "retracted"

    before = stored_state(database)
    path.write_text(to_csv([rows[2] | {"id": "777"}]), encoding="utf-8")
    result = runner.invoke(main, ["import", str(path), "--update", "--db", str(db_path)])
    assert result.exit_code == 1
    assert "row 2: id: There is no figure 777" in result.output
    assert stored_state(database) == before


# --------------------------------------------------------------------------- ?bom=1

@pytest.mark.parametrize("path", ["figures.csv", "flags.csv",
                                  "report.csv?conflict=nagorno-karabakh-2020"])
def test_bom_starts_every_export_with_a_byte_order_mark(client: FlaskClient, stored: list[int],
                                                        path: str) -> None:
    join = "&" if "?" in path else "?"
    plain = client.get(f"{API}/exports/{path}").get_data()
    with_bom = client.get(f"{API}/exports/{path}{join}bom=1").get_data()
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert with_bom == b"\xef\xbb\xbf" + plain
    assert client.get(f"{API}/exports/{path}{join}bom=0").get_data() == plain
    response = client.get(f"{API}/exports/{path}{join}bom=x")
    assert_problem(response, 422, "bom")


def test_excel_style_bom_export_imports_back_unchanged(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        stored: list[int]) -> None:
    body = client.get(f"{API}/exports/figures.csv?bom=1&hxl=1").get_data()
    before = stored_state(database)
    response = client.post(f"{API}/imports?update=1", data=body, headers={**editor, **CSV})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert stored_state(database) == before


@pytest.mark.parametrize("what", ["figures", "flags"])
def test_cli_export_bom(runner: CliRunner, client: FlaskClient, db_path: Path,
                        stored: list[int], what: str) -> None:
    result = runner.invoke(main, ["export", what, "--bom", "--db", str(db_path)])
    assert result.exit_code == 0
    http = client.get(f"{API}/exports/{what}.csv?bom=1").get_data()
    assert result.stdout_bytes.startswith(b"\xef\xbb\xbf")
    assert result.stdout_bytes.split(b"\r\n")[0] == http.split(b"\r\n")[0]


def test_a_figure_changed_since_the_early_check_is_decided_again(
        client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database,
        stored: list[int]) -> None:
    """Validation runs before the write lock is taken; a figure corrected in between (its
    version moved on) is checked again inside the transaction, against what is stored."""
    from service import store
    from service.csvimport import ImportRow, decide, plan_for
    from service.schemas import FigureIn

    schema, errors = FigureIn(), {}
    current = store.get_figure(database, stored[1])
    row = ImportRow(5, figure_id=stored[1], cells={"count": 35})  # 30 to 40 stored
    early = (current["version"], decide(row, current, {"count"}, schema))
    assert early[1][2] is None
    assert client.patch(f"{API}/figures/{stored[1]}", json={"count_high": 32},
                        headers=editor).status_code == 200
    plan = plan_for(row, {"count"}, errors, schema, early)
    assert plan(store.get_figure(database, stored[1])) == (None, None)
    assert errors == {"row 5": {"count_high": ["Must be at least count."]}}
    assert plan(current)[0]["count"] == 35  # the early decision, for the version it saw


def test_the_1_1_fields_flow_through_corrections_and_hashtag_files(
        client: FlaskClient, editor: dict[str, str], stored: list[int]) -> None:
    """location_code, group and via are corrected, cleared and matched by hashtag like every
    other column: nothing in the import keeps a list of its own."""
    rows = export(client)
    rows[0] |= {"location_code": "AZ-GA", "group": "children", "via": "Reuters"}
    assert post_csv(client, to_csv(rows[:1]), editor).status_code == 201
    corrected = client.get(f"{API}/figures/{stored[0]}").get_json()
    assert (corrected["location_code"], corrected["group"], corrected["via"],
            corrected["version"]) == ("AZ-GA", "children", "Reuters", 2)

    hxl = client.get(f"{API}/exports/figures.csv?hxl=1").get_data(as_text=True)
    tags_only = hxl.split("\r\n", 1)[1]  # the hashtag row is the only header
    assert "#loc+code" in tags_only.split("\r\n")[0]
    edited = tags_only.replace(",children,", ",women,")
    assert post_csv(client, edited, editor).status_code == 201
    assert client.get(f"{API}/figures/{stored[0]}").get_json()["group"] == "women"

    rows = export(client)
    rows[0] |= {"group": "", "via": ""}
    assert post_csv(client, to_csv(rows[:1]), editor).status_code == 201
    cleared = client.get(f"{API}/figures/{stored[0]}").get_json()
    assert (cleared["group"], cleared["via"], cleared["version"]) == (None, None, 4)
    body = assert_problem(post_csv(client, to_csv([rows[0] | {"group": "kids"}]), editor), 422)
    assert list(body["errors"]["row 2"]) == ["group"]


def test_cli_import_conflict_must_be_a_slug(runner: CliRunner, db_path: Path, tmp_path: Path,
                                            client: FlaskClient, stored: list[int],
                                            database: sqlite_utils.Database) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(to_csv(export(client)), encoding="utf-8")
    before = stored_state(database)
    result = runner.invoke(main, ["import", str(path), "--conflict", "Not A Slug",
                                  "--db", str(db_path)])
    assert result.exit_code == 2
    assert "--conflict" in result.output
    assert stored_state(database) == before
    result = runner.invoke(main, ["import", str(path), "--update", "--conflict", "moved",
                                  "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert {f["conflict"] for f in export(client)} == {"moved"}
