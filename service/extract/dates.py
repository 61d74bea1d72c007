"""Dates in casualty reports, resolved against the article's date (API.md §4 as_of/period_start).

Everything is read here with the standard library: calendar dates ("December 30", "Nov. 6,
2023", "22 Mar 2025", "March 2022", "April's"), weekdays, "yesterday", "in the past 24 hours"
and chained relative days ("a day earlier", "the following day"). dateparser was tried and
left out: its first call loads its language data (about 0.8 s here, most of the 1 s budget for
a 2,000-word article), and with its past preference it reads the article's own weekday as a
week earlier, where news English means the latest such day *up to and including* the
article's date.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

_MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|"
           "December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTH_DAY = re.compile(rf"\b(?:{_MONTHS})\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b")
_DAY_MONTH = re.compile(rf"\b\d{{1,2}} (?:{_MONTHS})\.?(?:,? \d{{4}})?\b")
_MONTH_YEAR = re.compile(rf"\b(?:{_MONTHS}),? (\d{{4}})\b")
_BARE_MONTH = re.compile(rf"\b(?:in|of|since|early|late|mid|last|during) ((?:{_MONTHS}))\b"
                         rf"|\b((?:{_MONTHS}))'s\b")
_WEEKDAY = re.compile(r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b")
_YEAR = re.compile(r"\b(?:in|of|since|during|from) ((?:18|19|20)\d{2})\b|\b((?:18|19|20)\d{2})\b")
_DECADE = re.compile(r"\b(?:the )?((?:18|19|20)\d0)s\b")
_RELATIVE = re.compile(
    r"\b(?P<n>a|one|two|three|\d+) days? (?P<dir>earlier|before|later|after)\b"
    r"|\bthe (?P<dir2>previous|following|next) day\b|\bthe day (?P<dir3>before|after)\b"
    r"|\b(?P<yest>yesterday|last night)\b|\b(?P<today>today|this morning|tonight)\b"
    r"|\b(?:in|over|during) the (?:past|last) (?P<day>24 hours|day)\b", re.IGNORECASE)
_REPORTING = re.compile(
    r"\b(said|says|saying|told|tells|telling|statement|report|reported|published|dated|update|updated|"
    r"briefing|briefs|tweeted|announced|speaking|interview|posted|issued|released|press)\b",
    re.IGNORECASE)


@dataclass
class Found:
    """A date found in a sentence: the span it covers and whether it dates a statement."""

    start: int
    end: int
    first: date
    last: date
    precision: str  # day, month, year, decade
    reporting: bool
    relative: bool = False


_PLAIN = re.compile(rf"^(?:(?P<m1>{_MONTHS}) (?P<d1>\d{{1,2}})(?:st|nd|rd|th)?"
                    rf"|(?P<d2>\d{{1,2}}) (?P<m2>{_MONTHS}))(?:,? (?P<y>\d{{4}}))?$")


def _plain_calendar(text: str, base: date) -> date | None:
    """"December 30", "Nov 6, 2023", "22 Mar 2025": the latest such day not after `base`
    when the year is not given. None when the text is not one of these plain forms."""
    m = _PLAIN.match(text)
    if not m:
        return None
    month = _month_number(m.group("m1") or m.group("m2"))
    day = int(m.group("d1") or m.group("d2"))
    year = int(m.group("y")) if m.group("y") else base.year
    try:
        found = date(year, month, day)
    except ValueError:
        return None
    if not m.group("y") and found > base:
        try:
            found = date(year - 1, month, day)
        except ValueError:
            return None
    return found


@lru_cache(maxsize=4096)
def _parse_calendar(text: str, base: date) -> date | None:
    return _plain_calendar(" ".join(text.split()), base)


def weekday_on_or_before(name: str, base: date) -> date:
    """The latest day named `name` (e.g. "Tuesday") that is not after `base`."""
    target = _WEEKDAYS.index(name.lower())
    return base - timedelta(days=(base.weekday() - target) % 7)


def _month_number(name: str) -> int:
    key = name[:3].lower()
    return [m[:3].lower() for m in calendar.month_name[1:]].index(key) + 1


def _is_reporting(sentence: str, start: int, end: int) -> bool:
    """A date that dates a statement ("said on Monday", "a report dated March 1"), not the
    events counted."""
    before = sentence[max(0, start - 30):start]
    after = sentence[end:end + 12]
    return bool(_REPORTING.search(before.split(",")[-1]) or
                re.match(r"\s*(?:statement|report|briefing|update)\b", after, re.IGNORECASE))


def find_dates(sentence: str, reported_on: date, reference: date | None = None) -> list[Found]:
    """Dates in `sentence`, earliest position first, none later than `reported_on`.

    `reference` is the day the narrative last named (for "a day earlier", "the following
    day"); it defaults to `reported_on`.
    """
    found: list[Found] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    def add(s: int, e: int, first: date, last: date, precision: str,
            relative: bool = False) -> None:
        if first > reported_on:
            return
        last = min(last, reported_on)
        taken.append((s, e))
        found.append(Found(s, e, first, last, precision, _is_reporting(sentence, s, e),
                           relative))

    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for m in pattern.finditer(sentence):
            if not free(m.start(), m.end()):
                continue
            day = _parse_calendar(m.group(0).replace(".", ""), reported_on)
            if day:
                add(m.start(), m.end(), day, day, "day")
    for m in _MONTH_YEAR.finditer(sentence):
        if free(m.start(), m.end()):
            month, year = _month_number(m.group(0).split()[0]), int(m.group(1))
            last_day = calendar.monthrange(year, month)[1]
            add(m.start(), m.end(), date(year, month, 1), date(year, month, last_day), "month")
    for m in _BARE_MONTH.finditer(sentence):
        name = m.group(1) or m.group(2)
        if not free(m.start(), m.end()) or (name == "May" and m.group(2) is None
                                            and not m.group(0).startswith(("in", "of"))):
            continue
        month = _month_number(name)
        year = reported_on.year if month <= reported_on.month else reported_on.year - 1
        last_day = calendar.monthrange(year, month)[1]
        add(m.start(), m.end(), date(year, month, 1), date(year, month, last_day), "month")
    for m in _WEEKDAY.finditer(sentence):
        if free(m.start(), m.end()) and not re.match(rf",? (?:\d|(?:{_MONTHS})\b)",
                                                      sentence[m.end():]) \
                and not re.match(r" [A-Z][a-z]", sentence[m.end():]):  # "Monday Kassah"
            day = weekday_on_or_before(m.group(1), reported_on)
            add(m.start(), m.end(), day, day, "day")
    ref = reference or reported_on
    for m in _RELATIVE.finditer(sentence):
        if not free(m.start(), m.end()):
            continue
        if m.group("yest") or m.group("day"):
            day = reported_on - timedelta(days=1)
        elif m.group("today"):
            day = reported_on
        else:
            n = (m.group("n") or "").lower() or None
            count = 1 if n in (None, "a", "one") else {"two": 2, "three": 3}.get(n) or int(n)
            sign = -1 if (m.group("dir") in ("earlier", "before")
                          or m.group("dir2") == "previous" or m.group("dir3") == "before") else 1
            day = ref + timedelta(days=sign * count)
        add(m.start(), m.end(), day, day, "day", relative=True)
        if m.group("day"):
            found[-1].reporting = False  # "in the past 24 hours" is a period, never a statement
    for m in _DECADE.finditer(sentence):
        if free(m.start(), m.end()):
            start = int(m.group(1))
            add(m.start(), m.end(), date(start, 1, 1), date(start + 9, 12, 31), "decade")
    for m in _YEAR.finditer(sentence):
        year = int(m.group(1) or m.group(2))
        if free(m.start(), m.end()) and not re.match(r"\s*(?:people|civilians|soldiers)",
                                                      sentence[m.end():]):
            add(m.start(), m.end(), date(year, 1, 1), date(year, 12, 31), "year")
    found.sort(key=lambda f: f.start)
    return found
