"""One drill as a flat record, read from its ``summary.json``: what ``publish`` sends to CloudWatch
and what ``history`` tabulates, read the same way by both.

The summary's schema is ``runbook_lib.report.summary`` (README, "summary.json"). A drill on an
existing table (``pitr-runbook drill --source-table``) writes ``kind: drill`` with the source table,
the scratch table (``target_table``), T (``restore_time``), ``rto_seconds``, the verdict, the
counts, and under ``drill`` its facts and checks: ``drill.checks`` the drill's own (``{check, ok,
detail}``; the user's checks folded in as ``check: user_check``, not counted from there) and
``drill.user_checks`` the user's by name (``status`` SUCCESSFUL / FAILED / TIMED_OUT, as AWS Backup
names validation results). The source's size is ``drill.source_bytes`` (DescribeTable's
``TableSizeBytes``, read before the restore), its item count ``drill.source_items`` (``ItemCount``),
else ``counts.source``.

A drill **passed** when its verdict is PASS and no check of either shape failed: the exit status
the drill itself gives (0), so that ``Passed`` in CloudWatch and the job's status agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from .. import times
from ..report.drill_facts import CHECK_USER

#: where a drill's summary carries the source table's size in bytes, first found wins
SIZE_FIELDS: tuple[tuple[str, ...], ...] = (("drill", "source_bytes"),)
#: where it carries the source's item count, first found wins (the demo drill: the items scanned)
ITEM_FIELDS: tuple[tuple[str, ...], ...] = (("drill", "source_items"), ("counts", "source"))
#: the user checks' result names (AWS Backup restore testing's validation statuses)
SUCCESSFUL = "SUCCESSFUL"


def _dig(data: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _first_number(summary: dict[str, Any], paths: Iterable[tuple[str, ...]]) -> float | None:
    for path in paths:
        value = _dig(summary, path)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _checks(summary: dict[str, Any]) -> list[tuple[str, bool]]:
    """(name, ok) of every check the drill recorded: its own, then the user's by name."""
    drill = summary.get("drill") if isinstance(summary.get("drill"), dict) else {}
    own = [c for c in drill.get("checks") or [] if isinstance(c, dict) and c.get("check") and "ok" in c]
    users = [c for c in drill.get("user_checks") or [] if isinstance(c, dict) and c.get("name")]
    return ([(str(c["check"]), bool(c["ok"])) for c in own if c["check"] != CHECK_USER]
            + [(str(c["name"]), str(c.get("status", "")).upper() == SUCCESSFUL) for c in users])


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return times.parse_iso(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class DrillRecord:
    """One drill of one table. ``when``: the restore's call (else T, else the run's finish)."""

    table: str
    when: datetime | None
    verdict: str
    passed: bool
    rto_seconds: float | None = None
    rto_target_seconds: float | None = None
    unexplained: int | None = None
    explained: int | None = None
    source_items: float | None = None
    source_bytes: float | None = None
    checks: tuple[tuple[str, bool], ...] = field(default_factory=tuple)
    mode: str | None = None
    location: str = ""

    @property
    def checks_text(self) -> str:
        """``3/3 ok`` or ``1/3 ok; failed: name, name``; ``none`` without checks."""
        if not self.checks:
            return "none"
        failed = [name for name, ok in self.checks if not ok]
        text = f"{len(self.checks) - len(failed)}/{len(self.checks)} ok"
        return text + (f"; failed: {', '.join(failed)}" if failed else "")

    @property
    def over_target(self) -> bool:
        return (self.rto_seconds is not None and self.rto_target_seconds is not None
                and self.rto_seconds > self.rto_target_seconds)


def record_of(summary: dict[str, Any], *, location: str = "", finished: str | None = None,
              table: str | None = None) -> DrillRecord | None:
    """The drill ``summary`` describes; None when it describes no drill's table (no summary, or
    a summary without ``source_table``, and no ``table`` given)."""
    name = summary.get("source_table") or table
    if not name:
        return None
    timings = summary.get("timings") if isinstance(summary.get("timings"), dict) else {}
    when = _when(timings.get("restore_called")) or _when(summary.get("restore_time")) or _when(finished)
    verdict = str(summary.get("verdict") or "NONE")
    checks = tuple(_checks(summary))
    drill = summary.get("drill") if isinstance(summary.get("drill"), dict) else {}
    unexplained = summary.get("unexplained")
    explained = summary.get("explained")
    return DrillRecord(
        table=str(name),
        when=when,
        verdict=verdict,
        passed=verdict == "PASS" and all(ok for _, ok in checks),
        rto_seconds=_first_number(summary, [("rto_seconds",)]),
        rto_target_seconds=_first_number(summary, [("drill", "rto_target_seconds")]),
        unexplained=int(unexplained) if isinstance(unexplained, (int, float)) else None,
        explained=int(explained) if isinstance(explained, (int, float)) else None,
        source_items=_first_number(summary, ITEM_FIELDS),
        source_bytes=_first_number(summary, SIZE_FIELDS),
        checks=checks,
        mode=summary.get("mode") or drill.get("mode"),
        location=location,
    )
