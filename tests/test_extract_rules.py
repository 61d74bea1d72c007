"""Extraction rules (API.md §9) on invented news sentences, one construction at a time.

None of these sentences comes from the development set: they pin the general patterns the
extractor reads (qualifiers, ranges, what is counted, side, place, attribution, denials,
historical tolls, sub-populations, dates, vague quantities, numbers that are not tolls).
"""

from __future__ import annotations

from datetime import date

import pytest

from service.extract import extract

DAY = date(2024, 3, 13)  # a Wednesday


def figures(text: str, reported_on: date = DAY, **kw) -> list[dict]:
    return extract(text, "test-conflict-2023", reported_on, **kw)["figures"]


def only(text: str, reported_on: date = DAY, **kw) -> dict:
    found = figures(text, reported_on, **kw)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ qualifiers and ranges
@pytest.mark.parametrize("phrase, count, qualifier", [
    ("about 150", 150, "about"), ("around 150", 150, "about"), ("some 150", 150, "about"),
    ("an estimated 150", 150, "about"), ("nearly 150", 150, "nearly"),
    ("almost 150", 150, "nearly"), ("at least 150", 150, "at_least"),
    ("no fewer than 150", 150, "at_least"), ("more than 150", 150, "more_than"),
    ("over 150", 150, "more_than"), ("up to 150", 150, "at_most"),
    ("as many as 150", 150, "at_most"), ("fewer than 150", 150, "fewer_than"),
    ("150", 150, "exact"), ("a dozen", 12, "exact"), ("forty-two", 42, "exact"),
    ("two hundred and six", 206, "exact"), ("1.2 million", 1_200_000, "about"),
])
def test_qualifiers_and_number_words(phrase, count, qualifier):
    text = f"Police said {phrase} people were killed in the flooding of the camp."
    if phrase == "1.2 million":
        text = "The ministry said some 1.2 million people were wounded since the war began."
    fig = only(text)
    assert (fig["count"], fig["qualifier"]) == (count, qualifier)
    assert fig["count_high"] is None


@pytest.mark.parametrize("phrase", ["between 40 and 55", "40 to 55", "forty to fifty-five",
                                    "40-55"])
def test_ranges(phrase):
    fig = only(f"The shelling killed {phrase} civilians, the regional governor said.")
    assert (fig["count"], fig["count_high"], fig["qualifier"]) == (40, 55, "exact")
    assert fig["category"] == "civilian"


def test_a_revised_toll_keeps_only_the_new_number():
    fig = only("The health ministry raised the death toll from 31 to 47 on Tuesday.")
    assert (fig["count"], fig["category"], fig["source"]) == (47, "killed", "health ministry")


# ------------------------------------------------------------------ what is counted
@pytest.mark.parametrize("sentence, category", [
    ("Rescuers said 14 civilians died when the market was hit.", "civilian"),
    ("The army said it had killed 30 insurgents near the river.", "military"),
    ("Officials said 9 soldiers were killed in an ambush.", "military"),
    ("Officials said 9 people were killed in an ambush.", "killed"),
    ("Officials said the attack left 9 dead.", "killed"),
    ("Officials said 25 villagers were wounded by the blast.", "injured"),
    ("Officials said 25 people were injured.", "injured"),
    ("Officials said 6 fishermen remain missing after the raid.", "missing"),
    ("The fate of 11 crew members is still unknown, the navy said.", "missing"),
])
def test_what_is_counted(sentence, category):
    assert only(sentence)["category"] == category


def test_killed_and_injured_in_one_breath():
    found = figures("The governor said 12 civilians were killed and 40 injured in the strike.")
    assert [(f["category"], f["count"]) for f in found] == [("civilian", 12), ("injured", 40)]


def test_verbs_before_the_count():
    found = figures("A car bomb killed eleven people and wounded 34 others in the square, "
                    "police said.")
    assert [(f["category"], f["count"]) for f in found] == [("killed", 11), ("injured", 34)]


def test_coordinated_counts_share_the_verb():
    found = figures("At least 8 civilians and 15 fighters died in the clashes, a monitor said.")
    assert [(f["category"], f["count"], f["qualifier"]) for f in found] == [
        ("civilian", 8, "at_least"), ("military", 15, "exact")]


def test_damage_with_its_unit():
    found = figures("The regional governor said the missiles destroyed 17 houses and "
                    "damaged 3 schools.")
    assert [(f["category"], f["count"], f["unit"]) for f in found] == [
        ("damage", 17, "houses"), ("damage", 3, "schools")]
    assert only("Rebels said they had destroyed a fuel depot.")["unit"] == "depots"


