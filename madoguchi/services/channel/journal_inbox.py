"""The webhook journal's inbox: on a SQLite file in the split layout, acknowledgements
commit into a SQLite file of their own, which no processing transaction ever locks.

SQLite has one writer per file. With the journal's appends (the web process, Meta
waiting for each 200) and the journal's processing (the processing process: contacts,
conversations, messages, flows …) writing the same file, every append waited for the
processing transaction that held the lock — and a processing process at a lower CPU
priority, descheduled while holding it, made the acknowledgements wait for the
scheduler: under a flood of webhooks the web process sat idle ~45 % of the time and
acknowledged a fifth of what a bare endpoint does (docs/benchmarks.md, ``== ack``).

So the web process appends each delivery to ``<database file>.inbox`` (WAL, written by
the web process only), and the journal's processor *moves* the inbox's new rows into
``webhook_deliveries`` (same id, state ``pending``) in a transaction of its own before
each slice: ``INSERT … SELECT`` of the inbox rows above the highest id the journal holds.
Everything else (processing state, retries, failures, per-customer order, idempotency on
wamid, ``madoguchi deliveries``) stays on ``webhook_deliveries`` as before. Why it keeps
the journal's guarantees:

- acknowledged only after the inbox's commit (WAL, ``synchronous=NORMAL``: the same
  trade-off as the database itself); a crash of any process loses no committed row;
- exactly once: the move is one transaction whose watermark is the journal's own highest
  id (rows are never deleted from ``webhook_deliveries``), so a row moves once whatever
  is killed when; the inbox is trimmed (by the web process) only below that watermark;
- in order: ids are given by the inbox's one writer, ascending in commit order, and the
  move and the claim both go in id order (ids are above every id the journal or the
  inbox ever held, so a layout switched between runs never reuses one);
- after a crash or a layout change, the web process moves whatever the inbox still holds
  before it serves (``drain``), so nothing waits for a processor that is not there.

PostgreSQL and the one-process layout append to ``webhook_deliveries`` directly: the
first has row locks, the second one event loop whose own lock already orders writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url

from madoguchi.store.db import Database, raw_write_transaction

SUFFIX = ".inbox"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS inbox_deliveries ("
    " id INTEGER PRIMARY KEY, body BLOB NOT NULL, update_count INTEGER NOT NULL,"
    " customer_key TEXT, received_at NOT NULL)"
)
_APPEND = (
    "INSERT INTO inbox_deliveries (id, body, update_count, customer_key, received_at)"
    " VALUES (?, ?, ?, ?, ?)"
)
# The journal's watermark: its highest id (nothing ever deletes its rows).
_WATERMARK = "SELECT coalesce(max(id), 0) FROM main.webhook_deliveries"
# Run on the journal database's connection, with the inbox attached as ``inbox``.
_MOVE = (
    "INSERT INTO main.webhook_deliveries (id, body, update_count, unrouted_count,"
    " received_at, customer_key, state, attempts, messages_stored, duplicates)"
    " SELECT id, body, update_count, 0, received_at, customer_key, 'pending', 0, 0, 0"
    " FROM inbox.inbox_deliveries"
    f" WHERE id > ({_WATERMARK}) ORDER BY id LIMIT ?"
)
MOVE_LIMIT = 2000  # rows per move: a few ms of work at most
TRIM_SECONDS = 1.0  # how often the web process deletes moved rows from the inbox


def inbox_path(database_url: str) -> Path:
    """``<database file>.inbox`` beside the SQLite database of ``database_url``."""
    return Path(f"{make_url(database_url).database}{SUFFIX}")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # as the database itself (store.db)
    conn.execute("PRAGMA busy_timeout=0")  # waits happen in begin_immediate_raw
    conn.execute(SCHEMA)
    return conn


def _highest(conn: sqlite3.Connection, sql: str) -> int:
    return conn.execute(sql).fetchone()[0] or 0


class Inbox:
    """The web process's end: appends (one writer), and trims what was moved."""

    def __init__(self, database_url: str) -> None:
        self.path = inbox_path(database_url)
        self.main_path = make_url(database_url).database
        self._conn: sqlite3.Connection | None = None
        self._main: sqlite3.Connection | None = None
        self._floor = 0  # the journal's highest id when opened: new ids go above
        self._last: int | None = None  # the last id given (None: read the inbox's highest)
        self._trimmed = time.monotonic()

    def open(self) -> None:
        self._conn = _connect(self.path)
        self._main = sqlite3.connect(self.main_path, isolation_level=None, check_same_thread=False)
        self._main.execute("PRAGMA busy_timeout=10000")
        self._floor = _highest(self._main, _WATERMARK)

    async def append(self, rows: Sequence[tuple[bytes, int, str | None]], received_at) -> list:
        """Commit ``rows`` (body, update count, customer key) in one transaction; their ids.
        Each id is above every id the inbox holds and the journal held when opened."""
        try:
            async with raw_write_transaction(self._conn) as conn:
                if self._last is None:  # opened, or an append failed: read where ids stand
                    self._last = max(
                        _highest(conn, "SELECT max(id) FROM inbox_deliveries"), self._floor
                    )
                first = self._last + 1
                ids = list(range(first, first + len(rows)))
                conn.executemany(
                    _APPEND,
                    [
                        (new_id, body, count, key, received_at)
                        for new_id, (body, count, key) in zip(ids, rows, strict=True)
                    ],
                )
        except BaseException:
            self._last = None
            raise
        self._last = ids[-1]
        return ids

    async def trim_if_due(self) -> int:
        """At most once a second: delete the rows the journal already holds; how many."""
        if time.monotonic() - self._trimmed < TRIM_SECONDS:
            return 0
        self._trimmed = time.monotonic()
        return await self.trim()

    async def trim(self) -> int:
        """Delete the moved rows, keeping the newest (the next id is counted from it)."""
        # Read off the loop's thread: the journal's database is busy with processing.
        watermark = await asyncio.to_thread(_highest, self._main, _WATERMARK)
        async with raw_write_transaction(self._conn) as conn:
            return conn.execute(
                "DELETE FROM inbox_deliveries WHERE id <= ?"
                " AND id < (SELECT max(id) FROM inbox_deliveries)",
                (watermark,),
            ).rowcount

    def close(self) -> None:
        for conn in (self._conn, self._main):
            if conn is not None:
                conn.close()
        self._conn = self._main = None


