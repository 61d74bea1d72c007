"""Reconciliation rules: which casualty figures contradict each other (API.md §6).

This is the functional core of reconciliation: plain data in, plain data out. No Flask, no
SQL, no I/O, no clock, standard library only, so every rule can be checked exhaustively in
tests and the run engine only has to load figures and persist findings. Each
:class:`Finding` is stored as a flag identified by ``(rule, key)``.

Families, series, parts
-----------------------
A *series* (:func:`series_fields`) is the figures sharing conflict, category, side,
location, incident, unit, period_start and group, names folded as §4 "Names" says. Every
relation a rule looks at stays inside one *family* (:func:`family_fields`): conflict, side,
incident and unit, with ``civilian`` and ``military`` counted in the family of ``killed``.
So the run engine evaluates a family at a time and its memory is bounded by the largest
family, never by the database.

A figure is a *part* of a *whole* when they differ in exactly one dimension (§6):

- place: the part has a location and the whole has none (codes, when both have one,
  must agree: the part's begins with the whole's); or both have a ``location_code`` and the
  whole's is a proper prefix of the part's (case-insensitive);
- category: ``civilian`` or ``military`` against ``killed``;
- group: a ``group`` against none.

Contradiction
-------------
Every series counts up from its first day (``period_start``, or the start of the conflict),
so an ordered pair (A, B) of one series contradicts when ``A.as_of <= B.as_of`` and
``A.low > B.high`` (an unbounded high is never exceeded). The same test, between a part and
its whole, is ``part_exceeds_whole``.

Severity
--------
Severity compares the larger side's number ``L'`` with the bound ``H'`` it exceeds::

    relative = (L' - H') / max(H', 1)
    low     if relative < 0.10
    medium  if relative < 0.50
    high    otherwise

in exact integer arithmetic (``gap * 10 < max(H', 1)``, ``gap * 2 < max(H', 1)``). A flag
resting on several pairs takes its worst. A ``duplicate`` is ``low`` when its figures assert
one interval, otherwise ``medium``, or ``high`` when its worst contradiction is. A
``disputed`` flag is ``medium``. Where figures tie for a bound, the lowest id is named.

Ownership
---------
Each finding has an *owner*: a figure whose series the flag belongs to, so an incremental
run can re-check only some series (``owners``) and still produce, for those, exactly what a
full run would. The owner of a series rule is a figure of that series; of
``part_exceeds_whole`` and ``parts_exceed_whole`` the whole; of ``period_exceeds_toll`` the
period figure; of ``disputed`` the disputed figure. :func:`related_series` says which
series' findings a changed figure can affect.

Complexity
----------
For a series of n figures from k sources, ``disagreement`` and ``decrease`` cost
O(k·n log n): each source's figures are indexed once by ``as_of`` with prefix maxima of lows
and suffix minima of highs. ``duplicate`` is O(n log n). ``part_exceeds_whole`` sweeps parts
and wholes by ``as_of`` keeping the wholes in play sorted by ``high``, so it is output
sensitive. ``parts_exceed_whole`` looks only at one source's figures of one day;
``period_exceeds_toll`` asks each period figure two O(log n) questions of its source's
cumulative series. ``disputed`` is linear.
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, reduce
from itertools import accumulate, combinations
from typing import Literal, TypeVar

from ..names import fold

K = TypeVar("K")
T = TypeVar("T")

RULES = ("disagreement", "decrease", "duplicate", "part_exceeds_whole", "parts_exceed_whole",
         "period_exceeds_toll", "disputed")
SEVERITIES = ("low", "medium", "high")
KILLED_PARTS = frozenset({"civilian", "military"})
DISJOINT_GROUPS = frozenset({"children", "women", "men"})
DIMENSIONS = ("place", "category", "group")

SeriesFields = tuple[str, str, str | None, str | None, str | None, str, str | None,
                     str | None]


def _fold(text: str | None) -> str | None:
    return None if text is None else fold(text)


@lru_cache(maxsize=65_536)
def _series_of(conflict: str, category: str, side: str | None, location: str | None,
               incident: str | None, unit: str, period_start: str | None,
               group: str | None) -> SeriesFields:
    """A fact's series fields, names folded; cached, since a family's facts share a few
    series (one tuple each, so grouping by series also hashes less)."""
    return (conflict, category, _fold(side), _fold(location), _fold(incident), fold(unit),
            period_start, group)


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
    location_code: str | None = None
    group: str | None = None
    series: SeriesFields = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every rule groups facts by series fields many times: fold the names once.
        object.__setattr__(self, "series", _series_of(
            self.conflict, self.category, self.side, self.location, self.incident,
            self.unit, self.period_start, self.group))


@dataclass(frozen=True, slots=True)
class Dispute:
    """A source denying or contesting a figure."""

    figure_id: int
    source: str
    reported_on: str


@dataclass(frozen=True, slots=True)
class Finding:
    """A flag whose condition holds now; ``(rule, key)`` is its identity across runs.

    ``owner`` is the id of the figure whose series the flag belongs to (see Ownership).
    ``pair`` is, for ``disagreement`` and ``decrease``, the (higher, lower) figure ids of
    the worst contradicting pair, which sets the severity and the explanation: kept with
    the flag, it lets :func:`evaluate_additions` merge new pairs into a stored flag.
    """

    rule: str
    key: str
    conflict: str
    figure_ids: tuple[int, ...]
    severity: str
    explanation: str
    owner: int = 0
    pair: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class StoredPairs:
    """A stored ``disagreement`` or ``decrease`` flag as :func:`evaluate_additions` needs
    it: the figures of every contradicting pair, and the worst pair (higher, lower)."""

    figure_ids: tuple[int, ...]
    pair: tuple[int, int]


def series_fields(fact: Fact) -> SeriesFields:
    """The fields that name a fact's series, folded, in the order flag keys list them:
    conflict, category, side, location, incident, unit, period_start, group."""
    return fact.series


def family_fields(fact: Fact) -> tuple:
    """The family a fact belongs to: every figure it can be compared with shares it."""
    conflict, category, side, _location, incident, unit, _period, _group = fact.series
    if category in KILLED_PARTS:
        category = "killed"
    return (conflict, category, side, incident, unit)


def code_of(fact: Fact) -> str | None:
    """The location code compared case-insensitively; an empty code counts as none."""
    return fact.location_code.casefold() if fact.location_code else None


def _without(fields: SeriesFields, index: int) -> tuple:
    return fields[:index] + fields[index + 1:]


_CATEGORY, _LOCATION, _PERIOD, _GROUP = 1, 3, 6, 7


def _place_bucket(fact: Fact) -> tuple:
    return _without(series_fields(fact), _LOCATION)


def _category_bucket(fact: Fact) -> tuple:
    return _without(series_fields(fact), _CATEGORY)


def _group_bucket(fact: Fact) -> tuple:
    return _without(series_fields(fact), _GROUP)


def _toll_bucket(fact: Fact) -> tuple:
    return (*_without(series_fields(fact), _PERIOD), fact.source_id)


def is_place_part(part: Fact, whole: Fact) -> bool:
    """§6 place: the part is inside the whole's place and every other series field agrees."""
    if _place_bucket(part) != _place_bucket(whole):
        return False
    part_code, whole_code = code_of(part), code_of(whole)
    if part.location is not None and whole.location is None and (
            part_code is None or whole_code is None or part_code.startswith(whole_code)):
        return True
    return (part_code is not None and whole_code is not None
            and len(part_code) > len(whole_code) and part_code.startswith(whole_code))


