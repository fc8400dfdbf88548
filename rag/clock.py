"""The one clock: aware UTC datetimes, and their text form as the stores keep it."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(timezone.utc)


def utc_iso(value: datetime | None = None) -> str:
    """ISO 8601 text in UTC with microseconds (`value`, or now); naive values count as UTC."""
    if value is None:
        value = utc_now()
    elif value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
