"""CSV exports through the real app (API §7): figures, flags and the report, checked with
pandas, libhxl and the csv module against the JSON API they mirror."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlite_utils
from conftest import assert_problem, figure, stored_state
from flask.testing import FlaskClient

from service import create_app, csvexport, store
from service.config import Settings
from service.reconcile import run

API = "/api/v1"
EXPORTS = f"{API}/exports"
NK = "nagorno-karabakh-2020"
SW = "second-war-2023"
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\0")
QUOTE = 'He said: "about 22, maybe more",\nin Gəncə'

INPUT_FIELDS = ("conflict", "source", "category", "side", "location", "incident", "count",
                "count_high", "qualifier", "unit", "reported_on", "as_of", "period_start",
                "quote", "url", "notes")
SECTION_4_FIELDS = ("id", *INPUT_FIELDS, "low", "high", "status", "version", "created_at",
                    "updated_at")
FIGURE_EXPORT_COLUMNS = [
    "id", "conflict", "source", "category", "side", "location", "location_code", "group",
    "incident", "count", "count_high", "qualifier", "unit", "reported_on", "as_of",
    "period_start", "via", "quote", "url", "notes", "low", "high", "status",
    "retraction_reason", "version", "created_at", "updated_at", "source_kind",
    "source_affiliation", "open_flags",
]
FLAG_EXPORT_COLUMNS = ["id", "rule", "severity", "conflict", "figure_ids", "explanation",
                       "status", "note", "first_seen_run", "last_seen_run"]
REPORT_EXPORT_COLUMNS = ["conflict", "category", "side", "location", "incident", "unit",
                         "period_start", "group", "as_of", "low", "high", "best",
                         "independent_best", "open_flags", "grade", "sources"]
QUOTED_CELL = re.compile(r'"(?:[^"]|"")*"')


# --------------------------------------------------------------------------- helpers


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def guarded(value: str) -> str:
    """The §7 formula guard as documented: one more ' before a dangerous first character."""
    return "'" + value if value.lstrip("'")[:1] in DANGEROUS else value