def is_category_part(part: Fact, whole: Fact) -> bool:
    """§6 category: civilian or military deaths within the same place's killed."""
    return (part.category in KILLED_PARTS and whole.category == "killed"
            and _category_bucket(part) == _category_bucket(whole))


def is_group_part(part: Fact, whole: Fact) -> bool:
    """§6 group: a group's count within the same series' count of everyone."""
    return (part.group is not None and whole.group is None
            and _group_bucket(part) == _group_bucket(whole))


def part_dimension(part: Fact, whole: Fact) -> str | None:
    """The dimension in which ``part`` is a part of ``whole``, or None."""
    if is_place_part(part, whole):
        return "place"
    if is_category_part(part, whole):
        return "category"
    if is_group_part(part, whole):
        return "group"
    return None


def severity(low: int, high: int) -> str:
    """Severity of a number ``low`` exceeding a bound ``high`` (§6, exact arithmetic)."""
    gap, reference = low - high, max(high, 1)
    if gap * 10 < reference:
        return "low"
    if gap * 2 < reference:
        return "medium"
    return "high"


def evaluate_family(facts: Sequence[Fact], disputes: Sequence[Dispute],
                    owners: Collection[SeriesFields] | None = None) -> list[Finding]:
    """Every finding for one family of active figures, sorted by rule and key.

    With ``owners`` (a set of :func:`series_fields`), only the findings owned by those
    series, computed exactly as a full evaluation would: ``facts`` must then hold the whole
    family (or at least everything those series are compared with). Disputes of figures
    that are not among ``facts`` are ignored, since retracted figures take part in no rule.
    The result does not depend on the order of either argument. Raises ValueError when
    ``facts`` span more than one family.
    """
    ordered = sorted(facts, key=lambda fact: fact.id)
    _check_one_family(ordered)
    if owners is not None:
        ordered = _needed(ordered, owners)

    def owned(fact: Fact) -> bool:
        return owners is None or series_fields(fact) in owners

    findings: list[Finding] = []
    for fields, members in _group_by(ordered, series_fields).items():
        if owners is None or fields in owners:
            findings += _series_findings(fields, members)
    findings += _part_exceeds_whole(ordered, owned)
    findings += _parts_exceed_whole(ordered, owned)
    findings += _period_exceeds_toll(ordered, owned)
    findings += _disputed([fact for fact in ordered if owned(fact)], disputes)
    return ordered_findings(findings)


