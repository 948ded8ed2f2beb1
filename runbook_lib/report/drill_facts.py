"""A drill's own facts and checks, as the report shows them.

``pitr-runbook drill`` records, in the run state before step 04 (``state.drill``, written by
:func:`runbook_lib.drill.record_drill`), what it set up: the mode, automation, items, the traffic it
ran and stopped, the faults it switched on, the keys of its rollback "incident" and the RTO target.
:func:`drill_checks` turns those facts and the run's results into the checks the drill stands for:
the verdict, the RTO against its target, every fault injected at least once, the incident window
explained, nothing left in the DLQ. A run that is not a drill has no facts and no checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .accounting import counts_text
from .text import duration


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class DrillFacts:
    """What the drill set up (``state["drill"]``); every field but ``mode`` may be unknown (None)."""

    mode: str
    automation: str | None = None
    items: int | None = None
    #: the live traffic: ``rate`` (writes a second), ``puts``, ``updates``, ``deletes`` once stopped
    traffic: dict[str, Any] | None = None
    faults: tuple[str, ...] = ()
    rto_target_seconds: float | None = None
    #: rollback: the keys only the "incident" writes, inside [T, R)
    incident_keys: int | None = None
    redact_keys: bool | None = None
    #: the notebooks ran as the IAM user holding only the operator policy
    as_operator: bool | None = None
    #: where the drill keeps its history (``pitr-runbook history --runs-dir``)
    runs_dir: str | None = None
    # -- a drill on an existing table (``pitr-runbook drill --source-table``, mode ``restore``) --
    #: the scratch table the source was restored into (``<source>-drill-<stamp>``)
    scratch_table: str | None = None
    #: the source's ``ItemCount`` and ``TableSizeBytes`` (DynamoDB updates them about every six hours)
    source_items: int | None = None
    source_bytes: int | None = None
    #: how long the scratch table is kept after the drill (0: deleted at once), and what became of it
    keep_for_seconds: float | None = None
    scratch_deleted: bool | None = None
    scratch_expires: str | None = None
    #: ``SSESpecificationOverride`` of the restore: ``aws-owned``, ``aws-managed`` or ``customer-managed``
    encryption: str | None = None
    check_timeout_seconds: float | None = None
    #: the user's checks: ``[{name, file, status, message, seconds}]`` (SUCCESSFUL, FAILED, TIMED_OUT)
    user_checks: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    #: ``drill --with-buffer``: the whole runbook (buffer, reconciliation with live writers, cutover) ran
    with_buffer: bool | None = None

    @classmethod
    def of(cls, data: Any) -> "DrillFacts | None":
        if not isinstance(data, dict) or not data.get("mode"):
            return None
        traffic = data.get("traffic")
        return cls(
            mode=str(data["mode"]),
            automation=data.get("automation"),
            items=_int(data.get("items")),
            traffic=dict(traffic) if isinstance(traffic, dict) and traffic else None,
            faults=tuple(str(f) for f in data.get("faults") or ()),
            rto_target_seconds=_float(data.get("rto_target_seconds")),
            incident_keys=_int(data.get("incident_keys")),
            redact_keys=data.get("redact_keys") if isinstance(data.get("redact_keys"), bool) else None,
            as_operator=data.get("as_operator") if isinstance(data.get("as_operator"), bool) else None,
            runs_dir=data.get("runs_dir") or None,
            scratch_table=data.get("scratch_table") or None,
            source_items=_int(data.get("source_items")),
            source_bytes=_int(data.get("source_bytes")),
            keep_for_seconds=_float(data.get("keep_for_seconds")),
            scratch_deleted=data.get("scratch_deleted") if isinstance(data.get("scratch_deleted"), bool) else None,
            scratch_expires=data.get("scratch_expires") or None,
            encryption=data.get("encryption") or None,
            check_timeout_seconds=_float(data.get("check_timeout_seconds")),
            user_checks=tuple(dict(c) for c in data.get("user_checks") or () if isinstance(c, dict)),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            with_buffer=data.get("with_buffer") if isinstance(data.get("with_buffer"), bool) else None,
        )

    def to_json(self) -> dict[str, Any]:
        """Known facts only (no nulls, no empty lists)."""
        out: dict[str, Any] = {"mode": self.mode}
        for name in ("automation", "items", "traffic", "rto_target_seconds", "incident_keys", "redact_keys",
                     "as_operator", "runs_dir", "scratch_table", "source_items", "source_bytes", "keep_for_seconds",
                     "scratch_deleted", "scratch_expires", "encryption", "check_timeout_seconds", "with_buffer"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.faults:
            out["faults"] = list(self.faults)
        if self.user_checks:
            out["user_checks"] = [dict(c) for c in self.user_checks]
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    def traffic_text(self) -> str | None:
        t = self.traffic or {}
        text = ", ".join(f"{t[k]:,} {k}" for k in ("puts", "updates", "deletes") if isinstance(t.get(k), int))
        if isinstance(t.get("rate"), (int, float)):
            text += (" at " if text else "") + f"{t['rate']:g} writes/s"
        return text + "; stopped before reconciliation" if text else None


#: check ids (the ``check`` field in summary.json)
CHECK_VERDICT = "verdict"
CHECK_RTO = "rto_target"
CHECK_FAULT = "fault_injected"
CHECK_INCIDENT = "incident_explained"
CHECK_DLQ = "dlq_empty"
CHECK_USER = "user_check"


@dataclass(frozen=True)
class DrillCheck:
    """One thing the drill checks: ``ok`` or not, and what was seen."""

    check: str
    label: str
    ok: bool
    detail: str
    #: the fault this check is about (``fault_injected``)
    fault: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"check": self.check, "ok": self.ok, "detail": self.detail}
        if self.fault:
            out["fault"] = self.fault
        return out


def _seconds_text(seconds: float) -> str:
    return duration(seconds) or ""


def drill_checks(facts: DrillFacts | None, s: Any) -> tuple[DrillCheck, ...]:
    """The drill's checks on a :class:`~.summary.RunSummary` ``s`` (none when the run is no drill)."""
    if facts is None:
        return ()
    checks = [DrillCheck(
        CHECK_VERDICT, "verdict PASS: nothing unexplained, nothing in flight", s.verdict == "PASS",
        f"{s.verdict}: {s.unexplained:,} unexplained, {s.in_flight:,} in flight, {s.explained:,} explained",
    )]
    if facts.rto_target_seconds is not None:
        target = _seconds_text(facts.rto_target_seconds)
        if s.rto_seconds is None:
            checks.append(DrillCheck(CHECK_RTO, f"RTO within {target}", False, "the RTO was not measured"))
        else:
            ok = s.rto_seconds <= facts.rto_target_seconds
            checks.append(DrillCheck(CHECK_RTO, f"RTO within {target}", ok,
                                     f"RTO {_seconds_text(s.rto_seconds)} ({'within' if ok else 'over'} the target)"))
    injected = {f.get("name"): f.get("injected") for f in s.faults if isinstance(f, dict)}
    for name in facts.faults:
        what = injected.get(name)
        checks.append(DrillCheck(
            CHECK_FAULT, f"fault {name} injected", bool(what),
            counts_text(what) if what else "never injected: this drill proved nothing about it", fault=name,
        ))
    if facts.mode == "rollback" and facts.incident_keys:
        ok = s.explained >= facts.incident_keys
        checks.append(DrillCheck(
            CHECK_INCIDENT, f"the {facts.incident_keys} incident keys written in [T, R) are explained", ok,
            f"{s.explained:,} explained difference(s)",
        ))
    for check in facts.user_checks:
        status, seconds = str(check.get("status")), _float(check.get("seconds"))
        detail = f"{check.get('name')}: {status}" + (f" in {_seconds_text(seconds)}" if seconds is not None else "")
        if check.get("message"):
            detail += f": {check['message']}"
        checks.append(DrillCheck(CHECK_USER, f"your check {check.get('name')}", status == "SUCCESSFUL", detail))
    if s.buffer is not None and s.buffer.dead_lettered is not None:
        checks.append(DrillCheck(CHECK_DLQ, "nothing left in the DLQ", s.buffer.dead_lettered == 0,
                                 f"{s.buffer.dead_lettered:,} message(s) in the DLQ"))
    return tuple(checks)
