"""The one summary schema: :class:`RunSummary`, computed once from a reconciliation and the run's state.

``summary.json`` is :meth:`RunSummary.to_json`; ``differences.csv`` is its :attr:`RunSummary.rows`;
the HTML report and the notebook's view (:meth:`RunSummary._repr_html_`) render it through one
template (:mod:`.html`). Nothing renders from the state or the reconciliation directly.

A summary knows what kind of run it describes (:attr:`RunSummary.kind`): ``reconcile`` (two
existing tables, ``pitr-runbook reconcile``), ``run`` (the runbook with its buffer: a plan, a stack,
timings) or ``drill`` (a run whose state holds the drill's own facts). What the run did not have is
absent: from ``summary.json`` (no nulls, no empty lists), from the page and the notebook view.

Times in the schema are aware UTC datetimes: ISO-8601 to the second with ``Z`` in ``summary.json``
(:func:`runbook_lib.times.iso_second`); the HTML shows them to the second and says UTC once.
``summary.json`` carries ``schema_version`` (:data:`SCHEMA_VERSION`; the README's "summary.json"
section documents the schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..cdc.codec import CodecError, canonical_key
from ..reconcile.result import export_json
from ..reconcile import EXPLAINED, IN_FLIGHT, UNEXPLAINED, Difference, Reconciliation
from .. import times
from .accounting import BufferAccounting, buffer_accounting
from .downtime import downtime_summary
from .drill_facts import DrillCheck, DrillFacts, drill_checks

#: the version of summary.json's schema. 1 (unversioned): every field present, null when unknown,
#: times with microseconds and +00:00. 2: ``schema_version`` and ``kind``; unknown or empty fields
#: absent; times to the second with Z; ``drill`` (facts and checks) and ``next_steps``.
SCHEMA_VERSION = 2

#: the kinds of run a summary describes
RECONCILE, RUN, DRILL = "reconcile", "run", "drill"
KINDS_OF_RUN = (RECONCILE, RUN, DRILL)

#: state["timings"] keys, in the order they happen, with how the timeline labels them
TIMING_LABELS = (
    ("restore_called", "restore called"),
    ("active", "target ACTIVE"),
    ("replay_enabled", "replay on"),
    ("drained", "buffer drained"),
    ("cutover_done", "cutover"),
)

_CLASS_RANK = {UNEXPLAINED: 0, IN_FLIGHT: 1, EXPLAINED: 2}


# -- times and samples in the state ---------------------------------------------------------------
def _when(value: Any) -> datetime | None:
    """A state time (ISO-8601 string, datetime or epoch seconds) as an aware UTC datetime, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        try:
            return times.parse_iso(value)
        except ValueError:
            return None
    return None


def _samples(state: dict[str, Any]) -> list[tuple[datetime, dict[str, Any]]]:
    out = []
    for sample in state.get("drain_samples") or []:
        when = _when(sample.get("t"))
        if when is not None:
            out.append((when, sample))
    out.sort(key=lambda pair: pair[0])
    return out


def drain_rate(state: dict[str, Any]) -> float | None:
    """Net drain rate in messages per second: from the deepest sample to the last one.

    ``(peak depth - last depth) / seconds between them``; None with fewer than two samples after
    the peak or when the buffer never went down. Arrivals during the drain make this a net rate.
    """
    samples = _samples(state)
    if len(samples) < 2:
        return None
    peak_index = max(range(len(samples)), key=lambda i: (samples[i][1].get("depth") or 0, -i))
    t0, first = samples[peak_index]
    t1, last = samples[-1]
    seconds = (t1 - t0).total_seconds()
    drained = (first.get("depth") or 0) - (last.get("depth") or 0)
    if seconds <= 0 or drained <= 0:
        return None
    return round(drained / seconds, 3)


def _iso(when: datetime | None) -> str | None:
    return times.iso_second(when) if when else None