def test_damage_count_without_its_noun_takes_the_previous_unit():
    found = figures("The mayor said 40 homes were destroyed and 12 damaged.")
    assert [(f["count"], f["unit"]) for f in found] == [(40, "homes"), (12, "homes")]


def test_death_toll_phrasing():
    fig = only("The civil defence agency put the death toll at 64.")
    assert (fig["category"], fig["count"], fig["source"]) == ("killed", 64,
                                                              "civil defence agency")


# ------------------------------------------------------------------ side and place
def test_side_from_a_demonym_in_the_counted_noun():
    fig = only("The defence ministry said 7 Russian soldiers were killed in Kherson.")
    assert (fig["side"], fig["category"], fig["location"]) == ("Russia", "military", "Kherson")


def test_side_from_a_named_group():
    assert only("The army said it killed 40 Wagner fighters.")["side"] == "Wagner"


def test_side_from_a_named_group_after_of():
    fig = only("The army said it killed 25 fighters of the Crimson Brigade on Monday.")
    assert fig["side"] == "Crimson Brigade"


def test_of_its_soldiers_is_the_speakers_side():
    fig = only("Ukraine's military said 12 of its soldiers were killed in the assault.")
    assert (fig["category"], fig["side"]) == ("military", "Ukraine")


def test_members_of_a_named_armed_group_are_fighters():
    fig = only("The army said it killed 8 Hezbollah members in the strike.")
    assert (fig["category"], fig["side"]) == ("military", "Hezbollah")


def test_a_state_source_counting_its_own_civilians():
    fig = only("Sudanese officials said 19 civilians were killed.")
    assert fig["side"] == "Sudan"


def test_a_state_source_counting_deaths_abroad_names_no_side():
    fig = only("The French military said 19 civilians were killed in northern Mali.")
    assert fig["side"] is None


def test_no_side_when_the_text_says_none():
    assert only("A local monitor said 19 civilians were killed.")["side"] is None


# ------------------------------------------------------------------ attribution
def test_according_to():
    assert only("According to the Red Cross, 31 people were injured.")["source"] == "Red Cross"


def test_trailing_said():
    fig = only("Nineteen people were killed overnight, the interior ministry said.")
    assert fig["source"] == "interior ministry"


@pytest.mark.parametrize("sentence, source", [
    ("Health ministry figures show 210 people have been killed.", "Health ministry"),
    ("The monitor's report, dated March 1, says 77 civilians were killed.", "monitor"),
])
def test_a_report_speaks_for_its_author(sentence, source):
    assert only(sentence)["source"] == source


def test_told_with_an_apposition():
    fig = only("Amira Haddad, a nurse at the clinic, told reporters that 23 patients died.")
    assert fig["source"] == "Amira Haddad"


@pytest.mark.parametrize("sentence, source", [
    ('"We have recorded 15 deaths," said the hospital director, Dr. Amal Nasser.',
     "hospital director"),
    ('"We have recorded 15 deaths," the hospital director said.', "hospital director"),
    ("So far 15 people have died, said Nadia Karimi.", "Nadia Karimi"),
])
def test_speaker_after_a_quotation(sentence, source):
    assert only(sentence)["source"] == source


def test_killed_or_wounded_together_is_no_category():
    assert figures("More than 200 soldiers were killed or wounded, the ministry said.") == []


def test_a_pronoun_points_back_to_the_last_named_speaker():
    found = figures("Colonel Pieter Maas said the convoy was hit twice. "
                    "He said 6 soldiers were wounded.")
    assert [(f["source"], f["count"]) for f in found] == [("Colonel Pieter Maas", 6)]


def test_they_points_back_to_the_group_that_acted():
    text = ("An aid worker said the road was closed. After the shelling stopped, the Red "
            "Crescent reached the village. They counted 16 bodies.")
    assert only(text)["source"] == "Red Crescent"


def test_two_speakers_in_one_sentence():
    found = figures("So far 120 people have been killed, according to the UN, while "
                    "Ruritanian officials say 200 have died.")
    assert [(f["source"], f["count"]) for f in found] == [("UN", 120),
                                                          ("Ruritanian officials", 200)]


def test_via_names_who_carried_the_words():
    fig = only("Zafar Ali, a police officer, told Reuters that 12 civilians were killed.")
    assert (fig["source"], fig["via"]) == ("Zafar Ali", "Reuters")
    fig = only("The village head told the AFP news agency that 7 people were wounded.")
    assert (fig["source"], fig["via"]) == ("village head", "AFP")
    assert only("The army said 7 soldiers were wounded.")["via"] is None


def test_unattributed_figure_falls_back_to_the_outlet():
    fig = only("More than 300 people were killed.", url="https://www.example-news.org/a/1")
    assert fig["source"] == "example-news.org"
    assert fig["url"] == "https://www.example-news.org/a/1"


