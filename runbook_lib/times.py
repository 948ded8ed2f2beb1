"""Time, one way: aware UTC datetimes inside, ISO-8601 UTC text outside, and the grammar of the
restore point T (``"latest"``, an ISO-8601 time, or a duration ago such as ``15m``) and the replay
start R (``"restore_point"`` or a time)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from .errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)\s*(ago)?\s*$", re.I)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def clock(dt: datetime) -> str:
    """``dt`` to the second in UTC, without its offset: ``2026-11-28 05:00:00``. The sentence or
    page that shows it says "UTC" once, instead of ``+00:00`` on every time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def iso_second(dt: datetime) -> str:
    """``dt`` as ISO-8601 UTC to the second, ``Z`` for the zone: ``2026-11-28T05:00:00Z`` (the form
    ``summary.json`` uses: machine-readable, with no microseconds and no ``+00:00``)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def to_utc(value: datetime | str | None, what: str) -> datetime | None:
    """A datetime or ISO-8601 text as an aware UTC datetime (naive means UTC); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            raise InputError(f"{what} {value!r} is not an ISO-8601 time: give e.g. 2026-11-28T05:00:00Z") from None
    if not isinstance(value, datetime):
        raise InputError(f"{what} must be a datetime or an ISO-8601 string, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_time(text: str | datetime, *, now: datetime | None = None, name: str = "restore_time") -> datetime | str:
    """``"latest"``, an ISO-8601 time (UTC, or with an explicit offset), or a duration ago (``15m``)."""
    now = now or utcnow()
    if isinstance(text, datetime):
        if text.tzinfo is None:
            raise InputError(f"{name} {text.isoformat()} has no time zone: give it in UTC (suffix Z or +00:00)")
        return text.astimezone(timezone.utc)
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{name} is empty: give 'latest', an ISO-8601 UTC time such as 2026-11-28T04:00:00Z, or a duration such as 15m")
    value = text.strip()
    if value.lower() == "latest":
        return "latest"
    match = _DURATION.match(value)
    if match:
        amount, unit = float(match.group(1)), match.group(2)[0].lower()
        return now - timedelta(seconds=amount * _UNIT_SECONDS[unit])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{name} {value!r} is not a time: give 'latest', an ISO-8601 UTC time such as 2026-11-28T04:00:00Z, or a duration such as 15m"
        ) from None
    if parsed.tzinfo is None:
        raise InputError(f"{name} {value!r} has no time zone: give it in UTC (suffix Z or +00:00)")
    return parsed.astimezone(timezone.utc)


def parse_times(
    restore_time: str | datetime, replay_from: str | datetime, *, now: datetime | None = None
) -> tuple[datetime | str, datetime | str]:
    """T (a time or ``"latest"``) and R (a time or ``"restore_point"``), checked without AWS:
    well formed, T not in the future, R not before T."""
    now = now or utcnow()
    t_parsed = parse_time(restore_time, now=now, name="restore_time")
    if isinstance(replay_from, str) and replay_from.strip().lower() in ("restore_point", "restore-point", "t"):
        r_spec: datetime | str = "restore_point"
    else:
        r_spec = parse_time(replay_from, now=now, name="replay_from")
        if r_spec == "latest":
            raise InputError("replay_from must be 'restore_point' (catch-up) or a time after the restore point (rollback), not 'latest'")
    if isinstance(t_parsed, datetime) and t_parsed > now + timedelta(seconds=1):
        raise InputError(f"restore_time {iso(t_parsed)} is in the future (now is {iso(now)})")
    if isinstance(r_spec, datetime) and isinstance(t_parsed, datetime) and r_spec < t_parsed:
        raise InputError(
            f"replay_from {iso(r_spec)} is before the restore point {iso(t_parsed)}: "
            "use 'restore_point' for catch-up, or a time after the restore point for a rollback"
        )
    return t_parsed, r_spec


def parse_duration(text: str | float | int, *, name: str = "duration") -> float:
    """Seconds from a number of seconds (``90``) or a duration (``15m``, ``1h``, ``7d``, ``30s``)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        value = str(text).strip()
        match = _DURATION.match(value)
        if match and not match.group(3):
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
        else:
            try:
                seconds = float(value)
            except ValueError:
                raise InputError(f"{name} {value!r} is not a duration: give seconds (90) or e.g. 30s, 15m, 1h, 7d") from None
    if seconds < 0 or seconds != seconds:
        raise InputError(f"{name} must not be negative: {text!r}")
    return seconds