def compact(value: Any) -> Any:
    """``value`` without None, empty dicts, lists and strings, at any depth (0 and False are kept):
    what summary.json holds is what the run knows."""
    if isinstance(value, dict):
        out = {k: compact(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if not _empty(v)}
    if isinstance(value, (list, tuple)):
        return [compact(v) for v in value if not _empty(compact(v))]
    return value


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (dict, list, tuple, str)) and len(value) == 0)


def kind_of_run(state: dict[str, Any]) -> str:
    """``drill`` when the state holds a drill's facts, ``run`` when it holds a plan, a stack or a
    restore's timings, else ``reconcile`` (two tables compared, nothing else done)."""
    if DrillFacts.of(state.get("drill")) is not None:
        return DRILL
    timings = state.get("timings") or {}
    if state.get("mode") or state.get("stack") or state.get("capture_start") or any(
        timings.get(key) for key, _ in TIMING_LABELS
    ):
        return RUN
    return RECONCILE


@dataclass(frozen=True)
class Invocation:
    """How the run was started, for the commands the "what to do next" steps name (not in summary.json)."""

    run_dir: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    automation: str | None = None
    stack_name: str | None = None


# -- the schema -----------------------------------------------------------------------------------
def key_text(key: dict[str, Any] | str) -> str:
    """A key as every file shows it: the keyed digest as it is, or the key's canonical text
    (:func:`runbook_lib.cdc.codec.canonical_key`, the very text the handlers' digest is the HMAC of)."""
    if isinstance(key, str):
        return key
    try:
        return canonical_key(key)
    except CodecError:
        return json.dumps(key, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DifferenceRow:
    """One difference as the files show it (a row of ``differences.csv``, of the HTML table)."""

    key: str
    key_hash: str
    kind: str
    classification: str
    attributes: tuple[str, ...]
    last_change: datetime | None
    source_values: dict[str, Any] | None
    target_values: dict[str, Any] | None

    @classmethod
    def of(cls, d: Difference) -> "DifferenceRow":
        return cls(key_text(d.key), d.key_hash, d.kind, d.classification, tuple(d.attributes), d.last_change,
                   d.source_values, d.target_values)

    def csv(self) -> dict[str, str]:
        return {
            "key": self.key,
            "key_hash": self.key_hash,
            "kind": self.kind,
            "classification": self.classification,
            "attributes": ";".join(self.attributes),
            "last_change": times.iso(self.last_change) if self.last_change else "",
            "source_values": "" if self.source_values is None else json.dumps(self.source_values, sort_keys=True),
            "target_values": "" if self.target_values is None else json.dumps(self.target_values, sort_keys=True),
        }


@dataclass(frozen=True)
class RunSummary:
    """What a run proved and measured: the verdict, counts and classes, T and R, RTO and catch-up,
    the buffer's own accounting, the differences. Frozen; every output renders from it."""

    verdict: str
    source_table: str | None
    target_table: str | None
    mode: str | None
    counts: dict[str, int]
    differences: dict[str, int]
    explained: int
    unexplained: int
    in_flight: int
    settled_on_reread: int
    coverage_warning: str | None
    restore_time: datetime | None
    replay_from: datetime | None
    capture_start: datetime | None
    rto_seconds: float | None
    catch_up_seconds: float | None
    drain_rate_per_second: float | None
    items_scanned: int
    scan_seconds: float
    items_per_second: float
    timings: dict[str, datetime | None]
    faults: list[dict[str, Any]]
    segments: int
    peak_unmatched_keys: int
    reread_rounds: int
    consumed_capacity_units: dict[str, float]
    values_shown: bool
    keys_shown: bool
    key_digest: dict[str, Any] | None
    #: the buffer's own accounting (captured, applied, skipped, stale, dead-lettered), when the run has it
    buffer: BufferAccounting | None
    #: every difference, in the reconciliation's order (unexplained, in flight, explained)
    rows: tuple[DifferenceRow, ...]
    #: how many rows the HTML report and the notebook show
    sample_size: int = 20
    #: why the buffer's accounting could not be read (its functions' logs refused), else None
    buffer_error: str | None = None
    #: ``reconcile``, ``run`` or ``drill`` (:func:`kind_of_run`)
    kind: str = RECONCILE
    #: a drill's own facts, when the run is a drill
    drill: DrillFacts | None = None
    #: how the run was started (the commands in the next steps)
    invocation: Invocation = Invocation()
    #: cutover's write-unavailability window and the switch (``report.downtime.downtime_summary``), once measured
    downtime: dict[str, Any] | None = None
    #: ``scan`` or ``export``; why (the plan's words); with exports: engine, both ExportArns, ExportTime
    method: str = "scan"
    method_reason: str | None = None
    export: dict[str, Any] | None = None
    #: where explaining last changes came from (``stream``, ``incremental_export`` with its ARNs, ``given``)
    explained_from: dict[str, Any] | None = None

    @property
    def method_text(self) -> str:
        """The comparison in words: the method, its engine and moment, and why."""
        text = "scan of both tables through the API" if self.method == "scan" else "PITR exports of both tables"
        export = self.export or {}
        if self.method == "export":
            if export.get("export_time") is not None:
                text += f" as of {times.clock(export['export_time'])}"
            if export.get("engine"):
                text += f", compared on {'DuckDB' if export['engine'] == 'duckdb' else 'Athena'}"
        return text + (f" ({self.method_reason})" if self.method_reason else "")

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    @property
    def lost(self) -> int:
        """Keys whose source state is not in the target and that nothing explains."""
        return self.unexplained

    @property
    def unexplained_by_kind(self) -> dict[str, int]:
        """Unexplained differences by kind (missing, extra, changed)."""
        counts = {"missing": 0, "extra": 0, "changed": 0}
        for row in self.rows:
            if row.classification == UNEXPLAINED:
                counts[row.kind] = counts.get(row.kind, 0) + 1
        return counts

    @property
    def checks(self) -> tuple[DrillCheck, ...]:
        """The drill's checks (none unless the run is a drill)."""
        return drill_checks(self.drill, self)

    @property
    def next_steps(self) -> tuple:
        """What to do next (:mod:`.next_steps`): after a FAIL, keys in flight, or a drill check missed."""
        from .next_steps import next_steps

        return next_steps(self)

    @property
    def last_changes_known(self) -> bool:
        return any(row.last_change is not None for row in self.rows)

    def sample(self) -> tuple[DifferenceRow, ...]:
        """The rows the HTML report shows: the first ``sample_size``, unexplained and in flight first."""
        ranked = sorted(self.rows, key=lambda row: _CLASS_RANK[row.classification])
        return tuple(ranked[: self.sample_size])

    def to_json(self) -> dict[str, Any]:
        """What ``summary.json`` holds (the differences themselves are in ``differences.csv``):
        only what the run knows; times to the second with Z."""
        drill = None
        if self.drill is not None:
            drill = {**self.drill.to_json(), "checks": [c.to_json() for c in self.checks]}
        return compact({
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "verdict": self.verdict,
            "source_table": self.source_table,
            "target_table": self.target_table,
            "mode": self.mode,
            "counts": dict(self.counts),
            "differences": dict(self.differences),
            "explained": self.explained,
            "unexplained": self.unexplained,
            "in_flight": self.in_flight,
            "settled_on_reread": self.settled_on_reread,
            "coverage_warning": self.coverage_warning,
            "restore_time": _iso(self.restore_time),
            "replay_from": _iso(self.replay_from),
            "capture_start": _iso(self.capture_start),
            "rto_seconds": self.rto_seconds,
            "catch_up_seconds": self.catch_up_seconds,
            "drain_rate_per_second": self.drain_rate_per_second,
            "timings": {key: _iso(when) for key, when in self.timings.items()},
            "downtime": self.downtime,
            "drill": drill,
            "faults": list(self.faults),
            "buffer": self.buffer.to_json() if self.buffer else None,
            "buffer_error": self.buffer_error,
            "next_steps": [step.to_json() for step in self.next_steps],
            "items_scanned": self.items_scanned,
            "scan_seconds": self.scan_seconds,
            "items_per_second": self.items_per_second,
            "segments": self.segments,
            "peak_unmatched_keys": self.peak_unmatched_keys,
            "reread_rounds": self.reread_rounds,
            "consumed_capacity_units": dict(self.consumed_capacity_units),
            "values_shown": self.values_shown,
            "keys_shown": self.keys_shown,
            "key_digest": self.key_digest,
            "method": self.method,
            "method_reason": self.method_reason,
            "export": export_json(self.export),
            "explained_from": self.explained_from,
        })

    def _repr_html_(self) -> str:  # the notebook shows the report's lead section
        from .html import render_lead

        return render_lead(self)


def summarize(reconciliation: Reconciliation, state: dict[str, Any] | None, *, run_dir: str | None = None) -> RunSummary:
    """The run's summary: the reconciliation's figures, the state's times, the buffer's accounting,
    a drill's facts. ``run_dir`` (where the reports go) only shapes the commands of the next steps."""
    state = state or {}
    timings = state.get("timings") or {}
    stack = state.get("stack") if isinstance(state.get("stack"), dict) else {}
    r = reconciliation
    return RunSummary(
        verdict=r.verdict,
        source_table=r.source_table or state.get("source_table"),
        target_table=r.target_table or state.get("target_table"),
        mode=state.get("mode"),
        counts={"source": r.source_count, "target": r.target_count},
        differences={**r.counts_by_kind(), "total": len(r.differences)},
        explained=r.explained,
        unexplained=r.unexplained,
        in_flight=r.in_flight,
        settled_on_reread=r.settled,
        coverage_warning=r.coverage_warning,
        restore_time=_when(r.restore_time) or _when(state.get("restore_time")),
        replay_from=_when(r.replay_from) or _when(state.get("replay_from")),
        capture_start=_when(state.get("capture_start")),
        rto_seconds=timings.get("rto_seconds"),  # computed once, by the run state's Timings
        catch_up_seconds=timings.get("catch_up_seconds"),
        drain_rate_per_second=drain_rate(state),
        items_scanned=r.items_scanned,
        scan_seconds=round(r.scan_seconds, 3),
        items_per_second=round(r.items_per_second, 1),
        timings={key: _when(timings.get(key)) for key, _ in TIMING_LABELS},
        faults=list(state.get("faults") or []),
        segments=r.segments,
        peak_unmatched_keys=r.peak_unmatched_keys,
        reread_rounds=r.reread_rounds,
        consumed_capacity_units={k: round(v, 1) for k, v in r.consumed_capacity.items()},
        values_shown=r.show_values,
        keys_shown=r.show_keys,
        key_digest=(
            {"algorithm": "HMAC-SHA256", "secret_arn": r.key_digest_secret_arn} if r.keys_digested else None
        ),
        buffer=buffer_accounting(state),
        rows=tuple(DifferenceRow.of(d) for d in r.differences),
        sample_size=r.sample_size,
        buffer_error=state.get("pipeline_error"),
        kind=kind_of_run(state),
        drill=DrillFacts.of(state.get("drill")),
        invocation=Invocation(
            run_dir=str(run_dir) if run_dir is not None else None, region=state.get("region"),
            endpoint_url=state.get("endpoint_url"), automation=state.get("automation"),
            stack_name=(stack or {}).get("name"),
        ),
        downtime=downtime_summary(state.get("downtime"), state.get("switch")),
        method=r.method,
        method_reason=r.method_reason,
        export=r.export,
        explained_from=r.explained_from,
    )


def run_summary(reconciliation: Reconciliation, state: dict[str, Any] | None) -> dict[str, Any]:
    """What ``summary.json`` holds: :func:`summarize` as JSON."""
    return summarize(reconciliation, state).to_json()
