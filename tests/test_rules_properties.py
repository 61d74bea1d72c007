"""Property tests: the sweeping rules engine against literal, all-pairs readings of §6.

The oracles below compare every pair of figures exactly as API.md §6 words the rules, with no
cleverness, so any shortcut in service.reconcile.rules that loses or invents a flag, a figure
id, a key or a severity shows up on small random families.
"""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.names import fold, fold_or_none
from service.reconcile.rules import Dispute, Fact, Finding, evaluate_family

SETTINGS = settings(max_examples=300, deadline=None, database=None)
CONFLICT = "nagorno-karabakh-2020"
DATES = ("2020-10-01", "2020-10-02", "2020-10-03", "2020-10-04")
PERIOD = "2020-09-27"
QUALIFIERS = ("exact", "about", "nearly", "at_least", "more_than", "at_most", "fewer_than")
LOCATIONS = (None, "Ganja", "Tartar")
SOURCE_NAMES = {1: "Source One", 2: "Source Two", 3: "Source Three"}
SEVERITY_ORDER = ("low", "medium", "high")


def interval(count: int, qualifier: str, count_high: int | None) -> tuple[int, int | None]:
    """§4 interval with t = 0.10, in integer arithmetic."""
    return {
        "exact": (count, count if count_high is None else count_high),
        "about": (count * 9 // 10, -(-count * 11 // 10)),
        "nearly": (count * 9 // 10, count),
        "at_least": (count, None),
        "more_than": (count + 1, None),
        "at_most": (0, count),
        "fewer_than": (0, max(count - 1, 0)),
    }[qualifier]


@st.composite
def stated(draw: st.DrawFn) -> tuple[int, str, int | None]:
    """A count as a source might state it: (count, qualifier, count_high)."""
    qualifier = draw(st.sampled_from(QUALIFIERS))
    count = draw(st.integers(0, 30))
    high = draw(st.none() | st.integers(count, count + 15)) if qualifier == "exact" else None
    return count, qualifier, high


def make_fact(
    id: int,
    source_id: int,
    as_of: str,
    number: tuple[int, str, int | None],
    location: str | None,
    period_start: str | None,
) -> Fact:
    count, qualifier, count_high = number
    low, high = interval(count, qualifier, count_high)
    return Fact(
        id=id,
        source_id=source_id,
        source=SOURCE_NAMES[source_id],
        conflict=CONFLICT,
        category="killed",
        side=None,
        location=location,
        incident=None,
        unit="people",
        period_start=period_start,
        as_of=as_of,
        reported_on=as_of,
        count=count,
        qualifier=qualifier,
        count_high=count_high,
        low=low,
        high=high,
    )


@st.composite
def families(draw: st.DrawFn) -> tuple[list[Fact], list[Dispute]]:
    """Up to 8 figures of one family: ≤ 3 sources, ≤ 4 days, parts and wholes mixed."""
    period_start = draw(st.sampled_from((None, PERIOD)))
    size = draw(st.integers(0, 8))
    ids = draw(st.permutations(range(1, 13)))[:size]
    facts = [
        make_fact(
            id,
            draw(st.integers(1, 3)),
            draw(st.sampled_from(DATES)),
            draw(stated()),
            draw(st.sampled_from(LOCATIONS)),
            period_start,
        )
        for id in ids
    ]
    disputes = draw(
        st.lists(
            st.builds(
                Dispute,
                figure_id=st.integers(1, 13),
                source=st.sampled_from(("Monitor A", "Monitor B")),
                reported_on=st.sampled_from(DATES),
            ),
            max_size=4,
        )
    )
    return facts, disputes


# --- the literal oracle ----------------------------------------------------------------


def key(*parts: object) -> str:
    return json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)


def series(fact: Fact) -> tuple:
    """A series as §6 (1.1) names it: names folded (§4 "Names"), group last."""
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


def above(a: Fact, b: Fact) -> bool:
    """§6: A contradicts B from above (A's low beyond B's high, dated so they clash)."""
    if b.high is None or a.low <= b.high:
        return False
    return a.as_of <= b.as_of if a.period_start is None else a.as_of == b.as_of


def grade(a: Fact, b: Fact) -> str:
    assert b.high is not None
    relative = Fraction(a.low - b.high, max(b.high, 1))
    if relative < Fraction(1, 10):
        return "low"
    return "medium" if relative < Fraction(1, 2) else "high"


def worst(grades: list[str]) -> str:
    return max(grades, key=SEVERITY_ORDER.index)


def oracle(facts: list[Fact], disputes: list[Dispute]) -> set[tuple]:
    """All flags of §6 by brute force: (rule, key, figure_ids, severity)."""
    found: dict[tuple[str, str], tuple[set[int], list[str]]] = {}

    def flag(rule: str, flag_key: str, a: Fact, b: Fact) -> None:
        ids, grades = found.setdefault((rule, flag_key), (set(), []))
        ids.update((a.id, b.id))
        grades.append(grade(a, b))

    for a, b in permutations(facts, 2):
        if series(a) == series(b) and above(a, b):
            if a.source_id != b.source_id:
                sources = sorted((a.source_id, b.source_id))
                flag("disagreement", key(*series(a), *sources), a, b)
            elif a.as_of != b.as_of:
                flag("decrease", key(*series(a), a.source_id), a, b)
        whole_pair = a.location is not None and b.location is None
        if whole_pair and above(a, b):
            flag("part_exceeds_whole", key(a.id, b.id), a, b)
    flags = {(rule, k, tuple(sorted(ids)), worst(g)) for (rule, k), (ids, g) in found.items()}
    flags |= duplicate_oracle(facts)
    flags |= {
        ("disputed", key(f.id), (f.id,), "medium")
        for f in facts
        if any(d.figure_id == f.id for d in disputes)
    }
    return flags


def duplicate_oracle(facts: list[Fact]) -> set[tuple]:
    groups: dict[tuple, list[Fact]] = {}
    for f in facts:
        groups.setdefault((*series(f), f.source_id, f.as_of), []).append(f)
    flags = set()
    for group_key, group in groups.items():
        if len(group) < 2:
            continue
        same = len({(f.count, f.qualifier, f.count_high) for f in group}) == 1
        grades = ["low" if same else "medium"]
        grades += [grade(a, b) for a, b in permutations(group, 2) if above(a, b)]
        ids = tuple(sorted(f.id for f in group))
        flags.add(("duplicate", key(*group_key), ids, worst(grades)))
    return flags


def as_tuples(findings: list[Finding]) -> set[tuple]:
    return {(f.rule, f.key, f.figure_ids, f.severity) for f in findings}


# --- properties ------------------------------------------------------------------------


@SETTINGS
@given(families())
def test_findings_equal_the_all_pairs_oracle(family: tuple[list[Fact], list[Dispute]]) -> None:
    facts, disputes = family
    findings = evaluate_family(facts, disputes)
    assert as_tuples(findings) == oracle(facts, disputes)
    assert len({(f.rule, f.key) for f in findings}) == len(findings)


@SETTINGS
@given(families(), st.randoms(use_true_random=False))
def test_findings_ignore_input_order(family: tuple[list[Fact], list[Dispute]], rng) -> None:
    facts, disputes = family
    shuffled = facts[:]
    rng.shuffle(shuffled)
    assert evaluate_family(shuffled, disputes[::-1]) == evaluate_family(facts, disputes)


@SETTINGS
@given(families())
def test_explanations_are_one_line_sentences(family: tuple[list[Fact], list[Dispute]]) -> None:
    for finding in evaluate_family(*family):
        assert finding.explanation.endswith(".")
        assert "\n" not in finding.explanation
        assert ". " not in finding.explanation
        assert finding.figure_ids == tuple(sorted(set(finding.figure_ids)))
        assert finding.conflict == CONFLICT


def feasible(facts: list[Fact]) -> bool:
    """Can one non-decreasing toll pass through every figure's interval?"""
    value = 0
    for day in sorted({f.as_of for f in facts}):
        value = max(value, max(f.low for f in facts if f.as_of == day))
        highs = [f.high for f in facts if f.as_of == day and f.high is not None]
        if highs and value > min(highs):
            return False
    return True


@st.composite
def cumulative_series(draw: st.DrawFn) -> list[Fact]:
    """One cumulative series, at most one figure per source and day (so no duplicates)."""
    cells = draw(
        st.lists(
            st.tuples(st.integers(1, 3), st.sampled_from(DATES)),
            unique=True,
            max_size=8,
        )
    )
    return [
        make_fact(id, source_id, day, draw(stated()), None, None)
        for id, (source_id, day) in enumerate(cells, start=1)
    ]


@SETTINGS
@given(cumulative_series())
def test_cumulative_series_is_consistent_iff_a_rising_toll_fits(facts: list[Fact]) -> None:
    rules = {f.rule for f in evaluate_family(facts, [])}
    assert ("disagreement" in rules or "decrease" in rules) == (not feasible(facts))


def test_oracle_sees_every_rule() -> None:
    """Guard against a vacuous oracle: a fixed family raising all five rules."""
    big, small = (30, "exact", None), (10, "exact", None)
    facts = [
        make_fact(1, 1, DATES[0], big, None, None),
        make_fact(2, 2, DATES[1], small, None, None),
        make_fact(3, 1, DATES[1], small, None, None),
        make_fact(4, 1, DATES[1], big, None, None),
        make_fact(5, 3, DATES[0], big, "Ganja", None),
    ]
    disputes = [Dispute(5, "Monitor A", DATES[2])]
    rules = {flag[0] for flag in oracle(facts, disputes)}
    assert rules == {"disagreement", "decrease", "duplicate", "part_exceeds_whole", "disputed"}
    assert as_tuples(evaluate_family(facts, disputes)) == oracle(facts, disputes)


def test_feasibility_oracle_matches_hand_examples() -> None:
    """Guard the second oracle: a rising toll fits, a fall below an earlier low does not."""
    rising = [
        make_fact(1, 1, DATES[0], (5, "exact", None), None, None),
        make_fact(2, 2, DATES[1], (5, "about", None), None, None),
    ]
    falling = [*rising, make_fact(3, 3, DATES[2], (4, "at_most", None), None, None)]
    unbounded = [*rising, make_fact(3, 3, DATES[2], (0, "at_least", None), None, None)]
    assert feasible(rising)
    assert not feasible(falling)
    assert feasible(unbounded)
