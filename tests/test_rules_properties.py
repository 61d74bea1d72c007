"""Property tests: the sweeping rules engine against literal, all-pairs readings of §6 (1.1).

The oracles below compare every pair of figures exactly as API.md §6 words the rules, with no
cleverness, so any shortcut in service.reconcile.rules that loses or invents a flag, a figure
id, a key or a severity shows up on small random families. Families mix every dimension of
1.1: places with and without codes (in several spellings), civilian/military/killed, groups,
period counts and cumulative tolls.
"""

from __future__ import annotations

import json
from fractions import Fraction
from itertools import permutations

from hypothesis import given, settings
from hypothesis import strategies as st

from service.reconcile.rules import (
    Dispute,
    Fact,
    Finding,
    evaluate_family,
    related_series,
    series_fields,
)

SETTINGS = settings(max_examples=150, deadline=None, database=None)
CONFLICT = "nagorno-karabakh-2020"
DATES = ("2020-10-01", "2020-10-02", "2020-10-03", "2020-10-04")
PERIODS = (None, None, "2020-09-27", "2020-10-02")
QUALIFIERS = ("exact", "about", "nearly", "at_least", "more_than", "at_most", "fewer_than")
LOCATIONS = (None, None, "Ganja", " GANJA ", "Tartar")
CODES = (None, None, "AZ", "az-ga", "AZ-GA1", "AZ-TA", "")
CATEGORIES = ("killed", "killed", "civilian", "military")
GROUPS = (None, None, "children", "women", "men", "elderly")
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


def make_fact(id: int, source_id: int, as_of: str, number: tuple[int, str, int | None],
              location: str | None = None, period_start: str | None = None, *,
              category: str = "killed", code: str | None = None,
              group: str | None = None) -> Fact:
    count, qualifier, count_high = number
    low, high = interval(count, qualifier, count_high)
    return Fact(id=id, source_id=source_id, source=SOURCE_NAMES[source_id], conflict=CONFLICT,
                category=category, side="Azerbaijan" if id % 2 else " azerbaijan",
                location=location, incident=None, unit="people", period_start=period_start,
                as_of=as_of, reported_on=as_of, count=count, qualifier=qualifier,
                count_high=count_high, low=low, high=high, location_code=code, group=group)


@st.composite
def families(draw: st.DrawFn, max_size: int = 10) -> tuple[list[Fact], list[Dispute]]:
    """Up to 10 figures of one family over every dimension; ≤ 3 sources, ≤ 4 days."""
    size = draw(st.integers(0, max_size))
    ids = draw(st.permutations(range(1, 15)))[:size]
    facts = [
        make_fact(id, draw(st.integers(1, 3)), draw(st.sampled_from(DATES)), draw(stated()),
                  draw(st.sampled_from(LOCATIONS)), draw(st.sampled_from(PERIODS)),
                  category=draw(st.sampled_from(CATEGORIES)),
                  code=draw(st.sampled_from(CODES)), group=draw(st.sampled_from(GROUPS)))
        for id in ids
    ]
    disputes = draw(st.lists(st.builds(
        Dispute, figure_id=st.integers(1, 15), source=st.sampled_from(("Monitor A", "Monitor B")),
        reported_on=st.sampled_from(DATES)), max_size=3))
    return facts, disputes


@st.composite
def one_source_day(draw: st.DrawFn) -> tuple[list[Fact], list[Dispute]]:
    """Figures mostly of one source and day, so that parts add up against their wholes."""
    size = draw(st.integers(2, 9))
    facts = [
        make_fact(id, draw(st.sampled_from((1, 1, 1, 2))), draw(st.sampled_from(DATES[:2])),
                  (draw(st.integers(0, 20)), draw(st.sampled_from(("exact", "about", "at_most"))),
                   None),
                  draw(st.sampled_from(LOCATIONS)), None,
                  category=draw(st.sampled_from(CATEGORIES)),
                  code=draw(st.sampled_from(CODES)), group=draw(st.sampled_from(GROUPS)))
        for id in range(1, size + 1)
    ]
    return facts, []


