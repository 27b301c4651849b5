"""Database engines for the journal and the store: SQLite (WAL) by default, PostgreSQL by URL.

SQLite needs per-connection pragmas to behave under a writer plus concurrent readers (WAL, busy timeout);
PostgreSQL needs nothing but a URL. Everything above this module is dialect-agnostic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000", "foreign_keys=ON")


class StoreUrlError(ValueError):
    """The storage URL cannot be used; the message says which part and what is expected."""


def normalize_url(url_or_path: str) -> str:
    """Accept a plain file path or an SQLAlchemy URL; pick the async driver for each dialect."""
    if "://" not in url_or_path:
        path = Path(url_or_path).expanduser()
        return f"sqlite+aiosqlite:///{path.resolve()}"
    try:
        url = make_url(url_or_path)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
        raise StoreUrlError(f"storage url {url_or_path!r} is not a valid URL: {exc}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return str(url.set(drivername="sqlite+aiosqlite"))
    if backend == "postgresql":
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise StoreUrlError(
        f"storage url scheme {url.drivername!r} is not supported; use a file path, sqlite:///path or "
        "postgresql://user@host/db"
    )


def create_engine(url_or_path: str, **kwargs: Any) -> AsyncEngine:
    """Async engine for `url_or_path` with SQLite pragmas applied on every new connection."""
    url = normalize_url(url_or_path)
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def redacted(url_or_path: str) -> str:
    """The URL with any password masked, for logs and `config check` output."""
    if "://" not in url_or_path:
        return url_or_path
    try:
        return make_url(url_or_path).render_as_string(hide_password=True)
    except Exception:
        return "<invalid url>"


T = TypeVar("T")


async def concurrent_safe_schema(step: Callable[[], Awaitable[T]], attempts: int = 5) -> T:
    """Run a create-tables/migrate step that another process may be running on the same database right now
    (`rtrm run` starting while `rtrm status` opens the store): create_all's check-then-create is not atomic, so
    the loser sees "already exists"; once the winner has committed, a retry finds everything in place."""
    for attempt in range(attempts):
        try:
            return await step()
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            text = str(exc).lower()
            if "already exists" not in text and "unique constraint" not in text and "duplicate" not in text:
                raise
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")