def evaluate_additions(
    facts: Sequence[Fact],
    added: Collection[int],
    owned: Callable[[Fact], bool] | None = None,
) -> tuple[list[Finding], set[tuple[str, str]]]:
    """The findings that adding the figures ``added`` can have changed, without
    re-evaluating their series: ``(findings, rechecked)``.

    ``facts`` is one family's active figures now, ``added`` among them (ids of other
    figures are ignored); nothing else changed since the findings were last computed.
    ``owned`` (a fact: its series is evaluated here) limits the result to findings owned
    by such series; every owner by default.

    Each ``disagreement`` and ``decrease`` finding returned is *partial*: it rests on the
    contradicting pairs that involve an added figure only (and has no explanation yet),
    and :func:`merge_pairs` with the flag as stored before (None if it did not hold) gives
    exactly what :func:`evaluate_family` gives for its key now. Every other finding
    returned is exactly that already; each key in ``rechecked`` that no finding carries
    no longer holds; every other finding is unchanged by the additions. Per rule (API.md
    §6):

    - ``disagreement``, ``decrease``: a flag is a union over contradicting pairs, so the
      new flag is the stored one with the pairs involving an added figure, its worst pair
      the worse of the stored and the new ones (O(added × series) comparisons at most);
    - ``duplicate``: the (source, ``as_of``) keys of the added figures, recomputed;
    - ``part_exceeds_whole``: one flag per pair, so only pairs with an added figure;
    - ``parts_exceed_whole``: not monotone (a smaller low of a part, another outer place),
      so every whole of the added figures' source and day is recomputed;
    - ``period_exceeds_toll``: added period figures, and every period figure of the toll
      an added cumulative figure joins, recomputed;
    - ``disputed``: an added figure has no dispute yet.
    """
    ordered = sorted(facts, key=lambda fact: fact.id)
    _check_one_family(ordered)
    keep: Callable[[Fact], bool] = owned or (lambda _fact: True)
    new_ids = set(added)
    new = [fact for fact in ordered if fact.id in new_ids]
    if not new:
        return [], set()
    new_ids = {fact.id for fact in new}
    by_series = _group_by(ordered, series_fields)
    findings: list[Finding] = []
    rechecked: set[tuple[str, str]] = set()
    for fields, members in by_series.items():
        fresh = [fact for fact in members if fact.id in new_ids]
        if fresh and keep(members[0]):
            findings += _added_contradictions(fields, members, fresh)
            for source_id, day in sorted({(fact.source_id, fact.as_of) for fact in fresh}):
                rechecked.add(("duplicate", _duplicate_key(fields, source_id, day)))
                group = [fact for fact in members
                         if fact.source_id == source_id and fact.as_of == day]
                if len(group) > 1:
                    findings.append(_duplicate(fields, group))
    findings += _added_part_pairs(ordered, new, keep)
    days = {(fact.source_id, fact.as_of) for fact in new}
    same_day = [fact for fact in ordered if (fact.source_id, fact.as_of) in days]
    # A sum needs a bounded whole and two parts of its day: smaller days hold no flag, and
    # held none before, since figures were only added.
    crowded = {day for day, group in _group_by(
        same_day, lambda fact: (fact.source_id, fact.as_of)).items() if len(group) >= 3}
    same_day = [fact for fact in same_day if (fact.source_id, fact.as_of) in crowded]
    rechecked.update(("parts_exceed_whole", _key(whole.id, dimension))
                     for whole in same_day if whole.high is not None and keep(whole)
                     for dimension in DIMENSIONS)
    findings += _parts_exceed_whole(same_day, keep)
    tolls = {_toll_bucket(fact) for fact in new if fact.period_start is None}
    periods = [fact for fields, members in by_series.items() if fields[_PERIOD] is not None
               for fact in members if keep(fact)
               and (fact.id in new_ids or _toll_bucket(fact) in tolls)]
    if periods:
        period_ids = {fact.id for fact in periods}
        rechecked.update(("period_exceeds_toll", _key(figure_id)) for figure_id in period_ids)
        counted = {_without(fact.series, _PERIOD) for fact in periods}
        cumulative = [fact for fields, members in by_series.items()
                      if fields[_PERIOD] is None and _without(fields, _PERIOD) in counted
                      for fact in members]
        findings += _period_exceeds_toll(periods + cumulative,
                                         lambda fact: fact.id in period_ids)
    return ordered_findings(findings), rechecked


