"""How the report writes times, durations and numbers for people: one way everywhere (the HTML
page, the notebook view, the "what to do next" steps).

Times to the second, without an offset (the page says UTC once): ``2026-11-28 05:00:00``.
Durations in words: ``8 min 30 s``. Whole numbers with thousands separators: ``1,210``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import times


def clock(when: datetime | str | None) -> str | None:
    """A time to the second, without its offset (the page says UTC once): ``2026-11-28 05:00:00``."""
    if when is None or when == "":
        return None
    if isinstance(when, str):
        when = times.parse_iso(when)
    return times.clock(when)


def duration(seconds: float | None) -> str | None:
    """Seconds to the second, in words: ``510.4`` -> ``8 min 30 s``; ``3725`` -> ``1 h 2 min 5 s``;
    ``0.04`` -> ``under 1 s``."""
    if seconds is None:
        return None
    if 0 < seconds < 0.5:
        return "under 1 s"
    total = int(round(seconds))
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if hours or minutes else []) + [f"{secs} s"]
    return ("-" if total < 0 else "") + " ".join(parts)


def num(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)
