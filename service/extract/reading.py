"""Reading one sentence: who speaks, which numbers are tolls, and what each counts.

Pure functions over the tokens of ``text.tokens``. The rules are general patterns of news
English (API.md §9), each pinned by invented sentences in tests/test_extract_rules.py:

* a count is a toll only when a casualty word governs it — a verb before it ("killed 20
  militants", "wounding some 2,800"), a predicate after its noun ("22 civilians have been
  killed", "23 dead", "74 injured"), a death toll ("put the death toll at 131") or a
  sub-population of a toll ("including 12 children", "13 of them children");
* what is counted comes from the counted noun (civilians, fighters, people, houses...);
* the speaker is the subject of a reporting verb or the object of "according to".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import lexicon as lx
from .sides import DEMONYMS
from .text import Token

_QUALIFIERS = [  # longest first
    (("no", "fewer", "than"), "at_least"), (("no", "less", "than"), "at_least"),
    (("not", "less", "than"), "at_least"), (("a", "minimum", "of"), "at_least"),
    (("at", "least"), "at_least"),
    (("in", "excess", "of"), "more_than"), (("upwards", "of"), "more_than"),
    (("more", "than"), "more_than"), (("over",), "more_than"), (("above",), "more_than"),
    (("no", "more", "than"), "at_most"), (("not", "more", "than"), "at_most"),
    (("as", "many", "as"), "at_most"), (("up", "to"), "at_most"), (("at", "most"), "at_most"),
    (("a", "maximum", "of"), "at_most"),
    (("fewer", "than"), "fewer_than"), (("less", "than"), "fewer_than"),
    (("not", "even"), "fewer_than"), (("under",), "fewer_than"), (("below",), "fewer_than"),
    (("just", "under"), "nearly"), (("close", "to"), "nearly"), (("nearly",), "nearly"),
    (("almost",), "nearly"), (("an", "estimated"), "about"), (("estimated",), "about"),
    (("approximately",), "about"), (("roughly",), "about"), (("around",), "about"),
    (("about",), "about"), (("some",), "about"), (("circa",), "about"), (("approx",), "about"),
]
_QUALIFIER_ENDS = frozenset(words[-1] for words, _ in _QUALIFIERS)
_QUOTES = frozenset({"'", '"'})
MAX_COUNT = 1_000_000_000  # API.md §4
_PUNCT_STOP = frozenset({".", ";", ":", "?", "!"})
_NP_STOP = (lx.KILLED_AFTER | lx.INJURED_AFTER | lx.MISSING_AFTER | lx.DAMAGE_VERBS
            | lx.KILLED_BEFORE | lx.INJURED_BEFORE | frozenset({
                "were", "was", "have", "has", "had", "are", "is", "been", "be", "will",
                "would", "in", "on", "at", "by", "from", "with", "near", "during", "after",
                "when", "while", "as", "since", "for", "to", "into", "across", "including",
                "among", "and", "or", "but", "that", "who", "which", "whom", "according",
                "than", "along", "of", "the", "a", "an", "this", "these", "those", "said",
                "says", "say", "told", "reported", "remain", "remained", "remains", "reportedly",
                "now", "also", "still", "later", "earlier", "not", "so", "far",
                "there", "here", "all", "both", "last", "overnight", "yesterday",
                "today", "outright", "critically", "seriously",
            }))
_DETERMINERS = frozenset({"the", "its", "their", "his", "her", "our", "those", "these", "my",
                          "your"})
_PARENTHETICAL = frozenset({"among", "including", "most", "mostly", "many", "mainly", "all",
                            "some", "both", "several", "nearly", "almost", "a", "an",
                            "according", "largely", "chiefly"})
_CONNECTORS = frozenset({"with", "well", "plus", "and", "along", "as"})
_SUBPOP_INTRO = frozenset({"including", "included", "includes", "include", "among"})
_PRONOUNS = frozenset({"he", "she", "they", "it", "we", "i"})
_STRIP_LEAD = frozenset({"the", "a", "an", "while", "whereas", "but", "and", "however",
                         "yet", "so", "also", "earlier", "later", "then", "first", "meanwhile",
                         "separately", "now", "though", "although", "as", "when", "that"})
_STRIP_TAIL = frozenset({"had", "has", "have", "would", "will", "also", "earlier", "later",
                         "first", "then", "previously", "separately", "on", "in", "both",
                         "was", "were", "is", "are", "did", "does", "do", "initially",
                         "originally", "subsequently", "again", "further", "repeatedly",
                         "publicly", "officially", "could", "can", "may", "might", "not",
                         "already", "just", "last", "late", "today", "yesterday"})
_PARENTHESIS_START = frozenset({"who", "which", "whose", "where", "dated", "seen", "based",
                                "published", "released", "issued", "quoted", "cited", "for",
                                "in", "on", "at", "with", "from", "during", "after", "speaking",
                                "citing", "according", "by", "writing", "reporting", "via",
                                "like", "unlike", "despite", "once"})
_NON_REPORTING_VERBS = frozenset({
    "confirmed", "rejected", "denied", "dismissed", "disputed", "blamed", "accused",
    "condemned", "called", "gave", "raised", "put", "cut", "first", "insisted",
}) | lx.DENIAL_WORDS
_TOLL_VERBS = frozenset({"put", "puts", "gave", "gives", "raised", "cut", "lowered", "revised",
                         "updated", "raises", "revises"})
_ROLE_WORDS = frozenset({
    "spokesman", "spokeswoman", "spokesperson", "minister", "officer", "director", "chief",
    "official", "adviser", "advisor", "commander", "president", "governor", "mayor",
    "doctor", "lawyer", "witness", "source", "analyst", "head", "leader", "secretary",
    "ambassador", "general", "colonel", "major", "captain", "aide", "envoy", "resident",
    "medic", "nurse", "surgeon", "coordinator", "representative", "mp", "lawmaker",
    "senator", "prosecutor", "judge", "father", "mother", "brother", "sister", "survivor",
})
_ORG_WORDS = frozenset({
    "ministry", "military", "officials", "army", "government", "council", "service",
    "office", "agency", "committee", "observatory", "organization", "organisation",
    "authorities", "forces", "police", "mission", "society", "report", "statement",
    "media", "monitor", "group", "department", "command", "unit", "un", "workers", "staff",
    "cross", "crescent", "nations", "union", "front", "party", "movement", "brigade",
    "brigades", "guard", "network", "institute", "center", "centre", "foundation",
    "international", "watch", "federation", "association", "commission", "court", "doctors",
    "hospital", "team", "coalition", "alliance", "rebels", "militants",
    "residents", "witnesses", "investigators", "rescuers", "medics", "authority", "bureau",
    "tribunal", "parliament", "assembly", "press", "times", "post", "news", "radio", "tv",
})
_REPORTING_EXTRA = frozenset({"saying", "telling", "adding", "noting", "claiming",
                              "disagreed"})
#: Words that never stand in a speaker's name: a clause, not a subject, was caught.
_NOT_IN_NAME = frozenset({
    "never", "went", "was", "were", "is", "are", "had", "has", "have", "did", "do", "does",
    "not", "been", "could", "would", "will", "should", "may", "might", "can", "who", "which",
    "that", "there", "it", "if", "because", "when", "where", "killed", "died", "wounded",
    "injured", "attacked", "struck", "hit", "fired", "left", "came", "took",
})


@dataclass
class Speaker:
    """An attribution in a sentence: the speaker's name as written and the tokens it spans."""

    name: str
    start: int
    end: int
    pronoun: bool = False
    person: bool = False


