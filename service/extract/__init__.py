"""Extraction (API.md §9): an article's text in, candidate figures and disputes out.

A pure functional core: no Flask, no SQL, no clock, no model downloaded. ``extract`` reads
the article sentence by sentence (``text``), finds the tolls and their speakers in each
(``reading``), and settles what depends on the whole article here: pronouns pointing back to
the last named speaker, the day an undated attack happened, the side, duplicates, denials.

Every figure it proposes is a body that ``POST /figures`` accepts as it is; precision comes
first (a recorder must trust the candidates), so a number is proposed only when a casualty
word governs it and its counted noun is known.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlparse

from ..names import fold
from . import lexicon as lx
from .dates import Found, find_dates
from .reading import Reading, Speaker, read_tolls, speakers, subject
from .sides import DEMONYMS, side_of_words, speaks_for_state
from .text import Sentence, sentences, tokens

__all__ = ["extract"]

MAX_QUOTE = 2000
MAX_NAME = 200
_NOT_SIDE = frozenset({"Islamic", "Islamist", "Muslim", "Christian", "Jewish", "Arab", "Sunni",
                       "Shia", "Shiite", "Western", "Eastern", "Northern", "Southern",
                       "Central", "Federal", "National", "Local", "Provincial", "State",
                       "Suspected", "Armed", "Special", "Security", "The", "Civil", "Other",
                       "Foreign", "Regular", "Rebel", "Government", "Militia"})
_PLACE = re.compile(
    r"\b(?:in|near|at|on|across)\s+(?:the\s+)?((?:(?:northern|southern|eastern|western|central|"
    r"north|south|east|west|neighbouring|neighboring)\s+)?[A-Z][\w'\-]+(?:\s+(?:[A-Z][\w'\-]+|"
    r"province|region|district|city|town|village|valley|camp|state|oblast|governorate))*)")
_NOT_PLACE = re.compile(
    r"^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|"
    r"April|May|June|July|August|September|October|November|December|Facebook|Twitter|X|"
    r"Telegram|Instagram|A|An|The|This|That|It|He|She|They|We|Reuters|AFP)\b")
_INCIDENT_NOUNS = frozenset({
    "attack", "attacks", "strike", "strikes", "airstrike", "airstrikes", "bombing", "bombings",
    "blast", "blasts", "explosion", "explosions", "raid", "raids", "shelling", "ambush",
    "shooting", "bombardment", "assault", "massacre", "crash", "barrage",
})
_EXPLOSION_VERBS = frozenset({"exploded", "blew", "detonated", "detonating", "exploding"})
_INDEFINITE = frozenset({"a", "an", "another", "new", "fresh", "separate", "further"})
_DEFINITE = frozenset({"the", "this", "that", "same", "its", "their", "these", "those", "his",
                       "her", "our", "yesterday's", "sunday's", "saturday's"})


@dataclass
class _Candidate:
    reading: Reading
    sentence: int
    source: str
    named: bool  # the text names who gave it (not a fall-back to the last speaker/outlet)
    side: str | None
    location: str | None
    as_of: date
    period_start: date | None
    category: str
    quote: str
    notes: str | None = None
    headline: bool = False
    via: str | None = None
    parent: _Candidate | None = None
    extra: dict = field(default_factory=dict)


def _fold(text: str | None) -> str:
    """Names compared as API.md §4 "Names" says (service/names.py)."""
    return fold(text or "")


def _outlet(url: str | None) -> str:
    """Who speaks when the text names no one: the outlet (its host name), or "the article"."""
    if url:
        host = (urlparse(url).hostname or "").lower()
        for prefix in ("www.", "amp.", "m.", "edition."):
            if host.startswith(prefix):
                host = host[len(prefix):]
        if host:
            return host[:MAX_NAME]
    return "the article"


def _conflict_start_year(conflict: str) -> int | None:
    m = re.search(r"(?:^|-)((?:19|20)\d{2})(?:-|$)", conflict)
    return int(m.group(1)) if m else None


def _quote(sentence: str) -> str:
    text = " ".join(sentence.split())
    return text if len(text) <= MAX_QUOTE else text[:MAX_QUOTE - 1] + "…"


def _incident_state(toks: list) -> str | None:
    """'definite' when the sentence refers to one attack ("the bombing", "US bombing"),
    'indefinite' when it introduces another ("a strike", "deadly strikes"), else None."""
    state = None
    for i, t in enumerate(toks):
        if t.lower in _EXPLOSION_VERBS:
            return "definite"
        if t.lower not in _INCIDENT_NOUNS:
            continue
        window = [x.lower for x in toks[max(0, i - 3):i]]
        plural_bare = (t.lower.endswith("s") and t.lower != "blasts"
                       and not set(window) & _DEFINITE
                       and not any(w.endswith("'s") for w in window))
        if set(window) & _INDEFINITE or plural_bare:
            state = state or "indefinite"
        else:
            return "definite"
    return state


def _place(prepared: str) -> str | None:
    for m in _PLACE.finditer(prepared):
        name = m.group(1).strip()
        first = name.split()[0]
        if _NOT_PLACE.match(name) or (first in DEMONYMS and DEMONYMS[first] != first):
            continue
        return name[:MAX_NAME]
    return None


def _side_from_words(words: list[str]) -> str | None:
    """The side a counted noun phrase names: a demonym ("Russian soldiers") or the first run
    of capitalised words ("Wagner fighters", "fighters of the Crimson Brigade")."""
    side = side_of_words(words)
    if side:
        return side
    run: list[str] = []
    for w in words + [""]:
        clean = w.strip("'’")
        if clean.endswith(("'s", "’s")):
            clean = clean[:-2]
        if clean[:1].isupper() and clean.lower() not in (
                lx.MILITARY_NOUNS | lx.CIVILIAN_NOUNS | lx.PEOPLE_NOUNS):
            run.append(clean)
            continue
        if len(run) == 1 and run[0] in _NOT_SIDE:
            run = []
        if run:
            return " ".join(run)
    return None


class _Article:
    """State carried from sentence to sentence while reading one article."""

    def __init__(self, reported_on: date, outlet: str) -> None:
        self.reported_on = reported_on
        self.outlet = outlet
        self.last_speaker: Speaker | None = None
        self.last_person: Speaker | None = None
        self.last_thing: Speaker | None = None
        self.lede_date: date | None = None
        self.reference: date | None = None  # the day the narrative last named
        self.recent_dates: list[tuple[int, Found]] = []
        self.names: list[str] = []  # every speaker named, in order
        self.last_subject: Speaker | None = None  # the previous sentence's subject
        self.roles: dict[str, str] = {}  # "spokesman" -> "Lior Haiat" ("the spokesman, Lior Haiat")
        self.army_side: str | None = None  # the one state army the article names
        self.armed_group: str | None = None  # the one armed group the article names

    def resolve(self, sp: Speaker) -> Speaker | None:
        if not sp.pronoun:
            return sp
        word = sp.name.lower()
        if word in ("he", "she"):
            return self.last_person or self.last_speaker
        if word == "it":
            return self.last_thing or self.last_speaker
        if word == "they" and self.last_subject is not None and not self.last_subject.person:
            return self.last_subject  # "the M23 summoned... They counted 19 killed"
        return self.last_speaker

    def remember(self, sp: Speaker) -> None:
        if sp.pronoun:
            return
        self.names.append(sp.name)
        self.last_speaker = sp
        if sp.person:
            self.last_person = sp
        else:
            self.last_thing = sp


def _clauses(toks: list) -> list[int]:
    """clause[k]: how many ';' come before token k (computed once per sentence)."""
    clause = [0]
    for t in toks:
        clause.append(clause[-1] + (t.text == ";"))
    return clause


def _source_for(reading: Reading, found: list[Speaker], toks: list,
                clause: list[int]) -> Speaker | None:
    """The attribution nearest the number; one across a ';' counts only if none is nearer.
    "We"/"I" inside a quotation are its speaker, named elsewhere in the sentence."""
    m = reading.mention
    best, best_d = None, None
    named = [sp for sp in found if not sp.pronoun]
    if named:
        found = [sp for sp in found if not (sp.pronoun and sp.name.lower() in ("we", "i"))]
    for sp in found:
        d = (m.start - sp.end) if sp.end <= m.start else (sp.start - m.end if sp.start >= m.end
                                                            else 0)
        lo, hi = (sp.end, m.start) if sp.end <= m.start else (m.end, sp.start)
        lo, hi = max(lo, 0), max(min(hi, len(toks)), 0)
        if hi > lo and clause[hi] - clause[lo]:
            d += 100
        if best_d is None or d < best_d:
            best, best_d = sp, d
    return best


def _historical(dates: list[Found], conflict_start: int | None, reported_on: date,
                prepared: str = "", position: int = 0) -> Found | None:
    """The date of an earlier war the sentence's toll belongs to: one before the conflict's
    start year (from its slug), or more than five years before the article; "since 2015"
    starts a period of this conflict instead."""
    for f in dates:
        if f.precision not in ("year", "decade", "month", "day"):
            continue
        since = re.match(r"since\b", prepared[f.start:f.end], re.IGNORECASE) or re.search(
            r"\bsince\s+(?:the\s+)?(?:early\s+|late\s+|mid-)?$", prepared[:f.start],
            re.IGNORECASE)
        if since and not (position > f.end and re.search(r"\b(?:when|in which|during which)\b",
                                                         prepared[f.end:position])):
            continue  # "killed 10,000 since 2015" (but "the worst since the 1990s, when...")
        limit = conflict_start if conflict_start else reported_on.year - 5
        if f.last.year < limit:
            return f
    return None


def extract(text: str, conflict: str, reported_on: date, url: str | None = None,
            include_vague: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Candidate figures and disputes a recorder would enter from an article (API.md §9).

    `text` is the article; `conflict` the slug every figure gets; `reported_on` the day the
    article was published (figures' `reported_on`, and the day weekdays resolve against);
    `url` is copied onto every figure. Vague quantities ("dozens") are left out unless
    `include_vague`, then proposed as `at_least` their smallest reading.

    Returns ``{"figures": [POST /figures bodies], "disputes": [{"figure_index", "source",
    "reported_on", "quote"}]}``. Raises nothing for any text; stores nothing.
    """
    article = _Article(reported_on, _outlet(url))
    _scan_article(article, text)
    conflict_start = _conflict_start_year(conflict)
    candidates: list[_Candidate] = []
    denials: list[tuple[int, Speaker, list[_Candidate], list[_Candidate]]] = []
    by_sentence: dict[int, list[_Candidate]] = {}
    for sent in sentences(text):
        prepared, toks = tokens(sent.text)
        found = speakers(prepared, toks)
        dates = find_dates(prepared, reported_on, article.reference)
        for t in toks:  # the day of a date ("October 7") is not a count
            if t.value is not None and not t.vague and any(
                    f.start <= t.start < f.end for f in dates):
                t.value = None
        if sent.index < 3 and article.lede_date is None:
            event = [f for f in dates if not f.reporting and f.precision == "day"]
            if event:
                article.lede_date = event[0].first
        incident = _incident_state(toks)
        readings = [] if sent.text.rstrip().endswith("?") else read_tolls(toks)
        made: list[_Candidate] = []
        clause = _clauses(toks) if readings else []
        for reading in readings:
            if reading.mention.vague and not include_vague:
                made.append(None)  # keeps parent indices aligned
                continue
            cand = _candidate(article, sent, prepared, toks, reading, found, dates, incident,
                              conflict_start, made, clause)
            if cand is not None:
                cand.headline = sent.index < 2 and sent.line_start and \
                    not sent.text.rstrip().endswith((".", "!", "?", '"', "”"))
            made.append(cand)
        made_ok = [c for c in made if c is not None]
        candidates.extend(made_ok)
        by_sentence[sent.index] = made_ok
        denial = _denial(prepared, toks, found, article)
        if denial is not None:
            previous = by_sentence.get(sent.index - 1, [])
            denials.append((sent.index, denial[0], denial[1], made_ok, previous))
        for sp in found:
            resolved = article.resolve(sp)
            if resolved is not None:
                article.remember(resolved)
        article.last_subject = subject(prepared, toks)
        for f in dates:
            if not f.reporting and f.precision in ("day", "month"):
                article.recent_dates.append((sent.index, f))
                if f.precision == "day":
                    article.reference = f.first
        if incident == "indefinite" and not [f for f in dates if not f.reporting]:
            article.recent_dates = []
    _canonical_sources(candidates + [d[1] for d in denials], article.names, article.roles)
    kept = [c for c in _dedupe(candidates) if _valid(c)]
    figures = [_body(c, conflict, reported_on, url) for c in kept]
    index = {id(c): i for i, c in enumerate(kept)}
    disputes = []
    sentence_text = {s.index: s.text for s in sentences(text)}
    for s_index, denier, same_sentence, here, previous in denials:
        targets = here if same_sentence else previous
        mentions_toll = re.search(r"\btolls?\b", sentence_text[s_index], re.IGNORECASE)
        if mentions_toll and not same_sentence and not any(
                c.reading.kind == "toll" for c in targets):
            targets = []
        if not targets and not same_sentence:
            recent = [c for c in candidates if s_index - 4 <= c.sentence < s_index
                      and c.category in ("killed", "civilian", "military")
                      and c.reading.kind != "part"]
            tolls = [c for c in recent if c.reading.kind == "toll"]
            targets = (tolls or recent)[-1:]
        own = [c for c in here if _fold(c.source) == _fold(denier.name)]
        if own and not same_sentence:
            categories = {c.category for c in own}
            targets = [c for c in previous if c.category in categories]
        for c in targets:
            if id(c) not in index or _fold(c.source) == _fold(denier.name) or c.parent \
                    or c.reading.kind == "part":
                continue
            disputes.append({"figure_index": index[id(c)], "source": denier.name[:MAX_NAME],
                             "reported_on": reported_on.isoformat(),
                             "quote": _quote(sentence_text[s_index])})
    return {"figures": figures, "disputes": disputes}


