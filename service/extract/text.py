"""Text handling for extraction: sentences, tokens and the numbers in them (API.md §9).

Pure functions over strings. Number words are turned into digits by text2num's
``alpha2digit`` (a maintained library); what it does not cover and a casualty reader needs
("a dozen", "1.5 million", vague quantities such as "dozens", which text2num would misread as
one hundred) is handled here first.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from dataclasses import dataclass, field

from text_to_num import alpha2digit

_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "gen", "lt", "col", "maj", "capt", "cpt", "sgt", "st", "jr",
    "sr", "prof", "rev", "gov", "sen", "rep", "no", "nos", "vs", "etc", "jan", "feb", "mar",
    "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "inc", "co", "corp",
    "ltd", "approx", "est", "fig", "mt", "ft", "brig", "adm", "cmdr", "gens", "mssrs",
})
_TERMINAL = tuple(".!?:;\"”’')]…")
_SENTENCE_END = re.compile(r"[.!?]+[\"”’')\]]*\s+")


@dataclass
class Sentence:
    """One sentence: its text as written (white space collapsed) and its paragraph."""

    text: str
    paragraph: int
    index: int = 0
    line_start: bool = True


def normalise(text: str) -> str:
    """NFC, unified line ends, no NULs or zero-width characters."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return re.sub(r"[\u0000\u200b\u200c\u200d\ufeff]", "", text)


def _hard_wrapped(lines: list[str]) -> bool:
    """True when the text is wrapped at a fixed width, lines ending mid-sentence."""
    joins = boundaries = 0
    for prev, nxt in zip(lines, lines[1:], strict=False):
        prev, nxt = prev.strip(), nxt.strip()
        if not prev or not nxt:
            continue
        boundaries += 1
        if not prev.endswith(_TERMINAL) and (nxt[0].islower() or nxt[0].isdigit()):
            joins += 1
    return joins >= 2 and joins >= 0.2 * boundaries


def _split_run(run: str) -> list[str]:
    """Split a run of text at sentence ends, not at abbreviations such as "Nov." or "U.N."."""
    out: list[str] = []
    start = 0
    for m in _SENTENCE_END.finditer(run):
        end = m.end()
        nxt = run[end:end + 2]
        if not nxt or not (nxt[0].isupper() or nxt[0].isdigit()
                           or (nxt[0] in "\"“‘'(" and nxt[1:2].isupper())):
            continue
        before = run[start:m.start()].split()
        word = before[-1] if before else ""
        bare = word.strip("\"“‘'(").lower()
        if m.group(0).startswith(".") and (bare in _ABBREVIATIONS or "." in bare
                                           or (len(bare) == 1 and bare.isalpha())):
            continue
        out.append(run[start:m.end()].strip())
        start = end
    tail = run[start:].strip()
    if tail:
        out.append(tail)
    return [chunk for piece in out for chunk in _bounded(piece)]


MAX_SENTENCE = 1000  # characters: past this a "sentence" is a list, a table or a run-on


def _bounded(piece: str) -> list[str]:
    """Cut a run-on "sentence" into pieces of at most MAX_SENTENCE characters, at a ';' or
    ',' where possible, so that reading stays linear in the length of the text."""
    out = []
    while len(piece) > MAX_SENTENCE:
        window = piece[:MAX_SENTENCE]
        cut = max(window.rfind("; "), window.rfind(", "), window.rfind(". "))
        if cut < MAX_SENTENCE // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = MAX_SENTENCE - 1
        out.append(piece[:cut + 1].strip())
        piece = piece[cut + 1:].strip()
    if piece:
        out.append(piece)
    return out


def sentences(text: str) -> list[Sentence]:
    """The sentences of an article, in order, with their paragraph numbers.

    Blank lines end paragraphs. A single line break ends a sentence too (headlines, datelines
    and captions stand on their own lines) unless the text is hard-wrapped, in which case
    lines are joined first.
    """
    text = normalise(text)
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    wrapped = _hard_wrapped(text.split("\n"))
    out: list[Sentence] = []
    for p_index, para in enumerate(paragraphs):
        runs = [" ".join(para.split())] if wrapped else [
            " ".join(line.split()) for line in para.split("\n") if line.strip()]
        for run in runs:
            for i, s in enumerate(_split_run(run)):
                out.append(Sentence(s, p_index, len(out), line_start=(i == 0)))
    return out


