"""Calling windows: the hours and weekdays a contact may be called, in the contact's own time zone."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALL_DAYS = [0, 1, 2, 3, 4, 5, 6]
DEFAULT_WINDOW: dict[str, Any] = {"start": "00:00", "end": "24:00", "days": ALL_DAYS}


@cache
def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name``; None when there is no such zone."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def clock(value: str) -> time | None:
    """``"HH:MM"`` as a time; ``"24:00"`` is the end of the day (None)."""
    if value == "24:00":
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def is_open(window: dict[str, Any], tz: str, now: datetime) -> bool:
    """Whether ``now`` (aware) falls in ``window`` on the wall clock of ``tz``: start <= t < end."""
    where = zone(tz)
    if where is None:
        return False
    local = now.astimezone(where)
    if local.weekday() not in window.get("days", ALL_DAYS):
        return False
    start = clock(str(window.get("start", "00:00"))) or time(0, 0)
    end = clock(str(window.get("end", "24:00")))
    t = local.time().replace(tzinfo=None)
    return start <= t and (end is None or t < end)


def open_zones(window: dict[str, Any], zones: Iterable[str], now: datetime) -> list[str]:
    return [tz for tz in zones if is_open(window, tz, now)]
