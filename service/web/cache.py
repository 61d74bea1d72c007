"""The conflict page's report, kept between requests while the data stay the same.

A conflict of 10,000 figures takes hundreds of milliseconds to summarise; people page,
sort and filter the same conflict many times in a row. Each entry is checked against
store.report_fingerprint (a few small indexed reads) on every request, so a page never
shows a report older than the data. Per process, a handful of conflicts, thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_CONFLICTS = 16


class ReportCache:
    def __init__(self, size: int = MAX_CONFLICTS) -> None:
        self._entries: OrderedDict[str | None, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, conflict: str | None, fingerprint: Any, build: Callable[[], Any]) -> Any:
        """The value for `conflict` (None: the overview of every conflict) built at
        `fingerprint`, building it if absent or stale."""
        with self._lock:
            found = self._entries.get(conflict)
            if found is not None and found[0] == fingerprint:
                self._entries.move_to_end(conflict)
                return found[1]
        value = build()  # outside the lock: a slow build never blocks other conflicts
        with self._lock:
            self._entries[conflict] = (fingerprint, value)
            self._entries.move_to_end(conflict)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value