def merge_pairs(partial: Finding, stored: StoredPairs | None,
                facts: Mapping[int, Fact]) -> Finding:
    """A ``disagreement`` or ``decrease`` flag after figures were added: ``partial`` (from
    :func:`evaluate_additions`, resting on the pairs with an added figure) merged with the
    flag as it held before (``stored``; None when it did not hold). Its figures are the
    union, its worst pair the worse of the two, which sets its severity and explanation
    (the worst over every pair, see _contradictions). ``facts`` maps ids to the family's
    facts; raises ValueError when the stored worst pair names a figure not among them."""
    assert partial.pair is not None
    pair = (facts[partial.pair[0]], facts[partial.pair[1]])
    ids = partial.figure_ids
    if stored is not None:
        missing = [figure_id for figure_id in stored.pair if figure_id not in facts]
        if missing:
            raise ValueError(f"stored {partial.rule} flag {partial.key} names figures "
                             f"{missing} that are not among the facts")
        before = (facts[stored.pair[0]], facts[stored.pair[1]])
        ids = tuple(sorted(set(ids).union(stored.figure_ids)))
        if _worse(before, pair):
            pair = before
    return _finding(partial.rule, partial.key, ids, pair, _explain_pair)


def _added_contradictions(fields: SeriesFields, members: Sequence[Fact],
                          fresh: Sequence[Fact]) -> list[Finding]:
    """Partial disagreement and decrease findings of one series that ``fresh`` joined:
    each rests on the contradicting pairs that involve a fresh figure, and has no
    explanation yet: merge_pairs writes it, once, from the final worst pair."""
    pairs: dict[tuple[str, int, int], dict[tuple[int, int], tuple[Fact, Fact]]] = {}
    for higher, lower in _exceeding(fresh, members, members):
        if higher.source_id != lower.source_id:
            first, second = sorted((higher.source_id, lower.source_id))
            group = ("disagreement", first, second)
        elif higher.as_of != lower.as_of:
            group = ("decrease", higher.source_id, 0)
        else:
            continue
        pairs.setdefault(group, {})[(higher.id, lower.id)] = (higher, lower)
    findings = []
    for (rule, first, second), found in pairs.items():
        key = (_key(*fields, first, second) if rule == "disagreement"
               else _key(*fields, first))
        ids = tuple(sorted({figure_id for pair in found for figure_id in pair}))
        findings.append(_finding(rule, key, ids, _worst(found.values()), lambda _pair: ""))
    return findings


def _exceeding(fresh: Iterable[Fact], lowers: Sequence[Fact],
               highers: Sequence[Fact]) -> Iterator[tuple[Fact, Fact]]:
    """Pairs (higher, lower) with higher.low > lower.high and higher.as_of <= lower.as_of
    where a fresh figure is the higher one (against ``lowers``) or the lower one (against
    ``highers``); a pair of two fresh figures may come twice.

    As the higher side a fresh figure scans ``lowers`` latest first while they are dated on
    or after it; as the lower side it scans ``highers`` by falling low while their low is
    above its high. News arrives late and tolls rise, so both scans stop early in the
    common case and cost about their output."""
    latest_first = sorted(lowers, key=_as_of, reverse=True)
    falling_low = sorted(highers, key=lambda fact: fact.low, reverse=True)
    for fact in fresh:
        for lower in latest_first:
            if lower.as_of < fact.as_of:
                break
            if lower.high is not None and fact.low > lower.high:
                yield fact, lower
        if fact.high is not None:
            for higher in falling_low:
                if higher.low <= fact.high:
                    break
                if higher.as_of <= fact.as_of:
                    yield higher, fact


def _added_part_pairs(facts: Sequence[Fact], new: Sequence[Fact],
                      keep: Callable[[Fact], bool]) -> list[Finding]:
    """part_exceeds_whole findings of the pairs (part, whole) with a new figure on either
    side, comparing each new figure only with the figures whose shape it is part or whole
    of (a part relation depends only on the shape: series, located or not, code)."""
    shapes = _group_by(facts, _shape)
    relation: dict[tuple[tuple, tuple], bool] = {}

    def is_part(part_shape: tuple, whole_shape: tuple) -> bool:
        known = relation.get((part_shape, whole_shape))
        if known is None:
            known = relation[(part_shape, whole_shape)] = _shape_is_part(*part_shape,
                                                                         *whole_shape)
        return known

    new_shapes = _group_by(new, _shape)
    pairs: dict[tuple[int, int], tuple[Fact, Fact]] = {}
    for mine, fresh in new_shapes.items():
        for shape, members in shapes.items():
            if is_part(mine, shape):  # fresh parts of these wholes
                pairs.update(((part.id, whole.id), (part, whole))
                             for part, whole in _exceeding(fresh, members, ()) if keep(whole))
            if is_part(shape, mine):  # fresh wholes of these parts
                pairs.update(((part.id, whole.id), (part, whole))
                             for part, whole in _exceeding(fresh, (), members) if keep(whole))
    return [_part_finding(*pairs[ids]) for ids in sorted(pairs)]


