"""Designed scenarios for the reconciliation rules (API.md §6), one behaviour per test.

Every expectation is written out in full (rule, key, figure_ids, severity), so a rule that
flags too much, too little or under another identity fails here.
"""

from __future__ import annotations

import json
import random

import pytest

from service.reconcile.rules import (
    Dispute,
    Fact,
    Finding,
    evaluate_family,
    series_fields,
    severity,
)

CONFLICT = "nagorno-karabakh-2020"
SOURCES = {
    1: "Azerbaijan's Foreign Ministry",
    2: "Armenia's Defence Ministry",
    3: "Human Rights Watch",
}
PERIOD = "2020-09-27"


def interval(count: int, qualifier: str, count_high: int | None = None) -> tuple[int, int | None]:
    """§4 interval with t = 0.10, in integer arithmetic (independent of the service's code)."""
    if qualifier == "exact":
        return count, count if count_high is None else count_high
    if qualifier == "about":
        return count * 9 // 10, -(-count * 11 // 10)
    if qualifier == "nearly":
        return count * 9 // 10, count
    if qualifier == "at_least":
        return count, None
    if qualifier == "more_than":
        return count + 1, None
    if qualifier == "at_most":
        return 0, count
    assert qualifier == "fewer_than"
    return 0, max(count - 1, 0)


def fact(
    id: int,
    source_id: int,
    count: int,
    as_of: str,
    qualifier: str = "exact",
    count_high: int | None = None,
    *,
    location: str | None = None,
    period_start: str | None = None,
    category: str = "civilian",
    side: str | None = "Azerbaijan",
    unit: str = "people",
    incident: str | None = None,
) -> Fact:
    low, high = interval(count, qualifier, count_high)
    return Fact(
        id=id,
        source_id=source_id,
        source=SOURCES[source_id],
        conflict=CONFLICT,
        category=category,
        side=side,
        location=location,
        incident=incident,
        unit=unit,
        period_start=period_start,
        as_of=as_of,
        reported_on=as_of,
        count=count,
        qualifier=qualifier,
        count_high=count_high,
        low=low,
        high=high,
    )


def series_key(*extra: object, location: str | None = None, period: str | None = None) -> str:
    # Names are folded in keys and group ends the series fields (API 1.1 §4 "Names", §6).
    place = None if location is None else location.casefold()
    fields = [CONFLICT, "civilian", "azerbaijan", place, None, "people", period, None]
    return json.dumps(fields + list(extra), separators=(",", ":"), ensure_ascii=False)


def summary(findings: list[Finding]) -> list[tuple[str, str, tuple[int, ...], str]]:
    return [(f.rule, f.key, f.figure_ids, f.severity) for f in findings]


def run(*facts: Fact, disputes: tuple[Dispute, ...] = ()) -> list[tuple]:
    return summary(evaluate_family(list(facts), list(disputes)))


# --- no flag ---------------------------------------------------------------------------


def test_overlapping_intervals_of_two_sources_raise_nothing() -> None:
    assert run(fact(1, 1, 20, "2020-10-01", count_high=30), fact(2, 2, 25, "2020-10-01")) == []


def test_about_tolerance_covers_a_close_exact_figure() -> None:
    # about 200 = [180, 220] contains 215.
    assert run(fact(1, 1, 200, "2020-10-01", "about"), fact(2, 2, 215, "2020-10-01")) == []


def test_just_outside_the_about_tolerance_is_a_low_disagreement() -> None:
    found = run(fact(1, 1, 200, "2020-10-01", "about"), fact(2, 2, 221, "2020-10-01"))
    assert found == [("disagreement", series_key(1, 2), (1, 2), "low")]


def test_period_series_counts_up_from_its_first_day_too() -> None:
    # API 1.1 §6: every series counts from one first day, so a period count cannot fall
    # either (1.0 compared period figures only on the same day; this test pinned that).
    facts = [
        fact(1, 1, 100, "2020-10-02", period_start=PERIOD),
        fact(2, 1, 50, "2020-10-03", period_start=PERIOD),
        fact(3, 2, 10, "2020-10-04", period_start=PERIOD),
        fact(4, 2, 500, "2020-10-05", period_start=PERIOD),
    ]
    assert run(*facts) == [
        ("disagreement", series_key(1, 2, period=PERIOD), (1, 2, 3), "high"),
        ("decrease", series_key(1, period=PERIOD), (1, 2), "high"),
    ]


