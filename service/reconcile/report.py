"""The reconciliation report (API §6): one entry per series with an active figure.

Pure: figures and flag marks in, report entries out, so every number a newsroom quotes
from it can be checked by hand from the rules written here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction
from itertools import groupby
from typing import Any

from ..intervals import point_value

SERIES_FIELDS = ("conflict", "category", "side", "location", "incident", "unit",
                 "period_start", "group")
CONTESTING_RULES = frozenset({"disagreement", "part_exceeds_whole", "parts_exceed_whole"})

FlagMarks = Mapping[int, Sequence[tuple[int, str, str]]]


def median(counts: Sequence[int]) -> int | float | None:
    """The median; of an even number, the mean of the middle two (an int when whole)."""
    if not counts:
        return None
    ordered = sorted(counts)
    middle = len(ordered) // 2
    value = (Fraction(ordered[middle]) if len(ordered) % 2
             else Fraction(ordered[middle - 1] + ordered[middle], 2))
    return int(value) if value.denominator == 1 else float(value)


def _series_key(figure: Mapping[str, Any]) -> Any:
    return figure["series_key"]


def series_fields(figures: Sequence[Mapping[str, Any]]) -> tuple:
    """A series' key fields, names spelled as in its oldest figure (the lowest id)."""
    oldest = min(figures, key=lambda figure: figure["id"])
    return tuple(oldest[field] for field in SERIES_FIELDS)


def build_report(figures: Iterable[Mapping[str, Any]], marks: FlagMarks) -> Iterator[dict]:
    """Report entries for figures that arrive grouped by series (consecutive; each with the
    folded `series_key` the store computed), one series held at a time."""
    for _key, members in groupby(figures, key=_series_key):
        group = list(members)
        yield series_entry(series_fields(group), group, marks)


def _latest(figure: Mapping[str, Any]) -> tuple:
    return figure["as_of"], figure["reported_on"], figure["id"]


def series_entry(key: tuple, figures: Sequence[Mapping[str, Any]], marks: FlagMarks) -> dict:
    """One series: its bounds, best estimates, sources, open flags and grade."""
    as_of = max(figure["as_of"] for figure in figures)
    current = [figure for figure in figures if figure["as_of"] == as_of]
    cumulative = key[SERIES_FIELDS.index("period_start")] is None
    latest_by_source: dict[int, Mapping[str, Any]] = {}
    for figure in figures:
        known = latest_by_source.get(figure["source_id"])
        if known is None or _latest(figure) > _latest(known):
            latest_by_source[figure["source_id"]] = figure
    bounded = [figure["high"] for figure in current if figure["high"] is not None]
    series_marks = [mark for figure in figures for mark in marks.get(figure["id"], ())]
    return {
        **dict(zip(SERIES_FIELDS, key, strict=True)),
        "cumulative": cumulative,
        "as_of": as_of,
        "figure_count": len(figures),
        "sources": sorted((_source_entry(figure) for figure in latest_by_source.values()),
                          key=lambda entry: entry["source"].casefold()),
        # Every series only rises from its first day (§6), so every active figure's low
        # still holds.
        "low": max(figure["low"] for figure in figures),
        "high": min(bounded) if bounded else None,
        "best": median([_point(figure) for figure in current]),
        "independent_best": median([_point(figure) for figure in latest_by_source.values()
                                    if figure["affiliation"] is None]),
        "open_flags": len({flag_id for flag_id, _rule, status in series_marks
                           if status == "open"}),
        "grade": _grade(series_marks, latest_by_source),
    }


def _point(figure: Mapping[str, Any]) -> int:
    return point_value(figure["qualifier"], figure["count"])


def _source_entry(figure: Mapping[str, Any]) -> dict:
    return {"source": figure["source"], "source_id": figure["source_id"],
            "affiliation": figure["affiliation"], "figure_id": figure["id"],
            "count": figure["count"], "qualifier": figure["qualifier"],
            "low": figure["low"], "high": figure["high"], "as_of": figure["as_of"]}


def _grade(series_marks: Sequence[tuple[int, str, str]],
           latest_by_source: Mapping[int, Any]) -> str:
    if any(rule in CONTESTING_RULES for _flag, rule, _status in series_marks):
        return "contested"
    return "single_source" if len(latest_by_source) == 1 else "corroborated"