@st.composite
def tolls(draw: st.DrawFn) -> tuple[list[Fact], list[Dispute]]:
    """A cumulative toll and period counts of the same things, for period_exceeds_toll."""
    size = draw(st.integers(1, 9))
    facts = [
        make_fact(id, draw(st.sampled_from((1, 1, 2))), draw(st.sampled_from(DATES)),
                  draw(stated()), draw(st.sampled_from((None, "Ganja"))),
                  draw(st.sampled_from((None, None, "2020-10-02", "2020-10-03"))))
        for id in range(1, size + 1)
    ]
    return facts, []


@st.composite
def part_sums(draw: st.DrawFn) -> tuple[list[Fact], list[Dispute]]:
    """A whole and parts of it along one dimension, mostly from its source and day."""
    whole_code = draw(st.sampled_from((None, "AZ")))
    facts = [make_fact(1, 1, DATES[0], (draw(st.integers(0, 20)), "exact", None),
                       code=whole_code)]
    for id in range(2, draw(st.integers(5, 9))):
        dimension = draw(st.sampled_from(("place", "category", "group")))
        facts.append(make_fact(
            id, draw(st.sampled_from((1, 1, 1, 2))), draw(st.sampled_from(DATES[:1] * 6 + DATES)),
            (draw(st.integers(0, 20)), draw(st.sampled_from(("exact", "exact", "about"))), None),
            draw(st.sampled_from(LOCATIONS)) if dimension == "place" else None,
            category=(draw(st.sampled_from(("civilian", "military", "killed")))
                      if dimension == "category" else "killed"),
            code=draw(st.sampled_from(CODES)) if dimension == "place" else whole_code,
            group=draw(st.sampled_from(GROUPS)) if dimension == "group" else None))
    return facts, []


any_family = families() | one_source_day() | tolls() | part_sums()


# --- the literal oracle ----------------------------------------------------------------


def fold(text: str | None) -> str | None:
    return None if text is None else " ".join(text.split()).casefold()


def key(*parts: object) -> str:
    return json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)


FIELDS = ("conflict", "category", "side", "location", "incident", "unit", "period_start",
          "group")


def field(fact: Fact, name: str) -> object:
    value = getattr(fact, name)
    return fold(value) if name in ("side", "location", "incident", "unit") else value


def series(fact: Fact) -> tuple:
    return tuple(field(fact, name) for name in FIELDS)


def agree_except(a: Fact, b: Fact, *names: str) -> bool:
    return all(field(a, n) == field(b, n) for n in FIELDS if n not in names)


def code(fact: Fact) -> str | None:
    return fact.location_code.lower() if fact.location_code else None


def part_of(part: Fact, whole: Fact) -> str | None:
    """§6 literally: the dimension in which `part` is a part of `whole`, or None."""
    pc, wc = code(part), code(whole)
    if agree_except(part, whole, "location"):
        if part.location is not None and whole.location is None and (
                pc is None or wc is None or pc.startswith(wc)):
            return "place"
        if pc and wc and pc != wc and pc.startswith(wc):
            return "place"
    if (agree_except(part, whole, "category") and part.category in ("civilian", "military")
            and whole.category == "killed"):
        return "category"
    if agree_except(part, whole, "group") and part.group is not None and whole.group is None:
        return "group"
    return None


def contradicts(a: Fact, b: Fact) -> bool:
    """§6: A's as_of <= B's and A's low > B's high (an unbounded high is never exceeded)."""
    return a.as_of <= b.as_of and b.high is not None and a.low > b.high


def grade(low: int, high: int) -> str:
    relative = Fraction(low - high, max(high, 1))
    if relative < Fraction(1, 10):
        return "low"
    return "medium" if relative < Fraction(1, 2) else "high"


def worst(grades: list[str]) -> str:
    return max(grades, key=SEVERITY_ORDER.index)


def oracle(facts: list[Fact], disputes: list[Dispute]) -> set[tuple]:
    """All flags of §6 by brute force: (rule, key, figure_ids, severity, owner)."""
    found: dict[tuple[str, str], tuple[set[int], list[str], int]] = {}

    def flag(rule: str, flag_key: str, a: Fact, b: Fact, owner: int) -> None:
        assert b.high is not None
        ids, grades, first_owner = found.setdefault((rule, flag_key), (set(), [], owner))
        ids.update((a.id, b.id))
        grades.append(grade(a.low, b.high))

    for a, b in permutations(facts, 2):
        if series(a) == series(b) and contradicts(a, b):
            if a.source_id != b.source_id:
                sources = sorted((a.source_id, b.source_id))
                flag("disagreement", key(*series(a), *sources), a, b, 0)
            elif a.as_of != b.as_of:
                flag("decrease", key(*series(a), a.source_id), a, b, 0)
        if part_of(a, b) and contradicts(a, b):
            flag("part_exceeds_whole", key(a.id, b.id), a, b, b.id)
    flags = set()
    for (rule, k), (ids, grades, owner) in found.items():
        owner = owner or min(ids)
        flags.add((rule, k, tuple(sorted(ids)), worst(grades), owner))
    flags |= duplicate_oracle(facts)
    flags |= parts_oracle(facts)
    flags |= period_oracle(facts)
    flags |= {("disputed", key(f.id), (f.id,), "medium", f.id)
              for f in facts if any(d.figure_id == f.id for d in disputes)}
    return flags


