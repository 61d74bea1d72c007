"""The interval [low, high] that a figure asserts, from its qualifier and count (API §4).

Pure integer arithmetic: "about 95" must give [85, 105] on every machine, and floats would
round 95 * 1.1 = 104.50000000000001 up to 105 only by luck.
"""

from __future__ import annotations

from fractions import Fraction

ABOUT_TOLERANCE = Fraction(1, 10)
QUALIFIERS = ("exact", "about", "nearly", "at_least", "more_than", "at_most", "fewer_than")


def interval(qualifier: str, count: int, count_high: int | None = None,
             tolerance: Fraction = ABOUT_TOLERANCE) -> tuple[int, int | None]:
    """Return (low, high) for a stated number; high None means unbounded above."""
    if qualifier == "exact":
        return count, count if count_high is None else count_high
    if qualifier == "about" or qualifier == "nearly":
        # floor(count * (1 - t)) and ceil(count * (1 + t)) with t = n / d, in integers:
        # the same values as Fraction arithmetic, without building Fractions per figure.
        n, d = tolerance.numerator, tolerance.denominator
        low = count * (d - n) // d
        return low, (-(-count * (d + n) // d) if qualifier == "about" else count)
    if qualifier == "at_least":
        return count, None
    if qualifier == "more_than":
        return count + 1, None
    if qualifier == "at_most":
        return 0, count
    if qualifier == "fewer_than":
        return 0, max(count - 1, 0)
    raise ValueError(f"unknown qualifier {qualifier!r}")


def point_value(qualifier: str, count: int) -> int:
    """A figure's point value (API §4): its count moved into its own interval.

    "more than 350" asserts [351, ∞), so its point is 351; "fewer than 20" → 19 (0 stays
    0, the only value "fewer than 0" can mean once counts are never negative); every
    other qualifier's interval holds the count itself.
    """
    if qualifier == "more_than":
        return count + 1
    if qualifier == "fewer_than":
        return max(count - 1, 0)
    return count
