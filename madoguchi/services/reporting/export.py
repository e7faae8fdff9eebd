"""A report as CSV: UTF-8 with a byte-order mark (so Excel, in Japanese too, reads it as
UTF-8), one header row, then one line per row of the report (per queue, agent, widget,
template…), or per bucket of the series when the report has no rows, then a ``total``
line with the totals. A report's other tables (the CSAT and calls reports' per-agent
``agents``, any report's ``series``) download on their own, without a total line.
"""

from __future__ import annotations

import csv
import io
from typing import Any

BOM = "\ufeff"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def tables(report: dict[str, Any]) -> list[str]:
    """The tables of ``report`` a CSV can be made of: its lists of flat rows."""
    return [
        key
        for key, value in report.items()
        if isinstance(value, list) and all(isinstance(line, dict) for line in value)
    ]


def report_csv(report: dict[str, Any], table: str | None = None) -> str:
    rows = report.get("rows")
    if table is not None:
        lines = report.get(table) or []
        first = next(iter(lines[0])) if lines else "bucket"
        totals: dict[str, Any] = {}
    elif rows:
        lines = rows
        first = next(iter(rows[0]))
        totals = report.get("totals") or {}
    else:
        lines = report.get("series") or []
        first = "bucket"
        totals = report.get("totals") or {}
    columns: list[str] = []
    for line in [*lines, totals]:
        for key, value in line.items():
            if key not in columns and not isinstance(value, (dict, list)):
                columns.append(key)
    if first not in columns:
        columns.insert(0, first)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for line in lines:
        writer.writerow([_cell(line.get(c)) for c in columns])
    if totals:
        writer.writerow([_cell("total" if c == first else totals.get(c)) for c in columns])
    return BOM + out.getvalue()
