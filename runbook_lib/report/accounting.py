"""The buffer's own accounting of a run, read from what the run recorded of its functions' logs.

``runbook_lib.activity.pipeline_activity`` adds up the forwarder's and the applier's JSON log lines
(counts only, never item data) and the queues' depths. Every run with a buffer records that in its
state once the buffer has drained (steps 03 and 04, ``run_state.PipelineActivity``; the view's
``pipeline``, and ``pipeline_error`` when the logs could not be read); a drill with injected faults
also keeps it with each fault (``faults[i].pipeline``). A run without a buffer (a reconcile of two
existing tables) has no accounting, and the report says nothing of it.

Each change from R on is counted once by the applier: applied (one write per key and batch) or
superseded, unless it was dead-lettered; so arrived = applied + superseded + dead-lettered + lost
when nothing was delivered twice (a redelivered or retried message counts again).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class BufferAccounting:
    """What the buffer says it did with the writes that arrived while the restore ran.

    ``captured``: stream records the forwarder read; ``sent``: messages it put in the queue (a
    retried batch counts again, SQS drops the duplicate); ``applied``: puts and deletes the applier
    wrote to the restored table; ``skipped_before_replay``: changes before R, acknowledged and not
    applied (rollback); ``dropped_as_stale``: changes superseded in their batch by a newer change of
    the same item, or by the source's current item when the key was re-read (one write per key); ``reread``: items applied as the source's current item (consistent read);
    ``poison``: messages that could not be decoded; ``dead_lettered``: messages in the DLQ;
    ``stream_failures``: stream records given up on (the forwarder's on-failure queue).
    """

    captured: int | None = None
    sent: int | None = None
    applied: int | None = None
    skipped_before_replay: int | None = None
    dropped_as_stale: int | None = None
    reread: int | None = None
    poison: int | None = None
    dead_lettered: int | None = None
    stream_failures: int | None = None

    @property
    def arrived(self) -> int | None:
        """Writes from R on: captured, less those made before R (the buffer reads its stream from
        before the restore point; those writes are in the restored table already, or reverted on
        purpose in rollback)."""
        if self.captured is None:
            return None
        return self.captured - (self.skipped_before_replay or 0)

    def to_json(self) -> dict[str, int | None]:
        return {**asdict(self), "arrived": self.arrived}


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def pipeline_of(state: dict[str, Any]) -> dict[str, Any]:
    """The run's pipeline activity: ``state["pipeline"]``, else the first fault entry's."""
    pipeline = state.get("pipeline")
    if isinstance(pipeline, dict) and pipeline:
        return pipeline
    for entry in state.get("faults") or []:
        if isinstance(entry, dict) and entry.get("pipeline"):
            return entry["pipeline"]
    return {}


def buffer_accounting(state: dict[str, Any]) -> BufferAccounting | None:
    """The buffer's accounting from the state, or None when the run recorded no pipeline activity."""
    pipeline = pipeline_of(state)
    forwarder = (pipeline.get("forwarder") or {}).get("totals") or {}
    applier = (pipeline.get("applier") or {}).get("totals") or {}
    if not forwarder and not applier and "dlq_depth" not in pipeline:
        return None
    puts, deletes = _int(applier.get("puts")), _int(applier.get("deletes"))
    return BufferAccounting(
        captured=_int(forwarder.get("records")),
        sent=_int(forwarder.get("sent")),
        applied=None if puts is None and deletes is None else (puts or 0) + (deletes or 0),
        skipped_before_replay=_int(applier.get("skipped_before_replay")),
        dropped_as_stale=_int(applier.get("superseded")),
        reread=_int(applier.get("reread")),
        poison=_int(applier.get("poison")),
        dead_lettered=_int(pipeline.get("dlq_depth")),
        stream_failures=_int(pipeline.get("stream_failures")),
    )


def counts_text(counts: Any) -> str:
    """``{"a": 1, "b": 0}`` as ``"a 1"`` (zeros left out), ``"none"`` when nothing counted."""
    if not isinstance(counts, dict) or not counts:
        return "none"
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in sorted(counts.items()) if v) or "none"


def pipeline_lines(pipeline: dict[str, Any]) -> list[tuple[str, str]]:
    """What the pipeline did, as (what, counts) rows: the functions' log events and totals, the DLQ."""
    rows: list[tuple[str, str]] = []
    for role in ("forwarder", "applier"):
        part = pipeline.get(role) or {}
        if part:
            rows.append((f"{role} log events", counts_text(part.get("events"))))
            rows.append((f"{role} totals", counts_text(part.get("totals"))))
            rows.append((f"{role} failed invocations", str(part.get("invocation_errors", 0))))
    if "dlq_depth" in pipeline:
        rows.append(("messages in the DLQ", str(pipeline["dlq_depth"])))
    if "stream_failures" in pipeline:
        rows.append(("stream records given up on", str(pipeline["stream_failures"])))
    return rows