def _shape(fact: Fact) -> tuple:
    return (fact.series, fact.location is None, code_of(fact))


def related_series(facts: Sequence[Fact], changed: Iterable[int]) -> set[SeriesFields]:
    """The series whose findings can involve the figures ``changed`` (ids among ``facts``,
    one family): their own series, the series of every whole they are a part of, and,
    for a cumulative figure, the series of its source's period figures of the same toll.
    """
    by_id = {fact.id: fact for fact in facts}
    targets = [by_id[figure_id] for figure_id in set(changed) if figure_id in by_id]
    related = {fact.series for fact in targets}
    if not targets:
        return related
    # A part relation depends only on series fields, whether a location is given, and the
    # code, so each distinct shape of the family is tested once, not each figure.
    shapes = {(fact.series, fact.location is None, code_of(fact)) for fact in facts}
    tolls: dict[tuple, set[SeriesFields]] = {}
    for fact in facts:
        if fact.period_start is not None:
            tolls.setdefault(_toll_bucket(fact), set()).add(fact.series)
    done: set[tuple] = set()
    for fact in targets:
        signature = (fact.series, fact.location is None, code_of(fact), fact.source_id)
        if signature in done:
            continue
        done.add(signature)
        fields, unplaced, code, _source = signature
        for whole, whole_unplaced, whole_code in shapes:
            if _shape_is_part(fields, unplaced, code, whole, whole_unplaced, whole_code):
                related.add(whole)
        if fact.period_start is None:
            related.update(tolls.get(_toll_bucket(fact), ()))
    return related


def _needed(facts: Sequence[Fact], owners: Collection[SeriesFields]) -> list[Fact]:
    """The facts the findings owned by ``owners`` depend on: the owners' own figures, every
    figure of a series that has a part of an owned series, and the cumulative figures of
    the tolls an owned period figure is compared with."""
    shapes = {(fact.series, fact.location is None, code_of(fact)) for fact in facts}
    owned_shapes = [shape for shape in shapes if shape[0] in owners]
    parts = {shape[0] for shape in shapes
             if any(_shape_is_part(*shape, *whole) for whole in owned_shapes)}
    tolls = {_toll_bucket(fact) for fact in facts
             if fact.period_start is not None and fact.series in owners}
    return [fact for fact in facts
            if fact.series in owners or fact.series in parts
            or (fact.period_start is None and tolls and _toll_bucket(fact) in tolls)]


def _shape_is_part(fields: SeriesFields, unplaced: bool, code: str | None,
                   whole: SeriesFields, whole_unplaced: bool, whole_code: str | None) -> bool:
    """is_place_part, is_category_part or is_group_part, on a figure's shape."""
    if _without(fields, _LOCATION) == _without(whole, _LOCATION):
        if not unplaced and whole_unplaced and (
                code is None or whole_code is None or code.startswith(whole_code)):
            return True
        if (code is not None and whole_code is not None and len(code) > len(whole_code)
                and code.startswith(whole_code)):
            return True
    if (fields[_CATEGORY] in KILLED_PARTS and whole[_CATEGORY] == "killed"
            and _without(fields, _CATEGORY) == _without(whole, _CATEGORY)):
        return True
    return (fields[_GROUP] is not None and whole[_GROUP] is None
            and _without(fields, _GROUP) == _without(whole, _GROUP))


