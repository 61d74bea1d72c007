"""Series as points over time, per source, with each source's daily change (API §6).

Pure: figure rows in, plain data out, so the JSON endpoint, the pages and the charts all
show the same numbers, and every number can be checked by hand from the rules here.

Every figure of a series counts from the series' first day up to its own `as_of`, so a
source's figures form a cumulative toll and the change between two of its reports is what
the toll grew (or, when a source contradicts itself, fell) by in between. A gap between two
reports is one change spread over the days of the gap: it is never split into invented
zero days, because nobody said the toll stood still.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence, Set
from datetime import date
from itertools import groupby
from typing import Any

from ..names import fold

#: Series filters compared as names (API §4 "Names"), and those compared exactly.
NAME_FILTERS = ("side", "location", "incident", "unit")
EXACT_FILTERS = ("category", "group", "period_start")


def matches(figure: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Whether a figure's series fields satisfy every filter given (None: no filter)."""
    for name in NAME_FILTERS:
        if filters.get(name) is not None and \
                fold(figure.get(name) or "") != fold(filters[name]):
            return False
    return all(filters.get(name) is None or figure.get(name) == filters[name]
               for name in EXACT_FILTERS)


def point_value(figure: Mapping[str, Any]) -> int:
    """A figure's point value (API §4): its count moved into its own interval.

    `more_than 350` -> 351 and `fewer_than 20` -> 19; every other qualifier -> `count`.
    """
    count = int(figure["count"])
    if figure["qualifier"] == "more_than":
        return count + 1
    if figure["qualifier"] == "fewer_than":
        return max(count - 1, 0)
    return count


def _latest(figure: Mapping[str, Any]) -> tuple:
    """The report's order for "latest": as_of, then reported_on, then id (API §6)."""
    return figure["as_of"], figure["reported_on"], figure["id"]


def source_points(figures: Sequence[Mapping[str, Any]], flagged: Set[int]) -> list[dict]:
    """One source's figures in one series as chart points, oldest `as_of` first.

    Every active figure is a point (two on one day stay two: that is a `duplicate` flag to
    see, not to hide). `flagged` holds the ids of figures listed by an open flag.
    """
    return [{"as_of": figure["as_of"], "count": figure["count"], "low": figure["low"],
             "high": figure["high"], "figure_id": figure["id"],
             "flagged": figure["id"] in flagged, "qualifier": figure["qualifier"],
             "value": point_value(figure)}
            for figure in sorted(figures, key=_latest)]


def daily_changes(figures: Sequence[Mapping[str, Any]]) -> list[dict]:
    """One source's changes between consecutive report days, oldest first.

    On a day with several figures the latest (by reported_on, then id) stands for the day.
    Each change covers `days` days (`since` excluded, `as_of` included): `change` is the
    difference of point values and `per_day` that difference divided by the days, so a
    three-day gap gives one change of three days, not two zero days and a jump. `fall` is
    true when the toll went down, which a cumulative toll cannot really do.
    """
    by_day: dict[str, Mapping[str, Any]] = {}
    for figure in sorted(figures, key=_latest):
        by_day[figure["as_of"]] = figure
    days = sorted(by_day)
    changes = []
    for before, after in zip(days, days[1:], strict=False):
        span = (date.fromisoformat(after) - date.fromisoformat(before)).days
        change = point_value(by_day[after]) - point_value(by_day[before])
        changes.append({"since": before, "as_of": after, "days": span, "change": change,
                        "per_day": round(change / span, 3), "fall": change < 0,
                        "figure_id": by_day[after]["id"],
                        "previous_figure_id": by_day[before]["id"]})
    return changes


def series_sources(figures: Iterable[Mapping[str, Any]], flagged: Set[int]) -> list[dict]:
    """A series' figures grouped by source: name, affiliation, points and daily changes."""
    by_source: dict[int, list[Mapping[str, Any]]] = {}
    for figure in figures:
        by_source.setdefault(figure["source_id"], []).append(figure)
    entries = []
    for source_id, members in by_source.items():
        first = members[0]
        entries.append({"source": first["source"], "source_id": source_id,
                        "affiliation": first["affiliation"],
                        "points": source_points(members, flagged),
                        "changes": daily_changes(members)})
    return sorted(entries, key=lambda entry: (entry["source"].casefold(), entry["source_id"]))


def build_series(figures: Iterable[Mapping[str, Any]], flagged: Set[int],
                 key_fields: Sequence[str], series_id: Any) -> list[dict]:
    """Per series: its key fields, its id (`series_id(series_key)`) and its sources.

    `figures` arrive grouped by their `series_key` (consecutive). The key's names are
    spelled as in the series' oldest figure (lowest id), as the report spells them.
    """
    series = []
    for key, members in groupby(figures, key=lambda figure: figure["series_key"]):
        rows = list(members)
        oldest = min(rows, key=lambda figure: figure["id"])
        series.append({"series_id": series_id(key),
                       **{field: oldest.get(field) for field in key_fields},
                       "figure_count": len(rows),
                       "sources": series_sources(rows, flagged)})
    return series


def encode_series_id(series_key: str) -> str:
    """A series' id for URLs and clients: its stored key, base64url without padding."""
    return base64.urlsafe_b64encode(series_key.encode("utf-8")).decode("ascii").rstrip("=")


def decode_series_id(series_id: str) -> str | None:
    """The series key an id names, or None when the id is not one we issue."""
    try:
        raw = base64.urlsafe_b64decode(series_id + "=" * (-len(series_id) % 4))
        key = raw.decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if encode_series_id(key) != series_id or not key.startswith("["):
        return None
    return key