_ROLE_APPOSITION = re.compile(
    r"\b(?:[Tt]he|[Hh]is|[Hh]er|[Ii]ts|[Tt]heir) (?:[a-z\-]+ ){0,3}(?P<role>spokesman|spokeswoman|"
    r"spokesperson|minister|official|officer|director|chief|commander|adviser|governor|mayor|"
    r"head|envoy|aide), (?P<name>[A-Z][\w\-]+(?: [A-Z][\w\-]+)+),")
_NAME_ROLE = re.compile(
    r"(?P<name>[A-Z][\w\-]+(?: [A-Z][\w\-]+)+), (?:the|a|an) (?:[a-z\-]+ ){0,3}"
    r"(?P<role>spokesman|spokeswoman|spokesperson|minister|official|officer|director|chief|"
    r"commander|adviser|governor|mayor|head|envoy|aide),")
_ROLE_TITLE = re.compile(
    r"\b(?P<role>[Ss]pokesman|[Ss]pokeswoman|[Ss]pokesperson|[Mm]inister|[Gg]overnor|[Mm]ayor|"
    r"[Cc]ommander|[Dd]irector|[Cc]hief) (?P<name>[A-Z][\w\-]+(?: [A-Z][\w\-]+)+)\b")
_ARMY = re.compile(r"\b(?P<d>[A-Z][a-z]+) (?:army|military|troops|forces|soldiers)\b")
_GROUP = re.compile(r"\b(?P<g>[A-Z][\w\-]+(?: [A-Z][\w\-]+)*) (?:armed group|militia|rebels|"
                    r"rebel group|"
                    r"fighters|militants|insurgents|group)\b")