async def move(db: Database, limit: int = MOVE_LIMIT) -> int:
    """Into ``webhook_deliveries``: the inbox's rows above the journal's highest id, in id
    order, in one transaction of the journal's database (``db.attach_inbox`` first); how
    many moved."""
    # One statement, its own transaction: it write-locks the journal's database only
    # (BEGIN IMMEDIATE would lock the attached inbox too, and the appends with it).
    return await db.sqlite_statement(_MOVE, (limit,))


async def drain(db: Database) -> int:
    """Everything the inbox holds that the journal does not (after a crash, or before a
    layout without an inbox serves); how many rows moved."""
    path = inbox_path(db.url)
    if not path.exists():
        return 0
    _connect(path).close()  # a file without the table (created and never written)
    db.attach_inbox(path)
    total = 0
    while moved := await move(db):
        total += moved
        await asyncio.sleep(0)
    return total


def _reader(database_url: str) -> sqlite3.Connection | None:
    """The journal's database with the inbox attached (None: no inbox)."""
    path = inbox_path(database_url)
    if not path.exists():
        return None
    conn = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("ATTACH DATABASE ? AS inbox", (str(path),))
    if not conn.execute(
        "SELECT count(*) FROM inbox.sqlite_master WHERE name = 'inbox_deliveries'"
    ).fetchone()[0]:
        conn.close()  # created, never written
        return None
    return conn


def waiting(database_url: str) -> int:
    """How many inbox rows the journal does not hold yet (tests, benchmarks: with the
    journal's pending rows, what is acknowledged and not processed yet). Read it before
    the journal's rows: a row moved between the two reads is then seen twice, never
    missed."""
    conn = _reader(database_url)
    if conn is None:
        return 0
    with contextlib.closing(conn):
        return conn.execute(
            f"SELECT count(*) FROM inbox.inbox_deliveries WHERE id > ({_WATERMARK})"
        ).fetchone()[0]


def acknowledged(database_url: str) -> int:
    """Every delivery acknowledged, whether the journal or only the inbox holds it yet,
    each counted once even while a move runs (benchmarks: the data check)."""
    conn = _reader(database_url)
    if conn is None:
        with contextlib.closing(sqlite3.connect(make_url(database_url).database)) as plain:
            return plain.execute("SELECT count(*) FROM webhook_deliveries").fetchone()[0]
    with contextlib.closing(conn):
        inbox = {row[0] for row in conn.execute("SELECT id FROM inbox.inbox_deliveries")}
        # One statement: the journal's count and ids from one snapshot.
        count, ids = conn.execute(
            "SELECT (SELECT count(*) FROM main.webhook_deliveries),"
            " (SELECT json_group_array(id) FROM main.webhook_deliveries WHERE id >= ?)",
            (min(inbox, default=0),),
        ).fetchone()
        return count + len(inbox - set(json.loads(ids)))
