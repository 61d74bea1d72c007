"""Reconciliation rules: which casualty figures contradict each other (API.md §6).

This is the functional core of reconciliation: plain data in, plain data out. No Flask, no
SQL, no I/O, no clock, standard library only, so every rule can be checked exhaustively in
tests and the run engine only has to load figures and persist findings. A *family* is the
figures sharing conflict, category, side, incident, unit and period_start (every location
together, so a part can be compared with its whole). The run engine passes whole series to
:func:`evaluate_series` and parts with their wholes to :func:`evaluate_parts_and_wholes`;
:func:`evaluate_family` is both at once over a whole family. Each :class:`Finding` is stored
as a flag identified by ``(rule, key)``.

Contradiction
-------------
A *series* is a family plus one location. It is *cumulative* when ``period_start`` is null.
An ordered pair (A, B) of figures of one series contradicts when ``A.low > B.high`` (an
unbounded ``high`` is never exceeded) and, in a cumulative series, ``A.as_of <= B.as_of`` (a
toll cannot fall), or, in any other series, ``A.as_of == B.as_of``. Two figures contradict
when either ordering does.

Severity
--------
Severity grows with how far apart the numbers are. For a contradiction between a higher
interval whose low is ``L`` and a lower interval whose high is ``H`` (so ``L > H``)::

    gap = L - H,  relative = gap / max(H, 1)
    low     if relative < 0.10
    medium  if relative < 0.50
    high    otherwise

The comparison is exact integer arithmetic (``gap * 10 < max(H, 1)``,
``gap * 2 < max(H, 1)``), never floats. A flag resting on several contradicting pairs takes
its worst pair (the largest ``relative``). A ``duplicate`` is ``low`` when its figures carry
the same count, qualifier and count_high, otherwise ``medium``, or the severity of the worst
contradiction among them when their intervals do not overlap and that is worse. A
``disputed`` flag is ``medium``.

Complexity
----------
For a series of n figures from k sources, ``disagreement`` and ``decrease`` cost
O(k·n log n): each source's figures are indexed once by ``as_of`` with prefix maxima of lows
and suffix minima of highs, and every figure then asks each other source (and its own, for
``decrease``) two O(log n) questions instead of being compared with every figure.
``duplicate`` is O(n log n). ``part_exceeds_whole`` sweeps parts and wholes by ``as_of``
while keeping the wholes in play sorted by ``high``: O((P + W) log W + m) comparisons for P
parts, W bounded wholes and m pairs reported (each insertion into the sorted list also
shifts up to W references). ``disputed`` is linear.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import reduce
from itertools import accumulate, combinations
from typing import Literal, TypeVar

from ..names import fold, fold_or_none

K = TypeVar("K")
T = TypeVar("T")

RULES = ("disagreement", "decrease", "duplicate", "part_exceeds_whole", "disputed")
SEVERITIES = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class Fact:
    """One active figure, reduced to what the rules need (API.md §4)."""

    id: int
    source_id: int
    source: str
    conflict: str
    category: str
    side: str | None
    location: str | None
    incident: str | None
    unit: str
    period_start: str | None
    as_of: str
    reported_on: str
    count: int
    qualifier: str
    count_high: int | None
    low: int
    high: int | None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Dispute:
    """A source denying or contesting a figure."""

    figure_id: int
    source: str
    reported_on: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A flag whose condition holds now; ``(rule, key)`` is its identity across runs."""

    rule: str
    key: str
    conflict: str
    figure_ids: tuple[int, ...]
    severity: str
    explanation: str


SeriesFields = tuple[str, str, str | None, str | None, str | None, str, str | None,
                     str | None]


def series_fields(fact: Fact) -> SeriesFields:
    """The fields that name a fact's series, in the order flag keys list them, with the
    names folded (API §4 "Names": "Russia" and "russia" are one side)."""
    return (
        fact.conflict,
        fact.category,
        fold_or_none(fact.side),
        fold_or_none(fact.location),
        fold_or_none(fact.incident),
        fold(fact.unit),
        fact.period_start,
        fact.group,
    )


def _family_fields(fact: Fact) -> tuple:
    """The series fields but location: what a part shares with its whole."""
    fields = series_fields(fact)
    return fields[:3] + fields[4:]


