"""Read a campaign's audience from a CSV file, reporting every bad row by its line.

The file is UTF-8 with or without a byte-order mark (Excel writes one), comma-separated,
with a header row. One column names the customer: ``phone`` (digits with the country
code, spaces, dashes and ``+`` allowed; or a national number when a default country is
given) or ``user_id`` (their BSUID), or both. ``name`` is optional; every other column is
kept per recipient for the template's parameters (``{"from": "row.order_no"}``).

Nothing is silently dropped: a row that cannot be used is listed with its line and the
reason, a second row for the same customer is merged into the first (counted), and a
header that cannot work refuses the whole file with the reason.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

import phonenumbers

MAX_ROWS = 200_000
MAX_VALUE = 1024  # a template text parameter's own limit
MAX_NAME = 200
MAX_COLUMNS = 50

# Header names, compared case-insensitively (Japanese spreadsheets too).
PHONE_HEADERS = frozenset({"phone", "wa_id", "phone_number", "mobile", "電話番号", "携帯電話"})
USER_ID_HEADERS = frozenset({"user_id", "bsuid"})
NAME_HEADERS = frozenset({"name", "名前", "氏名", "お名前"})
BSUID = re.compile(r"^[A-Z]{2}(\.[A-Z]{2,8})?\.[A-Za-z0-9]{1,128}$")
_PHONE_NOISE = re.compile(r"[\s\-().\u3000ー－]")
_COLUMN = re.compile(r"^[^\s.{}]{1,64}$")


class AudienceFileError(Exception):
    """The file as a whole cannot be read (``code`` is stable for API clients)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AudienceRow:
    line: int
    wa_id: str | None
    user_id: str | None
    name: str | None
    country: str | None
    variables: dict[str, str]

    @property
    def key(self) -> str:
        return f"user:{self.user_id}" if self.user_id else f"wa:{self.wa_id}"


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "code": self.code, "message": self.message}