def duplicate_oracle(facts: list[Fact]) -> set[tuple]:
    groups: dict[tuple, list[Fact]] = {}
    for f in facts:
        groups.setdefault((*series(f), f.source_id, f.as_of), []).append(f)
    flags = set()
    for group_key, group in groups.items():
        if len(group) < 2:
            continue
        same = len({(f.low, f.high) for f in group}) == 1
        clashes = [grade(a.low, b.high) for a, b in permutations(group, 2) if contradicts(a, b)]
        severity = "low" if same else "medium"
        if clashes and worst(clashes) == "high":
            severity = "high"
        ids = tuple(sorted(f.id for f in group))
        flags.add(("duplicate", key(*group_key), ids, severity, ids[0]))
    return flags


def smallest_low(facts: list[Fact]) -> Fact:
    return min(facts, key=lambda f: (f.low, f.id))


def parts_oracle(facts: list[Fact]) -> set[tuple]:
    flags = set()
    for whole in facts:
        if whole.high is None:
            continue
        same_day = [f for f in facts if f.source_id == whole.source_id
                    and f.as_of == whole.as_of and f is not whole]
        for dimension in ("place", "category", "group"):
            parts = [f for f in same_day if part_of(f, whole) == dimension]
            if dimension == "category":
                classes = {c: [f for f in parts if f.category == c]
                           for c in ("civilian", "military")}
            elif dimension == "group":
                classes = {g: [f for f in parts if f.group == g]
                           for g in ("children", "women", "men")}
            else:
                codes = {code(f) for f in parts if code(f)}
                outer = [c for c in codes if not any(o != c and c.startswith(o) for o in codes)]
                classes = {c: [f for f in parts if code(f) == c] for c in outer}
            chosen = [smallest_low(group) for group in classes.values() if group]
            if len(chosen) < 2:
                continue
            total = sum(f.low for f in chosen)
            if total > whole.high:
                ids = tuple(sorted([whole.id, *(f.id for f in chosen)]))
                flags.add(("parts_exceed_whole", key(whole.id, dimension), ids,
                           grade(total, whole.high), whole.id))
    return flags


def period_oracle(facts: list[Fact]) -> set[tuple]:
    flags = set()
    for f in facts:
        if f.period_start is None:
            continue
        toll = [c for c in facts if c.period_start is None and c.source_id == f.source_id
                and agree_except(c, f, "period_start")]
        uppers = [c for c in toll if c.as_of >= f.as_of and c.high is not None]
        if not uppers:
            continue
        upper = min(uppers, key=lambda c: (c.high, c.id))
        lowers = [c for c in toll if c.as_of < f.period_start]
        lower = max(lowers, key=lambda c: (c.low, -c.id)) if lowers else None
        floor = lower.low if lower else 0
        assert upper.high is not None
        if upper.high < floor or f.low <= upper.high - floor:
            continue
        ids = {f.id, upper.id} | ({lower.id} if lower else set())
        flags.add(("period_exceeds_toll", key(f.id), tuple(sorted(ids)),
                   grade(f.low, upper.high - floor), f.id))
    return flags


def as_tuples(findings: list[Finding]) -> set[tuple]:
    return {(f.rule, f.key, f.figure_ids, f.severity, f.owner) for f in findings}


def normalised(flags: set[tuple], facts: list[Fact]) -> set[tuple]:
    """Series findings may be owned by any figure of their series: compare the series."""
    by_id = {f.id: f for f in facts}
    return {(*flag[:4], series(by_id[flag[4]])) for flag in flags}


# --- properties ------------------------------------------------------------------------