@dataclass
class Mention:
    """A number in a sentence with its qualifier and range, and the tokens they span."""

    start: int
    index: int
    end: int
    count: int
    count_high: int | None
    qualifier: str
    vague: bool = False


@dataclass
class Reading:
    """A number read as a toll: what it counts (API.md §4 fields) and how it was read."""

    mention: Mention
    category: str
    unit: str = "people"
    group: str | None = None
    np_words: list[str] = field(default_factory=list)
    kind: str = "verb"  # verb (a casualty verb), toll (a death toll), part (a sub-population)
    parent: int | None = None  # index of the whole, in this sentence's readings


# ------------------------------------------------------------------ numbers
def _qualifier_before(toks: list[Token], i: int) -> tuple[str, int]:
    j = i
    while j > 0 and toks[j - 1].lower in _QUOTES:
        j -= 1
    if j == 0 or toks[j - 1].lower not in _QUALIFIER_ENDS:
        return "exact", j
    for words, qualifier in _QUALIFIERS:
        n = len(words)
        if j - n >= 0 and tuple(t.lower for t in toks[j - n:j]) == words:
            return qualifier, j - n
    return "exact", j


def _is_year(tok: Token, nxt: Token | None) -> bool:
    if tok.value is None or "," in tok.text or not 1800 <= tok.value <= 2100:
        return False
    return not (nxt and (nxt.lower in lx.PEOPLE_NOUNS or nxt.lower in lx.CIVILIAN_NOUNS
                         or nxt.lower in lx.MILITARY_NOUNS))


