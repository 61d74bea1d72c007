"""Tests for service.csvio: the CSV contract of API.md section 7, checked with real readers."""

import csv
import datetime
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.csvio import (
    CHUNK_CHARS,
    CHUNK_ROWS,
    FIGURE_COLUMNS,
    FIGURE_HXL,
    FLAG_COLUMNS,
    FLAG_HXL,
    REPORT_COLUMNS,
    REPORT_HXL,
    CsvFormatError,
    crlf_line_ends,
    iter_csv,
    neutralise,
    read_csv,
    restore,
    stream_csv,
)

DANGEROUS = ["=", "+", "-", "@", "\t", "\r", "\0"]
PAYLOAD = "1+1|cmd!A1"
QUOTE = 'He said: "about 200, maybe more"\nin Gəncə'


def write(columns, rows, hxl_tags=None) -> str:
    return "".join(stream_csv(columns, rows, hxl_tags))


def figure_row(**overrides: object) -> list[object]:
    """A figures-export row with realistic values; keyword arguments replace columns."""
    values: dict[str, object] = {
        "id": 7,
        "conflict": "nagorno-karabakh-2020",
        "source": "Ministry of Defence",
        "category": "killed",
        "side": "Azerbaijan",
        "location": "Gəncə",
        "location_code": "AZ-GA",
        "group": "children",
        "incident": None,
        "count": 200,
        "count_high": None,
        "qualifier": "about",
        "unit": "people",
        "reported_on": "2020-10-04",
        "as_of": "2020-10-03",
        "period_start": None,
        "via": "Wire Agency",
        "quote": QUOTE,
        "url": "https://example.org/a?b=1,2",
        "notes": None,
        "low": 180,
        "high": 220,
        "status": "active",
        "retraction_reason": None,
        "version": 1,
        "created_at": "2024-05-01T10:00:00Z",
        "updated_at": "2024-05-01T10:00:00Z",
        "source_kind": "government",
        "source_affiliation": "Azerbaijan",
        "open_flags": 0,
    }
    values.update(overrides)
    return [values[name] for name in FIGURE_COLUMNS]


# --------------------------------------------------------------------------- injection guard


@pytest.mark.parametrize("prefix", DANGEROUS, ids=repr)
def test_dangerous_text_is_written_with_a_quote_for_csv_and_pandas(prefix: str, tmp_path: Path):
    text = prefix + PAYLOAD
    path = tmp_path / "out.csv"
    path.write_text(write(["id", "notes"], [[1, text]]), encoding="utf-8", newline="")

    with path.open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle)) == [["id", "notes"], ["1", "'" + text]]
    frame = pd.read_csv(path, encoding="utf-8")
    assert frame["notes"].tolist() == ["'" + text]
    assert frame["id"].tolist() == [1]


@pytest.mark.parametrize("prefix", DANGEROUS[:-1], ids=repr)
def test_dangerous_text_round_trips_through_read_csv(prefix: str):
    text = prefix + PAYLOAD
    quoted = "'" + text
    rows = [[1, text], [2, quoted]]
    assert read_csv(write(["id", "notes"], rows))[1] == [
        (2, {"id": "1", "notes": text}),
        (3, {"id": "2", "notes": quoted}),
    ]


def test_nul_text_is_guarded_on_export_but_refused_on_import():
    """The API refuses NUL in text, so it never round-trips; the guard is defence in depth."""
    with pytest.raises(CsvFormatError, match="NUL") as caught:
        read_csv(write(["id", "notes"], [[1, "\0" + PAYLOAD]]))
    assert caught.value.row == 2


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=x", "'=x"),
        ("'=x", "''=x"),
        ("''-1", "'''-1"),
        ("'x", "'x"),
        ("'", "'"),
        ("", ""),
        ("a=b", "a=b"),
        (" =x", " =x"),
        ("#tag", "#tag"),
    ],
)
def test_neutralise_and_restore_examples(text: str, written: str):
    assert neutralise(text) == written
    assert restore(written) == text


