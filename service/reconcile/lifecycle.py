"""A flag's lifecycle (API §6): how one run moves a flag's status. Pure, like the rules.

Its identity is (rule, key), so it keeps one id for ever. When its condition stops holding
it becomes obsolete; when it holds again it opens again; when the figures it lists change,
an acknowledged or resolved flag opens again, because people judged other figures.
Otherwise a run leaves the status that people set. (Closing, the other half, is one SQL
statement in store.close_unseen_flags: any status but obsolete becomes obsolete.)
"""

from __future__ import annotations

from collections.abc import Sequence


def status_when_seen(status: str | None, old_ids: Sequence[int] | None,
                     new_ids: Sequence[int]) -> tuple[str, bool]:
    """(new status, whether this counts as opening) for a flag whose condition holds."""
    if status is None or status == "obsolete":
        return "open", True
    if status in ("acknowledged", "resolved") and list(old_ids or ()) != list(new_ids):
        return "open", True
    return status, False