def severity(low: int, high: int) -> str:
    """Severity of a contradiction between a higher interval's ``low`` and a lower ``high``."""
    gap, reference = low - high, max(high, 1)
    if gap * 10 < reference:
        return "low"
    if gap * 2 < reference:
        return "medium"
    return "high"


def evaluate_family(facts: Sequence[Fact], disputes: Sequence[Dispute]) -> list[Finding]:
    """Every finding for one family of active figures, sorted by rule and key.

    Disputes of figures that are not among ``facts`` (retracted, or of another family) are
    ignored, since retracted figures take part in no rule. The result does not depend on the
    order of either argument. Raises ValueError when ``facts`` span more than one family.
    """
    return _ordered(evaluate_series(facts, disputes) + evaluate_parts_and_wholes(facts))


def evaluate_series(facts: Sequence[Fact], disputes: Sequence[Dispute]) -> list[Finding]:
    """The findings that live inside series: disagreement, decrease, duplicate, disputed.

    ``facts`` must hold *every* active figure of each series it touches (a partial series
    would yield partial figure_ids); the series must share one family.
    """
    ordered = sorted(facts, key=lambda fact: fact.id)
    _check_one_family(ordered)
    findings: list[Finding] = []
    for fields, members in _group_by(ordered, series_fields).items():
        findings += _series_findings(fields, members)
    findings += _disputed(ordered, disputes)
    return _ordered(findings)


def evaluate_parts_and_wholes(facts: Sequence[Fact]) -> list[Finding]:
    """part_exceeds_whole findings among ``facts`` of one family.

    Each finding is one pair, so any subset of parts may be passed with the wholes (the
    run passes only the parts that can exceed a whole), and the pairs found are exact.
    """
    ordered = sorted(facts, key=lambda fact: fact.id)
    _check_one_family(ordered)
    return _part_exceeds_whole(ordered)


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda finding: (RULES.index(finding.rule), finding.key))


def _check_one_family(facts: Sequence[Fact]) -> None:
    """Refuse mixed families: part_exceeds_whole would silently compare unrelated figures."""
    families = {_family_fields(fact) for fact in facts}
    if len(families) > 1:
        raise ValueError(f"facts span {len(families)} families; pass one family at a time")


def _key(*parts: object) -> str:
    """A flag key: a compact JSON array, stable across runs and unambiguous."""
    return json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)


def _is_cumulative(fact: Fact) -> bool:
    return fact.period_start is None


def _as_of(fact: Fact) -> str:
    return fact.as_of


def _source_id(fact: Fact) -> int:
    return fact.source_id


