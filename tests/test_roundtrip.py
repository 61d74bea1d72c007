"""Round trips with the tools a data desk uses (API §7): export, edit in pandas or with
libhxl, import with `--update`, reconcile. The edits (two counts lowered, one figure
retracted) become new versions, the flags they raised go obsolete, and nothing else moves."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import figure
from flask.testing import FlaskClient

from service.cli import main

API = "/api/v1"
KILLED = {"category": "killed", "side": "Armenia"}
CIVILIAN = {"category": "civilian", "side": "Azerbaijan", "source": "UN OCHA"}
FIGURES = [
    # Armenian MoD lowered its own toll: a decrease, until 100 is corrected to 70
    figure(source="Armenian MoD", count=100, reported_on="2020-10-01", **KILLED),
    figure(source="Armenian MoD", count=80, reported_on="2020-10-05", **KILLED),
    # HALO Trust disagrees with the ministry's 80 on the same day, until 200 becomes 80
    figure(source="HALO Trust", count=200, reported_on="2020-10-05", **KILLED),
    # UN OCHA gave two numbers for one day: a duplicate, until one is retracted
    figure(count=12, reported_on="2020-10-03", location="Маріуполь",
           quote='Officials said: "12 killed, 3 of them children",\nin Маріуполь', **CIVILIAN),
    figure(count=14, reported_on="2020-10-03", location="Маріуполь",
           quote="=14 per the hospital", **CIVILIAN),
    # untouched: a range (count_high with gaps: pandas writes 30.0), and a retracted figure
    figure(source="ICRC", count=20, count_high=30, reported_on="2020-10-04",
           url="https://example.org/a?b=1,2", notes="-3 overnight", **{
               k: v for k, v in CIVILIAN.items() if k != "source"}),
    figure(source="HALO Trust", category="injured", count=5, reported_on="2020-10-02"),
]
LOWERED = {0: 70, 2: 80}
RETRACTED = 4
REASON = "Duplicate of the 2020-10-03 figure"


@pytest.fixture
def ids(client: FlaskClient, editor: dict[str, str], runner: CliRunner,
        db_path: Path) -> list[int]:
    response = client.post(f"{API}/figures/batch", json={"figures": FIGURES}, headers=editor)
    assert response.status_code == 201
    ids = response.get_json()["ids"]
    assert client.post(f"{API}/figures/{ids[6]}/retract", json={"reason": "typo"},
                       headers=editor).status_code == 200
    reconcile(runner, db_path)
    assert open_rules(client) == {
        ("decrease", (ids[0], ids[1])), ("disagreement", (ids[1], ids[2])),
        ("duplicate", (ids[3], ids[4]))}
    return ids


def reconcile(runner: CliRunner, db_path: Path) -> None:
    result = runner.invoke(main, ["reconcile", "--db", str(db_path)])
    assert result.exit_code == 0, result.output


def open_rules(client: FlaskClient) -> set[tuple[str, tuple[int, ...]]]:
    flags = client.get(f"{API}/flags?status=open").get_json()["items"]
    return {(flag["rule"], tuple(sorted(flag["figure_ids"]))) for flag in flags}


def snapshot(database: sqlite_utils.Database, figure_id: int) -> tuple[list, list]:
    """The figure's row and every version of it, as stored."""
    return (database.execute("SELECT * FROM figures WHERE id = ?", [figure_id]).fetchall(),
            database.execute("SELECT * FROM figure_versions WHERE figure_id = ? ORDER BY 1, 2",
                             [figure_id]).fetchall())