def mentions(toks: list[Token]) -> list[Mention]:
    """Numbers that may be counts: not times, years, compound adjectives or measures.

    "from 1,400 to about 1,200" yields only the second number (the first was replaced).
    """
    out: list[Mention] = []
    n = len(toks)
    i = 0
    while i < n:
        tok = toks[i]
        nxt = toks[i + 1] if i + 1 < n else None
        prev = toks[i - 1] if i > 0 else None
        if tok.value is None and tok.lower in ("a", "an") and _counts_one(toks, i):
            out.append(Mention(i, i, i + 1, 1, None, "exact"))
            i += 1
            continue
        if tok.value is None or tok.value > MAX_COUNT:
            i += 1
            continue
        if (nxt and nxt.text == ":" and i + 2 < n and toks[i + 2].value is not None) or (
                prev and prev.text == ":" and i >= 2 and toks[i - 2].value is not None):
            i += 1  # a time of day, 13:15
            continue
        if (nxt and nxt.text in ("-", "/") and i + 2 < n and toks[i + 2].value is None
                and toks[i + 2].start == nxt.end) or _is_year(tok, nxt) or (
                nxt and nxt.lower in lx.NOT_COUNT_AFTER) or (prev and prev.text in ("$", "#")):
            i += 1
            continue
        if nxt and nxt.lower == "of" and tok.value == 1 and tok.lower == "one" and not (
                i + 2 < n and toks[i + 2].lower in ("them", "whom", "those")):
            i += 1
            continue
        qualifier, start = _qualifier_before(toks, i)
        if start > 0 and toks[start - 1].lower == "between":
            start -= 1
        high = None
        end = i + 1
        if nxt and nxt.lower in ("to", "-", "and", "or") and i + 2 < n:
            other = toks[i + 2]
            if other.value is not None and tok.value < other.value <= MAX_COUNT \
                    and not other.vague:
                if nxt.lower == "to" and start > 0 and toks[start - 1].lower == "from":
                    i += 2  # "from 1,400 to 1,200": the first number was replaced
                    continue
                if nxt.lower != "and" or toks[start].lower == "between":
                    high, end = other.value, i + 3
        if high is not None:
            qualifier = "exact"
        if tok.vague:
            qualifier = "at_least"
        out.append(Mention(start, i, end, tok.value, high, qualifier, tok.vague))
        i = end
    return out


def _counts_one(toks: list[Token], i: int) -> bool:
    """'a'/'an' counts one after a damage verb ("destroyed a military airfield") or in a
    sub-population ("including a girl")."""
    if i == 0:
        return False
    prev = toks[i - 1].lower
    words, _ = _noun_phrase(toks, i + 1)
    head = words[-1].lower() if words else None
    if prev in lx.DAMAGE_VERBS and head in lx.DAMAGE_NOUNS:
        return True
    return prev in _SUBPOP_INTRO and head in lx.GROUP_NOUNS


# ------------------------------------------------------------------ what is counted
def _noun_phrase(toks: list[Token], start: int) -> tuple[list[str], int]:
    """Words of the noun phrase that starts at `start` (up to six), and where it ends.

    "members of the armed group" keeps its "of" phrase (for the side and the armed body).
    """
    words: list[str] = []
    j = start
    n = len(toks)
    while j < n and len(words) < 6:
        t = toks[j]
        adjective = (t.lower in ("wounded", "injured", "dead") and not words and j + 1 < n
                     and (toks[j + 1].lower in lx.PEOPLE_NOUNS | lx.CIVILIAN_NOUNS
                          | lx.MILITARY_NOUNS or toks[j + 1].lower in lx.GROUP_NOUNS)
                     and toks[j + 1].lower not in ("dead", "more", "others"))
        if not adjective and (t.value is not None or not (t.text[0].isalpha())
                              or t.lower in _NP_STOP):
            break
        words.append(t.text)
        j += 1
    if (words and j + 1 < n and toks[j].lower == "of" and words[-1].lower() in (
            "members", "fighters", "soldiers", "troops", "personnel", "militants")):
        k = j + 1
        tail = []
        while k < n and len(tail) < 5 and toks[k].text[0].isalpha() and toks[k].lower not in (
                _NP_STOP - {"the", "a", "an"}):
            tail.append(toks[k].text)
            k += 1
        return words + ["of"] + tail, k
    return words, j


def _head(words: list[str]) -> str | None:
    if "of" in words:
        words = words[:words.index("of")]
    return words[-1].lower() if words else None


def group_of(words: list[str]) -> str | None:
    """The §4 `group` a noun phrase names ("children", "aid workers"), or None."""
    lower = [w.lower() for w in words if w != "of"]
    for a, b in zip(lower, lower[1:], strict=False):
        if (a, b) in lx.GROUP_PHRASES:
            return lx.GROUP_PHRASES[(a, b)]
    head = _head(words)
    return lx.GROUP_NOUNS.get(head) if head else None


_NOT_ARMED = frozenset({"UN", "WHO", "MSF", "RED", "UNICEF", "UNRWA", "ICRC", "NGO", "EU",
                        "PARLIAMENT", "PARTY", "CONGRESS", "CREW", "FAMILY"})


