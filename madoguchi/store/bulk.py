"""Bulk writes for campaigns' volumes (100,000 recipients, a thousand sends a second, and
the three status webhooks that come back for each send).

On SQLite the parameters go to the driver's ``executemany`` as plain tuples, each
column's bind processor applied once per value and Python-side defaults (such as
``created_at``) taken once per call: SQLAlchemy's generic per-row parameter handling
was most of the cost (100,000 recipients: ORM bulk insert 16.5 s, Core 12 s, this ~1 s
under the profiler). PostgreSQL goes through Core. Callers hold a write transaction
(``Database.write``); on SQLite that is the process's single writer, which
``insert_returning_ids`` relies on.
"""

from __future__ import annotations

import operator
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

_NOTHING = object()


def _params(table: Table, dialect, keys: list[str], rows: list[dict[str, Any]], fixed=()) -> list:
    converted = [
        (i, p)
        for i, k in enumerate(keys)
        if (p := table.c[k].type._cached_bind_processor(dialect)) is not None
    ]
    # A value shared by the rows (the batch's ``now``, a status) is converted once: each
    # column remembers the last object it converted.
    last_in: list[Any] = [_NOTHING] * len(keys)
    last_out: list[Any] = [None] * len(keys)
    get = operator.itemgetter(*keys)
    params = []
    for row in rows:
        values = get(row)
        values = list(values) if len(keys) > 1 else [values]
        for i, p in converted:
            value = values[i]
            if value is not last_in[i]:
                last_in[i], last_out[i] = value, p(value)
            values[i] = last_out[i]
        params.append((*values, *fixed))
    return params


def _defaults(table: Table, dialect, given: dict[str, Any]) -> tuple[list[str], tuple]:
    """The Python-side defaults of the columns ``given`` leaves out, taken once."""
    names, values = [], []
    for column in table.columns:
        if column.key in given or column.default is None:
            continue
        default = column.default
        if default.is_scalar:
            value = default.arg
        elif default.is_callable:
            value = default.arg(None)
        else:
            continue
        processor = column.type._cached_bind_processor(dialect)
        names.append(column.key)
        values.append(processor(value) if processor is not None else value)
    return names, tuple(values)


async def bulk_insert(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], *, skip_conflicts: bool
) -> None:
    """INSERT ``rows`` (dicts with the same keys) in one executemany; with
    ``skip_conflicts``, rows breaking a unique constraint (raced by another writer) are
    skipped."""
    if not rows:
        return
    conn = await session.connection()
    dialect = conn.dialect
    if dialect.name != "sqlite":
        stmt = postgresql.insert(table)
        await conn.execute(stmt.on_conflict_do_nothing() if skip_conflicts else stmt, rows)
        return
    keys = list(rows[0])
    names, fixed = _defaults(table, dialect, rows[0])
    sql = (
        f"INSERT INTO {table.name} ({', '.join(table.c[k].name for k in keys + names)}) "
        f"VALUES ({', '.join('?' * (len(keys) + len(names)))})"
        + (" ON CONFLICT DO NOTHING" if skip_conflicts else "")
    )
    await conn.exec_driver_sql(sql, _params(table, dialect, keys, rows, fixed))


async def insert_returning_ids(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]]
) -> list[int]:
    """INSERT ``rows`` and return their new ids, in order. On SQLite the ids are given
    explicitly from the table's largest (this transaction holds the only writer, so no
    other row can take them); on PostgreSQL, ``RETURNING`` in parameter order."""
    if not rows:
        return []
    conn = await session.connection()
    if conn.dialect.name != "sqlite":
        result = await conn.execute(
            postgresql.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return list(result.scalars())
    last = (await conn.execute(select(func.max(table.c.id)))).scalar() or 0
    ids = list(range(last + 1, last + 1 + len(rows)))
    await bulk_insert(
        session,
        table,
        [{"id": i, **row} for i, row in zip(ids, rows, strict=True)],
        skip_conflicts=False,
    )
    return ids


async def bulk_update(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """UPDATE by primary key ``id``: each row (dicts with the same keys, ``id`` among
    them) sets its other keys; one executemany."""
    if not rows:
        return
    conn = await session.connection()
    dialect = conn.dialect
    keys = [k for k in rows[0] if k != "id"]
    if dialect.name != "sqlite":
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({k: bindparam(f"_{k}") for k in keys})
        )
        await conn.execute(stmt, [{f"_{k}": v for k, v in row.items()} for row in rows])
        return
    sql = (
        f"UPDATE {table.name} SET {', '.join(f'{table.c[k].name} = ?' for k in keys)} WHERE id = ?"
    )
    await conn.exec_driver_sql(sql, _params(table, dialect, [*keys, "id"], rows))
