"""The fast path of FigureIn (schemas.valid_figure) accepts only what the full schema
accepts, and gives exactly the same result (issue 9: a faster write path without weakening
a single validation rule)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.schemas import FigureBatchIn, FigureIn, is_http_url, today_anywhere, valid_figure

TODAY = today_anywhere()
TEXT = [
    "Azerbaijani officials", "  Ganja  ", "Gəncə", "Міністерство оборони України",
    "Міністерство оборони України".replace("й", "и\u0306"), "", "   ", "\t", "a\x00b",
    "bad \ud800 surrogate", "x" * 200, "x" * 201, " " + "x" * 200 + " ", "y" * 2000,
    "y" * 2001, "=1+2", "people", "buildings", "Straße",
]
DATES = ["2020-10-04", "2020-10-01", "2020-02-29", "2021-02-29", "2020-1-04", "20201004",
         "2020-10-04T00:00:00", TODAY.isoformat(), "2999-01-01", "2020-10-05"]
URLS = ["https://example.org/a?b=1", "http://x.org", " https://x.org/ ", "javascript:alert(1)",
        "http://", "https://a b.org", "ftp://x.org", "HTTPS://X.ORG", "https://[::1", "//x.org",
        "https://x.org:8080/p", "https://x.org:/p", "https://x.org:99999", "https://-/",
        "https://x.org/a\u00a0b", "https://user@x.org/", "https://[::1]/", "https://ü.org/",
        "https://x.org#frag", "http:x.org", "https:///path", "https://x.org/a\tb"]
SCALARS = [None, True, False, 0, 1, 22, -1, 1_000_000_000, 1_000_000_001, 2.0, 22.5, "22",
           [], {}, [1]]
CHOICES: dict[str, list[Any]] = {
    "conflict": ["nagorno-karabakh-2020", "NK", "-x", "x" * 100, "x" * 101, "a-b\n"],
    "category": ["civilian", "damage", "killed", "Civilian", "dead"],
    "qualifier": ["exact", "about", "at_least", "fewer_than", "roughly"],
    "group": ["children", "women", "aid_workers", "Children", "kids"],
    "location_code": ["UA14", "ua-14", "UA 14", "U" * 50, "U" * 51, "", "UA_1"],
    "count": [0, 5, 22, 200, 10**9],
    "count_high": [0, 20, 30, 10**9],
}
FIELDS = ("conflict", "source", "category", "side", "location", "location_code", "group",
          "incident", "count", "count_high", "qualifier", "unit", "reported_on", "as_of",
          "period_start", "via", "quote", "url", "notes")


def values_for(field: str) -> st.SearchStrategy[Any]:
    pool = list(CHOICES.get(field, []))
    if field in ("reported_on", "as_of", "period_start"):
        pool += DATES
    elif field == "url":
        pool += URLS
    elif field not in CHOICES:
        pool += TEXT
    return st.sampled_from(pool + SCALARS) if pool else st.sampled_from(SCALARS)


def valid_base() -> dict[str, Any]:
    return {"conflict": "nagorno-karabakh-2020", "source": "Azerbaijani officials",
            "category": "civilian", "count": 22, "reported_on": "2020-10-04"}


@st.composite
def figures(draw: st.DrawFn) -> dict[str, Any]:
    item = valid_base()
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique=True)):
        item[field] = draw(values_for(field))
    for field in draw(st.lists(st.sampled_from(("conflict", "source", "category", "count",
                                                "reported_on")), max_size=1)):
        del item[field]
    if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
        item["unknown_field"] = 1
    return item


def full_schema(item: Any, many: bool = False) -> tuple[str, Any]:
    """What marshmallow's own Schema.load (no fast path) makes of `item`."""
    try:
        return "ok", super(FigureIn, FigureIn(many=many)).load(item)
    except ValidationError as error:
        return "error", error.messages


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(figures())
def test_fast_path_accepts_only_what_the_schema_accepts_with_the_same_result(
        item: dict[str, Any]) -> None:
    fast = valid_figure(item)
    verdict, result = full_schema(item)
    if fast is not None:
        assert (verdict, result) == ("ok", fast)
    # and whatever path load takes, it answers as the schema does
    try:
        loaded = ("ok", FigureIn().load(item))
    except ValidationError as error:
        loaded = ("error", error.messages)
    assert loaded == (verdict, result)


@pytest.mark.parametrize("extra", [
    {},
    {"side": " Azerbaijan ", "location": "Gəncə", "location_code": "AZ-GA",
     "group": "children", "incident": "Strike", "count_high": 30, "qualifier": "exact",
     "unit": "people", "as_of": "2020-10-03", "period_start": "2020-09-27", "via": "AFP",
     "quote": "22 were killed", "url": "https://example.org/a", "notes": None},
    {"qualifier": "about", "quote": "   ", "url": None, "side": None},
])
def test_ordinary_figures_take_the_fast_path(extra: dict[str, Any]) -> None:
    item = valid_base() | extra
    fast = valid_figure(item)
    assert fast is not None
    assert full_schema(item) == ("ok", fast)


def test_a_batch_with_one_bad_figure_is_reported_by_the_full_schema() -> None:
    good = valid_base()
    bad = valid_base() | {"group": "kids"}
    with pytest.raises(ValidationError) as refused:
        FigureBatchIn().load({"figures": [good, good, bad]})
    assert list(refused.value.messages["figures"]) == [2]
    assert "group" in refused.value.messages["figures"][2]
    loaded = FigureBatchIn().load({"figures": [good, good | {"side": " North "}]})
    assert loaded["figures"] == [good, good | {"side": "North"}]


def urlsplit_verdict(text: str) -> bool:
    """The URL rule spelled out with urlsplit alone (what the shortcut must agree with)."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host) \
        and not any(ch.isspace() for ch in text)


@given(st.sampled_from(URLS) | st.from_regex(
    r"(?i:https?|ftp)?:?/{0,3}[A-Za-z0-9.\-\[\]:@ü]{0,12}(:[0-9]{0,6})?([/?#][^\n]{0,8})?",
    fullmatch=True))
@settings(max_examples=1000, deadline=None)
def test_the_url_shortcut_agrees_with_urlsplit(text: str) -> None:
    assert is_http_url(text) == urlsplit_verdict(text)