def noun_kind(words: list[str]) -> str | None:
    """What a counted noun phrase is: civilian, military, people, damage, or None (not a
    casualty noun: "reports", "camps", "helicopters")."""
    head = _head(words)
    lower = {w.lower() for w in words}
    if head is None:
        return "people"
    if group_of(words):
        return "people"
    if head == "personnel":
        return None if lower & {"medical", "health", "aid", "un", "humanitarian"} else "military"
    if head in ("members", "officers", "guards") and lower & lx.ARMED_BODY:
        return "military"
    if head in ("members", "operatives", "cadres") and any(
            w[:1].isupper() and w not in DEMONYMS and w.upper() not in _NOT_ARMED
            for w in words if w != "of"):
        return "military"  # "Hezbollah members", "members of the Wagner group"
    if head in lx.MILITARY_NOUNS:
        return "military"
    if head in lx.CIVILIAN_NOUNS:
        return "civilian"
    if head in lx.PEOPLE_NOUNS:
        return "people"
    original = [w for w in words if w != "of"]
    if original and original[-1] in DEMONYMS and original[-1][0].isupper() and \
            original[-1].endswith(("s", "ese")):
        return "people"
    if head in lx.DAMAGE_NOUNS:
        return "damage"
    return None


def _plural(noun: str) -> str:
    if noun.endswith("s"):
        return noun
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def _post_predicate(toks: list[Token], start: int, head: str | None) -> str | None:
    """The casualty word after a counted noun: killed, injured, missing or damage."""
    n = len(toks)
    j = start
    steps = 0
    while j < n and steps < 12:
        steps += 1
        w = toks[j].lower
        if (w in lx.KILLED_AFTER or w in lx.INJURED_AFTER) and j + 2 < n and toks[
                j + 1].lower in ("or", "and") and (toks[j + 2].lower in lx.INJURED_AFTER
                                                  or toks[j + 2].lower in lx.KILLED_AFTER):
            return None  # "killed or wounded": casualties that no one category counts
        if w in lx.KILLED_AFTER:
            return "killed"
        if w in lx.INJURED_AFTER:
            return "injured"
        if w in lx.MISSING_AFTER:
            return "missing"
        if w in lx.DAMAGE_VERBS:
            return "damage"
        if w == "among" and j + 2 < n and toks[j + 1].lower == "the":
            after = toks[j + 2].lower
            if after in ("dead", "killed", "victims", "fatalities", "deceased"):
                return "among-killed"
            if after in ("wounded", "injured"):
                return "among-injured"
            return None
        if w == "treated" and j + 2 < n and toks[j + 1].lower == "for" and toks[j + 2].lower in (
                "wounds", "injuries", "burns"):
            return "injured"
        if head in ("bodies", "body") and w in ("found", "recovered", "retrieved",
                                                "discovered", "exhumed"):
            return "killed"
        if w == ",":
            if j + 1 < n and toks[j + 1].lower in _PARENTHETICAL:
                k = j + 1
                while k < n and toks[k].text not in (",", ".", ";") and k - j < 14:
                    k += 1
                if k < n and toks[k].text == ",":
                    j = k + 1
                    continue
            return None
        if w == "and" and j + 1 < n:
            nxt = toks[j + 1]
            if nxt.lower in lx.DAMAGE_VERBS and j + 2 < n and toks[j + 2].lower in (
                    "them", "it", "all"):
                return "damage"
            k = j + 1
            while k < n and (toks[k].lower in ("another", "a", "an") or any(
                    toks[k].lower == q[0] for q, _ in _QUALIFIERS)):
                k += 1
            if k < n and toks[k].value is not None:
                _, after = _noun_phrase(toks, k + 1)
                j = after
                continue
            return None
        if w in lx.BRIDGE or w in _QUOTES:
            j += 1
            continue
        return None
    return None