def test_a_headline_that_the_body_repeats_is_one_figure():
    text = ("Flood of shells kills 13 in river town, governor says\n\n"
            "Shelling killed at least 13 people in the river town on Friday, regional "
            "governor Anna Kovalenko said.")
    found = figures(text)
    assert [(f["source"], f["count"], f["qualifier"]) for f in found] == [
        ("regional governor Anna Kovalenko", 13, "at_least")]


def test_two_spellings_of_one_source_are_one_figure():
    text = ("A strike killed 27 people, health officials said. Hours later, Ruritanian "
            "health officials said the strike killed 27 people.")
    found = figures(text)
    assert [(f["source"], f["count"]) for f in found] == [("Ruritanian health officials", 27)]


def test_a_role_and_the_name_it_introduces_are_one_speaker():
    text = ("Gunmen killed 30 villagers on Monday, the regional governor said. "
            "Governor Ama Mensah said 12 people were wounded.")
    assert {f["source"] for f in figures(text)} == {"Governor Ama Mensah"}


def test_a_relative_clause_is_not_part_of_the_speaker():
    fig = only("A resident who asked not to be named told AFP that 9 people were killed.")
    assert fig["source"] == "resident"


def test_passive_reported_is_not_a_speaker():
    fig = only("Six soldiers were reported missing after the ambush, the army said.")
    assert (fig["category"], fig["count"], fig["source"]) == ("missing", 6, "army")


def test_a_toll_of_civilians_and_soldiers_together_is_killed():
    fig = only("The war has killed more than 10,000 civilians and soldiers since 2015, "
               "aid groups say.")
    assert (fig["category"], fig["period_start"]) == ("killed", "2015-01-01")


def test_among_the_dead_is_a_group_figure():
    found = figures("The ministry said 40 people were killed. Eleven children were among "
                    "the dead, it said.")
    assert [(f["count"], f.get("group")) for f in found] == [(40, None), (11, "children")]


def test_more_ways_news_gives_deaths():
    found = figures("The floods of violence claimed over 190 lives, the mayor said. "
                    "The bodies of 11 people were recovered from a house, rescuers said. "
                    "The army said the number of soldiers killed in the offensive rose to 312.")
    assert [(f["category"], f["count"], f["qualifier"], f["source"]) for f in found] == [
        ("killed", 190, "more_than", "mayor"), ("killed", 11, "exact", "rescuers"),
        ("military", 312, "exact", "army")]


def test_of_the_dead_refers_back_to_a_toll():
    found = figures("Gunmen killed 38 people, an official said. Of the 38 dead, 20 were "
                    "women and children, the official said.")
    assert [(f["category"], f["count"]) for f in found] == [("killed", 38)]


def test_in_the_past_24_hours():
    fig = only("The health ministry said 40 people had been killed in the past 24 hours.")
    assert (fig["period_start"], fig["as_of"]) == ("2024-03-12", "2024-03-13")


def test_a_weekday_that_is_a_name_is_not_a_date():
    fig = only("Six people were killed, said Monday Okoro, a local chief.")
    assert fig["period_start"] is None


def test_treated_for_wounds_and_buried_bodies():
    found = figures("Doctors said 70 people were being treated for wounds. "
                    "Villagers said 18 people had been buried.")
    assert [(f["category"], f["count"]) for f in found] == [("injured", 70), ("killed", 18)]


# ------------------------------------------------------------------ denials
def test_a_denial_of_the_figures_is_a_dispute():
    out = extract("The army said 57 rebels were killed in the assault. "
                  "A rebel spokesman rejected those figures.", "x-2023", DAY)
    assert len(out["figures"]) == 1
    assert out["disputes"] == [{"figure_index": 0, "source": "rebel spokesman",
                                "reported_on": "2024-03-13",
                                "quote": "A rebel spokesman rejected those figures."}]


def test_a_claim_denied_by_someone():
    out = extract("The militia said it destroyed 4 tanks - a claim denied by the army.",
                  "x-2023", DAY)
    assert out["disputes"][0]["source"] == "the army"
    assert out["figures"][out["disputes"][0]["figure_index"]]["unit"] == "tanks"


def test_denying_that_the_toll_is_so_high_disputes_the_toll():
    out = extract("The death toll from the strike rose to 53, a rebel spokesman said. "
                  "Rescuers recovered 12 bodies overnight. "
                  "A junta spokesman denied that the death toll was as high as reported.",
                  "x-2023", DAY)
    assert [(out["figures"][d["figure_index"]]["count"], d["source"])
            for d in out["disputes"]] == [(53, "junta spokesman")]


def test_denying_an_attack_is_not_a_dispute_of_a_figure():
    out = extract("Officials said 5 civilians were killed. The ministry denied the attack.",
                  "x-2023", DAY)
    assert out["disputes"] == []