# ------------------------------------------------------------------ tokens and numbers
_VAGUE = [  # (pattern, smallest reading): API.md §9 and the dev set's conventions
    (r"\btens of thousands\b", 20_000), (r"\bhundreds of thousands\b", 200_000),
    (r"\bseveral (?:hundred|hundreds)\b", 200), (r"\bseveral (?:thousand|thousands)\b", 2000),
    (r"\bhundreds\b", 200), (r"\bthousands\b", 2000), (r"\bdozens\b", 24),
    (r"\bscores(?= of\b)", 40),
]
_MULTIPLIERS = {"million": 1_000_000, "billion": 1_000_000_000, "thousand": 1000}
_TOKEN = re.compile(
    r"\d+(?:,\d{3})+(?:\.\d+)?(?![\d])"      # 1,400 / 30,000
    r"|\d+(?:\.\d+)?(?:st|nd|rd|th|s)?(?![\w])"  # 23 / 1.5 / 5th / 1990s
    r"|\d+[A-Za-z][\w]*"                         # 2am, 10km
    r"|[A-Za-zÀ-ÖØ-öø-ÿ][\w\-]*(?:['’][A-Za-z]+)?"
    r"|\S")
_NUMBER = re.compile(r"^\d+(?:,\d{3})*(?:\.\d+)?$")
_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
#: Number words text2num leaves alone in some contexts ("... and two medics").
_SMALL = {w: i for i, w in enumerate(_UNITS) if i > 1} | {
    w: 10 * i for i, w in enumerate(_TENS) if w} | {
    f"{t}-{u}": 10 * i + j for i, t in enumerate(_TENS) if t
    for j, u in enumerate(_UNITS) if 0 < j < 10}


@dataclass
class Token:
    """A token of the analysed sentence: its text, lower-case form and number value."""

    text: str
    lower: str
    value: int | None = None
    vague: bool = False
    start: int = 0
    end: int = 0
    extra: dict = field(default_factory=dict)


def _prepare(sentence: str) -> str:
    """Digits for number words, markers for vague quantities, plain quotes."""
    s = (sentence.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
         .replace("–", "-").replace("—", "-"))
    for pattern, reading in _VAGUE:
        s = re.sub(pattern, f"VAGUEQTY{reading}", s, flags=re.IGNORECASE)
    s = re.sub(r"\bhalf a dozen\b", "6", s, flags=re.IGNORECASE)
    s = re.sub(r"\ba dozen\b", "12", s, flags=re.IGNORECASE)
    s = re.sub(r"\b(?:a|one) (hundred|thousand|million)\b",
               lambda m: str({"hundred": 100, "thousand": 1000, "million": 1_000_000}[
                   m.group(1).lower()]), s, flags=re.IGNORECASE)

    def multiply(m: re.Match) -> str:
        value = float(m.group(1).replace(",", "")) * _MULTIPLIERS[m.group(2).lower()]
        return f"{int(round(value)):,}"
    s = re.sub(r"\b(\d+(?:,\d{3})*(?:\.\d+)?)\s+(million|billion|thousand)\b", multiply, s,
               flags=re.IGNORECASE)
    with contextlib.suppress(Exception):  # a library failure must not lose the sentence
        s = alpha2digit(s, "en")
    # alpha2digit writes "1000000"; keep digits plain and let _TOKEN read commas or not
    return s


def tokens(sentence: str) -> tuple[str, list[Token]]:
    """The prepared sentence (number words as digits) and its tokens with number values.

    Token offsets (`start`, `end`) index the prepared sentence.
    """
    out: list[Token] = []
    prepared = _prepare(sentence)
    matches = list(_TOKEN.finditer(prepared))
    raw = [m.group(0) for m in matches]
    for i, t in enumerate(raw):
        tok = Token(t, t.lower(), start=matches[i].start(), end=matches[i].end())
        if _NUMBER.match(t):
            number = float(t.replace(",", ""))
            if number.is_integer():
                tok.value = int(number)
        elif t.startswith("VAGUEQTY"):
            tok.value = int(t[len("VAGUEQTY"):])
            tok.vague = True
            tok.text, tok.lower = "(vague)", "(vague)"
        elif tok.lower in _SMALL:
            tok.value = _SMALL[tok.lower]
        elif tok.lower == "one" and not (i > 0 and raw[i - 1].lower() in (
                "no", "any", "every", "someone", "of", "the", "each")):
            tok.value = 1
        out.append(tok)
    return prepared, out