def _pre_predicate(toks: list[Token], start: int, earlier: list[Reading]) -> str | None:
    """The casualty word before a count: a verb ("killing nine"), a death toll ("put the
    death toll at 131"), or "claimed the lives of"."""
    j = start - 1
    while j >= 0 and toks[j].lower in _QUOTES:
        j -= 1
    if j < 0:
        return None
    w = toks[j].lower
    if w in lx.KILLED_BEFORE:
        return "killed"
    if w in lx.INJURED_BEFORE:
        return "injured"
    if w in lx.DAMAGE_VERBS:
        return "damage"
    if w == "of" and j > 0 and toks[j - 1].lower in ("lives", "bodies", "remains"):
        return "killed"
    if w == "of" and j > 0 and toks[j - 1].lower in ("fate", "whereabouts"):
        return "missing"
    if w in ("to", "at", "as", "of", "reached", "hit", "is", "was", "stood", "stands",
             "passed", "topped", "exceeded", "surpassed", "reaching", "hitting"):
        if w == "to" and any(r.kind == "toll" for r in earlier):
            return "toll"
        k = j - 1
        while k >= 0 and j - k <= 14 and toks[k].text not in _PUNCT_STOP:
            if toks[k].lower in ("toll", "tally"):
                if k > 0 and toks[k - 1].lower in ("injury", "injuries", "casualty"):
                    return None
                return "toll"
            if toks[k].lower == "number" and k + 2 < len(toks) and toks[k + 1].lower == "of":
                ahead = [t.lower for t in toks[k + 2:min(len(toks), k + 7)]]
                if set(ahead) & lx.KILLED_AFTER:
                    return "toll"  # "the number of soldiers killed ... rose to 312"
                return None
            k -= 1
    return None


def _toll_noun(toks: list[Token], start: int) -> str | None:
    """What a toll counts when its noun stands before the number: "the number of soldiers
    killed ... to 312" (military), "the civilian death toll rose to 40" (civilian)."""
    k = start - 1
    while k >= 0 and start - k <= 14 and toks[k].text not in _PUNCT_STOP:
        if toks[k].lower == "number" and k + 2 < start and toks[k + 1].lower == "of":
            words, _ = _noun_phrase(toks, k + 2)
            return noun_kind(words) if words else None
        if toks[k].lower == "toll" and k >= 2 and toks[k - 1].lower == "death":
            kind = noun_kind([toks[k - 2].text + ("s" if not toks[k - 2].lower.endswith("s")
                                                  else "")])
            return kind if kind in ("civilian", "military") else None
        k -= 1
    return None


def _connector_predicate(toks: list[Token], start: int) -> str | None:
    """"died along with at least 14 militants": the verb before a connector."""
    j = start - 1
    seen = 0
    while j >= 0 and toks[j].lower in _CONNECTORS and seen < 3:
        j -= 1
        seen += 1
    if not seen or j < 0:
        return None
    w = toks[j].lower
    if w in lx.KILLED_AFTER or w in lx.KILLED_BEFORE:
        return "killed"
    if w in lx.INJURED_AFTER or w in lx.INJURED_BEFORE:
        return "injured"
    return None


def read_tolls(toks: list[Token]) -> list[Reading]:
    """Every number of a sentence that is a toll, with what it counts.

    A number with no casualty word governing it (a date, a distance, "nine camps", "240
    people were abducted") is left out.
    """
    out: list[Reading] = []
    for m in mentions(toks):
        reading = _read_one(toks, m, out)
        if reading is not None:
            out.append(reading)
    return out