def round_trip(client: FlaskClient, runner: CliRunner, database: sqlite_utils.Database,
               db_path: Path, tmp_path: Path, ids: list[int], export_query: str,
               edit: Callable[[Path, Path, dict[int, int], int], None]) -> None:
    exported = tmp_path / "exported.csv"
    if export_query == "cli":  # as the README shows it: the active figures, with a BOM
        result = runner.invoke(main, ["export", "figures", "--bom", "--db", str(db_path)])
        assert result.exit_code == 0
        exported.write_bytes(result.stdout_bytes)
        rows = len(ids) - 1
    else:
        response = client.get(f"{API}/exports/figures.csv?{export_query}")
        assert response.status_code == 200
        exported.write_bytes(response.get_data())
        rows = len(ids)
    before = {figure_id: snapshot(database, figure_id) for figure_id in ids}
    flag_ids = {flag["rule"]: flag["id"]
                for flag in client.get(f"{API}/flags").get_json()["items"]}

    edited = tmp_path / "edited.csv"
    edit(exported, edited, {ids[i]: count for i, count in LOWERED.items()}, ids[RETRACTED])
    result = runner.invoke(main, ["import", str(edited), "--update", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (f"Imported {rows} rows: 0 figures created, 3 corrected or "
                             f"retracted, {rows - 3} unchanged.\n")

    for index, figure_id in enumerate(ids):
        versions = client.get(f"{API}/figures/{figure_id}/history").get_json()["items"]
        if index in LOWERED:
            assert [(v["version"], v["change"], v["count"]) for v in versions] == [
                (1, "created", FIGURES[index]["count"]), (2, "corrected", LOWERED[index])]
        elif index == RETRACTED:
            assert [(v["version"], v["change"], v["status"]) for v in versions] == [
                (1, "created", "active"), (2, "retracted", "retracted")]
            assert versions[1]["retraction_reason"] == REASON
        else:
            assert snapshot(database, figure_id) == before[figure_id], FIGURES[index]

    reconcile(runner, db_path)
    assert open_rules(client) == set()
    for rule, flag_id in flag_ids.items():
        assert client.get(f"{API}/flags/{flag_id}").get_json()["status"] == "obsolete", rule

    # the edited file again changes nothing more
    result = runner.invoke(main, ["import", str(edited), "--update", "--db", str(db_path)])
    assert result.stdout.endswith(f"0 corrected or retracted, {rows} unchanged.\n")


def edit_with_pandas(exported: Path, edited: Path, lowered: dict[int, int],
                     retracted: int) -> None:
    """The README's recipe, word for word (retraction_reason read as text: an all-empty
    column would be float64, and pandas refuses a string in it)."""
    df = pd.read_csv(exported, encoding="utf-8-sig", dtype={"retraction_reason": "string"})
    assert df["count_high"].dtype == "float64"  # 30.0 and gaps: what pandas writes back
    for figure_id, count in lowered.items():
        df.loc[df["id"] == figure_id, "count"] = count
    df.loc[df["id"] == retracted, ["status", "retraction_reason"]] = ["retracted", REASON]
    df.to_csv(edited, index=False, encoding="utf-8-sig")
    assert "30.0" in edited.read_text(encoding="utf-8")


@pytest.mark.parametrize("export_query", ["cli", "status=all"])
def test_pandas_round_trip(client: FlaskClient, runner: CliRunner,
                           database: sqlite_utils.Database, db_path: Path, tmp_path: Path,
                           ids: list[int], export_query: str) -> None:
    round_trip(client, runner, database, db_path, tmp_path, ids, export_query,
               edit_with_pandas)


def test_pandas_round_trip_of_an_excel_ready_hxl_export(
        client: FlaskClient, runner: CliRunner, database: sqlite_utils.Database,
        db_path: Path, tmp_path: Path, ids: list[int]) -> None:
    def edit(exported: Path, edited: Path, lowered: dict[int, int], retracted: int) -> None:
        assert exported.read_bytes().startswith(b"\xef\xbb\xbfid,conflict,")
        frame = pd.read_csv(exported, skiprows=[1], encoding="utf-8-sig")
        for figure_id, count in lowered.items():
            frame.loc[frame["id"] == figure_id, "count"] = count
        frame.loc[frame["id"] == retracted, ["status", "retraction_reason"]] = [
            "retracted", REASON]
        frame.to_csv(edited, index=False, encoding="utf-8-sig")

    round_trip(client, runner, database, db_path, tmp_path, ids, "status=all&bom=1&hxl=1",
               edit)


def libhxl_edit(show_headers: bool) -> Callable[[Path, Path, dict[int, int], int], None]:
    """Edit as an HXL user would: libhxl's replace-data filter, rows chosen by #meta+id."""
    import hxl
    from hxl.input import write_hxl

    def edit(exported: Path, edited: Path, lowered: dict[int, int], retracted: int) -> None:
        with exported.open("rb") as handle:
            dataset: Any = hxl.data(handle).cache()
            list(dataset)
        for figure_id, count in lowered.items():
            original = next(row.get("#affected") for row in dataset
                            if row.get("#meta+id") == str(figure_id))
            dataset = dataset.replace_data(original, str(count), pattern="#affected",
                                           queries=[f"#meta+id={figure_id}"])
        query = [f"#meta+id={retracted}"]
        dataset = dataset.replace_data("active", "retracted", pattern="#status",
                                       queries=query)
        dataset = dataset.replace_data("^$", REASON, pattern="#description+retraction",
                                       use_regex=True, queries=query)
        output = io.StringIO()
        write_hxl(output, dataset, show_headers=show_headers, show_tags=True)
        edited.write_text(output.getvalue(), encoding="utf-8", newline="")
        first_line = edited.read_text(encoding="utf-8").split("\r\n")[0]
        assert first_line.startswith("id," if show_headers else "#meta+id,")

    return edit


@pytest.mark.parametrize("show_headers", [True, False], ids=["headers-and-tags", "tags-only"])
def test_libhxl_round_trip(client: FlaskClient, runner: CliRunner,
                           database: sqlite_utils.Database, db_path: Path, tmp_path: Path,
                           ids: list[int], show_headers: bool) -> None:
    round_trip(client, runner, database, db_path, tmp_path, ids, "status=all&hxl=1",
               libhxl_edit(show_headers))