def ordered_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in the order a run writes them (new flags take ids in this order): by
    rule, as RULES lists them, then key."""
    return sorted(findings, key=lambda finding: (RULES.index(finding.rule), finding.key))


def _check_one_family(facts: Sequence[Fact]) -> None:
    """Refuse mixed families: the part rules would silently compare unrelated figures."""
    families = {family_fields(fact) for fact in facts}
    if len(families) > 1:
        raise ValueError(f"facts span {len(families)} families; pass one family at a time")


def _key(*parts: object) -> str:
    """A flag key: a compact JSON array, stable across runs and unambiguous."""
    return json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)


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

# Which partners of a figure on day d count: days up to / from d inclusive (other sources),
# or strictly before / after d (one source: a decrease needs a different as_of).
Window = Literal["through", "strictly"]


def _top_low(a: Fact, b: Fact) -> Fact:
    """The figure with the higher low; the smaller id on ties, so results are order-free."""
    return max(a, b, key=lambda fact: (fact.low, -fact.id))


def _bottom_high(a: Fact | None, b: Fact | None) -> Fact | None:
    """The figure with the lower bounded high (None when neither is bounded)."""
    bounded = [fact for fact in (a, b) if fact is not None and fact.high is not None]
    return min(bounded, key=lambda fact: (fact.high, fact.id), default=None)


class _Timeline:
    """One source's figures in one series, indexed by ``as_of`` for O(log n) questions.

    For each distinct day it keeps the figure with the highest low up to that day (prefix)
    and the one with the lowest bounded high from that day on (suffix); ties go to the
    lowest id.
    """

    __slots__ = ("days", "prefix_top", "suffix_bottom")

    def __init__(self, facts: Iterable[Fact]) -> None:
        by_day = _group_by(facts, _as_of)
        self.days = sorted(by_day)
        day_top = [reduce(_top_low, by_day[day]) for day in self.days]
        day_bottom = [reduce(_bottom_high, by_day[day], None) for day in self.days]
        self.prefix_top = list(accumulate(day_top, _top_low))
        self.suffix_bottom = list(accumulate(reversed(day_bottom), _bottom_high))[::-1]

    def highest_low(self, day: str, window: Window) -> Fact | None:
        """The figure with the highest low among those on or before ``day`` (per window)."""
        end = (bisect_left if window == "strictly" else bisect_right)(self.days, day)
        return self.prefix_top[end - 1] if end else None

    def lowest_high(self, day: str, window: Window) -> Fact | None:
        """The figure with the lowest bounded high among those on or after ``day``."""
        start = (bisect_right if window == "strictly" else bisect_left)(self.days, day)
        return self.suffix_bottom[start] if start < len(self.days) else None


def _exceeds(higher: Fact | None, lower: Fact | None) -> bool:
    """Whether ``higher``'s low is above ``lower``'s high (an unbounded high never is)."""
    return (
        higher is not None
        and lower is not None
        and lower.high is not None
        and higher.low > lower.high
    )


def _worse(pair: tuple[Fact, Fact], other: tuple[Fact, Fact]) -> bool:
    """Whether ``pair`` is a worse contradiction than ``other``: a larger relative gap
    (compared by cross-multiplying, exactly), or the same one with smaller ids."""
    (higher, lower), (other_higher, other_lower) = pair, other
    assert lower.high is not None and other_lower.high is not None
    mine = (higher.low - lower.high) * max(other_lower.high, 1)
    theirs = (other_higher.low - other_lower.high) * max(lower.high, 1)
    if mine != theirs:
        return mine > theirs
    return (higher.id, lower.id) < (other_higher.id, other_lower.id)


def _worst(pairs: Iterable[tuple[Fact, Fact]]) -> tuple[Fact, Fact]:
    """The contradicting pair that sets a flag's severity; ties go to the smaller ids."""
    worst: tuple[Fact, Fact] | None = None
    for pair in pairs:
        if worst is None or _worse(pair, worst):
            worst = pair
    assert worst is not None
    return worst


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
    Ties included: for a fixed higher low L', (L' - H') / max(H', 1) falls strictly as H'
    rises (L' at 0, L' - 1 at 1, L'/H' - 1 beyond), so two of its pairs tie only on equal
    highs, and the timeline names the lowest id among those, which is also the tie-break
    of _worse. So this is the worst over every pair, which evaluate_additions relies on
    (and the property tests check against a brute-force merge).
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
    by_source = _group_by(facts, _source_id)
    timelines = {source_id: _Timeline(group) for source_id, group in by_source.items()}
    findings = []
    for first, second in combinations(sorted(by_source), 2):
        checks = [(fact, timelines[second]) for fact in by_source[first]]
        checks += [(fact, timelines[first]) for fact in by_source[second]]
        found = _contradictions(checks, "through")
        if found:
            ids, pair = found
            findings.append(
                _finding("disagreement", _key(*fields, first, second), ids, pair, _explain_pair)
            )
    for source_id, group in sorted(by_source.items()):
        found = _contradictions([(fact, timelines[source_id]) for fact in group], "strictly")
        if found:
            ids, pair = found
            findings.append(
                _finding("decrease", _key(*fields, source_id), ids, pair, _explain_pair)
            )
        findings += _duplicates(fields, group)
    return findings


def _finding(
    rule: str,
    key: str,
    ids: tuple[int, ...],
    pair: tuple[Fact, Fact],
    explain: Callable[[tuple[Fact, Fact]], str],
) -> Finding:
    """A series finding whose severity and explanation come from its worst pair."""
    return Finding(rule, key, pair[0].conflict, ids, _pair_severity(pair), explain(pair),
                   ids[0], (pair[0].id, pair[1].id))


def _duplicates(fields: SeriesFields, facts: Sequence[Fact]) -> list[Finding]:
    """One finding per day on which this source gave more than one figure."""
    return [_duplicate(fields, group)
            for _day, group in sorted(_group_by(facts, _as_of).items()) if len(group) > 1]


def _duplicate_key(fields: SeriesFields, source_id: int, day: str) -> str:
    return _key(*fields, source_id, day)


def _duplicate(fields: SeriesFields, group: Sequence[Fact]) -> Finding:
    """The duplicate finding of one source's figures (sorted by id, two or more) of a day."""
    ids = tuple(fact.id for fact in group)
    return Finding("duplicate", _duplicate_key(fields, group[0].source_id, group[0].as_of),
                   group[0].conflict, ids, _duplicate_severity(group),
                   _explain_duplicate(group), ids[0])