def _scan_article(article: _Article, text: str) -> None:
    """Facts read from the whole article: role appositions ("the spokesman, Lior Haiat"), the
    one national army it names ("Ethiopian army") and the one armed group ("Fano fighters")."""
    flat = " ".join(text.split())
    for m in _ROLE_APPOSITION.finditer(flat):
        article.roles.setdefault(m.group("role"), m.group("name"))
    for m in _NAME_ROLE.finditer(flat):
        article.roles.setdefault(m.group("role"), m.group("name"))
    for m in _ROLE_TITLE.finditer(flat):
        article.roles.setdefault(m.group("role").lower(), m.group("name"))
    armies = Counter(DEMONYMS[m.group("d")] for m in _ARMY.finditer(flat)
                     if m.group("d") in DEMONYMS)
    ranked = armies.most_common(2)
    if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
        article.army_side = ranked[0][0]
    groups = set()
    for m in _GROUP.finditer(flat):
        words = [w for w in m.group("g").split() if w not in _NOT_SIDE and w not in (
            "Some", "Many", "Most", "All", "Several", "Other", "Both", "Suspected")]
        if words and " ".join(words) not in DEMONYMS:
            groups.add(" ".join(words))
    if len(groups) == 1:
        article.armed_group = groups.pop()


def _candidate(article: _Article, sent: Sentence, prepared: str, toks: list, reading: Reading,
               found: list[Speaker], dates: list[Found], incident: str | None,
               conflict_start: int | None, made: list, clause: list[int]) -> _Candidate | None:
    parent = made[reading.parent] if reading.parent is not None else None
    if reading.kind == "part" and parent is None and reading.parent is not None:
        return None
    sp = _source_for(reading, found, toks, clause)
    named = sp is not None
    by_name = named and not sp.pronoun
    if sp is not None:
        sp = article.resolve(sp)
    if parent is not None:
        source, named, side = parent.source, parent.named, parent.side
    else:
        if sp is None:
            sp = article.last_speaker
        source = sp.name if sp is not None else article.outlet
        side = _side(reading, sp, toks, prepared, article)
        if side is None and made and _bare(reading):
            side = next((c.side for c in reversed(made) if c is not None), None)
    category = reading.category
    historical = _historical(dates, conflict_start, article.reported_on, prepared,
                             toks[reading.mention.index].start)
    notes = None
    if historical is not None:
        if category not in ("killed", "civilian", "military") or parent is not None:
            return None
        category = "historical"
        if not by_name:
            source, named = article.outlet, False
        side = _side_from_words(reading.np_words)
    as_of, period_start = _dates_for(article, sent, reading, dates, incident, historical,
                                     prepared, by_name, toks[reading.mention.index].start)
    if parent is not None:
        as_of, period_start = parent.as_of, parent.period_start
    if reading.mention.vague:
        notes = "A vague quantity, proposed as at least its smallest reading."
    via = parent.via if parent else (_via(prepared) if by_name else None)
    return _Candidate(reading, sent.index, source[:MAX_NAME], named, side,
                      parent.location if parent else _place(prepared), as_of, period_start,
                      category, _quote(sent.text), notes=notes, parent=parent, via=via)