guard_text = st.text(alphabet=st.sampled_from(["'", *DANGEROUS, "a", " ", "\n"])) | st.text()


@given(guard_text)
def test_restore_inverts_neutralise_and_output_is_never_dangerous(text: str):
    guarded = neutralise(text)
    assert restore(guarded) == text
    assert guarded[:1] not in DANGEROUS


def test_numbers_are_never_guarded_but_other_objects_are_text():
    class Formula:
        def __str__(self) -> str:
            return "=HYPERLINK()"

    row = [-5, -2.5, None, datetime.date(2020, 10, 4), Formula()]
    assert write(["a", "b", "c", "d", "e"], [row]).splitlines()[1] == (
        "-5,-2.5,,2020-10-04,'=HYPERLINK()"
    )


# --------------------------------------------------------------------------- writer format


def test_header_hxl_row_and_crlf_line_ends():
    text = write(FIGURE_COLUMNS, [figure_row(quote="q")], list(FIGURE_HXL.values()))
    lines = text.split("\r\n")
    assert lines[0] == ",".join(FIGURE_COLUMNS)
    assert lines[1] == ",".join(FIGURE_HXL.values())
    assert lines[2].startswith("7,nagorno-karabakh-2020,Ministry of Defence,killed,")
    assert lines[3:] == [""]
    assert "\n" not in text.replace("\r\n", "")


def test_header_is_written_as_is_and_empty_export_is_just_the_header():
    assert write(["-a", "=b"], []) == "-a,=b\r\n"


def test_hxl_tags_must_match_the_columns():
    with pytest.raises(ValueError, match="2 HXL tags for 3 columns"):
        write(["a", "b", "c"], [], ["#a", "#b"])


def test_pandas_reads_the_figures_export_faithfully(tmp_path: Path):
    path = tmp_path / "figures.csv"
    rows = [figure_row(), figure_row(id=8, count=-3, quote="=SUM(A1)", low=None, high=None)]
    path.write_text(write(FIGURE_COLUMNS, rows), encoding="utf-8", newline="")

    frame = pd.read_csv(path, encoding="utf-8")
    assert frame.columns.tolist() == list(FIGURE_COLUMNS)
    assert frame["count"].dtype == "int64"
    assert frame["count"].tolist() == [200, -3]
    assert frame["quote"].tolist() == [QUOTE, "'=SUM(A1)"]
    assert frame["location"].tolist() == ["Gəncə", "Gəncə"]
    assert frame["url"].tolist() == ["https://example.org/a?b=1,2"] * 2
    assert frame["incident"].isna().all()


def test_pandas_skips_the_hxl_row_when_told():
    text = write(FIGURE_COLUMNS, [figure_row()], list(FIGURE_HXL.values()))
    frame = pd.read_csv(io.StringIO(text), skiprows=[1])
    assert frame["count"].tolist() == [200]
    assert frame["quote"].tolist() == [QUOTE]


# --------------------------------------------------------------------------- streaming


def test_a_hundred_thousand_rows_stream_in_bounded_chunks_without_materialising():
    total = 100_000
    produced = 0

    def rows() -> Iterator[list[object]]:
        nonlocal produced
        for number in range(total):
            produced += 1
            yield [number, "nagorno-karabakh-2020", "killed", number * 3, "2020-10-04"]

    chunks = 0
    written = 0
    for chunk in stream_csv(["id", "conflict", "category", "count", "reported_on"], rows()):
        chunks += 1
        lines = chunk.count("\r\n")
        written += lines
        assert lines <= CHUNK_ROWS + 1  # the first chunk also holds the header
        assert len(chunk) < CHUNK_CHARS + 200
        assert produced <= written  # rows are pulled only as chunks are written
    assert written == total + 1
    assert chunks >= total // CHUNK_ROWS