def _group_by(items: Iterable[T], key: Callable[[T], K]) -> dict[K, list[T]]:
    """Items grouped by key, each group keeping the items' order."""
    groups: dict[K, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


# --- contradiction index -------------------------------------------------------------

# Which partners of a figure on day d count: the same day only (non-cumulative series), days
# up to / from d inclusive (cumulative, other sources), or strictly before / after d
# (cumulative, one source: a decrease needs a different as_of).
Window = Literal["same_day", "through", "strictly"]


def _top_low(a: Fact, b: Fact) -> Fact:
    """The figure with the higher low; the smaller id on ties, so results are order-free."""
    return max(a, b, key=lambda fact: (fact.low, -fact.id))


def _bottom_high(a: Fact | None, b: Fact | None) -> Fact | None:
    """The figure with the lower bounded high (None when neither is bounded)."""
    bounded = [fact for fact in (a, b) if fact is not None and fact.high is not None]
    return min(bounded, key=lambda fact: (fact.high, fact.id), default=None)


class _Timeline:
    """One source's figures in one series, indexed by ``as_of`` for O(log n) questions.

    For each distinct day it keeps the figure with the highest low and the one with the lowest
    bounded high, on that day alone, up to that day (prefix) and from that day on (suffix).
    """

    __slots__ = ("days", "day_top", "day_bottom", "prefix_top", "suffix_bottom")

    def __init__(self, facts: Iterable[Fact]) -> None:
        by_day = _group_by(facts, _as_of)
        self.days = sorted(by_day)
        self.day_top = [reduce(_top_low, by_day[day]) for day in self.days]
        self.day_bottom = [reduce(_bottom_high, by_day[day]) for day in self.days]
        self.prefix_top = list(accumulate(self.day_top, _top_low))
        self.suffix_bottom = list(accumulate(reversed(self.day_bottom), _bottom_high))[::-1]

    def highest_low(self, day: str, window: Window) -> Fact | None:
        """The figure with the highest low among those on or before ``day`` (per window)."""
        if window == "same_day":
            index = self._index_of(day)
            return None if index is None else self.day_top[index]
        # Days before index `end` are the ones up to `day` (strictly before, for "strictly").
        end = (bisect_left if window == "strictly" else bisect_right)(self.days, day)
        return self.prefix_top[end - 1] if end else None

    def lowest_high(self, day: str, window: Window) -> Fact | None:
        """The figure with the lowest bounded high among those on or after ``day``."""
        if window == "same_day":
            index = self._index_of(day)
            return None if index is None else self.day_bottom[index]
        # Days from index `start` on are the ones from `day` (strictly after, for "strictly").
        start = (bisect_right if window == "strictly" else bisect_left)(self.days, day)
        return self.suffix_bottom[start] if start < len(self.days) else None

    def _index_of(self, day: str) -> int | None:
        index = bisect_left(self.days, day)
        return index if index < len(self.days) and self.days[index] == day else None


def _exceeds(higher: Fact | None, lower: Fact | None) -> bool:
    """Whether ``higher``'s low is above ``lower``'s high (an unbounded high never is)."""
    return (
        higher is not None
        and lower is not None
        and lower.high is not None
        and higher.low > lower.high
    )


def _relative(pair: tuple[Fact, Fact]) -> Fraction:
    higher, lower = pair
    assert lower.high is not None
    return Fraction(higher.low - lower.high, max(lower.high, 1))


def _worst(pairs: Iterable[tuple[Fact, Fact]]) -> tuple[Fact, Fact]:
    """The contradicting pair that sets a flag's severity; ties go to the smaller ids."""
    return min(pairs, key=lambda pair: (-_relative(pair), pair[0].id, pair[1].id))


def _pair_severity(pair: tuple[Fact, Fact]) -> str:
    higher, lower = pair
    assert lower.high is not None
    return severity(higher.low, lower.high)


def _contradictions(
    checks: Iterable[tuple[Fact, _Timeline]], window: Window
) -> tuple[tuple[int, ...], tuple[Fact, Fact]] | None:
    """Which figures contradict some figure of the timeline they are checked against.

    Returns their sorted ids and the worst contradicting pair (higher, lower), or None. A
    figure's worst pair "from above" is with the lowest high in its window, since the
    relative gap falls as that high rises, so the flag's worst pair is among those.
    """
    ids: set[int] = set()
    pairs: list[tuple[Fact, Fact]] = []
    for fact, other in checks:
        below = other.lowest_high(fact.as_of, window)
        above = other.highest_low(fact.as_of, window)
        if _exceeds(fact, below):
            assert below is not None
            pairs.append((fact, below))
            ids.add(fact.id)
        elif _exceeds(above, fact):
            ids.add(fact.id)
    if not ids:
        return None
    return tuple(sorted(ids)), _worst(pairs)


# --- per-series rules ----------------------------------------------------------------


def _series_findings(fields: SeriesFields, facts: Sequence[Fact]) -> list[Finding]:
    """disagreement, decrease and duplicate findings of one series (facts sorted by id)."""
    cumulative = _is_cumulative(facts[0])
    by_source = _group_by(facts, _source_id)
    timelines = {source_id: _Timeline(group) for source_id, group in by_source.items()}
    findings = []
    window: Window = "through" if cumulative else "same_day"
    for first, second in combinations(sorted(by_source), 2):
        checks = [(fact, timelines[second]) for fact in by_source[first]]
        checks += [(fact, timelines[first]) for fact in by_source[second]]
        found = _contradictions(checks, window)
        if found:
            ids, pair = found
            findings.append(
                _finding("disagreement", _key(*fields, first, second), ids, pair, _explain_pair)
            )
    for source_id, group in sorted(by_source.items()):
        if cumulative:
            found = _contradictions([(fact, timelines[source_id]) for fact in group], "strictly")
            if found:
                ids, pair = found
                key = _key(*fields, source_id)
                findings.append(_finding("decrease", key, ids, pair, _explain_pair))
        findings += _duplicates(fields, group)
    return findings


def _finding(
    rule: str,
    key: str,
    ids: tuple[int, ...],
    pair: tuple[Fact, Fact],
    explain: Callable[[tuple[Fact, Fact]], str],
) -> Finding:
    """A finding whose severity and explanation come from its worst contradicting pair."""
    return Finding(rule, key, pair[0].conflict, ids, _pair_severity(pair), explain(pair))


def _duplicates(fields: SeriesFields, facts: Sequence[Fact]) -> list[Finding]:
    """One finding per day on which this source gave more than one figure."""
    findings = []
    for day, group in sorted(_group_by(facts, _as_of).items()):
        if len(group) > 1:
            key = _key(*fields, group[0].source_id, day)
            ids = tuple(fact.id for fact in group)
            findings.append(
                Finding(
                    "duplicate",
                    key,
                    group[0].conflict,
                    ids,
                    _duplicate_severity(group),
                    _explain_duplicate(group),
                )
            )
    return findings


def _duplicate_severity(group: Sequence[Fact]) -> str:
    """low for a repeated figure, medium for differing ones, more if they contradict."""
    if len({(fact.count, fact.qualifier, fact.count_high) for fact in group}) == 1:
        return "low"
    top = reduce(_top_low, group)
    bottom = reduce(_bottom_high, group)
    if _exceeds(top, bottom):
        assert bottom is not None
        return max("medium", _pair_severity((top, bottom)), key=SEVERITIES.index)
    return "medium"


# --- family and figure rules ---------------------------------------------------------


def _part_exceeds_whole(facts: Sequence[Fact]) -> list[Finding]:
    """Located figures whose low exceeds a whole-conflict figure's high, dated as §6 says."""
    parts = [fact for fact in facts if fact.location is not None]
    wholes = [fact for fact in facts if fact.location is None and fact.high is not None]
    if not parts or not wholes:
        return []
    if _is_cumulative(parts[0]):
        pairs = _exceeding_pairs(parts, wholes)
    else:
        # Only same-day pairs count, and within one day the cumulative date test always holds.
        wholes_by_day = _group_by(wholes, _as_of)
        pairs = []
        for day, day_parts in _group_by(parts, _as_of).items():
            pairs += _exceeding_pairs(day_parts, wholes_by_day.get(day, []))
    return [
        Finding(
            "part_exceeds_whole",
            _key(part.id, whole.id),
            part.conflict,
            tuple(sorted((part.id, whole.id))),
            _pair_severity((part, whole)),
            _explain_part(part, whole),
        )
        for part, whole in sorted(pairs, key=lambda pair: (pair[0].id, pair[1].id))
    ]


def _exceeding_pairs(parts: Sequence[Fact], wholes: Sequence[Fact]) -> list[tuple[Fact, Fact]]:
    """Pairs with part.low > whole.high and part.as_of <= whole.as_of, output-sensitively.

    Parts are visited latest first; every whole dated on or after the part's day has been
    inserted into a list sorted by high, whose prefix below the part's low is exactly the
    part's pairs.
    """
    by_day_desc = sorted(wholes, key=lambda fact: (fact.as_of, fact.id), reverse=True)
    in_play: list[Fact] = []
    pairs = []
    next_whole = 0
    for part in sorted(parts, key=lambda fact: (fact.as_of, fact.id), reverse=True):
        while next_whole < len(by_day_desc) and by_day_desc[next_whole].as_of >= part.as_of:
            insort(in_play, by_day_desc[next_whole], key=_bounded_high)
            next_whole += 1
        end = bisect_left(in_play, part.low, key=_bounded_high)
        pairs += [(part, whole) for whole in in_play[:end]]
    return pairs


def _bounded_high(fact: Fact) -> int:
    assert fact.high is not None
    return fact.high


def _disputed(facts: Sequence[Fact], disputes: Iterable[Dispute]) -> list[Finding]:
    """One finding per figure of this family that someone disputes."""
    by_id = {fact.id: fact for fact in facts}
    against: dict[int, set[tuple[str, str]]] = {}
    for dispute in disputes:
        if dispute.figure_id in by_id:
            against.setdefault(dispute.figure_id, set()).add((dispute.reported_on, dispute.source))
    return [
        Finding(
            "disputed",
            _key(figure_id),
            by_id[figure_id].conflict,
            (figure_id,),
            "medium",
            _explain_dispute(by_id[figure_id], sorted(against[figure_id])),
        )
        for figure_id in sorted(against)
    ]


# --- explanations --------------------------------------------------------------------

_CATEGORY_NOUNS = {
    "military": "military deaths",
    "civilian": "civilian deaths",
    "killed": "deaths",
    "injured": "injured",
    "missing": "missing",
    "historical": "deaths (historical toll)",
}
_QUALIFIER_WORDS = {
    "about": "about",
    "nearly": "nearly",
    "at_least": "at least",
    "more_than": "more than",
    "at_most": "at most",
    "fewer_than": "fewer than",
}


def _text(value: str) -> str:
    """Stored text on one line, so an explanation stays one sentence without line breaks."""
    return " ".join(value.split())


def _amount(fact: Fact) -> str:
    """The number as the source stated it: "about 200", "20 to 30", "1,280"."""
    number = f"{fact.count:,}"
    if fact.qualifier == "exact":
        if fact.count_high is not None and fact.count_high != fact.count:
            return f"{number} to {fact.count_high:,}"
        return number
    return f"{_QUALIFIER_WORDS.get(fact.qualifier, fact.qualifier.replace('_', ' '))} {number}"


def _what(fact: Fact, *, located: bool = True) -> str:
    """What is counted: "civilian deaths in Ganja (Azerbaijan side)", "buildings damaged"."""
    unit = _text(fact.unit)
    if fact.category == "damage":
        one = fact.count == 1 and fact.qualifier == "exact" and fact.count_high in (None, 1)
        noun = f"{unit.removesuffix('s') if one else unit} damaged"
    else:
        noun = _CATEGORY_NOUNS.get(fact.category, fact.category)
        if unit != "people":
            noun += f" (counted in {unit})"
    if located and fact.location is not None:
        noun += f" in {_text(fact.location)}"
    details = []
    if fact.side is not None:
        details.append(f"{_text(fact.side)} side")
    if fact.incident is not None:
        details.append(f"incident: {_text(fact.incident)}")
    return f"{noun} ({'; '.join(details)})" if details else noun


def _when(fact: Fact) -> str:
    """The time a figure covers: "as of D"; for a period figure "from P to D", or "on D"
    when the period is one day."""
    if fact.period_start is None:
        return f"as of {fact.as_of}"
    if fact.period_start == fact.as_of:
        return f"on {fact.as_of}"
    return f"from {fact.period_start} to {fact.as_of}"


def _join(items: Sequence[str]) -> str:
    """English list: "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _explain_pair(pair: tuple[Fact, Fact]) -> str:
    """A contradiction within one series, by two sources or by one source over time."""
    higher, lower = pair
    first = f"{_text(higher.source)} reported {_amount(higher)} {_what(higher)} {_when(higher)}"
    if higher.as_of == lower.as_of:
        span = "day" if _is_cumulative(higher) else "period"
        second = f"{_text(lower.source)} reported {_amount(lower)} for the same {span}"
        return f"{first}, but {second} — both cannot be true."
    if higher.source_id == lower.source_id:
        second = f"{_amount(lower)} {_when(lower)}"
    else:
        second = f"{_text(lower.source)} reported {_amount(lower)} {_when(lower)}"
    return f"{first}, but {second} — a cumulative toll cannot fall."


def _explain_part(part: Fact, whole: Fact) -> str:
    return (
        f"{_text(part.source)} reported {_amount(part)} {_what(part)} {_when(part)}, "
        f"but {_text(whole.source)} reported {_amount(whole)} for the whole conflict "
        f"{_when(whole)} — a part cannot exceed the whole."
    )


def _explain_duplicate(group: Sequence[Fact]) -> str:
    first = group[0]
    numbers = _join([_amount(fact) for fact in group])
    return (
        f"{_text(first.source)} gave {len(group)} figures for {_what(first)} "
        f"{_when(first)}: {numbers}."
    )


def _explain_dispute(fact: Fact, against: Sequence[tuple[str, str]]) -> str:
    disputers = _join([f"{_text(source)} on {day}" for day, source in against])
    return (
        f"The figure of {_amount(fact)} {_what(fact)} {_when(fact)} given by "
        f"{_text(fact.source)} is disputed by {disputers}."
    )