def cell(value: Any) -> str:
    """What the export writes for a JSON value."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return guarded(str(value))


def rows_of(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), strict=True))


def records_of(body: bytes) -> list[dict[str, str]]:
    header, *rows = rows_of(body)
    return [dict(zip(header, row, strict=True)) for row in rows]


def export(client: FlaskClient, path: str, headers: dict[str, str] | None = None) -> bytes:
    response = client.get(f"{EXPORTS}/{path}", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    return response.get_data()


def items(client: FlaskClient, path: str) -> list[dict]:
    response = client.get(f"{API}/{path}")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_json()
    assert page["next_cursor"] is None
    return page["items"]


def reconcile(database: sqlite_utils.Database) -> dict:
    finished = run.execute(database, store.create_run(database, "test", False)["id"], full=False)
    assert finished["status"] == "succeeded", finished
    return finished


def post_figure(client: FlaskClient, headers: dict[str, str], **overrides: Any) -> dict:
    response = client.post(f"{API}/figures", json=figure(**overrides), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def frame_of(body: bytes, **options: Any) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(body), **options)


def plain(values: Any) -> list[Any]:
    """pandas values as plain Python: NaN/NA -> None, numpy ints -> int."""
    out = []
    for value in values:
        if pd.isna(value):
            out.append(None)
        elif hasattr(value, "item"):
            out.append(value.item())
        else:
            out.append(value)
    return out


# --------------------------------------------------------------------------- corpus

CORPUS = [
    # 1, 2, 3: A and B disagree on the same day; A gave two numbers that day (duplicate)
    figure(quote=QUOTE, url="https://example.org/a?b=1,2"),
    figure(source="Armenian MoD", count=30, notes="=SUM(A1)"),
    figure(count=25, quote="+25 by evening"),
    # 4: a range of about 200, located, in one incident, with a period
    figure(source="HALO Trust", category="killed", side="Armenia", location="Stepanakert",
           incident="Shelling of the market", count=200, qualifier="about",
           reported_on="2020-10-10", as_of="2020-10-08", period_start="2020-10-01",
           notes="-3 overnight", url="https://example.org/halo"),
    # 5: unbounded
    figure(source="Armenian MoD", category="military", side="Armenia", count=2317,
           qualifier="at_least", reported_on="2020-11-20", quote="@ least 2317"),
    # 6: damage, a stated range
    figure(source="UN OCHA", category="damage", side=None, location="Gəncə", count=20,
           count_high=30, unit="buildings", reported_on="2020-10-12"),
    # 7: another conflict
    figure(conflict=SW, category="military", count=192, reported_on="2023-09-21",
           as_of="2023-09-20"),
    # 8: retracted below
    figure(source="Armenian MoD", category="injured", side="Armenia", count=100,
           qualifier="about", reported_on="2020-10-05"),
]


@pytest.fixture
def corpus(client: FlaskClient, editor: dict[str, str], database: sqlite_utils.Database
           ) -> dict[str, int]:
    """Eight figures, three sources with kind/affiliation, a dispute, a retraction, a run and
    three flags (one acknowledged); returns figure ids by position (f1..f8) and flag ids."""
    response = client.post(f"{API}/figures/batch", json={"figures": CORPUS}, headers=editor)
    assert response.status_code == 201, response.get_data(as_text=True)
    ids = {f"f{n}": figure_id for n, figure_id in enumerate(response.get_json()["ids"], 1)}
    for name, changes in [
        ("Azerbaijani officials", {"kind": "government", "affiliation": "Azerbaijan"}),
        ("Armenian MoD", {"kind": "military", "affiliation": "Armenia"}),
        ("HALO Trust", {"kind": "ngo"}),
    ]:
        (source,) = items(client, f"sources?name={name}")
        patched = client.patch(f"{API}/sources/{source['id']}", json=changes, headers=editor)
        assert patched.status_code == 200, patched.get_data(as_text=True)
    disputed = client.post(f"{API}/figures/{ids['f4']}/disputes", headers=editor,
                           json={"source": "Armenian MoD", "reported_on": "2020-10-11"})
    assert disputed.status_code == 201, disputed.get_data(as_text=True)
    retracted = client.post(f"{API}/figures/{ids['f8']}/retract", headers=editor,
                            json={"reason": "=counted twice"})
    assert retracted.status_code == 200, retracted.get_data(as_text=True)
    reconcile(database)
    flags = {flag["rule"]: flag for flag in items(client, "flags")}
    assert sorted(flags) == ["disagreement", "disputed", "duplicate"]
    assert flags["disagreement"]["figure_ids"] == [ids["f1"], ids["f2"], ids["f3"]]
    assert flags["duplicate"]["figure_ids"] == [ids["f1"], ids["f3"]]
    assert flags["disputed"]["figure_ids"] == [ids["f4"]]
    acknowledged = client.patch(f"{API}/flags/{flags['disputed']['id']}", headers=editor,
                                json={"status": "acknowledged", "note": "-checked by desk"})
    assert acknowledged.status_code == 200, acknowledged.get_data(as_text=True)
    return ids | {rule: flag["id"] for rule, flag in flags.items()}


# --------------------------------------------------------------------------- the response


@pytest.mark.parametrize(("path", "name"), [
    ("figures.csv", "figures-all"),
    (f"figures.csv?conflict={NK}", f"figures-{NK}"),
    ("flags.csv", "flags-all"),
    (f"flags.csv?conflict={SW}", f"flags-{SW}"),
    (f"report.csv?conflict={NK}", f"report-{NK}"),
])
def test_headers_name_the_file_by_kind_conflict_and_date(client: FlaskClient,
                                                         corpus: dict[str, int], path: str,
                                                         name: str) -> None:
    response = client.get(f"{EXPORTS}/{path}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="{name}-{today()}.csv"'
    assert response.is_streamed
    assert "Content-Length" not in response.headers
    response.close()


@pytest.mark.parametrize("path", ["figures.csv?status=all", "flags.csv",
                                  f"report.csv?conflict={NK}"])
def test_rfc4180_crlf_line_ends_and_header_row(client: FlaskClient, corpus: dict[str, int],
                                                path: str) -> None:
    body = export(client, path)
    assert body.endswith(b"\r\n")
    text = body.decode("utf-8")
    outside_quotes = QUOTED_CELL.sub("", text)
    assert "\n" not in outside_quotes.replace("\r\n", "")
    assert "\r" not in outside_quotes.replace("\r\n", "")
    expected = {"figures.csv?status=all": FIGURE_EXPORT_COLUMNS, "flags.csv": FLAG_EXPORT_COLUMNS,
                f"report.csv?conflict={NK}": REPORT_EXPORT_COLUMNS}[path]
    assert text.split("\r\n", 1)[0] == ",".join(expected)


def test_empty_export_is_just_the_header(client: FlaskClient) -> None:
    assert export(client, "figures.csv") == (",".join(FIGURE_EXPORT_COLUMNS) + "\r\n").encode()
    assert export(client, "flags.csv?hxl=1").decode().split("\r\n") == [
        ",".join(FLAG_EXPORT_COLUMNS),
        "#meta+id,#meta+rule,#severity,#crisis+code,#meta+figure_ids+list,#description,"
        "#status,#description+note,#meta+run+first,#meta+run+last",
        "",
    ]
    assert export(client, "report.csv?conflict=nobody") == \
        (",".join(REPORT_EXPORT_COLUMNS) + "\r\n").encode()


# --------------------------------------------------------------------------- figures


def test_figures_export_has_every_section_4_field_and_the_source_and_flag_columns(
        client: FlaskClient, corpus: dict[str, int]) -> None:
    header = rows_of(export(client, "figures.csv"))[0]
    assert set(SECTION_4_FIELDS) <= set(header)
    assert header[-3:] == ["source_kind", "source_affiliation", "open_flags"]
    assert header == FIGURE_EXPORT_COLUMNS


def test_figures_export_matches_the_json_api_cell_for_cell(client: FlaskClient,
                                                           corpus: dict[str, int]) -> None:
    figures = items(client, "figures?status=all&limit=1000")
    sources = {source["name"]: source for source in items(client, "sources")}
    open_flags = {figure["id"]: len(items(client, f"flags?figure_id={figure['id']}&status=open"))
                  for figure in figures}
    records = records_of(export(client, "figures.csv?status=all"))

    assert len(records) == len(figures) == 8
    for record, expected in zip(records, figures, strict=True):
        source = sources[expected["source"]]
        want = {column: cell(expected[column]) for column in FIGURE_EXPORT_COLUMNS[:-3]}
        want |= {"source_kind": source["kind"], "source_affiliation": cell(source["affiliation"]),
                 "open_flags": str(open_flags[expected["id"]])}
        assert record == want
    # open_flags counts open flags only: the acknowledged dispute flag does not count
    by_id = {int(record["id"]): record for record in records}
    assert {f"f{n}": by_id[corpus[f"f{n}"]]["open_flags"] for n in range(1, 9)} == {
        "f1": "2", "f2": "1", "f3": "2", "f4": "0", "f5": "0", "f6": "0", "f7": "0", "f8": "0"}
    # spot checks of exact values, independent of the JSON API
    first = by_id[corpus["f1"]]
    assert (first["quote"], first["url"], first["source_kind"], first["source_affiliation"]) == (
        QUOTE, "https://example.org/a?b=1,2", "government", "Azerbaijan")
    assert by_id[corpus["f2"]]["notes"] == "'=SUM(A1)"
    assert by_id[corpus["f4"]]["notes"] == "'-3 overnight"
    assert (by_id[corpus["f4"]]["low"], by_id[corpus["f4"]]["high"]) == ("180", "220")
    assert (by_id[corpus["f5"]]["low"], by_id[corpus["f5"]]["high"]) == ("2317", "")
    assert by_id[corpus["f6"]]["source_kind"] == "unknown"
    assert by_id[corpus["f8"]]["status"] == "retracted"
    assert by_id[corpus["f8"]]["retraction_reason"] == "'=counted twice"


def test_pandas_reads_the_figures_export_with_the_right_types(client: FlaskClient,
                                                              corpus: dict[str, int]) -> None:
    figures = items(client, "figures?status=all&limit=1000")
    frame = frame_of(export(client, "figures.csv?status=all"))

    assert frame.columns.tolist() == FIGURE_EXPORT_COLUMNS
    assert len(frame) == 8
    for column in ("id", "count", "low", "version"):
        assert frame[column].dtype == "int64", column
        assert frame[column].tolist() == [f[column] for f in figures], column
    assert frame["open_flags"].dtype == "int64"
    assert frame["high"].dtype == "float64"  # nullable: empty = unbounded
    assert plain(frame["high"]) == [f["high"] for f in figures]
    assert frame["high"].isna().tolist() == [False, False, False, False, True, False, False,
                                             False]
    typed = frame_of(export(client, "figures.csv?status=all"),
                     dtype={"high": "Int64", "count_high": "Int64"})
    assert plain(typed["high"]) == [22, 30, 25, 220, None, 30, 192, 110]
    assert plain(typed["count_high"]) == [None, None, None, None, None, 30, None, None]
    assert frame["open_flags"].tolist() == [2, 1, 2, 0, 0, 0, 0, 0]
    for column in ("conflict", "source", "category", "side", "location", "incident",
                   "qualifier", "unit", "reported_on", "as_of", "period_start", "quote", "url",
                   "status", "created_at", "updated_at"):
        assert plain(frame[column]) == [
            None if f[column] is None else guarded(f[column]) for f in figures], column
    assert frame["quote"].iloc[0] == QUOTE
    assert frame["location"].iloc[5] == "Gəncə"


# corpus figures each filter should select, by position
FILTERS = [
    ("", [1, 2, 3, 4, 5, 6, 7]),
    ("status=all", [1, 2, 3, 4, 5, 6, 7, 8]),
    ("status=retracted", [8]),
    (f"conflict={NK}", [1, 2, 3, 4, 5, 6]),
    (f"conflict={SW}", [7]),
    ("source=Armenian%20MoD", [2, 5]),
    ("source=armenian%20mod&status=all", [2, 5, 8]),
    ("category=civilian", [1, 2, 3]),
    ("category=military&conflict=" + NK, [5]),
    ("side=Armenia&status=all", [4, 5, 8]),
    ("location=G%C9%99nc%C9%99", [6]),
    ("incident=Shelling%20of%20the%20market", [4]),
    ("reported_from=2020-10-05", [4, 5, 6, 7]),
    ("reported_to=2020-10-10", [1, 2, 3, 4]),
    ("reported_from=2020-10-05&reported_to=2020-10-12&status=all", [4, 6, 8]),
    ("reported_from=2020-10-10&reported_to=2020-10-10", [4]),
    ("as_of_from=2020-10-08&as_of_to=2020-10-08", [4]),
    ("as_of_to=2020-10-04", [1, 2, 3]),
    ("conflict=nobody", []),
]


@pytest.mark.parametrize(("query", "positions"), FILTERS, ids=[q or "none" for q, _ in FILTERS])
def test_every_figures_filter_applies_to_the_export(client: FlaskClient, corpus: dict[str, int],
                                                     query: str, positions: list[int]) -> None:
    expected = [corpus[f"f{n}"] for n in positions]
    listed = [f["id"] for f in items(client, f"figures?{query}&limit=1000")]
    exported = [int(r["id"]) for r in records_of(export(client, f"figures.csv?{query}"))]
    assert exported == listed == expected


# --------------------------------------------------------------------------- flags, report


def test_flags_export_matches_the_json_api(client: FlaskClient, corpus: dict[str, int]) -> None:
    flags = items(client, "flags")
    frame = frame_of(export(client, "flags.csv"))
    records = records_of(export(client, "flags.csv"))

    assert frame.columns.tolist() == FLAG_EXPORT_COLUMNS
    assert len(frame) == len(flags) == 3
    for column in ("id", "first_seen_run", "last_seen_run"):
        assert frame[column].dtype == "int64"
        assert frame[column].tolist() == [flag[column] for flag in flags]
    for record, flag in zip(records, flags, strict=True):
        assert record == {
            "id": str(flag["id"]), "rule": flag["rule"], "severity": flag["severity"],
            "conflict": flag["conflict"],
            "figure_ids": ", ".join(str(i) for i in flag["figure_ids"]),
            "explanation": guarded(flag["explanation"]), "status": flag["status"],
            "note": cell(flag["note"]), "first_seen_run": str(flag["first_seen_run"]),
            "last_seen_run": str(flag["last_seen_run"]),
        }
    by_rule = {record["rule"]: record for record in records}
    assert by_rule["disagreement"]["figure_ids"] == f"{corpus['f1']}, {corpus['f2']}, " \
                                                    f"{corpus['f3']}"
    assert (by_rule["disputed"]["status"], by_rule["disputed"]["note"]) == (
        "acknowledged", "'-checked by desk")


@pytest.mark.parametrize(("query", "rules"), [
    ("status=open", ["disagreement", "duplicate"]),
    ("status=acknowledged", ["disputed"]),
    ("rule=duplicate", ["duplicate"]),
    (f"conflict={NK}", ["disagreement", "duplicate", "disputed"]),
    (f"conflict={SW}", []),
    ("figure_id=F2", ["disagreement"]),
    ("figure_id=F4&status=acknowledged", ["disputed"]),
])
def test_flag_filters_apply_to_the_export(client: FlaskClient, corpus: dict[str, int],
                                          query: str, rules: list[str]) -> None:
    query = re.sub(r"F(\d)", lambda m: str(corpus[f"f{m.group(1)}"]), query)
    listed = [flag["rule"] for flag in items(client, f"flags?{query}")]
    exported = [record["rule"] for record in records_of(export(client, f"flags.csv?{query}"))]
    assert exported == listed  # both in id order
    assert sorted(listed) == sorted(rules)  # ids follow the run's order of families


def test_report_export_matches_the_json_report(client: FlaskClient,
                                               corpus: dict[str, int]) -> None:
    response = client.get(f"{API}/reconciliation/report?conflict={NK}")
    assert response.status_code == 200
    series = response.get_json()["series"]
    body = export(client, f"report.csv?conflict={NK}")
    records = records_of(body)
    frame = frame_of(body)

    assert len(records) == len(series) == 4
    for record, entry in zip(records, series, strict=True):
        summary = "; ".join(
            f"{s['source']}: "
            f"{s['count'] if s['qualifier'] == 'exact' else s['qualifier'].replace('_', ' ') + ' ' + str(s['count'])}"  # noqa: E501
            f" ({s['as_of']})" for s in entry["sources"])
        assert record == {column: cell(summary if column == "sources" else entry[column])
                          for column in REPORT_EXPORT_COLUMNS}
    assert frame.columns.tolist() == REPORT_EXPORT_COLUMNS
    assert frame["low"].dtype == "int64" and frame["open_flags"].dtype == "int64"
    assert plain(frame["best"]) == [entry["best"] for entry in series]
    civilian = next(r for r in records if r["category"] == "civilian")
    assert civilian == {
        "conflict": NK, "category": "civilian", "side": "Azerbaijan", "location": "",
        "incident": "", "unit": "people", "period_start": "", "group": "",
        "as_of": "2020-10-04",
        "low": "30", "high": "22", "best": "25", "independent_best": "", "open_flags": "2",
        "grade": "contested",
        "sources": "Armenian MoD: 30 (2020-10-04); Azerbaijani officials: 25 (2020-10-04)",
    }
    halo = next(r for r in records if r["category"] == "killed")
    assert (halo["sources"], halo["low"], halo["high"], halo["best"], halo["independent_best"],
            halo["open_flags"], halo["grade"]) == (
        "HALO Trust: about 200 (2020-10-08)", "180", "220", "200", "200", "0", "single_source")


def test_report_export_is_one_conflict(client: FlaskClient, corpus: dict[str, int]) -> None:
    records = records_of(export(client, f"report.csv?conflict={SW}"))
    assert [(r["conflict"], r["category"], r["best"], r["sources"]) for r in records] == [
        (SW, "military", "192", "Azerbaijani officials: 192 (2023-09-20)")]


# --------------------------------------------------------------------------- HXL


def test_hxl_row_sits_under_the_header(client: FlaskClient, corpus: dict[str, int]) -> None:
    plain_rows = rows_of(export(client, "figures.csv?status=all"))
    hxl_rows = rows_of(export(client, "figures.csv?status=all&hxl=1"))
    assert hxl_rows[0] == plain_rows[0]
    assert hxl_rows[2:] == plain_rows[1:]
    assert hxl_rows[1][:10] == ["#meta+id", "#crisis+code", "#meta+source", "#impact+type",
                                "#group+name+side", "#loc+name", "#loc+code", "#category+group",
                                "#event+name", "#affected"]
    assert hxl_rows[1][13] == "#date+reported"
    assert all(tag.startswith("#") for tag in hxl_rows[1])
    assert len(hxl_rows[1]) == len(FIGURE_EXPORT_COLUMNS)
    assert rows_of(export(client, "figures.csv?hxl=0")) == rows_of(export(client, "figures.csv"))


def hxl_dataset(body: bytes, tmp_path: Path) -> Any:
    import hxl

    path = tmp_path / "export.csv"
    path.write_bytes(body)
    with path.open("rb") as handle:
        dataset = hxl.data(handle).cache()
        list(dataset)
    return dataset


def test_libhxl_reads_the_figures_export(client: FlaskClient, corpus: dict[str, int],
                                         tmp_path: Path) -> None:
    dataset = hxl_dataset(export(client, f"figures.csv?conflict={NK}&hxl=1"), tmp_path)
    assert dataset.headers == FIGURE_EXPORT_COLUMNS
    assert [row.get("#affected") for row in dataset] == ["22", "30", "25", "200", "2317", "20"]
    assert [row.get("#date+reported") for row in dataset] == [
        "2020-10-04", "2020-10-04", "2020-10-04", "2020-10-10", "2020-11-20", "2020-10-12"]
    assert [row.get("#meta+source") for row in dataset] == [
        "Azerbaijani officials", "Armenian MoD", "Azerbaijani officials", "HALO Trust",
        "Armenian MoD", "UN OCHA"]
    civilian = [row.get("#affected") for row in dataset
                if row.get("#impact+type") == "civilian"]
    assert civilian == ["22", "30", "25"]
    assert [row.get("#affected+max") for row in dataset][4] is None
    assert [row.get("#crisis+code") for row in dataset] == [NK] * 6


def test_libhxl_reads_the_flags_and_report_exports(client: FlaskClient, corpus: dict[str, int],
                                                   tmp_path: Path) -> None:
    flags = hxl_dataset(export(client, "flags.csv?hxl=1&rule=disagreement"), tmp_path)
    assert [row.get("#meta+figure_ids+list", parsed=True) for row in flags] == [
        [str(corpus["f1"]), str(corpus["f2"]), str(corpus["f3"])]]
    report = hxl_dataset(export(client, f"report.csv?conflict={NK}&hxl=1"), tmp_path)
    assert [row.get("#affected+best") for row in report] == ["25", "20", "200", "2317"]
    assert [row.get("#meta+grade") for row in report] == [
        "contested", "single_source", "single_source", "single_source"]


# --------------------------------------------------------------------------- formula injection

PREFIXES = ["=", "+", "-", "@", "\t", "\r"]


@pytest.mark.parametrize("prefix", PREFIXES, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_text_cells_with_a_formula_prefix_are_guarded(client: FlaskClient,
                                                      editor: dict[str, str],
                                                      prefix: str) -> None:
    payload = {"quote": prefix + "cmd|' /C calc'!A0", "notes": prefix + "SUM(1+1)",
               "source": prefix + "HYPERLINK(\"x\")", "location": prefix + "1+2",
               "side": prefix + "Armenia", "incident": prefix + "2+2"}
    created = post_figure(client, editor, count=1280, **payload)
    # names and places are trimmed on input, so tab and CR cannot lead them; long text keeps it
    trimmed = {"source", "location", "side", "incident"} if prefix in "\t\r" else set()
    stored = {field: value.strip() if field in trimmed else value
              for field, value in payload.items()}
    assert {field: created[field] for field in payload} == stored

    body = export(client, "figures.csv")
    (record,) = records_of(body)
    for field, value in stored.items():
        expected = value if field in trimmed else "'" + value
        assert record[field] == expected, field
    assert (record["count"], record["low"], record["high"], record["version"]) == (
        "1280", "1280", "1280", "1")
    line = body.decode().split("\r\n")[1]
    assert line.startswith(f"{created['id']},nagorno-karabakh-2020,")
    assert ",1280,,exact,people,2020-10-04,2020-10-04,," in line
    frame = frame_of(body)
    assert frame["count"].tolist() == [1280]
    assert frame["count"].dtype == "int64"


@pytest.mark.parametrize("prefix", PREFIXES, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_flags_and_report_cells_are_guarded_too(client: FlaskClient, editor: dict[str, str],
                                                database: sqlite_utils.Database,
                                                prefix: str) -> None:
    post_figure(client, editor, source=prefix + "X officials", count=9)
    post_figure(client, editor, source="Y", count=5)
    reconcile(database)
    (flag,) = records_of(export(client, "flags.csv"))
    (series,) = records_of(export(client, f"report.csv?conflict={NK}"))
    name = "X officials" if prefix in "\t\r" else prefix + "X officials"
    summary = f"{name}: 9 (2020-10-04); Y: 5 (2020-10-04)"
    assert series["sources"] == guarded(summary)
    assert flag["explanation"].startswith("'" if prefix not in "\t\r" else "")
    assert flag["explanation"].lstrip("'").startswith(f"{name} reported 9 civilian deaths")


def test_a_nul_led_value_cannot_be_stored(client: FlaskClient, editor: dict[str, str],
                                          database: sqlite_utils.Database) -> None:
    before = stored_state(database)
    for field in ("quote", "notes", "source", "location"):
        response = client.post(f"{API}/figures", json=figure(**{field: "\0=1+1"}),
                               headers=editor)
        assert_problem(response, 422, field)
    csv_body = "conflict,source,category,count,reported_on,quote\r\n" \
               f"{NK},A,killed,1,2020-10-04,\0=1+1\r\n"
    response = client.post(f"{API}/imports", data=csv_body.encode(),
                           headers={**editor, "Content-Type": "text/csv"})
    body = assert_problem(response, 422, "row 2")
    assert body["errors"]["row 2"] == ["contains a NUL character"]
    assert stored_state(database) == before
    assert export(client, "figures.csv?status=all") == \
        (",".join(FIGURE_EXPORT_COLUMNS) + "\r\n").encode()


# --------------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(("path", "field"), [
    ("figures.csv?hxl=maybe", "hxl"),
    ("figures.csv?category=nope", "category"),
    ("figures.csv?status=deleted", "status"),
    ("figures.csv?reported_from=2020-02-30", "reported_from"),
    ("figures.csv?as_of_to=20201004", "as_of_to"),
    ("figures.csv?colour=red", "colour"),
    ("figures.csv?limit=10", "limit"),
    ("flags.csv?rule=nope", "rule"),
    ("flags.csv?figure_id=abc", "figure_id"),
    ("flags.csv?hxl=2", "hxl"),
    ("report.csv?conflict=Not%20A%20Slug", "conflict"),
    (f"report.csv?conflict={NK}&hxl=maybe", "hxl"),
    (f"report.csv?conflict={NK}&status=all", "status"),
])
def test_bad_query_values_are_422_problems(client: FlaskClient, path: str, field: str) -> None:
    body = assert_problem(client.get(f"{EXPORTS}/{path}"), 422, field)
    assert list(body["errors"]) == [field]


@pytest.mark.parametrize("conflict", ["a%0d%0aX-Evil:%201", "a%0aX", "a%22b",
                                      "G%C9%99nc%C9%99", "Nagorno-Karabakh"])
@pytest.mark.parametrize("kind", ["figures", "flags", "report"])
def test_a_conflict_that_is_not_a_slug_is_422_not_a_broken_header(client: FlaskClient,
                                                                  kind: str,
                                                                  conflict: str) -> None:
    response = client.get(f"{EXPORTS}/{kind}.csv?conflict={conflict}")
    body = assert_problem(response, 422, "conflict")
    assert list(body["errors"]) == ["conflict"]
    assert "Content-Disposition" not in response.headers
    assert "X-Evil" not in response.headers


@pytest.mark.parametrize(("conflict", "label"), [
    (NK, NK), (None, "all"), ("", "all"), ('a"b\r\nX-Evil: 1', "a_b_X-Evil_1"),
    ("Gəncə", "G_nc_"), ("x" * 300, "x" * 100),
])
def test_file_names_are_header_safe_whatever_the_conflict(conflict: str | None,
                                                          label: str) -> None:
    assert csvexport.filename("report", conflict) == f"report-{label}-{today()}.csv"


def test_public_read_off_needs_a_token(db_path: Path, reader: dict[str, str],
                                       corpus: dict[str, int]) -> None:
    client = create_app(Settings(db_path=db_path, reconcile_seconds=0,
                                 public_read=False)).test_client()
    for path in ("figures.csv", "flags.csv", f"report.csv?conflict={NK}"):
        assert_problem(client.get(f"{EXPORTS}/{path}"), 401)
        assert_problem(client.get(f"{EXPORTS}/{path}",
                                  headers={"Authorization": "Bearer ct_nope"}), 401)
        assert len(rows_of(export(client, path, reader))) > 1


def test_an_unknown_token_is_refused_even_with_public_read(client: FlaskClient) -> None:
    assert_problem(client.get(f"{EXPORTS}/figures.csv",
                              headers={"Authorization": "Bearer ct_nope"}), 401)


# --------------------------------------------------------------------------- streaming


def test_a_5000_figure_export_streams_in_chunks(client: FlaskClient, editor: dict[str, str]
                                                ) -> None:
    batch = [figure(count=n, side=f"side {n % 7}", quote=f"={n}") for n in range(5000)]
    response = client.post(f"{API}/figures/batch", json={"figures": batch}, headers=editor)
    assert response.status_code == 201
    ids = response.get_json()["ids"]

    response = client.get(f"{EXPORTS}/figures.csv")
    assert response.status_code == 200
    assert response.is_streamed
    chunks = []
    try:
        for chunk in response.response:
            assert isinstance(chunk, bytes)
            chunks.append(chunk)
    finally:
        response.close()
    assert len(chunks) > 1
    assert max(len(chunk) for chunk in chunks) < 256 * 1024
    records = records_of(b"".join(chunks))
    assert [int(r["id"]) for r in records] == ids
    assert [r["count"] for r in records] == [str(n) for n in range(5000)]
    assert [r["quote"] for r in records] == [f"'={n}" for n in range(5000)]
    frame = frame_of(b"".join(chunks))
    assert len(frame) == 5000
    assert frame["count"].sum() == sum(range(5000))


def open_files(db_path: Path) -> int:
    """How many file descriptors of this process point at the database (or its WAL/SHM)."""
    names = {str(db_path), f"{db_path}-wal", f"{db_path}-shm"}
    count = 0
    for fd in Path("/proc/self/fd").iterdir():
        try:
            count += str(fd.readlink()) in names
        except OSError:
            continue
    return count


@pytest.mark.sqlite_only("counts open files; PostgreSQL's pool: tests/test_postgres.py")
def test_a_stream_stopped_early_closes_its_connection(client: FlaskClient, editor: dict[str, str],
                                                      database: sqlite_utils.Database,
                                                      db_path: Path) -> None:
    batch = [figure(count=n) for n in range(3000)]
    assert client.post(f"{API}/figures/batch", json={"figures": batch},
                       headers=editor).status_code == 201
    baseline = open_files(db_path)
    response = client.get(f"{EXPORTS}/figures.csv")
    iterator = iter(response.response)
    assert next(iterator).startswith(b"id,conflict,")
    assert open_files(db_path) > baseline  # the export reads through a connection of its own
    response.close()
    assert open_files(db_path) == baseline
    post_figure(client, editor, count=7)
    assert database.execute("SELECT count(*) FROM figures").fetchone()[0] == 3001
