"""Property tests: merging added figures into stored flags (rules.evaluate_additions, then
rules.merge_pairs for disagreement and decrease) gives exactly what a full evaluation gives
(issue 10, incremental runs at figure granularity).

The judge is evaluate_family, itself checked against the literal all-pairs oracles of
test_rules_properties: for any family, any set of figures added to it and any set of series
evaluated, every finding returned equals the full evaluation's for its key (every field:
ids, severity, explanation, worst pair, owner), every key re-checked and not returned no
longer holds, and every other finding is the same before and after the additions.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_rules_properties import (
    DATES,
    SETTINGS,
    any_family,
    make_fact,
    one_series,
    oracle,
)

from service.reconcile.rules import (
    Dispute,
    Fact,
    Finding,
    StoredPairs,
    evaluate_additions,
    evaluate_family,
    merge_pairs,
    series_fields,
)

SERIES_RULES = ("disagreement", "decrease")


def stored_pairs(findings: list[Finding]) -> dict[tuple[str, str], StoredPairs]:
    """The stored disagreement and decrease flags, as a run reads them from the store."""
    stored = {}
    for finding in findings:
        if finding.rule in SERIES_RULES:
            assert finding.pair is not None
            stored[(finding.rule, finding.key)] = StoredPairs(finding.figure_ids, finding.pair)
    return stored


def merged(findings: list[Finding], stored: dict[tuple[str, str], StoredPairs],
           facts: list[Fact]) -> list[Finding]:
    """The partial disagreement and decrease findings merged with their stored flags, as
    the store does when it saves them."""
    by_id = {fact.id: fact for fact in facts}
    return [merge_pairs(f, stored.get((f.rule, f.key)), by_id) if f.rule in SERIES_RULES
            else f for f in findings]


def check_additions(facts: list[Fact], disputes: list[Dispute], added: set[int],
                    owners: set | None) -> list[Finding]:
    """Assert the contract of evaluate_additions on one case; return its findings."""
    before_facts = [fact for fact in facts if fact.id not in added]
    disputes = [d for d in disputes if d.figure_id not in added]  # added: not disputed yet
    before = {(f.rule, f.key): f for f in evaluate_family(before_facts, disputes)}
    after = {(f.rule, f.key): f for f in evaluate_family(facts, disputes)}
    by_id = {fact.id: fact for fact in facts}

    def owned(fact: Fact) -> bool:
        return owners is None or series_fields(fact) in owners

    findings, rechecked = evaluate_additions(facts, added, None if owners is None else owned)
    findings = merged(findings, stored_pairs(list(before.values())), facts)
    got = {(f.rule, f.key): f for f in findings}
    assert len(got) == len(findings)
    assert findings == sorted(findings, key=lambda f: (
        ("disagreement", "decrease", "duplicate", "part_exceeds_whole", "parts_exceed_whole",
         "period_exceeds_toll", "disputed").index(f.rule), f.key))
    for key, finding in got.items():
        assert owned(by_id[finding.owner])
        assert after.get(key) == finding, key
    for key in rechecked - got.keys():
        assert key not in after, key
    for key in (before.keys() | after.keys()) - got.keys() - rechecked:
        finding = after.get(key) or before[key]
        if owned(by_id[finding.owner]):
            assert before.get(key) == after.get(key), key
    return findings


@SETTINGS
@given(any_family, st.data())
def test_additions_merge_into_stored_flags_exactly(
        family: tuple[list[Fact], list[Dispute]], data: st.DataObject) -> None:
    facts, disputes = family
    ids = sorted(fact.id for fact in facts)
    added = data.draw(st.sets(st.sampled_from(ids))) if ids else set()
    check_additions(facts, disputes, added, None)


@SETTINGS
@given(any_family, st.data())
def test_additions_for_some_series_only(
        family: tuple[list[Fact], list[Dispute]], data: st.DataObject) -> None:
    """A run evaluates the series it re-checks whole itself: the rest, merged, is exact."""
    facts, disputes = family
    if not facts:
        return
    added = data.draw(st.sets(st.sampled_from(sorted(fact.id for fact in facts)), min_size=1))
    every = sorted({series_fields(fact) for fact in facts}, key=repr)
    owners = data.draw(st.sets(st.sampled_from(every)))
    check_additions(facts, disputes, added, owners)


@SETTINGS
@given(one_series(), st.data())
def test_additions_to_one_series_with_ties(facts: list[Fact], data: st.DataObject) -> None:
    """Many figures of one series with equal numbers: ties for the worst pair."""
    ids = sorted(fact.id for fact in facts)
    added = data.draw(st.sets(st.sampled_from(ids))) if ids else set()
    check_additions(facts, [], added, None)


@SETTINGS
@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from(DATES),
                          st.sampled_from((10, 10, 12, 20))), min_size=2, max_size=12),
       st.data())
def test_a_sequence_of_additions_keeps_matching_the_oracle(
        cells: list[tuple[int, str, int]], data: st.DataObject) -> None:
    """Figures arriving in several batches, merged each time into what the last merge
    left: the flags stay those of the literal oracle, worst pairs tied on purpose."""
    facts = [make_fact(i, source, day, (count, "exact", None))
             for i, (source, day, count) in enumerate(cells, start=1)]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(facts) - 1), max_size=4)))
    batches = [facts[a:b] for a, b in zip([0, *cuts], [*cuts, len(facts)], strict=True)]
    flags: dict[tuple[str, str], Finding] = {}
    present: list[Fact] = []
    for batch in batches:
        present += batch
        findings, rechecked = evaluate_additions(present, {f.id for f in batch})
        findings = merged(findings, stored_pairs(list(flags.values())), present)
        for key in rechecked:
            flags.pop(key, None)
        flags.update({(f.rule, f.key): f for f in findings})
        assert sorted(flags.values(), key=lambda f: (f.rule, f.key)) == sorted(
            evaluate_family(present, []), key=lambda f: (f.rule, f.key))
    expected = {(rule, key, ids, severity) for rule, key, ids, severity, _owner
                in oracle(present, [])}
    assert {(f.rule, f.key, f.figure_ids, f.severity) for f in flags.values()} == expected


def test_the_worst_pair_ties_go_to_the_smaller_ids() -> None:
    """Two pairs with the same relative gap: the stored one keeps the flag's explanation
    when its ids are smaller, the new one takes it when its ids are."""
    facts = [make_fact(1, 1, DATES[0], (20, "exact", None)),
             make_fact(2, 2, DATES[0], (10, "exact", None)),
             make_fact(3, 1, DATES[0], (20, "exact", None)),
             make_fact(4, 2, DATES[0], (10, "exact", None))]
    (first,) = [f for f in evaluate_family(facts[:2], []) if f.rule == "disagreement"]
    assert first.pair == (1, 2)
    findings, _ = evaluate_additions(facts, {3, 4})
    (partial,) = [f for f in findings if f.rule == "disagreement"]
    assert partial.pair == (1, 4) and partial.figure_ids == (1, 2, 3, 4)
    (merge,) = merged([partial], stored_pairs([first]), facts)
    assert merge.pair == (1, 2) and merge.figure_ids == (1, 2, 3, 4)
    assert merge == next(f for f in evaluate_family(facts, []) if f.rule == "disagreement")


def test_a_stored_pair_naming_an_absent_figure_is_refused() -> None:
    facts = [make_fact(1, 1, DATES[0], (20, "exact", None)),
             make_fact(2, 2, DATES[0], (10, "exact", None))]
    (flag,) = [f for f in evaluate_family(facts, []) if f.rule == "disagreement"]
    stored = StoredPairs((1, 9), (1, 9))
    with pytest.raises(ValueError, match="not among the facts"):
        merge_pairs(flag, stored, {fact.id: fact for fact in facts})