def test_rising_cumulative_toll_from_two_sources_raises_nothing() -> None:
    facts = [
        fact(1, 1, 10, "2020-10-01"),
        fact(2, 2, 12, "2020-10-02", "about"),
        fact(3, 1, 15, "2020-10-03"),
        fact(4, 2, 15, "2020-10-03", "at_least"),
        fact(5, 1, 40, "2020-10-09", "nearly"),
    ]
    assert run(*facts) == []


def test_unbounded_figure_is_never_contradicted_from_above() -> None:
    # A later "at least 100" cannot be exceeded by an earlier 5,000, nor by a same-day 9,000.
    facts = [
        fact(1, 1, 5000, "2020-10-01"),
        fact(2, 2, 100, "2020-10-02", "at_least"),
        fact(3, 3, 9000, "2020-10-02"),
        fact(4, 2, 101, "2020-10-03", "more_than"),
    ]
    assert run(*facts) == []


def test_unbounded_figure_still_contradicts_a_lower_later_one() -> None:
    found = run(fact(1, 1, 100, "2020-10-01", "at_least"), fact(2, 2, 50, "2020-10-02"))
    assert found == [("disagreement", series_key(1, 2), (1, 2), "high")]


# --- disagreement ----------------------------------------------------------------------


def test_same_day_cumulative_non_overlap_is_a_disagreement() -> None:
    findings = evaluate_family([fact(7, 2, 100, "2020-10-05"), fact(3, 1, 120, "2020-10-05")], [])
    assert summary(findings) == [("disagreement", series_key(1, 2), (3, 7), "medium")]
    assert findings[0].conflict == CONFLICT
    assert findings[0].explanation == (
        "Azerbaijan's Foreign Ministry reported 120 civilian deaths (Azerbaijan side) as of "
        "2020-10-05, but Armenia's Defence Ministry reported 100 for the same day — both "
        "cannot be true."
    )


def test_earlier_higher_figure_of_another_source_is_a_disagreement() -> None:
    facts = [
        fact(1, 1, 1280, "2020-10-01", category="military", side=None),
        fact(2, 2, 900, "2020-10-05", category="military", side=None),
    ]
    findings = evaluate_family(facts, [])
    key = json.dumps([CONFLICT, "military", None, None, None, "people", None, None, 1, 2])
    assert summary(findings) == [("disagreement", key.replace(", ", ","), (1, 2), "medium")]
    assert findings[0].explanation == (
        "Azerbaijan's Foreign Ministry reported 1,280 military deaths as of 2020-10-01, but "
        "Armenia's Defence Ministry reported 900 as of 2020-10-05 — a cumulative toll cannot "
        "fall."
    )


def test_later_higher_figure_of_another_source_is_no_disagreement() -> None:
    assert run(fact(1, 1, 900, "2020-10-01"), fact(2, 2, 1280, "2020-10-05")) == []


def test_disagreement_lists_only_figures_that_contradict_the_other_source() -> None:
    facts = [
        fact(1, 1, 100, "2020-10-01"),
        fact(2, 1, 120, "2020-10-02"),
        fact(3, 2, 90, "2020-10-03"),
        fact(4, 2, 130, "2020-10-04"),  # above everything before it: not listed
        fact(5, 1, 200, "2020-10-09"),  # later than all of source 2: not listed
    ]
    # Worst pair: 120 (2020-10-02) over 90 (2020-10-03), gap 30/90 -> medium.
    findings = evaluate_family(facts, [])
    assert summary(findings) == [("disagreement", series_key(1, 2), (1, 2, 3), "medium")]
    assert "reported 120 civilian deaths" in findings[0].explanation
    assert "reported 90 as of 2020-10-03" in findings[0].explanation


def test_one_disagreement_per_pair_of_sources_with_its_own_worst_pair() -> None:
    facts = [
        fact(1, 1, 100, "2020-10-01"),
        fact(2, 2, 80, "2020-10-02"),  # 100 over 80: 20/80 medium
        fact(3, 3, 99, "2020-10-03"),  # 100 over 99: low; 80 under 99 is fine
        fact(4, 3, 40, "2020-10-04"),  # under 100 (high: 60/40) and under 80 (high: 40/40)
    ]
    assert run(*facts) == [
        ("disagreement", series_key(1, 2), (1, 2), "medium"),
        ("disagreement", series_key(1, 3), (1, 3, 4), "high"),
        ("disagreement", series_key(2, 3), (2, 4), "high"),
        ("decrease", series_key(3), (3, 4), "high"),
    ]