_ABROAD = re.compile(r"\b(?:in|across|inside) (?:the )?(?:(?:northern|southern|eastern|western|"
                     r"central|north|south|east|west|neighbouring|neighboring) )?([A-Z][\w\-]+)")


def _side(reading: Reading, sp: Speaker | None, toks: list, prepared: str,
          article: _Article) -> str | None:
    """Whose losses (API.md §4 `side`): a demonym or named group in the counted noun; the
    one army or armed group the article names, for "federal army soldiers" or "the group's
    fighters"; a state source speaking of its own dead ("its death toll", or civilians a
    ministry counts at home)."""
    side = _side_from_words([w for w in reading.np_words])
    if side:
        return side[:MAX_NAME]
    lower_words = {w.lower().strip("'’") for w in reading.np_words}
    if reading.category in ("military", "injured", "killed") and lower_words & {
            "army", "federal", "government", "national"} and article.army_side:
        return article.army_side
    possessive = {"group's", "group’s"} & {w.lower() for w in reading.np_words}
    if possessive and article.armed_group and reading.category in (
            "military", "injured", "killed"):
        return article.armed_group
    lower = prepared.lower()
    own = {w.lower() for w in reading.np_words} & {"its", "our", "their"}
    if own and sp is not None and speaks_for_state(sp.name.split()):
        return speaks_for_state(sp.name.split())  # "12 of its soldiers were killed"
    if re.search(r"\b(?:its|their|our) (?:own )?(?:death toll|toll|dead|losses|casualties)\b",
                 lower):
        if sp is not None and speaks_for_state(sp.name.split()):
            return speaks_for_state(sp.name.split())
        for t in toks:
            if t.text in DEMONYMS and DEMONYMS[t.text] == t.text:
                return t.text
    if reading.category in ("civilian", "killed", "injured", "missing") and sp is not None \
            and reading.kind != "toll":
        state = speaks_for_state(sp.name.split())
        abroad = {m.group(1) for m in _ABROAD.finditer(prepared)
                  if DEMONYMS.get(m.group(1)) == m.group(1)}
        if state and abroad - {state}:
            return None  # a state counting deaths in another country
        return state
    return None


