"""Database engine and transactions for both backends.

SQLite (embedded mode) allows one writer at a time; letting concurrent requests race for
its lock turns into "database is locked" errors and retry storms under load. So on SQLite
every write transaction takes one process-wide asyncio lock and the connection runs in WAL
mode, where readers never wait for the writer. Between processes (``madoguchi serve``'s
web and processing processes share the file, see ``madoguchi.layout``) SQLite's own lock
decides: a writer tries ``BEGIN IMMEDIATE`` and, while the other process holds it, tries
again after a few milliseconds of asyncio sleep (the loop keeps serving meanwhile); every
write transaction is kept short. PostgreSQL needs none of this: it gets a connection pool
and row locks.

Within a process the lock serves ``write(urgent=True)`` before the other waiters: what a
person waits for (an agent's reply being queued, claimed and recorded) goes ahead of
background writes (a campaign's next slice, a batch of status webhooks) already waiting,
never of the transaction that holds the lock (nor of another process's).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only as await_

from madoguchi.store import sqlite_inline


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _ensure_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # Switching to WAL needs an exclusive lock and fails at once ("database is locked")
    # while another process writes; once set, WAL is a property of the file.
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives an application crash; only an OS crash or power
    # loss can lose the last transactions. That is the embedded mode's documented trade-off.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # Let SQLAlchemy, not the driver, decide when transactions begin, so SAVEPOINTs work.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection) -> None:
    connection.exec_driver_sql("BEGIN")


WRITE_LOCK_WAIT_SECONDS = 10.0
# While another process holds SQLite's write lock, BEGIN IMMEDIATE is tried again after
# 1, 2, 4 … ms, up to this (a failed try costs microseconds; a long sleep lets the other
# process take the lock again first). The journal's appends, Meta waiting, retry sooner.
WRITE_RETRY_MAX_SECONDS = 0.01
RAW_WRITE_RETRY_MAX_SECONDS = 0.002


def _sqlite_writer_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=0")  # waits happen in _sqlite_begin_immediate
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:
    """Take SQLite's write lock at BEGIN, waiting for another process without blocking.

    A deferred BEGIN that reads first fails at its first write ("database is locked",
    busy_timeout ignored) if another process committed in between, so writes begin
    IMMEDIATE. SQLite's own busy wait would sleep on the event loop's thread (calls run
    inline, see ``sqlite_inline``); instead the lock is tried and, while another process
    (the CLI's ``apply``, a benchmark) holds it, retried after an asyncio sleep, so the
    loop keeps serving requests meanwhile.
    """
    deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
    delay = 0.001
    while True:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await_(asyncio.sleep(delay))
        delay = min(delay * 2, WRITE_RETRY_MAX_SECONDS)


def _open_raw_writer(url: str) -> sqlite3.Connection:
    """A plain sqlite3 connection with the writer's pragmas, outside SQLAlchemy's pool."""
    conn = sqlite3.connect(make_url(url).database, isolation_level=None, check_same_thread=False)
    _sqlite_pragmas(conn, None)
    _sqlite_writer_pragmas(conn, None)
    return conn


async def begin_immediate_raw(conn: sqlite3.Connection) -> None:
    """``_sqlite_begin_immediate`` for a plain connection: another process's lock is waited
    for with asyncio sleeps, never on the loop's thread."""
    deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
    delay = 0.001
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, RAW_WRITE_RETRY_MAX_SECONDS)


@asynccontextmanager
async def raw_write_transaction(conn: sqlite3.Connection) -> AsyncIterator[sqlite3.Connection]:
    """A plain connection inside ``BEGIN IMMEDIATE`` (``begin_immediate_raw``), committed
    on success and rolled back on any exception: the one discipline every raw write
    (``Database.sqlite_write``, the journal's inbox) keeps."""
    await begin_immediate_raw(conn)
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


