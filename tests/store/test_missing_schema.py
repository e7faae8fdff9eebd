"""Telling "the database was never migrated" apart from other database errors, as SQLite
and PostgreSQL each word it, so the CLI can say what to do instead of a traceback."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from madoguchi.store.migrate import is_missing_schema


async def error_of(url: str, sql: str) -> BaseException:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(Exception) as caught:
                await connection.execute(text(sql))
        return caught.value
    finally:
        await engine.dispose()


async def test_a_missing_table_is_an_unmigrated_database(db_url):
    assert is_missing_schema(await error_of(db_url, "SELECT id FROM table_never_created"))


async def test_other_database_errors_are_not(db_url):
    assert not is_missing_schema(await error_of(db_url, "SELEC 1"))
    assert not is_missing_schema(ValueError("no such table, but not from a database"))
