"""Read a rate sheet (CSV) into rates: all of it or nothing, every bad row named.

Meta publishes its prices as a sheet with one row per market and one column per category;
this accepts that shape (see docs/costs.md):

    market,currency,marketing,utility,authentication,authentication_international,service
    Japan,USD,0.1097,0.0106,0.0106,,0
    *,USD,0.0604,0.0077,0.0077,,0

- ``market``: an ISO 3166 code (``JP``, ``JPN``), an English country name (``Japan``), or
  ``*`` / ``Other`` / ``Rest of World`` for every market not named elsewhere;
- one column per category (any case; ``-`` or a space for ``_``); an empty cell means
  "no rate" (messages to that market in that category are shown as unpriced);
- optional ``currency``: must match the card's currency when present;
- optional ``tier_from``: the month's volume from which the row's utility and
  authentication rates apply (Meta's volume tiers); a row with ``tier_from`` above 0 may
  only hold tiered categories.

Rates are decimals (``0.0250``) with at most six places, never negative.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import pycountry

from madoguchi.domain.pricing import ANY_MARKET, CATEGORIES, TIERED_CATEGORIES, to_micros

OTHER_MARKETS = {"*", "other", "others", "rest of world", "rest_of_world", "all", "default"}
MAX_ROWS = 5000


@dataclass(frozen=True, slots=True)
class SheetRate:
    market: str
    category: str
    tier_from: int
    micros: int


class RateSheetInvalid(ValueError):
    """The sheet cannot be imported; ``errors`` name each bad row (line numbers as in a
    spreadsheet: the header is line 1)."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _column(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def market_code(value: str) -> str:
    """``*`` or an ISO alpha-2 code for a market as a sheet may write it."""
    text = value.strip()
    if text.lower() in OTHER_MARKETS:
        return ANY_MARKET
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        raise ValueError(
            f"unknown market {text!r} (use an ISO country code such as JP, or * for the rest)"
        ) from None


def _rate(cell: str, column: str) -> int:
    try:
        value = Decimal(cell.strip().lstrip("$"))
    except InvalidOperation:
        raise ValueError(f"{column} rate {cell!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{column} rate {cell!r} must be zero or more")
    try:
        return to_micros(value)
    except ValueError:
        raise ValueError(f"{column} rate {cell!r} has more than six decimals") from None


def _tier(cell: str | None) -> int:
    if cell is None or not cell.strip():
        return 0
    try:
        tier = int(cell.strip().replace(",", ""))
    except ValueError:
        raise ValueError(f"tier_from {cell!r} is not a whole number") from None
    if tier < 0:
        raise ValueError(f"tier_from {cell!r} must be zero or more")
    return tier


def parse_rate_sheet(text: str, currency: str) -> list[SheetRate]:
    """The rates of a sheet, or ``RateSheetInvalid`` listing every bad row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    rows = [row for row in reader]
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise RateSheetInvalid(["the sheet is empty"])
    header = [_column(cell) for cell in rows[0]]
    unknown = [h for h in header if h and h not in (*CATEGORIES, "market", "currency", "tier_from")]
    problems = []
    if "market" not in header:
        problems.append("line 1: no 'market' column")
    if not any(h in CATEGORIES for h in header):
        problems.append(f"line 1: no category column (one of {', '.join(CATEGORIES)})")
    if unknown:
        problems.append(f"line 1: unknown columns {', '.join(unknown)}")
    if len(rows) - 1 > MAX_ROWS:
        problems.append(f"more than {MAX_ROWS} rows")
    if problems:
        raise RateSheetInvalid(problems)
    rates: list[SheetRate] = []
    seen: dict[tuple[str, str, int], int] = {}
    errors: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            errors.append(f"line {line}: {len(row)} cells for {len(header)} columns")
            continue
        cells = dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
        try:
            market = market_code(cells["market"])
            row_currency = cells.get("currency", "").strip().upper()
            if row_currency and row_currency != currency:
                raise ValueError(f"currency {row_currency} differs from the card's {currency}")
            tier = _tier(cells.get("tier_from"))
            found = []
            for category in CATEGORIES:
                cell = cells.get(category, "").strip()
                if not cell or cell.lower() in ("n/a", "na", "-"):
                    continue
                if tier and category not in TIERED_CATEGORIES:
                    raise ValueError(f"{category} has no volume tiers (tier_from must be 0)")
                found.append(SheetRate(market, category, tier, _rate(cell, category)))
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        for rate in found:
            key = (rate.market, rate.category, rate.tier_from)
            if key in seen:
                errors.append(
                    f"line {line}: {rate.market} {rate.category} (tier {rate.tier_from}) "
                    f"already given on line {seen[key]}"
                )
            seen[key] = line
            rates.append(rate)
    if errors:
        raise RateSheetInvalid(errors)
    if not rates:
        raise RateSheetInvalid(["the sheet has no rates"])
    return rates
