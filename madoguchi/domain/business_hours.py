"""Whether a queue is open at an instant, in the queue's own time zone.

Hours are a weekly schedule of local opening intervals (``{"mon": [["09:00", "18:00"]]}``,
an interval may end at "24:00"), holidays are local dates when the queue is closed all
day. Evaluating in the queue's zone (zoneinfo) makes daylight-saving changes and a
customer writing from another zone come out right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class BusinessHoursError(ValueError):
    """A schedule that cannot be evaluated; the message names the field."""


def _parse_time(value: str, where: str) -> time:
    if value == "24:00":
        return time.max
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError) as exc:
        raise BusinessHoursError(f"{where}: {value!r} is not a HH:MM time") from exc


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str
    weekly: dict[str, list[tuple[time, time]]] | None  # None: always open
    holidays: frozenset[date]

    @classmethod
    def parse(cls, timezone: str, hours: dict | None, holidays: list | None) -> BusinessHours:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BusinessHoursError(f"timezone: {timezone!r} is not an IANA time zone") from exc
        weekly = None
        if hours is not None:
            weekly = {}
            for day, intervals in hours.items():
                if day not in DAYS:
                    raise BusinessHoursError(f"hours.{day}: not a day (use {', '.join(DAYS)})")
                parsed = []
                for i, interval in enumerate(intervals or []):
                    where = f"hours.{day}[{i}]"
                    if not isinstance(interval, list | tuple) or len(interval) != 2:
                        raise BusinessHoursError(f'{where}: must be ["HH:MM", "HH:MM"]')
                    start, end = (_parse_time(v, where) for v in interval)
                    if end <= start:
                        raise BusinessHoursError(f"{where}: closes before it opens")
                    parsed.append((start, end))
                weekly[day] = parsed
        days = set()
        for i, value in enumerate(holidays or []):
            try:
                days.add(date.fromisoformat(str(value)))
            except ValueError as exc:
                raise BusinessHoursError(
                    f"holidays[{i}]: {value!r} is not a YYYY-MM-DD date"
                ) from exc
        return cls(timezone, weekly, frozenset(days))

    def is_open(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if local.date() in self.holidays:
            return False
        if self.weekly is None:
            return True
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.weekly.get(DAYS[local.weekday()], []))