def test_non_cumulative_same_day_non_overlap_is_a_disagreement() -> None:
    facts = [
        fact(1, 1, 30, "2020-10-02", period_start=PERIOD),
        fact(2, 2, 10, "2020-10-02", "at_most", period_start=PERIOD),
    ]
    findings = evaluate_family(facts, [])
    assert summary(findings) == [
        ("disagreement", series_key(1, 2, period=PERIOD), (1, 2), "high"),
    ]
    assert findings[0].explanation == (
        "Azerbaijan's Foreign Ministry reported 30 civilian deaths (Azerbaijan side) from "
        "2020-09-27 to 2020-10-02, but Armenia's Defence Ministry reported at most 10 for the "
        "same day — both cannot be true."
    )


def test_non_cumulative_figures_contradict_across_days() -> None:
    # API 1.1 §6 (1.0 said "never": the rule was changed, and this test with it).
    facts = [
        fact(1, 1, 30, "2020-10-02", period_start=PERIOD),
        fact(2, 2, 10, "2020-10-03", "at_most", period_start=PERIOD),
        fact(3, 2, 900, "2020-10-01", period_start=PERIOD),
    ]
    assert run(*facts) == [
        ("disagreement", series_key(1, 2, period=PERIOD), (1, 2, 3), "high"),
        ("decrease", series_key(2, period=PERIOD), (2, 3), "high"),
    ]


# --- decrease --------------------------------------------------------------------------


def test_decrease_lists_the_figures_of_one_source_that_fall() -> None:
    facts = [
        fact(1, 1, 1280, "2020-10-01"),
        fact(2, 1, 900, "2020-10-05"),
        fact(3, 1, 1300, "2020-10-07"),  # above both earlier figures: not listed
    ]
    findings = evaluate_family(facts, [])
    assert summary(findings) == [("decrease", series_key(1), (1, 2), "medium")]
    assert findings[0].explanation == (
        "Azerbaijan's Foreign Ministry reported 1,280 civilian deaths (Azerbaijan side) as of "
        "2020-10-01, but 900 as of 2020-10-05 — a cumulative toll cannot fall."
    )


def test_decrease_ignores_same_day_partners_which_are_duplicates() -> None:
    facts = [
        fact(1, 1, 100, "2020-10-01"),
        fact(2, 1, 50, "2020-10-01"),  # only contradicts figure 1, on its own day
        fact(3, 1, 60, "2020-10-02"),  # below 100 of the day before
    ]
    assert run(*facts) == [
        ("decrease", series_key(1), (1, 3), "high"),
        ("duplicate", series_key(1, "2020-10-01"), (1, 2), "high"),
    ]


def test_decrease_needs_a_strictly_earlier_higher_figure() -> None:
    # 50 on day 2 is below 100 of day 1 (strictly earlier) but also equal-day with 40.
    facts = [
        fact(1, 1, 100, "2020-10-01"),
        fact(2, 1, 50, "2020-10-02", "at_least"),
        fact(3, 1, 40, "2020-10-02", count_high=60),
    ]
    assert run(*facts) == [
        ("decrease", series_key(1), (1, 3), "high"),
        ("duplicate", series_key(1, "2020-10-02"), (2, 3), "medium"),
    ]


def test_non_cumulative_series_has_a_decrease_too() -> None:
    # API 1.1 §6: "a count since the ceasefire" falling from 100 to 5 is a decrease.
    facts = [
        fact(1, 1, 100, "2020-10-01", period_start=PERIOD),
        fact(2, 1, 5, "2020-10-02", period_start=PERIOD),
    ]
    assert run(*facts) == [("decrease", series_key(1, period=PERIOD), (1, 2), "high")]


# --- duplicate -------------------------------------------------------------------------


def test_duplicate_with_equal_numbers_is_low() -> None:
    facts = [fact(4, 2, 30, "2020-10-03"), fact(2, 2, 30, "2020-10-03")]
    findings = evaluate_family(facts, [])
    assert summary(findings) == [("duplicate", series_key(2, "2020-10-03"), (2, 4), "low")]
    assert findings[0].explanation == (
        "Armenia's Defence Ministry gave 2 figures for civilian deaths (Azerbaijan side) as of "
        "2020-10-03: 30 and 30."
    )


