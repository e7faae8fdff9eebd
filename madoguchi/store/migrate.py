"""Schema migrations (Alembic), callable from the CLI, the app and the tests.

The Alembic scripts ship inside the package so ``madoguchi migrate`` works from an
installed wheel, with no alembic.ini to find.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import create_async_engine

from madoguchi.store.db import _ensure_sqlite_dir, is_sqlite

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (works inside a running event loop)."""
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
    await _run(url, command.upgrade, revision)


async def downgrade(url: str, revision: str) -> None:
    """Take the database at ``url`` back to ``revision`` (tests of a migration's data)."""
    await _run(url, command.downgrade, revision)


async def _run(url: str, action, revision: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:

            def go(sync_connection) -> None:
                config = alembic_config(url)
                config.attributes["connection"] = sync_connection
                action(config, revision)

            await connection.run_sync(go)
    finally:
        await engine.dispose()


def is_missing_schema(exc: BaseException) -> bool:
    """Whether ``exc`` (from any query) means the database has not been migrated: SQLite
    says "no such table", PostgreSQL 'relation "…" does not exist' (UndefinedTableError)."""
    from sqlalchemy.exc import DBAPIError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DBAPIError):
            text = f"{type(seen.orig).__name__} {seen.orig}".lower()
            return (
                "no such table" in text
                or "undefinedtable" in text
                or ("relation" in text and "does not exist" in text)
            )
        seen = seen.__cause__ or seen.__context__
    return False


def upgrade_sync(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade(url, revision))