def test_large_rows_cut_chunks_by_size():
    big = "x" * 10_000
    chunks = list(stream_csv(["id", "notes"], ([n, big] for n in range(50))))
    assert len(chunks) > 1
    assert all(len(chunk) < CHUNK_CHARS + len(big) + 20 for chunk in chunks)
    assert len(read_csv("".join(chunks))[1]) == 50


# --------------------------------------------------------------------------- reader


def test_records_are_numbered_as_spreadsheet_rows():
    text = 'id,notes\r\n1,"two\r\nlines"\r\n\r\n,\r\n2,x\r\n'
    assert read_csv(text) == (
        ["id", "notes"],
        [(2, {"id": "1", "notes": "two\r\nlines"}), (5, {"id": "2", "notes": "x"})],
    )


def test_hxl_row_is_skipped_and_shifts_row_numbers():
    text = "id,count,notes\n#meta+id, #affected ,\n1,5,\n#x,#y,\n"
    columns, records = read_csv(text)
    assert columns == ["id", "count", "notes"]
    assert records == [
        (3, {"id": "1", "count": "5", "notes": ""}),
        (4, {"id": "#x", "count": "#y", "notes": ""}),
    ]


def test_first_data_row_is_kept_when_fewer_than_half_are_hashtags():
    # API 1.1 §7: a hashtag row is one where at least half the non-empty cells are hashtags
    assert read_csv("a,b,c\n#x,1,2\n")[1] == [(2, {"a": "#x", "b": "1", "c": "2"})]
    assert read_csv("a,b,c\n#x,#y z,w\n")[1] == [(2, {"a": "#x", "b": "#y z", "c": "w"})]
    assert read_csv("a,b\n#x,free text\n1,2\n")[1] == [(3, {"a": "1", "b": "2"})]


def test_bom_is_stripped_and_lf_and_cr_line_ends_are_accepted():
    for end in ("\n", "\r", "\r\n"):
        text = f"\ufeffid,count{end}#meta+id,#affected{end}1,2{end}"
        assert read_csv(text) == (["id", "count"], [(3, {"id": "1", "count": "2"})])


def test_short_rows_are_padded_with_empty_cells():
    assert read_csv("a,b,c\n1\n")[1] == [(2, {"a": "1", "b": "", "c": ""})]


cell_text = st.text(st.characters(exclude_characters="\0")) | st.text(
    alphabet=st.sampled_from(["'", "#", ",", '"', "\r", "\n", *DANGEROUS[:-1], "a"])
)


@given(
    st.lists(
        st.lists(st.none() | st.integers() | cell_text, min_size=3, max_size=3),
        max_size=5,
    )
)
def test_write_then_read_returns_the_same_strings(cells: list[list[object]]):
    rows = [[number, *row] for number, row in enumerate(cells)]
    columns, records = read_csv(write(["id", "a", "b", "c"], rows, ["#meta+id", "", "", ""]))
    assert columns == ["id", "a", "b", "c"]
    expected = [["" if value is None else str(value) for value in row] for row in rows]
    assert [list(record.values()) for _, record in records] == expected
    assert [number for number, _ in records] == list(range(3, 3 + len(rows)))


def test_iter_csv_checks_the_header_at_once_and_rows_lazily():
    with pytest.raises(CsvFormatError):
        iter_csv(["a,a\n"])
    columns, records = iter_csv(iter(["a,b\n", "1,2\n", "1,2,3\n"]))
    assert columns == ["a", "b"]
    assert next(records) == (2, {"a": "1", "b": "2"})
    with pytest.raises(CsvFormatError):
        next(records)