@dataclass(slots=True)
class ParsedAudience:
    rows: list[AudienceRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    duplicates: int = 0
    duplicate_lines: list[int] = field(default_factory=list)
    blank_lines: int = 0
    columns: list[str] = field(default_factory=list)


def normalize_phone(value: str, default_region: str | None = None) -> tuple[str, str | None]:
    """International digits and the country of a typed phone; ValueError says what is wrong."""
    raw = _PHONE_NOISE.sub("", value.strip())
    raw = raw.replace("＋", "+")
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    digits = raw.lstrip("+")
    if not digits.isdigit():
        raise ValueError(f"{value!r} is not a phone number (digits with the country code)")
    # With a default country, a number starting with its trunk prefix (090…) is national.
    international = raw.startswith("+") or default_region is None or not digits.startswith("0")
    if international:
        parsed = _international(digits)
        if parsed is None:
            raise ValueError(f"{value!r} does not start with a country code")
    else:
        try:
            parsed = phonenumbers.parse(digits, default_region)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"{value!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        hint = "" if default_region else " (give the country code, e.g. 819012340001)"
        raise ValueError(f"{value!r} is not a possible phone number{hint}")
    region = phonenumbers.region_code_for_country_code(parsed.country_code)
    return f"{parsed.country_code}{parsed.national_number}", (None if region == "ZZ" else region)


def _international(digits: str) -> phonenumbers.PhoneNumber | None:
    """Digits that start with a country code, split without ``phonenumbers.parse`` (a
    fifth of its cost: 100,000 rows are read in a couple of seconds, not eight)."""
    for length in (1, 2, 3):
        code = int(digits[:length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE and len(digits) > length:
            return phonenumbers.PhoneNumber(country_code=code, national_number=int(digits[length:]))
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AudienceFileError(
            "not_utf8",
            f"the file is not UTF-8 text (byte {exc.start + 1} cannot be read); save the "
            "spreadsheet as 'CSV UTF-8'",
        ) from exc


def _header(reader) -> tuple[list[str], int | None, int | None, int | None]:
    try:
        header = next(reader)
    except StopIteration:
        raise AudienceFileError("empty", "the file is empty: it needs a header row") from None
    except csv.Error as exc:
        raise AudienceFileError("bad_csv", f"line 1 is not valid CSV: {exc}") from exc
    names = [h.strip() for h in header]
    if len(names) > MAX_COLUMNS:
        raise AudienceFileError("too_many_columns", f"at most {MAX_COLUMNS} columns")
    lowered = [n.casefold() for n in names]
    seen: set[str] = set()
    for name, low in zip(names, lowered, strict=True):
        if not name:
            raise AudienceFileError("blank_column", "a column of the header row has no name")
        if low in seen:
            raise AudienceFileError("duplicate_column", f"column {name!r} appears twice")
        if not _COLUMN.match(name):
            raise AudienceFileError(
                "bad_column",
                f"column {name!r}: a name without spaces, dots or braces, at most 64 "
                "characters (it is used as row.<name> in parameters)",
            )
        seen.add(low)

    def find(candidates: frozenset[str]) -> int | None:
        found = [i for i, low in enumerate(lowered) if low in candidates]
        if len(found) > 1:
            raise AudienceFileError(
                "duplicate_column",
                f"columns {', '.join(names[i] for i in found)} mean the same thing",
            )
        return found[0] if found else None

    phone, user_id, name = find(PHONE_HEADERS), find(USER_ID_HEADERS), find(NAME_HEADERS)
    if phone is None and user_id is None:
        raise AudienceFileError(
            "no_recipient_column",
            "the header needs a 'phone' column (or 'user_id' for BSUIDs); it has "
            + ", ".join(repr(n) for n in names),
        )
    return names, phone, user_id, name


def parse_audience_csv(data: bytes, *, default_region: str | None = None) -> ParsedAudience:
    """Every usable row of the file, and every problem by line (see the module doc)."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    names, phone_at, user_at, name_at = _header(reader)
    identity = {i for i in (phone_at, user_at, name_at) if i is not None}
    out = ParsedAudience(columns=[n for i, n in enumerate(names) if i not in identity])
    seen: dict[str, int] = {}
    width = len(names)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.problems.append(RowProblem(reader.line_num, "bad_csv", f"not valid CSV: {exc}"))
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            out.blank_lines += 1
            continue
        if len(out.rows) + len(out.problems) >= MAX_ROWS:
            raise AudienceFileError(
                "too_many_rows", f"at most {MAX_ROWS:,} rows per file; split the file"
            )
        problem = _row(cells, line, width, names, phone_at, user_at, name_at, default_region)
        if isinstance(problem, RowProblem):
            out.problems.append(problem)
            continue
        row = problem
        if row.key in seen:
            out.duplicates += 1
            if len(out.duplicate_lines) < 100:
                out.duplicate_lines.append(line)
            continue
        seen[row.key] = line
        out.rows.append(row)
    return out


def _row(
    cells: list[str],
    line: int,
    width: int,
    names: list[str],
    phone_at: int | None,
    user_at: int | None,
    name_at: int | None,
    default_region: str | None,
) -> AudienceRow | RowProblem:
    if len(cells) != width:
        return RowProblem(
            line, "wrong_field_count", f"{len(cells)} fields, but the header has {width}"
        )
    phone = cells[phone_at].strip() if phone_at is not None else ""
    user_id = cells[user_at].strip() if user_at is not None else ""
    if not phone and not user_id:
        return RowProblem(line, "missing_recipient", "no phone (or user_id) on this row")
    wa_id = country = None
    if phone:
        try:
            wa_id, country = normalize_phone(phone, default_region)
        except ValueError as exc:
            return RowProblem(line, "invalid_phone", str(exc))
    if user_id:
        if not BSUID.match(user_id):
            return RowProblem(
                line, "invalid_user_id", f"{user_id!r} is not a BSUID such as JP.70211330012345"
            )
        country = country or user_id[:2]
    name = cells[name_at].strip() if name_at is not None else ""
    if len(name) > MAX_NAME:
        return RowProblem(line, "too_long", f"name is longer than {MAX_NAME} characters")
    variables: dict[str, str] = {}
    for i, cell in enumerate(cells):
        if i in (phone_at, user_at, name_at):
            continue
        value = cell.strip()
        if len(value) > MAX_VALUE:
            return RowProblem(line, "too_long", f"{names[i]} is longer than {MAX_VALUE} characters")
        variables[names[i]] = value
    return AudienceRow(line, wa_id, user_id or None, name or None, country, variables)