def test_duplicate_with_different_overlapping_numbers_is_medium() -> None:
    facts = [fact(1, 2, 100, "2020-10-03", "about"), fact(2, 2, 105, "2020-10-03")]
    assert run(*facts) == [("duplicate", series_key(2, "2020-10-03"), (1, 2), "medium")]


def test_duplicate_with_same_count_but_another_qualifier_is_medium() -> None:
    facts = [fact(1, 2, 100, "2020-10-03"), fact(2, 2, 100, "2020-10-03", "at_least")]
    assert run(*facts) == [("duplicate", series_key(2, "2020-10-03"), (1, 2), "medium")]


def test_duplicate_that_contradicts_itself_takes_the_contradiction_severity() -> None:
    facts = [
        fact(1, 2, 100, "2020-10-03"),
        fact(2, 2, 40, "2020-10-03"),
        fact(3, 2, 60, "2020-10-03"),
        fact(4, 2, 70, "2020-10-04"),
    ]
    assert run(*facts) == [
        ("decrease", series_key(2), (1, 4), "medium"),
        ("duplicate", series_key(2, "2020-10-03"), (1, 2, 3), "high"),
    ]


def test_duplicate_in_a_period_series_is_flagged_per_day() -> None:
    facts = [
        fact(1, 1, 7, "2020-10-03", period_start=PERIOD),
        fact(2, 1, 7, "2020-10-03", period_start=PERIOD),
        fact(3, 1, 7, "2020-10-04", period_start=PERIOD),
        fact(4, 2, 7, "2020-10-04", period_start=PERIOD),
    ]
    assert run(*facts) == [
        ("duplicate", series_key(1, "2020-10-03", period=PERIOD), (1, 2), "low"),
    ]


# --- part_exceeds_whole ----------------------------------------------------------------


def test_part_above_a_later_whole_exceeds_it() -> None:
    part = fact(1, 1, 30, "2020-10-05", location="Ganja")
    whole = fact(2, 2, 22, "2020-10-06")
    findings = evaluate_family([whole, part], [])
    assert summary(findings) == [("part_exceeds_whole", "[1,2]", (1, 2), "medium")]
    assert findings[0].explanation == (
        "Azerbaijan's Foreign Ministry reported 30 civilian deaths in Ganja (Azerbaijan side) as "
        "of 2020-10-05, but Armenia's Defence Ministry reported 22 civilian deaths (Azerbaijan "
        "side) as of 2020-10-06 — a part cannot exceed its whole."
    )


def test_part_above_an_earlier_whole_does_not_exceed_it() -> None:
    part = fact(1, 1, 30, "2020-10-07", location="Ganja")
    assert run(part, fact(2, 2, 22, "2020-10-06")) == []


def test_part_exceeds_a_whole_of_the_same_source_and_day() -> None:
    facts = [fact(5, 1, 22, "2020-10-06"), fact(3, 1, 30, "2020-10-06", location="Ganja")]
    assert run(*facts) == [("part_exceeds_whole", "[3,5]", (3, 5), "medium")]


def test_part_exceeds_whole_key_puts_the_part_first() -> None:
    facts = [fact(1, 1, 5, "2020-10-06"), fact(9, 2, 30, "2020-10-06", location="Ganja")]
    assert run(*facts) == [("part_exceeds_whole", "[9,1]", (1, 9), "high")]


def test_part_exceeds_whole_one_flag_per_pair() -> None:
    facts = [
        fact(1, 1, 30, "2020-10-01", location="Ganja"),
        fact(2, 2, 25, "2020-10-02", location="Tartar"),
        fact(3, 3, 20, "2020-10-03"),
        fact(4, 3, 28, "2020-10-04"),
        fact(5, 3, 1000, "2020-10-04", "at_least"),  # unbounded whole: never exceeded
    ]
    assert run(*facts) == [
        ("duplicate", series_key(3, "2020-10-04"), (4, 5), "high"),
        ("part_exceeds_whole", "[1,3]", (1, 3), "high"),
        ("part_exceeds_whole", "[1,4]", (1, 4), "low"),
        ("part_exceeds_whole", "[2,3]", (2, 3), "medium"),
    ]