@pytest.mark.parametrize(
    ("text", "row", "message"),
    [
        ("", 1, "missing header"),
        ("\ufeff\r\n\r\n", 1, "missing header"),
        (",,\r\n1,2,3\r\n", 1, "missing header"),
        ("id,count,id\r\n", 1, "duplicate column name 'id'"),
        ("id,,count\r\n", 1, "column 2 of the header has no name"),
        ("a,b\r\n1,2\r\n1,2,3\r\n", 3, "3 cells but the header has 2 columns"),
        ("a,b\r\n#x,#y\r\n1,2\r\n1,2,3\r\n", 4, "3 cells"),
        ('a,b\r\n1,"x\r\ny\r\nz"\r\n1,2,3\r\n', 3, "3 cells"),
        ('a,b\r\n#x,#y\r\n1,"x\r\ny"\r\n\r\n1,2,3\r\n', 5, "3 cells"),
        ("a,b\r\n1,2\r\n1,x\0y\r\n", 3, "NUL"),
        ("a\0,b\r\n", 1, "NUL"),
        ('a,b\r\n1,"x"y\r\n', 2, "malformed CSV"),
        ('a,b\r\n1,2\r\n3,"never closed\r\n', 3, "malformed CSV"),
    ],
)
def test_read_csv_errors_name_the_row(text: str, row: int, message: str):
    with pytest.raises(CsvFormatError, match=re.escape(message)) as caught:
        read_csv(text)
    assert caught.value.row == row
    assert str(caught.value).startswith(f"row {row}: ")
    assert isinstance(caught.value, ValueError)


# --------------------------------------------------------------------------- HXL
# libhxl is imported inside the tests that need it: it breaks on import when its undeclared
# dependency `six` is missing (python-dateutil 4 no longer pulls it in), and that should fail
# these tests, not hide the rest of the file.

HXL_SYNTAX = re.compile(r"#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*")
EXPORTS = [
    (FIGURE_COLUMNS, FIGURE_HXL),
    (FLAG_COLUMNS, FLAG_HXL),
    (REPORT_COLUMNS, REPORT_HXL),
]


def test_export_columns_are_the_contract():
    assert list(FIGURE_COLUMNS) == [
        "id",
        "conflict",
        "source",
        "category",
        "side",
        "location",
        "location_code",
        "group",
        "incident",
        "count",
        "count_high",
        "qualifier",
        "unit",
        "reported_on",
        "as_of",
        "period_start",
        "via",
        "quote",
        "url",
        "notes",
        "low",
        "high",
        "status",
        "retraction_reason",
        "version",
        "created_at",
        "updated_at",
        "source_kind",
        "source_affiliation",
        "open_flags",
    ]
    assert list(FLAG_COLUMNS) == [
        "id",
        "rule",
        "severity",
        "conflict",
        "figure_ids",
        "explanation",
        "status",
        "note",
        "first_seen_run",
        "last_seen_run",
    ]
    assert list(REPORT_COLUMNS) == [
        "conflict",
        "category",
        "side",
        "location",
        "incident",
        "unit",
        "period_start",
        "group",
        "as_of",
        "low",
        "high",
        "best",
        "independent_best",
        "open_flags",
        "grade",
        "sources",
    ]


@pytest.mark.parametrize(("columns", "tags"), EXPORTS, ids=["figures", "flags", "report"])
def test_every_column_has_a_valid_distinct_hashtag(columns, tags):
    import hxl

    assert tuple(tags) == tuple(columns)
    assert len(set(tags.values())) == len(tags)
    for tag in tags.values():
        assert HXL_SYNTAX.fullmatch(tag), tag
        assert hxl.model.Column.parse(tag).get_display_tag(sort_attributes=False) == tag


def hxl_dataset(tmp_path: Path, columns, tags, rows):
    """Let libhxl parse an export file itself, cached so the file can be closed."""
    import hxl

    path = tmp_path / "export.csv"
    path.write_text(write(columns, rows, list(tags.values())), encoding="utf-8", newline="")
    with path.open("rb") as handle:
        dataset = hxl.data(handle).cache()
        list(dataset)
    return dataset