def _bare(reading: Reading) -> bool:
    """No counted noun of its own ("and 74 injured", "another 125", "four others")."""
    words = [w.lower() for w in reading.np_words]
    return not words or words[-1] in ("others", "more")


def _dates_for(article: _Article, sent: Sentence, reading: Reading, dates: list[Found],
               incident: str | None, historical: Found | None, prepared: str,
               named: bool, position: int) -> tuple[date, date | None]:
    """as_of and period_start (API.md §4) from the sentence's dates and the narrative."""
    reported_on = article.reported_on
    if historical is not None:
        if historical.precision == "decade":
            return reported_on, None
        return min(historical.last, reported_on), historical.first
    as_of = reported_on
    reporting = [f for f in dates if f.reporting and f.precision == "day"]
    event = [f for f in dates if not f.reporting and f.precision in ("day", "month")]
    if reporting:
        as_of = reporting[0].first
    lower = prepared.lower()
    cumulative = any(marker in lower for marker in lx.CUMULATIVE)
    if reading.kind == "toll":
        points = [f for f in event if f.precision == "day" and not f.relative]
        if not reporting and points:
            as_of = points[0].first  # "the death toll rose to 53 on Wednesday"
        start = None
        if incident == "definite":
            start = article.lede_date
        return as_of, (start if start and start <= as_of else None)
    since = re.search(r"\bsince\b", lower)
    if since and re.search(r"\bsince (?:the )?[\w\- ]{0,40}\b(?:war|conflict|invasion|fighting|"
                           r"offensive|hostilities)\b", lower):
        return as_of, None  # since the war began: a cumulative toll
    later = [f for f in dates if since and not f.reporting and f.start >= since.start()
             and f.precision in ("day", "month", "year")]
    if later:
        start = later[0].first  # since a date: counted from that day
        return as_of, (start if start <= as_of else None)
    if cumulative:
        start = None
        if since:
            after = [f for f in event if f.start > since.start()]
            start = after[0].first if after else None
        return as_of, (start if start and start <= as_of else None)
    if event:
        f = _nearest(event, position)
        start = f.first
        if f.precision == "month" and not reporting:
            as_of = f.last
        return as_of, (start if start <= as_of else None)
    if not named:
        recent = [f for i, f in article.recent_dates if sent.index - i <= 2]
        if recent:
            start = recent[-1].first
            return as_of, (start if start <= as_of else None)
    if incident == "definite":
        start = article.lede_date or reported_on
        return as_of, (start if start <= as_of else None)
    if incident == "indefinite":
        return as_of, reported_on if reported_on <= as_of else None
    return as_of, None