def test_part_exceeds_a_later_whole_in_a_period_series_too() -> None:
    # API 1.1 §6: the same dating rule in every series (1.0 needed the same day here).
    facts = [
        fact(1, 1, 30, "2020-10-05", location="Ganja", period_start=PERIOD),
        fact(2, 2, 22, "2020-10-06", period_start=PERIOD),
        fact(3, 2, 22, "2020-10-05", period_start=PERIOD),
        fact(4, 1, 40, "2020-10-07", location="Ganja", period_start=PERIOD),
    ]
    assert run(*facts) == [
        ("part_exceeds_whole", "[1,2]", (1, 2), "medium"),
        ("part_exceeds_whole", "[1,3]", (1, 3), "medium"),
    ]


def test_figures_of_different_locations_are_different_series() -> None:
    facts = [
        fact(1, 1, 300, "2020-10-01", location="Ganja"),
        fact(2, 2, 3, "2020-10-02", location="Tartar"),
    ]
    assert run(*facts) == []


# --- disputed --------------------------------------------------------------------------


def test_disputed_figure_names_every_disputing_source() -> None:
    facts = [fact(4, 1, 30, "2020-10-05", location="Ganja"), fact(5, 1, 31, "2020-10-06")]
    disputes = (
        Dispute(4, "Armenia's Defence Ministry", "2020-10-07"),
        Dispute(4, "Human Rights Watch", "2020-10-06"),
        Dispute(4, "Human Rights Watch", "2020-10-06"),  # the same dispute twice
        Dispute(99, "Human Rights Watch", "2020-10-06"),  # not in this family: ignored
    )
    findings = evaluate_family(facts, list(disputes))
    assert summary(findings) == [("disputed", "[4]", (4,), "medium")]
    assert findings[0].explanation == (
        "The figure of 30 civilian deaths in Ganja (Azerbaijan side) as of 2020-10-05 given by "
        "Azerbaijan's Foreign Ministry is disputed by Human Rights Watch on 2020-10-06 and "
        "Armenia's Defence Ministry on 2020-10-07."
    )


def test_no_dispute_no_disputed_flag() -> None:
    assert run(fact(4, 1, 30, "2020-10-05")) == []


# --- identity, order and wording ------------------------------------------------------


def scenario() -> tuple[list[Fact], list[Dispute]]:
    facts = [
        fact(1, 1, 1280, "2020-10-01"),
        fact(2, 2, 900, "2020-10-05"),
        fact(3, 1, 900, "2020-10-05"),
        fact(4, 1, 30, "2020-10-05", location="Ganja"),
        fact(5, 2, 22, "2020-10-06"),
        fact(6, 2, 200, "2020-10-06", "about"),
        fact(7, 3, 35, "2020-10-04", location="Ganja"),
        fact(8, 3, 23, "2020-10-05", location="Ganja"),
    ]
    return facts, [Dispute(4, "Armenia's Defence Ministry", "2020-10-07")]


def test_scenario_findings_in_full() -> None:
    facts, disputes = scenario()
    ganja = "Ganja"
    assert summary(evaluate_family(facts, disputes)) == [
        # Keys sort as strings: '"Ganja"' before 'null'.
        ("disagreement", series_key(1, 3, location=ganja), (4, 7, 8), "medium"),
        ("disagreement", series_key(1, 2), (1, 2, 3, 5, 6), "high"),
        ("decrease", series_key(3, location=ganja), (7, 8), "high"),
        ("decrease", series_key(1), (1, 3), "medium"),
        ("decrease", series_key(2), (2, 5, 6), "high"),
        ("duplicate", series_key(2, "2020-10-06"), (5, 6), "high"),
        ("part_exceeds_whole", "[4,5]", (4, 5), "medium"),
        ("part_exceeds_whole", "[7,5]", (5, 7), "high"),
        ("part_exceeds_whole", "[8,5]", (5, 8), "low"),
        ("disputed", "[4]", (4,), "medium"),
    ]


def test_same_input_gives_identical_findings() -> None:
    facts, disputes = scenario()
    assert evaluate_family(facts, disputes) == evaluate_family(facts, disputes)


def test_input_order_does_not_change_findings() -> None:
    facts, disputes = scenario()
    expected = evaluate_family(facts, disputes)
    rng = random.Random(2020)
    for _ in range(20):
        shuffled = facts[:]
        rng.shuffle(shuffled)
        assert evaluate_family(shuffled, disputes[::-1]) == expected


def test_series_fields_order() -> None:
    located = fact(1, 1, 5, "2020-10-01", location="Ganja", incident="strike", period_start=PERIOD)
    assert series_fields(located) == (
        CONFLICT,
        "civilian",
        "azerbaijan",
        "ganja",
        "strike",
        "people",
        PERIOD,
        None,
    )