def _read_one(toks: list[Token], m: Mention, earlier: list[Reading]) -> Reading | None:
    n = len(toks)
    k = m.end
    # sub-populations: "13 of them children", "Eight of the dead were civilians"
    if k + 1 < n and toks[k].lower == "of" and toks[k + 1].lower in ("them", "whom", "those",
                                                                     "these"):
        j = k + 2
        while j < n and toks[j].lower in ("were", "was", "are", "being", "reportedly"):
            j += 1
        words, _ = _noun_phrase(toks, j)
        group = group_of(words)
        if group and earlier:
            parent = len(earlier) - 1
            return Reading(m, earlier[parent].category, group=group, np_words=words,
                           kind="part", parent=parent)
        return None
    if k + 2 < n and toks[k].lower == "of" and toks[k + 1].lower == "the" and \
            toks[k + 2].lower in ("dead", "victims", "killed", "deceased"):
        j = k + 3
        while j < n and toks[j].lower in ("were", "was", "are", "being", "reportedly"):
            j += 1
        words, _ = _noun_phrase(toks, j)
        kind = noun_kind(words) if words else None
        group = group_of(words) if words else None
        if group:
            return Reading(m, "killed", group=group, np_words=words, kind="part")
        if kind in ("civilian", "military"):
            return Reading(m, kind, np_words=words)
        return None
    start = k
    possessor: list[str] = []
    if k < n and toks[k].lower == "of":
        start = k + 1
        while start < n and (toks[start].lower in _DETERMINERS or toks[start].lower.endswith(
                ("'s", "’s"))):
            if toks[start].lower.endswith(("'s", "’s")) or toks[start].lower in (
                    "its", "our", "their"):
                possessor.append(toks[start].text)
            start += 1
    words, np_end = _noun_phrase(toks, start)
    if words:
        words = possessor + words
    if k < n and toks[k].lower == "of" and not words:
        return None
    head = _head(words)
    kind = noun_kind(words)
    if kind is None:
        return None
    # a sub-population introduced by "including", "among them", or continuing one
    before = toks[m.start - 1].lower if m.start > 0 else ""
    group = group_of(words)
    if group and earlier and (before in _SUBPOP_INTRO or (
            before == "them" and m.start > 1 and toks[m.start - 2].lower == "among") or (
            before == "and" and earlier[-1].kind == "part")):
        parent = earlier[-1].parent if earlier[-1].kind == "part" else len(earlier) - 1
        if parent is not None:
            return Reading(m, earlier[parent].category, group=group, np_words=words,
                           kind="part", parent=parent)
    if kind in ("civilian", "military") and np_end + 1 < n and toks[np_end].lower == "and":
        other, _ = _noun_phrase(toks, np_end + 1)
        other_kind = noun_kind(other) if other else None
        if other_kind and other_kind != kind and other_kind != "damage":
            kind = "people"  # "10,000 civilians and soldiers": a toll the text does not split
    if m.start > 0 and toks[m.start - 1].lower == "the" and m.start > 1 and \
            toks[m.start - 2].lower == "of" and k < n and toks[k].lower in ("dead", "killed",
                                                                             "victims"):
        return None  # "Of the 38 dead, 20 were...": a toll already given, named again
    predicate = _pre_predicate(toks, m.start, earlier)
    if predicate is None and head == "lives" and m.start > 0 and toks[m.start - 1].lower in (
            "claimed", "claiming", "cost", "costing", "took", "taking"):
        predicate = "killed"  # "claimed over 190 lives"
    if predicate == "toll" and kind == "people" and not words:
        kind = _toll_noun(toks, m.start) or kind
    if predicate is None and head in ("bodies", "body") and m.start > 0 and toks[
            m.start - 1].lower in ("recovered", "found", "retrieved", "exhumed", "received",
                                   "counted", "collected", "identified"):
        predicate = "killed"
    if predicate is None:
        predicate = _post_predicate(toks, np_end, head)
    if predicate in ("among-killed", "among-injured"):
        # "19 children were among the dead": a part of a toll, kept only as a group figure
        if not group:
            return None
        return Reading(m, "killed" if predicate == "among-killed" else "injured", group=group,
                       np_words=words, kind="part")
    if predicate is None:
        predicate = _connector_predicate(toks, m.start)
    if predicate is None:
        return None
    if predicate == "damage" or kind == "damage":
        if predicate != "damage" or kind not in ("damage",) and head not in ("others", "more",
                                                                            None):
            return None
        unit = _plural(head) if head not in ("others", "more", None) else next(
            (r.unit for r in reversed(earlier) if r.category == "damage"), None)
        return Reading(m, "damage", unit=unit, np_words=words) if unit else None
    if predicate in ("killed", "toll"):
        category = {"civilian": "civilian", "military": "military"}.get(kind, "killed")
        return Reading(m, category, group=group, np_words=words,
                       kind="toll" if predicate == "toll" else "verb")
    return Reading(m, predicate, group=group, np_words=words)


# ------------------------------------------------------------------ speakers
def _possessive_mark(toks: list[Token], i: int) -> bool:
    """The apostrophe of a plural possessive ("doctors' group"), not a quotation mark."""
    return (toks[i].text in ("'", "’") and i > 0 and toks[i].start == toks[i - 1].end
            and toks[i - 1].lower.endswith("s") and i + 1 < len(toks)
            and toks[i + 1].start > toks[i].end and toks[i + 1].text[:1].isalpha())


def _segments(toks: list[Token], end: int) -> list[tuple[int, int]]:
    """Comma-, colon- and bracket-delimited stretches of tokens[0:end], nearest first."""
    cuts = [-1] + [i for i in range(end) if toks[i].text in (",", ";", ":", "(", ")", "-",
                                                             '"', "'", "[", "]")
                   and not _possessive_mark(toks, i)] + [end]
    segs = [(a + 1, b) for a, b in zip(cuts, cuts[1:], strict=False)]
    return list(reversed(segs))


def _strip(toks: list[Token], a: int, b: int) -> tuple[int, int]:
    while a < b and toks[a].lower in _STRIP_LEAD:
        a += 1
    while b > a and toks[b - 1].lower in _STRIP_TAIL:
        b -= 1
    return a, b


def _is_proper(toks: list[Token], a: int, b: int) -> bool:
    words = [t for t in toks[a:b] if t.text[0].isalpha()]
    return bool(words) and all(t.text[0].isupper() for t in words if t.lower not in (
        "of", "for", "and", "the", "al", "bin", "de", "van", "von"))