def _nearest(found: list[Found], position: int) -> Found:
    return min(found, key=lambda f: abs(f.start - position))


def _denial(prepared: str, toks: list, found: list[Speaker],
            article: _Article) -> tuple[Speaker, bool] | None:
    """A denial of figures in the sentence: (who denies, whether it is of this sentence's
    figures rather than the previous sentence's). Denials of an attack or of blame (not of a
    number) are not disputes of a figure."""
    lower = [t.lower for t in toks]
    for i, w in enumerate(lower):
        if w not in lx.DENIAL_WORDS:
            continue
        window = lower[i + 1:i + 5]
        before = lower[max(0, i - 3):i]
        if "claim" in before and i + 1 < len(lower) and lower[i + 1] == "by":
            b = i + 2
            while b < len(toks) and toks[b].text not in (".", ",", ";", "-") and b - i < 12:
                b += 1
            name = prepared[toks[i + 2].start:toks[b - 1].end] if b > i + 2 else ""
            if name:
                return Speaker(name.strip(), i + 2, b), True
            return None
        if not set(window) & lx.DENIAL_OBJECTS:
            return None
        after = lower[i + 1:]
        if "that" in after[:6] and not any(t.value is not None for t in toks[i + 1:]) and \
                not set(after[:8]) & {"toll", "tolls", "figures", "figure", "numbers"}:
            return None  # denies what a clause says ("the account that ... was destroyed")
        from .reading import _subject_before, _text  # the same subject rules as speakers
        span = _subject_before(toks, i)
        if span is None:
            return None
        sp = Speaker(_text(prepared, toks, *span), span[0], span[1],
                     pronoun=span[1] - span[0] == 1 and toks[span[0]].lower in (
                         "he", "she", "they", "it"))
        sp = article.resolve(sp)
        if sp is None:
            return None
        return sp, False
    return None


