"""Properties of extraction (API.md §9) over generated text: it never raises, and every
figure it proposes is a body POST /figures accepts as it is (FigureIn), every dispute points
into the figures."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from service.extract import extract
from service.schemas import FigureIn

WORDS = ["killed", "wounded", "injured", "dead", "died", "missing", "destroyed", "houses",
         "civilians", "soldiers", "people", "children", "including", "of", "them", "at",
         "least", "more", "than", "about", "between", "and", "to", "said", "according",
         "he", "she", "they", "the", "army", "ministry", "Russian", "Hamas", "on", "Monday",
         "March", "3", "1990s", "2019", "since", "war", "began", "a", "day", "earlier",
         "denied", "the", "figures", "claim", "toll", "death", "dozens", "one", "twenty",
         "1,400", "0", "999999999999", "-", ",", ".", ";", ":", "'s", "\"", "\n", "\n\n",
         "strike", "attack", "in", "Ganja", "rejected", "those", "up", "nearly", "12:30"]


def check(text: str, reported_on: date) -> None:
    out = extract(text, "gen-2020", reported_on, "https://example.org/x")
    assert set(out) == {"figures", "disputes"}
    for f in out["figures"]:
        assert FigureIn().validate(f) == {}, (text, f, FigureIn().validate(f))
        assert f["reported_on"] == reported_on.isoformat()
    for d in out["disputes"]:
        assert 0 <= d["figure_index"] < len(out["figures"])
        assert d["source"] and d["source"] != out["figures"][d["figure_index"]]["source"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(WORDS), max_size=60),
       st.dates(min_value=date(1990, 1, 1), max_value=date(2026, 1, 1)))
def test_news_like_word_salad(words, reported_on):
    check(" ".join(words), reported_on)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=400), st.dates(min_value=date(1990, 1, 1),
                                        max_value=date(2026, 1, 1)))
def test_any_text(text, reported_on):
    check(text, reported_on)