def _subject_before(toks: list[Token], verb: int, depth: int = 0) -> tuple[int, int] | None:
    """Token span of the subject of the verb at `verb`, walking back over appositives
    ("Zafar Khan, a local police officer, told..."), relative clauses and parentheticals."""
    if depth > 3:
        return None
    segs = _segments(toks, verb)
    for idx, (a, b) in enumerate(segs):
        if idx > 3:
            break
        a, b = _strip(toks, a, b)
        if a >= b:
            continue
        for v in range(a, b):
            if (toks[v].lower in lx.REPORTING_VERBS or toks[v].lower in _NON_REPORTING_VERBS) \
                    and _is_verb(toks, v):
                if v == a:
                    return _subject_before(toks, v, depth + 1)
                b = v
                a, b = _strip(toks, a, b)
                break
        if a >= b:
            continue
        first = toks[a].lower
        if first in _PARENTHESIS_START:
            continue
        if first in ("a", "an", "the") or (toks[a - 1].lower in ("a", "an", "the") if a else False):
            nxt = segs[idx + 1] if idx + 1 < len(segs) else None
            if nxt and _is_proper(toks, *_strip(toks, *nxt)):
                continue
        relative = next((k for k in range(a + 1, b) if toks[k].lower in ("who", "which",
                                                                         "whose")), None)
        if relative is not None:
            b = relative  # "A resident who asked not to be named told AFP" -> "A resident"
            a, b = _strip(toks, a, b)
            if a >= b:
                continue
        if b - a > 12 or any(t.lower in _NOT_IN_NAME for t in toks[a:b]) or \
                toks[b - 1].lower in ("the", "a", "an", "of", "to", "and"):
            return None
        return a, b
    return None


_NOUNISH = frozenset({"report", "reports", "claim", "claims", "cut", "put", "estimates",
                      "notes", "states", "update", "updates", "count", "found", "shows",
                      "statement", "record", "says"})


def _is_verb(toks: list[Token], j: int) -> bool:
    """False for a reporting word used as a noun: "the report", "the monitor's report"."""
    if toks[j].lower not in _NOUNISH or j == 0:
        return True
    prev = toks[j - 1].lower
    return not (prev in ("the", "a", "an", "its", "their", "his", "her", "this", "that",
                         "these", "those", "our", "your", "new", "latest", "earlier",
                         "separate", "final", "official", "initial", "preliminary")
                or prev.endswith(("'s", "’s")) or toks[j - 1].text in ("'", "’"))


_SOURCE_NOUNS = frozenset({"report", "statement", "figures", "data", "count", "tally",
                           "tallies", "counts", "reports", "statements",
                           "statistics", "account", "estimate", "estimates", "records",
                           "numbers", "toll", "update", "findings"})


def clean_name(name: str) -> str:
    """A source's name as a recorder types it: "Health ministry figures" -> "Health
    ministry", "the monitor's report" -> "monitor"; titles ("Kishishe Report") stay."""
    words = name.split()
    while len(words) > 1 and words[-1] in _SOURCE_NOUNS and words[-2].lower() not in (
            "official", "latest", "new", "preliminary", "initial", "final", "provisional",
            "updated", "earlier", "the", "a", "its", "their"):
        words = words[:-1]
    if len(words) < len(name.split()) and words[-1].endswith(("'s", "’s")):
        words[-1] = words[-1][:-2]
    if len(words) == 1 and words[0] in DEMONYMS:
        return DEMONYMS[words[0]]  # "Israeli tallies" -> Israel
    return " ".join(words)


def _text(prepared: str, toks: list[Token], a: int, b: int) -> str:
    return prepared[toks[a].start:toks[b - 1].end].strip(" '\"")


def _is_person(words: list[str]) -> bool:
    lower = [w.lower().strip("'’") for w in words]
    head_words = lower
    for i, w in enumerate(lower):
        if w in ("of", "in", "at", "for", "from", "to"):
            head_words = lower[:i]
            break
    if head_words and (head_words[-1] in _ROLE_WORDS or head_words[-1].removesuffix("'s")
                       in _ROLE_WORDS):
        return True
    if set(lower) & _ORG_WORDS:
        return False
    if set(lower) & _ROLE_WORDS:
        return True
    caps = [w for w in words if w[:1].isupper()]
    return len(caps) >= 2 and len(caps) == len([w for w in words if w[:1].isalpha()])