def _name_key(name: str) -> str | None:
    """A person's name at the end of a source ("Lebanese Health Minister Firass Abiad" ->
    "firass abiad"), or None."""
    words = [w for w in re.findall(r"[\w'’\-]+", name)]
    tail = []
    for w in reversed(words):
        if not w[:1].isupper():
            break
        tail.append(w)
    tail.reverse()
    if len(tail) >= 2 and not set(w.lower() for w in tail) & {
            "ministry", "military", "army", "government", "service", "council", "office",
            "observatory", "society", "committee", "agency", "forces", "police", "rights"}:
        return _fold(" ".join(tail[-2:]))
    return None


def _canonical_sources(items: list, names: list[str], roles: dict[str, str]) -> None:
    """One spelling per speaker: "Haiat" and "minister Firass Abiad" become the fullest name
    the article used for them; "Israel's earlier count" becomes "Israel"."""
    full: dict[str, str] = {}
    for name in names:
        key = _name_key(name)
        if key and key not in full:
            full[key] = name
    for it in items:
        name = it.source if isinstance(it, _Candidate) else it.name
        key = _name_key(name)
        target = full.get(key) if key else None
        bare = re.sub(r"^(?:the|a|an)\s+", "", name, flags=re.IGNORECASE)
        if target is None and bare and bare == bare.lower() and bare.split()[-1] in roles:
            target = roles[bare.split()[-1]]
            target = full.get(_name_key(target) or "", target)
        if target is None and re.fullmatch(r"[A-Z][\w'\-]+", name):
            target = next((v for k, v in full.items() if k.split()[-1] == _fold(name)), None)
        if target:
            if isinstance(it, _Candidate):
                it.source = target
            else:
                it.name = target


def _overlap(a: str, b: str) -> bool:
    """One name contains the other as whole words ("health officials", "Palestinian health
    officials")."""
    wa, wb = re.findall(r"\w+", _fold(a)), re.findall(r"\w+", _fold(b))
    if not wa or not wb:
        return False
    short, long_ = (wa, wb) if len(wa) <= len(wb) else (wb, wa)
    n = len(short)
    return any(long_[i:i + n] == short for i in range(len(long_) - n + 1))