# ------------------------------------------------------------------ historical tolls
def test_an_earlier_war_is_historical():
    fig = only("It is the deadliest fighting since the 1990s, when about 20,000 people "
               "were killed.")
    assert (fig["category"], fig["count"], fig["qualifier"]) == ("historical", 20000, "about")
    assert fig["side"] is None


def test_a_year_before_the_conflict_is_historical():
    fig = only("In 2008 a similar raid killed 60 soldiers.")
    assert fig["category"] == "historical"
    assert (fig["period_start"], fig["as_of"]) == ("2008-01-01", "2008-12-31")


# ------------------------------------------------------------------ sub-populations
def test_including_children_is_a_group_figure():
    found = figures("Health officials said 45 people were killed, including 12 children.")
    assert [(f["category"], f["count"], f.get("group")) for f in found] == [
        ("killed", 45, None), ("killed", 12, "children")]
    assert found[1]["source"] == found[0]["source"]


def test_of_them_women():
    found = figures("The mayor said 30 people were wounded, 8 of them women.")
    assert [(f["category"], f["count"], f.get("group")) for f in found] == [
        ("injured", 30, None), ("injured", 8, "women")]


def test_included_list_of_groups():
    found = figures("A doctor said the 17 dead included five journalists and two medics.")
    assert [(f["count"], f.get("group")) for f in found] == [
        (17, None), (5, "journalists"), (2, "medical_workers")]


# ------------------------------------------------------------------ dates
def test_on_a_weekday_is_the_attack_day():
    fig = only("A drone strike killed 4 people on Monday, police said.")
    assert (fig["period_start"], fig["as_of"]) == ("2024-03-11", "2024-03-13")


def test_the_articles_own_weekday_is_that_day():
    fig = only("Shelling killed 4 people on Wednesday, police said.")
    assert fig["period_start"] == "2024-03-13"


def test_a_day_earlier():
    found = figures("Fighting resumed on March 3. A day earlier, 15 soldiers were killed "
                    "in the same valley, the army said.")
    assert [(f["count"], f["period_start"]) for f in found] == [(15, "2024-03-02")]


def test_since_the_war_began_is_cumulative():
    fig = only("The ministry said 2,300 civilians have been killed since the war began.")
    assert fig["period_start"] is None and fig["as_of"] == "2024-03-13"


def test_a_report_date_is_as_of():
    fig = only("The monitor's report, dated March 1, says 77 civilians were killed.")
    assert fig["as_of"] == "2024-03-01"


# ------------------------------------------------------------------ vague and non-tolls
def test_vague_quantities_are_left_out_by_default():
    assert figures("Dozens of people were killed and hundreds injured, witnesses said.") == []


def test_vague_quantities_can_be_proposed_as_their_smallest_reading():
    found = figures("Dozens of people were killed and hundreds injured, witnesses said.",
                    include_vague=True)
    assert [(f["category"], f["count"], f["qualifier"]) for f in found] == [
        ("killed", 24, "at_least"), ("injured", 200, "at_least")]
    assert all(f["notes"] for f in found)


@pytest.mark.parametrize("sentence", [
    "The town lies 40 km from the border.",
    "A 12-year-old boy was among the survivors.",
    "The army said it shot down 14 drones overnight.",
    "Four helicopters landed near the village at 3:15.",
    "Around 5,000 people protested in the capital on Sunday.",
    "The rebels captured 30 soldiers and seized 12 vehicles.",
    "Over 200 people were abducted in 2023.",
    "The building had 9 floors and 120 apartments.",
    "What happened to the 40 families?",
    "The war began on February 24, 2022.",
])
def test_numbers_that_are_not_tolls(sentence):
    assert figures(sentence) == []


def test_no_figures_in_plain_text():
    assert extract("Talks resumed in Geneva.", "x-2023", DAY) == {"figures": [], "disputes": []}


# ------------------------------------------------------------------ one figure per source
def test_a_number_repeated_in_headline_and_body_is_one_figure():
    text = ("Quake-hit region: 52 dead after rebel shelling\n\n"
            "Rebel shelling killed 52 people on Monday, the regional governor said.\n\n"
            "The regional governor said the 52 dead were all civilians.")
    found = figures(text)
    assert len([f for f in found if f["count"] == 52]) == 1


def test_a_run_on_text_is_cut_into_bounded_sentences():
    from service.extract.text import MAX_SENTENCE, sentences

    pieces = sentences("the army said, " * 3000)
    assert len(pieces) > 1 and all(len(p.text) <= MAX_SENTENCE for p in pieces)
    assert "".join(p.text for p in pieces).replace(" ", "") == \
        ("the army said, " * 3000).replace(" ", "")