@SETTINGS
@given(any_family)
def test_findings_equal_the_all_pairs_oracle(family: tuple[list[Fact], list[Dispute]]) -> None:
    facts, disputes = family
    findings = evaluate_family(facts, disputes)
    assert normalised(as_tuples(findings), facts) == normalised(oracle(facts, disputes), facts)
    assert len({(f.rule, f.key) for f in findings}) == len(findings)


@SETTINGS
@given(part_sums())
def test_sums_of_parts_equal_the_oracle(family: tuple[list[Fact], list[Dispute]]) -> None:
    """parts_exceed_whole needs one source's parts on one day: a strategy of its own."""
    facts, disputes = family
    findings = evaluate_family(facts, disputes)
    assert as_tuples([f for f in findings if f.rule == "parts_exceed_whole"]) == {
        flag for flag in oracle(facts, disputes) if flag[0] == "parts_exceed_whole"}


@SETTINGS
@given(any_family, st.randoms(use_true_random=False))
def test_findings_ignore_input_order(family: tuple[list[Fact], list[Dispute]], rng) -> None:
    facts, disputes = family
    shuffled = facts[:]
    rng.shuffle(shuffled)
    assert evaluate_family(shuffled, disputes[::-1]) == evaluate_family(facts, disputes)


@SETTINGS
@given(any_family, st.data())
def test_owned_findings_are_exactly_a_full_evaluations(
        family: tuple[list[Fact], list[Dispute]], data: st.DataObject) -> None:
    """What an incremental run computes for some series equals a full run's findings."""
    facts, disputes = family
    every = {series_fields(f) for f in facts}
    owners = data.draw(st.sets(st.sampled_from(sorted(every, key=repr)))) if every else set()
    by_id = {f.id: f for f in facts}
    full = [f for f in evaluate_family(facts, disputes)
            if series_fields(by_id[f.owner]) in owners]
    assert evaluate_family(facts, disputes, owners) == full


def owner_series(findings: list[Finding], facts: list[Fact]) -> dict[tuple, tuple]:
    by_id = {f.id: f for f in facts}
    return {(f.rule, f.key): (f, series_fields(by_id[f.owner])) for f in findings}


def changed_owners(before: list[Finding], after: list[Finding], facts: list[Fact]) -> set:
    old, new = owner_series(before, facts), owner_series(after, facts)
    return {old.get(k, new.get(k))[1] for k in old.keys() | new.keys()
            if old.get(k, (None,))[0] != new.get(k, (None,))[0]}


@SETTINGS
@given(any_family, st.data())
def test_a_new_figure_changes_only_related_series(
        family: tuple[list[Fact], list[Dispute]], data: st.DataObject) -> None:
    """Adding figure x changes only findings owned by related_series(with x, [x])."""
    facts, disputes = family
    if not facts:
        return
    x = data.draw(st.sampled_from(facts))
    rest = [f for f in facts if f is not x]
    changed = changed_owners(evaluate_family(rest, disputes), evaluate_family(facts, disputes),
                             facts)
    assert changed <= related_series(facts, [x.id])


@SETTINGS
@given(any_family, st.data())
def test_a_removed_figure_changes_only_its_series_and_flags_naming_it(
        family: tuple[list[Fact], list[Dispute]], data: st.DataObject) -> None:
    """Retracting x changes only findings of its series, findings that list x (what a run
    finds through the flags' figure lists, since x is no longer among the facts), or
    findings of the series related to what is left of x's series: the run marks x's series
    dirty and re-checks related_series of its remaining figures. (Removing a cumulative
    figure that gave L of period_exceeds_toll, while the toll contradicted itself, can raise
    a period flag that does not list x: only that last term catches it.)"""
    facts, disputes = family
    if not facts:
        return
    x = data.draw(st.sampled_from(facts))
    before = evaluate_family(facts, disputes)
    listing = {series for (rule_key, (finding, series)) in owner_series(before, facts).items()
               if x.id in finding.figure_ids}
    rest = [f for f in facts if f is not x]
    siblings = [f.id for f in rest if series_fields(f) == series_fields(x)]
    changed = changed_owners(before, evaluate_family(rest, disputes), facts)
    assert changed <= {series_fields(x)} | listing | related_series(rest, siblings)