def hxl_errors(dataset) -> int:
    """Errors from libhxl's built-in schema: #date cells are dates, #affected cells numbers."""
    import hxl

    return hxl.validate(dataset)["stats"]["error"]


def test_libhxl_reads_the_figures_export(tmp_path: Path):
    rows = [
        figure_row(),
        figure_row(id=8, category="injured", count=35, reported_on="2020-10-05", low=35),
        figure_row(id=9, count=12, high=None, quote="-12 is wrong"),
    ]
    dataset = hxl_dataset(tmp_path, FIGURE_COLUMNS, FIGURE_HXL, rows)

    assert dataset.headers == list(FIGURE_COLUMNS)
    assert dataset.display_tags == list(FIGURE_HXL.values())
    assert [row.get("#affected") for row in dataset] == ["200", "35", "12"]
    assert [row.get("#date+reported") for row in dataset] == [
        "2020-10-04",
        "2020-10-05",
        "2020-10-04",
    ]
    killed = [row.get("#affected") for row in dataset if row.get("#impact+type") == "killed"]
    assert killed == ["200", "12"]
    assert [row.get("#affected+max") for row in dataset] == ["220", "220", None]
    assert [row.get("#description+quote") for row in dataset][2] == "'-12 is wrong"
    assert hxl_errors(dataset) == 0


@pytest.mark.parametrize(
    ("columns", "tags", "row", "tag", "value"),
    [
        (
            FLAG_COLUMNS,
            FLAG_HXL,
            [3, "disagreement", "high", "nk-2020", "7, 9", "A said 200.", "open", None, 1, 4],
            "#meta+figure_ids+list",
            ["7", "9"],
        ),
        (
            REPORT_COLUMNS,
            REPORT_HXL,
            ["nk-2020", "killed", "Armenia", None, None, "people", None, None, "2020-10-03"]
            + [180, 220, 200, 210, 1, "contested", "A: 200 (2020-10-04); B: 210 (2020-10-03)"],
            "#affected+best",
            ["200"],
        ),
    ],
    ids=["flags", "report"],
)
def test_libhxl_reads_the_flags_and_report_exports(tmp_path, columns, tags, row, tag, value):
    dataset = hxl_dataset(tmp_path, columns, tags, [row])
    assert dataset.display_tags == list(tags.values())
    assert [found.get(tag, parsed=True) for found in dataset] == [value]
    assert hxl_errors(dataset) == 0


@given(
    st.lists(st.lists(st.none() | st.integers() | cell_text, min_size=1, max_size=4),
             max_size=6),
    st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_lf_line_ends_become_stream_csv_text_wherever_the_chunks_are_cut(
        rows: list[list[object]], cuts: list[int]) -> None:
    # COPY's text: each row quoted as csv.writer quotes it, ended by LF instead of CR LF
    lines = ["id\n"] + [write(["c"] * len(row), [row]).split("\r\n", 1)[1][:-2] + "\n"
                         for row in rows]
    copied = "".join(lines)
    edges = sorted({0, len(copied), *(cut % (len(copied) + 1) for cut in cuts)})
    chunks = [copied[start:end] for start, end in zip(edges, edges[1:], strict=False)]
    assert "".join(crlf_line_ends(chunks)) == write(["id"], rows)


@given(st.lists(st.lists(st.none() | st.integers() | cell_text, min_size=1, max_size=4),
                max_size=30))
def test_every_cell_is_written_as_neutralise_says_batch_by_batch(
        rows: list[list[object]]) -> None:
    # stream_csv writes a batch as it is unless a cell may need a guard: the result must be
    # csv.writer's text of each cell rendered one by one
    expected = io.StringIO()
    reference = csv.writer(expected, lineterminator="\r\n")
    reference.writerow(["c"])
    reference.writerows([["" if value is None else value if isinstance(value, int)
                          else neutralise(value) for value in row] for row in rows])
    assert write(["c"], rows) == expected.getvalue()