def _dedupe(candidates: list[_Candidate]) -> list[_Candidate]:
    """One figure per source and thing counted: a number repeated in headline, lede and body
    is one figure (a headline's number that the body gives again is dropped, whatever its
    qualifier); two spellings of one source keep the fuller; the same figure from a named
    source and from a fall-back (the last speaker, the outlet) keeps the named one."""
    body_counts = {(c.category, c.reading.mention.count) for c in candidates if not c.headline}
    candidates = [c for c in candidates if not (
        c.headline and (c.category, c.reading.mention.count) in body_counts)]
    merged: list[_Candidate] = []
    for c in candidates:
        m = c.reading.mention
        what = (c.category, m.count, m.count_high, m.qualifier, _fold(c.reading.unit),
                c.reading.group)
        twin = next((o for o in merged if (
            o.category, o.reading.mention.count, o.reading.mention.count_high,
            o.reading.mention.qualifier, _fold(o.reading.unit), o.reading.group) == what
            and o.named and c.named and _overlap(o.source, c.source)), None)
        if twin is None:
            merged.append(c)
            continue
        if len(c.source) > len(twin.source):
            twin.source = c.source
        twin.side = twin.side or c.side
    candidates = merged
    kept: list[_Candidate] = []
    seen: dict[tuple, _Candidate] = {}
    for c in candidates:
        m = c.reading.mention
        what = (c.category, m.count, m.count_high, m.qualifier, _fold(c.reading.unit),
                c.reading.group)
        key = (_fold(c.source),) + what
        loose = what + (_fold(c.side),)
        if key in seen:
            continue
        if loose in seen and not (seen[loose].named and c.named):
            other = seen[loose]
            if other.named or not c.named:
                continue
            kept[kept.index(other)] = c
            seen[loose] = c
            seen[key] = c
            continue
        seen[key] = c
        seen[loose] = c
        kept.append(c)
    return kept


def _valid(c: _Candidate) -> bool:
    """The §4 rules a proposal must meet to be posted as it is (belt and braces: the
    readers above should never produce anything else)."""
    m = c.reading.mention
    return (0 <= m.count <= 1_000_000_000 and (m.count_high is None or (
        m.count <= m.count_high <= 1_000_000_000 and m.qualifier == "exact"))
        and 1 <= len(c.source.strip()) <= MAX_NAME
        and (c.period_start is None or c.period_start <= c.as_of)
        and (c.category != "damage" or (c.reading.unit or "people") != "people"))


def _body(c: _Candidate, conflict: str, reported_on: date, url: str | None) -> dict[str, Any]:
    m = c.reading.mention
    group = c.reading.group if c.category != "damage" else None
    via = c.via if c.via and _fold(c.via) != _fold(c.source) else None
    return {
        "conflict": conflict, "source": c.source, "category": c.category, "side": c.side,
        "location": c.location, "location_code": None, "group": group, "incident": None,
        "count": m.count, "count_high": m.count_high, "qualifier": m.qualifier,
        "unit": c.reading.unit if c.category == "damage" else "people",
        "reported_on": reported_on.isoformat(), "as_of": c.as_of.isoformat(),
        "period_start": c.period_start.isoformat() if c.period_start else None,
        "via": via, "quote": c.quote, "url": url, "notes": c.notes,
    }


_AGENCY = re.compile(
    r"\b(?:told|telling|said to|speaking to|in an interview with)\s+(?:the\s+)?"
    r"(?P<a>Reuters|AFP|Agence France-Presse|AP|Associated Press|BBC|CNN|Al Jazeera|"
    r"Xinhua|Anadolu(?: Agency)?|DPA|EFE|Interfax|TASS|RIA Novosti|Ukrinform|"
    r"[A-Z][\w\-]*(?: [A-Z][\w\-]*)? news agency)\b")
_CITING = re.compile(r"^(?:Source:\s*)?(?P<via>[A-Z][^,;:]{1,80}), citing\b")


def _via(prepared: str) -> str | None:
    """Who carried the words (API.md §4 `via`): "X told Reuters", "the council, citing Y"."""
    m = _AGENCY.search(prepared)
    if m:
        agency = m.group("a")
        return re.sub(r" news agency$", "", agency) if agency.endswith("news agency") else agency
    m = _CITING.search(prepared)
    return m.group("via").strip()[:MAX_NAME] if m else None