class PriorityLock:
    """An asyncio lock whose urgent waiters are served before the others (first come,
    first served within each). Released, it is handed straight to the next waiter."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future] = deque()
        self._normal: deque[asyncio.Future] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held:
            self._held = True
            return
        waiters = self._urgent if urgent else self._normal
        future = asyncio.get_running_loop().create_future()
        waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed over just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(future)
            raise

    def release(self) -> None:
        for waiters in (self._urgent, self._normal):
            while waiters:
                future = waiters.popleft()
                if not future.done():
                    future.set_result(None)  # still held: now by that waiter
                    return
        self._held = False

    @asynccontextmanager
    async def hold(self, *, urgent: bool = False) -> AsyncIterator[None]:
        await self.acquire(urgent=urgent)
        try:
            yield
        finally:
            self.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc) -> None:
        self.release()


# PostgreSQL: a pooled connection idle at least this long is pinged before it is handed
# out. SQLAlchemy's pool_pre_ping pinged at every checkout, and with asyncpg a ping is
# three round trips (BEGIN, an empty statement, ROLLBACK): profiled under a burst, a
# journal worker spent ~12 % of its CPU pinging connections it had used a millisecond
# before (and PostgreSQL as much answering). A connection in steady use is known alive;
# one that waited in the pool (where a restarted or failed-over server leaves it dead) is
# checked, and a dead one replaced before anyone sees it.
PING_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just opened, or in steady use
        try:
            dbapi_connection.ping()
        except Exception as exc:  # the pool opens a new connection and tries that
            raise DisconnectionError("a pooled connection died while idle") from exc


class Database:
    """One engine, its session factory, and the write discipline of its backend."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 10,
        ping_idle_seconds: float = PING_IDLE_SECONDS,
    ) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        if self.sqlite:
            _ensure_sqlite_dir(url)
            # Every SQLite connection is a thread (aiosqlite) that parses the schema on
            # first use: a pool that opens and drops overflow connections under load
            # spends its CPU there. A fixed pool makes readers wait for a connection.
            self.engine: AsyncEngine = create_async_engine(
                url,
                echo=echo,
                module=sqlite_inline.dbapi(),
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=60,
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            self._write_engine: AsyncEngine | None = create_async_engine(
                url,
                echo=echo,
                module=sqlite_inline.dbapi(),
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
            )
            event.listen(self._write_engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self._write_engine.sync_engine, "connect", _sqlite_writer_pragmas)
            event.listen(self._write_engine.sync_engine, "begin", _sqlite_begin_immediate)
        else:
            self.engine = create_async_engine(
                url, echo=echo, pool_size=pool_size, max_overflow=pool_size
            )
            _ping_when_idle(self.engine, ping_idle_seconds)
            self._write_engine = None
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(
            self._write_engine or self.engine, expire_on_commit=False
        )
        self._write_lock = PriorityLock() if self.sqlite else None
        self._raw_writer: sqlite3.Connection | None = None
        self._inbox: str | None = None  # the journal's inbox, attached to the raw writer
        self._inbox_attached = False

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it changes is committed."""
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self, *, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction committed on success and rolled back on any exception.

        ``urgent``: on SQLite, served before the other writers waiting (see the module
        doc); PostgreSQL has no single writer to wait for."""
        if self._write_lock is None:
            async with self.sessions() as session, session.begin():
                yield session
            return
        async with (
            self._write_lock.hold(urgent=urgent),
            self._write_sessions() as session,
            session.begin(),
        ):
            yield session

    @staticmethod
    def is_sqlite_file(url: str) -> bool:
        """SQLite in a file (an in-memory database is one per connection)."""
        database = make_url(url).database if is_sqlite(url) else None
        return bool(database) and database != ":memory:" and not database.startswith("file:")

    @property
    def sqlite_write_available(self) -> bool:
        """``sqlite_write()`` works here: SQLite, in a file."""
        return self.is_sqlite_file(self.url)

    @asynccontextmanager
    async def sqlite_write(self) -> AsyncIterator[sqlite3.Connection]:
        """SQLite only: a plain sqlite3 connection inside a write transaction (``BEGIN
        IMMEDIATE``), committed on success and rolled back on any exception — the same
        discipline as ``write()`` (this process's write lock, another process's lock
        waited for without blocking the loop, the same pragmas) without SQLAlchemy's
        session, pool and statement machinery: for the hottest, simplest writes (the
        webhook journal's appends), where that machinery costs more than SQLite itself."""
        if not self.sqlite_write_available:
            raise RuntimeError("sqlite_write() is for SQLite database files")
        async with self._write_lock, raw_write_transaction(self._raw_connection()) as conn:
            yield conn

    async def sqlite_statement(self, sql: str, params: tuple = ()) -> int:
        """SQLite only: one write statement on ``sqlite_write()``'s connection as a
        transaction of its own (autocommit); the rows it changed. Unlike ``BEGIN
        IMMEDIATE``, which takes the write lock of every attached database, it locks only
        the database it writes: a statement that reads the journal's inbox and writes the
        journal leaves the inbox's writer (the web process) alone."""
        if not self.sqlite_write_available:
            raise RuntimeError("sqlite_statement() is for SQLite database files")
        async with self._write_lock:
            conn = self._raw_connection()
            deadline = time.monotonic() + WRITE_LOCK_WAIT_SECONDS
            delay = 0.001
            while True:
                try:
                    return conn.execute(sql, params).rowcount
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, RAW_WRITE_RETRY_MAX_SECONDS)

    def _raw_connection(self) -> sqlite3.Connection:
        if self._raw_writer is None:
            self._raw_writer = _open_raw_writer(self.url)
            self._inbox_attached = False
        conn = self._raw_writer
        if self._inbox is not None and not self._inbox_attached:
            conn.execute("ATTACH DATABASE ? AS inbox", (self._inbox,))
            self._inbox_attached = True
        return conn

    def attach_inbox(self, path: Path) -> None:
        """``sqlite_write()``'s connection sees the webhook journal's inbox (a SQLite file
        of its own, ``services.channel.journal_inbox``) as the schema ``inbox``."""
        self._inbox = str(path)

    async def dispose(self) -> None:
        if self._raw_writer is not None:
            self._raw_writer.close()
            self._raw_writer = None
        await self.engine.dispose()
        if self._write_engine is not None:
            await self._write_engine.dispose()