@SETTINGS
@given(any_family)
def test_explanations_are_one_line_sentences(family: tuple[list[Fact], list[Dispute]]) -> None:
    for finding in evaluate_family(*family):
        assert finding.explanation.endswith(".")
        assert "\n" not in finding.explanation
        assert ". " not in finding.explanation
        assert finding.figure_ids == tuple(sorted(set(finding.figure_ids)))
        assert finding.conflict == CONFLICT


def feasible(facts: list[Fact]) -> bool:
    """Can one non-decreasing count pass through every figure's interval?"""
    value = 0
    for day in sorted({f.as_of for f in facts}):
        value = max(value, max(f.low for f in facts if f.as_of == day))
        highs = [f.high for f in facts if f.as_of == day and f.high is not None]
        if highs and value > min(highs):
            return False
    return True


@st.composite
def one_series(draw: st.DrawFn) -> list[Fact]:
    """One series (cumulative or not), at most one figure per source and day."""
    period = draw(st.sampled_from((None, "2020-09-27")))
    cells = draw(st.lists(st.tuples(st.integers(1, 3), st.sampled_from(DATES)),
                          unique=True, max_size=8))
    return [make_fact(id, source_id, day, draw(stated()), None, period)
            for id, (source_id, day) in enumerate(cells, start=1)]


@SETTINGS
@given(one_series())
def test_every_series_is_consistent_iff_a_rising_count_fits(facts: list[Fact]) -> None:
    rules = {f.rule for f in evaluate_family(facts, [])}
    assert ("disagreement" in rules or "decrease" in rules) == (not feasible(facts))


def test_oracle_sees_every_rule() -> None:
    """Guard against a vacuous oracle: a fixed family raising all seven rules."""
    big, small = (30, "exact", None), (10, "exact", None)
    facts = [
        make_fact(1, 1, DATES[0], big),
        make_fact(2, 2, DATES[1], small),
        make_fact(3, 1, DATES[1], small),
        make_fact(4, 1, DATES[1], big),
        make_fact(5, 3, DATES[0], big, "Ganja"),
        make_fact(6, 2, DATES[1], (8, "exact", None), category="civilian"),
        make_fact(7, 2, DATES[1], (8, "exact", None), category="military"),
        make_fact(8, 2, DATES[1], (20, "exact", None), "Ganja", "2020-10-02"),
        make_fact(9, 2, DATES[0], (5, "exact", None), "Ganja"),
        make_fact(10, 2, DATES[2], (12, "exact", None), "Ganja"),
    ]
    disputes = [Dispute(5, "Monitor A", DATES[2])]
    expected = oracle(facts, disputes)
    assert {flag[0] for flag in expected} == {
        "disagreement", "decrease", "duplicate", "part_exceeds_whole", "parts_exceed_whole",
        "period_exceeds_toll", "disputed"}
    assert ("parts_exceed_whole", key(2, "category"), (2, 6, 7), "high", 2) in expected
    assert ("period_exceeds_toll", key(8), (8, 9, 10), "high", 8) in expected
    assert (normalised(as_tuples(evaluate_family(facts, disputes)), facts)
            == normalised(expected, facts))


def test_oracle_reads_place_codes_as_section_6_words_them() -> None:
    """Guard the part oracle on hand examples of codes and locations."""
    whole = make_fact(1, 1, DATES[0], (5, "exact", None), code="UA14")
    inner = make_fact(2, 1, DATES[0], (5, "exact", None), code="ua1412")
    named = make_fact(3, 1, DATES[0], (5, "exact", None), "Kharkiv", code="UA63")
    assert part_of(inner, whole) == "place"
    assert part_of(whole, inner) is None
    assert part_of(named, whole) is None  # codes disagree
    assert part_of(make_fact(4, 1, DATES[0], (5, "exact", None), "Kharkiv"), whole) == "place"


def test_feasibility_oracle_matches_hand_examples() -> None:
    """Guard the second oracle: a rising toll fits, a fall below an earlier low does not."""
    rising = [
        make_fact(1, 1, DATES[0], (5, "exact", None)),
        make_fact(2, 2, DATES[1], (5, "about", None)),
    ]
    falling = [*rising, make_fact(3, 3, DATES[2], (4, "at_most", None))]
    unbounded = [*rising, make_fact(3, 3, DATES[2], (0, "at_least", None))]
    assert feasible(rising)
    assert not feasible(falling)
    assert feasible(unbounded)
