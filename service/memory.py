"""Handing freed heap memory back to the operating system, in the serving process.

CPython frees objects into the C allocator, and glibc keeps what it got: a 10,000-figure
batch or a reconciliation run leaves the server's RSS at its peak for ever, and with one
allocator arena per thread (waitress threads, the run worker) the peaks add up. The server
therefore limits glibc to two arenas before it starts threads, and returns free pages after
the requests and runs that allocate most. Both calls are glibc's (mallopt, malloc_trim);
elsewhere (musl, macOS) they are skipped and nothing changes but memory use.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_ARENA_MAX = -8  # glibc's mallopt parameter number for M_ARENA_MAX
LARGE_BODY_BYTES = 1 << 20
"""Requests with a body at least this large (batches, imports) release memory afterwards."""


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - present only in glibc
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def limit_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (call before starting threads); whether it applied."""
    return bool(_LIBC is not None and _LIBC.mallopt(_M_ARENA_MAX, arenas))


def release_free_memory() -> bool:
    """Return free heap pages to the operating system; whether any were returned."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))