def speakers(prepared: str, toks: list[Token]) -> list[Speaker]:
    """Attributions in a sentence: "according to X", "X said", "..., X told Reuters",
    "citing X", and pronoun subjects ("he said") marked for resolving."""
    out: list[Speaker] = []
    n = len(toks)
    for j, t in enumerate(toks):
        w = t.lower
        if (w == "according" and j + 1 < n and toks[j + 1].lower == "to") or w == "citing":
            a = j + 2 if w == "according" else j + 1
            b = a
            while b < n and toks[b].text not in (",", ".", ";", ":", "(", ")") and b - a < 14 \
                    and not (b > a and toks[b].lower in ("that", "who", "which", "when")):
                b += 1
            a2, b2 = _strip(toks, a, b)
            if a2 < b2:
                out.append(_speaker(prepared, toks, a2, b2, j, b))
            continue
        if w not in lx.REPORTING_VERBS and w not in _REPORTING_EXTRA:
            continue
        if w in _TOLL_VERBS and not any(toks[k].lower in ("toll", "figure", "it", "number",
                                                          "tally", "count")
                                        for k in range(j + 1, min(n, j + 5))):
            continue
        if not _is_verb(toks, j):
            continue  # a noun ("the report", "the monitor's report"), not a verb
        if w in ("claimed", "claims", "claim", "claiming") and {"lives", "responsibility",
                                                               "life"} & {
                t.lower for t in toks[j + 1:j + 5]}:
            continue  # "claimed 190 lives", "claimed responsibility"
        if j > 0 and toks[j - 1].lower in ("was", "were", "been", "being", "is", "are", "be"):
            continue  # passive: "six soldiers were reported missing"
        inverted = _inverted(prepared, toks, j)
        if inverted is not None:
            out.append(inverted)
            continue
        span = _subject_before(toks, j)
        if span is None:
            continue
        a, b = span
        out.append(_speaker(prepared, toks, a, b, a, j + 1))
    return out


_OPENING = frozenset({"after", "before", "in", "on", "at", "when", "while", "during", "since",
                      "as", "for", "with", "despite", "following", "earlier", "later", "then",
                      "however", "meanwhile", "also", "but", "and", "yet", "so", "by", "from",
                      "within", "once", "until", "speaking", "according"})


def subject(prepared: str, toks: list[Token]) -> Speaker | None:
    """The subject of a sentence's first clause ("After an hour of fighting, the M23
    summoned..." -> "M23"), for "they" in the next sentence; None when unclear."""
    segs = list(reversed(_segments(toks, len(toks))))
    for a, b in segs[:3]:
        if a >= b or toks[a].lower in _OPENING:
            continue
        for v in range(a, min(b, a + 8)):
            w = toks[v].lower
            if v > a and (w in lx.REPORTING_VERBS or w in ("is", "are", "was", "were", "has",
                                                             "have", "had", "will", "would")
                          or (w.endswith("ed") and len(w) > 4 and toks[v].text.islower())):
                a2, b2 = _strip(toks, a, v)
                if a2 < b2 and not any(t.lower in _NOT_IN_NAME | _PRONOUNS for t in toks[a2:b2]):
                    return _speaker(prepared, toks, a2, b2, a2, v)
                return None
        return None
    return None


_INVERTING = frozenset({"said", "says", "added", "adds", "wrote", "explained", "noted",
                        "stressed", "insisted", "claimed", "warned", "reported", "announced",
                        "confirmed", "tweeted", "posted"})


def _inverted(prepared: str, toks: list[Token], j: int) -> Speaker | None:
    """The speaker after the verb: '..., said Nyiringabo.', '"...," said the director.'"""
    n = len(toks)
    if toks[j].lower not in _INVERTING or not (
            j > 0 and toks[j - 1].text in (",", '"', "'") and j + 1 < n):
        return None
    b = j + 1
    while b < n and (toks[b].text[0].isalpha() or toks[b].text == ".") and b - j < 9 and not (
            toks[b].text == "." and (b + 1 >= n or not toks[b + 1].text[0].isalpha())):
        b += 1
    a2, b2 = _strip(toks, j + 1, b)
    if (b >= n or toks[b].text in (".", ",", ";")) and a2 < b2 and (
            _is_proper(toks, j + 1, b) or toks[j + 1].lower in ("the", "a", "an")):
        return _speaker(prepared, toks, a2, b2, j, b)
    return None


_COUNTRY_VOICE = re.compile(
    r"^(?P<c>[A-Z][\w\-]+(?: [A-Z][\w\-]+)?)'s (?:\w+ )?(?:count|tally|figures?|toll|data|"
    r"statement|estimate|numbers)$")


def _speaker(prepared: str, toks: list[Token], a: int, b: int, start: int, end: int) -> Speaker:
    words = [t.text for t in toks[a:b]]
    name = _text(prepared, toks, a, b)
    m = _COUNTRY_VOICE.match(name)
    if not m:
        name = clean_name(name)
    if m and m.group("c") in DEMONYMS:  # "Israel's earlier count" speaks for Israel
        name, words = m.group("c"), [m.group("c")]
    pronoun = b - a == 1 and toks[a].lower in _PRONOUNS
    return Speaker(name, min(start, a), max(end, b), pronoun=pronoun,
                   person=pronoun and toks[a].lower in ("he", "she") or _is_person(words))