def _duplicate_severity(group: Sequence[Fact]) -> str:
    """low for one interval asserted again, medium for differing ones, high when the
    worst contradiction among them is high."""
    if len({(fact.low, fact.high) for fact in group}) == 1:
        return "low"
    top = reduce(_top_low, group)
    bottom = reduce(_bottom_high, group, None)
    if _exceeds(top, bottom):
        assert bottom is not None
        return max("medium", _pair_severity((top, bottom)), key=SEVERITIES.index)
    return "medium"


# --- parts and wholes ----------------------------------------------------------------


def _part_exceeds_whole(facts: Sequence[Fact],
                        owned: Callable[[Fact], bool]) -> list[Finding]:
    """Pairs (part, whole) with part.low > whole.high and part.as_of <= whole.as_of."""
    pairs: set[tuple[Fact, Fact]] = set()
    for members in _group_by(facts, _place_bucket).values():
        wholes = [fact for fact in members if fact.location is None]
        parts = [fact for fact in members if fact.location is not None]
        pairs.update(pair for pair in _exceeding_pairs(parts, wholes, owned)
                     if is_place_part(*pair))
        by_code = _group_by((fact for fact in members if code_of(fact)), code_of)
        for whole_code, coded_wholes in by_code.items():
            inner = [fact for code, group in by_code.items()
                     if len(code) > len(whole_code) and code.startswith(whole_code)
                     for fact in group]
            pairs.update(_exceeding_pairs(inner, coded_wholes, owned))
    for members in _group_by(facts, _category_bucket).values():
        wholes = [fact for fact in members if fact.category == "killed"]
        parts = [fact for fact in members if fact.category in KILLED_PARTS]
        pairs.update(_exceeding_pairs(parts, wholes, owned))
    for members in _group_by(facts, _group_bucket).values():
        wholes = [fact for fact in members if fact.group is None]
        parts = [fact for fact in members if fact.group is not None]
        pairs.update(_exceeding_pairs(parts, wholes, owned))
    return [_part_finding(part, whole)
            for part, whole in sorted(pairs, key=lambda pair: (pair[0].id, pair[1].id))]


def _part_finding(part: Fact, whole: Fact) -> Finding:
    return Finding("part_exceeds_whole", _key(part.id, whole.id), part.conflict,
                   tuple(sorted((part.id, whole.id))), _pair_severity((part, whole)),
                   _explain_part(part, whole), whole.id)


def _exceeding_pairs(parts: Sequence[Fact], wholes: Sequence[Fact],
                     owned: Callable[[Fact], bool]) -> list[tuple[Fact, Fact]]:
    """Pairs with part.low > whole.high and part.as_of <= whole.as_of, output-sensitively,
    for the owned bounded wholes.

    Parts are visited latest first; every whole dated on or after the part's day has been
    inserted into a list sorted by high, whose prefix below the part's low is exactly the
    part's pairs.
    """
    bounded = [fact for fact in wholes if fact.high is not None and owned(fact)]
    if not parts or not bounded:
        return []
    by_day_desc = sorted(bounded, key=lambda fact: (fact.as_of, fact.id), reverse=True)
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


def _smallest_low(facts: Iterable[Fact]) -> Fact:
    return min(facts, key=lambda fact: (fact.low, fact.id))


def _summed_parts(whole: Fact, dimension: str, candidates: Sequence[Fact]) -> list[Fact]:
    """The parts of ``whole`` that §6 sums in ``dimension`` (one figure each, the smallest
    low, lowest id on ties), from one source's figures of the whole's day; [] when fewer
    than two disjoint parts."""
    if dimension == "category":
        by_part = _group_by((fact for fact in candidates if is_category_part(fact, whole)),
                            lambda fact: fact.category)
    elif dimension == "group":
        by_part = _group_by((fact for fact in candidates if fact.group in DISJOINT_GROUPS
                             and is_group_part(fact, whole)), lambda fact: fact.group)
    else:
        by_part = _group_by((fact for fact in candidates if code_of(fact) is not None
                             and is_place_part(fact, whole)), code_of)
        outermost = [code for code in by_part
                     if not any(other != code and code.startswith(other) for other in by_part)]
        by_part = {code: by_part[code] for code in outermost}
    if len(by_part) < 2:
        return []
    return sorted((_smallest_low(group) for group in by_part.values()),
                  key=lambda fact: fact.id)


