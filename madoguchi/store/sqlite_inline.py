"""An aiosqlite-shaped driver that runs each SQLite call on the event loop's own thread.

aiosqlite gives every connection a thread and hands it every call (cursor, execute,
fetch, close…) through a queue, and the answer back through the loop's self-pipe. On
a small machine each hand-off costs a pair of context switches, a couple of hundred
microseconds; an ingest of one delivery makes about fifty of them, so SQLite mode spent
most of its time switching threads rather than in SQLite (measured: 59 deliveries/s
for the ingest alone, 17 ms each, with the SQLite work itself well under a millisecond).

Running the calls inline is safe here because of how Madoguchi uses SQLite: WAL mode,
so readers never wait for the writer; one writer per process behind an asyncio lock
(``Database.write``), so a write waits only for another *process* (the CLI's
``apply``), bounded by ``busy_timeout``. What it gives up: a query that runs long holds
the event loop for its duration — the scaled mode (PostgreSQL) has no such limit.

SQLAlchemy's aiosqlite dialect is used unchanged; this module stands in for the
``aiosqlite`` package it wraps (``Database`` passes it as the dialect's DBAPI module).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

# The DBAPI names SQLAlchemy's adapter copies from the driver module.
DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info


class Cursor:
    """A sqlite3 cursor whose methods are awaitable, as aiosqlite's are."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _RunNow:
    """Stands in for aiosqlite's request queue: runs the call at once and answers."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class Connection:
    """The part of ``aiosqlite.Connection`` that SQLAlchemy's adapter uses."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn
        self._tx = _RunNow(self)

    def cursor(self) -> Cursor:
        if self._connection is None:
            raise ValueError("Connection closed")
        return Cursor(self._conn.cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()


async def _open(*args: Any, **kw: Any) -> Connection:
    kw["check_same_thread"] = False  # the pool may hand a connection to another thread
    return Connection(sqlite3.connect(*args, **kw))


class _Connecting:
    """What ``aiosqlite.connect`` returns: awaitable, with a ``_thread`` to mark daemon."""

    def __init__(self, args: tuple, kw: dict) -> None:
        self._args = args
        self._kw = kw
        self._thread = SimpleNamespace(daemon=True)  # SQLAlchemy sets it; there is none

    def __await__(self):
        return _open(*self._args, **self._kw).__await__()


def connect(*args: Any, **kw: Any) -> _Connecting:
    """An awaitable connection, like ``aiosqlite.connect``."""
    return _Connecting(args, kw)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """This module as SQLAlchemy's aiosqlite dialect expects its DBAPI."""
    return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)