def test_keys_are_compact_json_and_keep_non_ascii() -> None:
    facts = [
        fact(1, 1, 9, "2020-10-01", location="Gəncə"),
        fact(2, 2, 3, "2020-10-01", location="Gəncə"),
    ]
    (finding,) = evaluate_family(facts, [])
    assert finding.key == (
        '["nagorno-karabakh-2020","civilian","azerbaijan","gəncə",null,"people",null,null,1,2]'
    )


def test_mixed_families_are_refused() -> None:
    with pytest.raises(ValueError, match="families"):
        evaluate_family([fact(1, 1, 5, "2020-10-01"), fact(2, 1, 5, "2020-10-01", side=None)], [])


def test_empty_family_has_no_findings() -> None:
    assert evaluate_family([], [Dispute(1, "Human Rights Watch", "2020-10-01")]) == []


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (109, 100, "low"),
        (110, 100, "medium"),  # exactly 10 % is no longer low
        (149, 100, "medium"),
        (150, 100, "high"),  # exactly 50 % is high
        (1, 0, "high"),  # a zero high counts as 1
        (3, 2, "high"),
        (12, 11, "low"),
        (11, 10, "medium"),
        (1_000_000_001, 1_000_000_000, "low"),
    ],
)
def test_severity_thresholds_are_exact(low: int, high: int, expected: str) -> None:
    assert severity(low, high) == expected


def test_qualifiers_are_written_in_words() -> None:
    facts = [
        fact(1, 1, 200, "2020-10-01", "about", category="injured", side=None),
        fact(2, 1, 30, "2020-10-01", "at_least", category="injured", side=None),
        fact(3, 1, 5, "2020-10-01", "more_than", category="injured", side=None),
        fact(4, 1, 20, "2020-10-01", count_high=30, category="injured", side=None),
        fact(5, 1, 30000, "2020-10-01", "nearly", category="injured", side=None),
        fact(6, 1, 7, "2020-10-01", "at_most", category="injured", side=None),
        fact(7, 1, 9, "2020-10-01", "fewer_than", category="injured", side=None),
    ]
    (duplicate,) = (f for f in evaluate_family(facts, []) if f.rule == "duplicate")
    assert duplicate.explanation == (
        "Azerbaijan's Foreign Ministry gave 7 figures for injured as of 2020-10-01: about 200, "
        "at least 30, more than 5, 20 to 30, nearly 30,000, at most 7 and fewer than 9."
    )


def test_what_is_counted_names_unit_location_side_and_incident() -> None:
    where = {
        "category": "damage",
        "unit": "buildings",
        "location": "Ganja",
        "incident": "missile strike\non 17 October",  # a line break never reaches the text
    }
    facts = [fact(1, 2, 12, "2020-10-17", **where), fact(2, 2, 1200, "2020-10-17", **where)]
    (duplicate,) = evaluate_family(facts, [])
    assert duplicate.explanation == (
        "Armenia's Defence Ministry gave 2 figures for buildings damaged in Ganja (Azerbaijan "
        "side; incident: missile strike on 17 October) as of 2020-10-17: 12 and 1,200."
    )
    assert duplicate.severity == "high"


# --- explanation wording ---------------------------------------------------------------


def test_a_one_day_period_and_a_single_thing_damaged_read_naturally() -> None:
    claim = fact(6, 3, 1, "2020-10-04", period_start="2020-10-04", category="damage",
                 unit="airfields", location="Ganja")
    findings = evaluate_family([claim], [Dispute(6, "Azerbaijani officials", "2020-10-04")])
    assert [f.explanation for f in findings] == [
        "The figure of 1 airfield damaged in Ganja (Azerbaijan side) on 2020-10-04 given by "
        "Human Rights Watch is disputed by Azerbaijani officials on 2020-10-04."
    ]


def test_several_things_damaged_over_a_longer_period_keep_the_plural_and_the_span() -> None:
    claim = fact(6, 3, 2, "2020-10-04", period_start="2020-10-01", category="damage",
                 unit="airfields")
    findings = evaluate_family([claim], [Dispute(6, "Azerbaijani officials", "2020-10-05")])
    assert [f.explanation for f in findings] == [
        "The figure of 2 airfields damaged (Azerbaijan side) from 2020-10-01 to 2020-10-04 "
        "given by Human Rights Watch is disputed by Azerbaijani officials on 2020-10-05."
    ]