def _parts_exceed_whole(facts: Sequence[Fact],
                        owned: Callable[[Fact], bool]) -> list[Finding]:
    """One source's disjoint parts of a day adding up to more than its whole's high."""
    by_source_day = _group_by(facts, lambda fact: (fact.source_id, fact.as_of))
    findings = []
    for whole in facts:
        if whole.high is None or not owned(whole):
            continue
        candidates = by_source_day[(whole.source_id, whole.as_of)]
        if len(candidates) < 3:
            continue
        for dimension in DIMENSIONS:
            parts = _summed_parts(whole, dimension, candidates)
            total = sum(part.low for part in parts)
            if parts and total > whole.high:
                findings.append(Finding(
                    "parts_exceed_whole", _key(whole.id, dimension), whole.conflict,
                    tuple(sorted([whole.id, *(part.id for part in parts)])),
                    severity(total, whole.high), _explain_parts(whole, parts, total),
                    whole.id))
    return findings


def _period_exceeds_toll(facts: Sequence[Fact],
                         owned: Callable[[Fact], bool]) -> list[Finding]:
    """Period figures counting more than their source's own cumulative toll rose."""
    periods = [fact for fact in facts if fact.period_start is not None and owned(fact)]
    if not periods:
        return []
    wanted = {_toll_bucket(fact) for fact in periods}
    tolls = {bucket: _Timeline(members) for bucket, members in _group_by(
        (fact for fact in facts if fact.period_start is None
         and _toll_bucket(fact) in wanted), _toll_bucket).items()}
    findings = []
    for fact in periods:
        timeline = tolls.get(_toll_bucket(fact))
        if timeline is None:
            continue
        assert fact.period_start is not None
        upper = timeline.lowest_high(fact.as_of, "through")
        lower = timeline.highest_low(fact.period_start, "strictly")
        if upper is None or upper.high is None:
            continue
        floor = lower.low if lower is not None else 0
        if upper.high < floor:
            continue
        allowed = upper.high - floor
        if fact.low > allowed:
            ids = {fact.id, upper.id} | ({lower.id} if lower is not None else set())
            findings.append(Finding(
                "period_exceeds_toll", _key(fact.id), fact.conflict, tuple(sorted(ids)),
                severity(fact.low, allowed), _explain_period(fact, upper, lower, allowed),
                fact.id))
    return findings


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
            figure_id,
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


def _place(fact: Fact) -> str | None:
    """ "Ganja (AZ-GA)", "Ganja", "AZ-GA" or None for the whole conflict."""
    code = fact.location_code or None
    if fact.location is not None:
        return f"{_text(fact.location)} ({_text(code)})" if code else _text(fact.location)
    return f"place {_text(code)}" if code else None


def _what(fact: Fact) -> str:
    """What is counted: "civilian deaths among children in Ganja (Azerbaijan side)"."""
    unit = _text(fact.unit)
    if fact.category == "damage":
        one = fact.count == 1 and fact.qualifier == "exact" and fact.count_high in (None, 1)
        noun = f"{unit.removesuffix('s') if one else unit} damaged"
    else:
        noun = _CATEGORY_NOUNS.get(fact.category, fact.category)
        if unit != "people":
            noun += f" (counted in {unit})"
    if fact.group is not None:
        noun += f" among {fact.group.replace('_', ' ')}"
    place = _place(fact)
    if place:
        noun += f" in {place}"
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
        second = f"{_text(lower.source)} reported {_amount(lower)} for the same day"
        return f"{first}, but {second} — both cannot be true."
    if higher.source_id == lower.source_id:
        second = f"{_amount(lower)} {_when(lower)}"
    else:
        second = f"{_text(lower.source)} reported {_amount(lower)} {_when(lower)}"
    counted = ("a cumulative toll" if higher.period_start is None
               else f"a count since {higher.period_start}")
    return f"{first}, but {second} — {counted} cannot fall."


def _explain_part(part: Fact, whole: Fact) -> str:
    return (
        f"{_text(part.source)} reported {_amount(part)} {_what(part)} {_when(part)}, "
        f"but {_text(whole.source)} reported {_amount(whole)} {_what(whole)} "
        f"{_when(whole)} — a part cannot exceed its whole."
    )


def _explain_parts(whole: Fact, parts: Sequence[Fact], total: int) -> str:
    listed = _join([f"{_amount(part)} {_what(part)}" for part in parts])
    return (
        f"{_text(whole.source)} reported {listed} {_when(whole)}, together at least "
        f"{total:,}, but {_amount(whole)} {_what(whole)} for the same day — parts cannot "
        f"add up to more than their whole."
    )


def _explain_period(fact: Fact, upper: Fact, lower: Fact | None, allowed: int) -> str:
    if lower is None:
        toll = f"its own cumulative toll was {_amount(upper)} {_when(upper)}"
    else:
        toll = (f"its own cumulative toll rose from {_amount(lower)} {_when(lower)} to "
                f"{_amount(upper)} {_when(upper)}")
    return (
        f"{_text(fact.source)} reported {_amount(fact)} {_what(fact)} {_when(fact)}, but "
        f"{toll}, leaving room for at most {allowed:,} — a period cannot count more than "
        f"the toll rose."
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
