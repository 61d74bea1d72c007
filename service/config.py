"""Settings from the environment: one dataclass, every default in one place.

A bad value stops the service at start-up with a message naming the variable, rather than
surfacing later as a confusing failure in the middle of a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DB_PATH = "./data/casualty-tracker.db"


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    db_path: Path | str = Path(DEFAULT_DB_PATH)  # a SQLite file, or a postgresql:// URL
    host: str = "127.0.0.1"
    port: int = 8000
    reconcile_seconds: int = 300
    public_read: bool = True
    max_body_mb: int = 16
    threads: int = 8
    #: Signs the pages' session cookies; None: a key made once and kept in the database.
    secret_key: str | None = field(default=None, repr=False)

    @property
    def max_body_bytes(self) -> int:
        return self.max_body_mb * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            db_path=database_target(env.get("CASUALTY_TRACKER_DB") or DEFAULT_DB_PATH),
            host=env.get("HOST") or cls.host,
            port=_int(env, "PORT", cls.port, minimum=1, maximum=65535),
            reconcile_seconds=_int(env, "CASUALTY_TRACKER_RECONCILE_SECONDS",
                                   cls.reconcile_seconds, minimum=0),
            public_read=_flag(env, "CASUALTY_TRACKER_PUBLIC_READ", cls.public_read),
            max_body_mb=_int(env, "CASUALTY_TRACKER_MAX_BODY_MB", cls.max_body_mb, minimum=1),
            threads=_int(env, "CASUALTY_TRACKER_THREADS", cls.threads, minimum=1, maximum=64),
            secret_key=_secret(env, "CASUALTY_TRACKER_SECRET_KEY"),
        )


def database_target(value: str) -> Path | str:
    """A `postgresql://` URL stays a string (a Path would fold its //); anything else is a
    SQLite file path."""
    if value.startswith(("postgresql://", "postgres://")):
        return value
    return Path(value)


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int,
         maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name} must be at least {minimum}{upper}, not {value}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """A signing key: unset or blank means none; a short one is refused, not padded."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    if len(raw) < 32:
        raise ConfigError(f"{name} must be at least 32 characters (a random string, e.g. "
                          "python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return raw


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")
