"""Names compared as API §4 "Names" says: one name however it was typed.

Source names, sides, places, incidents, units and `via` are matched - for series, for
finding a source, and in filters - on their *folded* form: Unicode NFC, trimmed, inner white
space collapsed to one space, case-folded. A figure keeps the text it was given, tidied
(NFC and trimmed). Pure functions: no Flask, no SQL.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

__all__ = ["fold", "fold_or_none", "tidy"]


def tidy(text: str) -> str:
    """The text as it is stored: NFC-normalised and trimmed of surrounding white space.

    A name typed with decomposed accents (e.g. "и" + combining breve) is stored composed,
    so the same name never differs in its bytes.
    """
    return unicodedata.normalize("NFC", text).strip()


@lru_cache(maxsize=65_536)
def fold(text: str) -> str:
    """The matching key of a name: NFC, trimmed, inner white space collapsed, case-folded.

    `fold("  Russia ") == fold("RUSSIA") == "russia"`, and a composed and a decomposed
    spelling of one name fold alike. The result is NFC again, because case folding can
    itself produce decomposed sequences. Cached: the same few names recur in every batch.
    """
    collapsed = " ".join(unicodedata.normalize("NFC", text).split())
    return unicodedata.normalize("NFC", collapsed.casefold())


def fold_or_none(text: str | None) -> str | None:
    """`fold(text)`, or None for a name that is not stated."""
    return None if text is None else fold(text)
