"""``report.html``: one self-contained page rendered from :class:`~.summary.RunSummary` by the
Jinja2 template ``templates/report.html.j2``, autoescaped (every text from a table, a key, an error
message or a value is escaped by the template engine, not by hand). Figures are embedded as PNG.

The page fits the run it describes (:attr:`RunSummary.kind`); a section appears only when the run
has its data, never as a table of dashes or a blank figure:

- every run: the lead (``templates/lead.html.j2``, also the notebook's view of a summary: the
  verdict, the buffer's headline and accounting when there is one, RTO, catch-up, T and R when
  known), "what to do next" after a FAIL (:mod:`.next_steps`), the counts, and the differences by
  class with the differing keys when there are any;
- a run of the runbook adds the timeline (its known times and the figure), the buffer's drain;
- a drill adds its own facts and checks, and the faults it injected;
- after cutover (step 05 adds it to the page 04 wrote, :mod:`.downtime`): the write-unavailability
  window, its parts, and the switch.

Times to the second, UTC said once at the top. Item values appear only when the reconciliation was
asked for them (``show_values``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from .. import times
from ..reconcile import Reconciliation
from .accounting import counts_text, pipeline_lines
from .figures import (CLASS_COLOURS, RunbookFigure, differences_figure, drain_figure, figure_png_base64,
                      timeline_figure)
from .downtime import render_section
from .summary import DRILL, RECONCILE, RUN, TIMING_LABELS, RunSummary, _samples, summarize
from .text import clock, duration, num

DIFFERENCES_FILE = "differences.csv"
SUMMARY_FILE = "summary.json"

__all__ = ["DIFFERENCES_FILE", "SUMMARY_FILE", "clock", "duration", "environment", "render_html", "render_lead"]


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("runbook_lib.report", "templates"),
        autoescape=True,  # the templates end in .j2: autoescape is on for every one of them
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        clock=clock, duration=duration, num=num, tojson_sorted=lambda v: json.dumps(v, sort_keys=True), ticks=ticks,
    )
    return env


def ticks(text: str) -> Markup:
    """``text`` escaped, with each `quoted` part set as code."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


KIND_LABELS = {
    RECONCILE: "Two existing tables compared (pitr-runbook reconcile)",
    RUN: "A run of the runbook: restore, replay through the buffer, reconcile",
    DRILL: "A restore drill on the sandbox, with live traffic",
}


TABLE_DRILL_LABEL = ("A restore drill on an existing table: restored into a scratch table, reconciled with the live "
                     "source, checked")


def _fault_rows(entry: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("parameters", counts_text(entry.get("params")) if entry.get("params") else "defaults"),
        ("injected", counts_text(entry.get("injected"))),
    ]
    rows += pipeline_lines(entry.get("pipeline") or {})
    for fallback in entry.get("fallbacks") or []:
        rows.append(("fallback", fallback if isinstance(fallback, str) else json.dumps(fallback, default=str)))
    return rows


def lead_facts(s: RunSummary) -> list[tuple[str, Any]]:
    """The lead's table: the buffer's accounting (a run with a buffer), RTO and catch-up (a run
    that restored), T and R (when known). Only what the run has; empty for a bare reconcile."""
    rows: list[tuple[str, Any]] = []
    b = s.buffer
    if b is not None:
        rows += [
            ("captured by the buffer (stream records the forwarder read)", b.captured),
            ("skipped: made before R, not replayed on purpose", b.skipped_before_replay),
            ("arrived during the restore (from R on)", b.arrived),
            ("applied to the restored table (puts and deletes)", b.applied),
            ("dropped as stale (superseded in its batch by a newer write of the item, or by its re-read)",
             b.dropped_as_stale),
            ("applied as the source's current item (consistent re-read)", b.reread),
            ("dead-lettered (messages in the DLQ)", b.dead_lettered),
            ("poison messages (could not be decoded)", b.poison or None),
            ("stream records given up on", b.stream_failures or None),
            ("lost (differences nothing explains)", s.lost),
        ]
    rows += [
        ("RTO (restore called \u2192 target ACTIVE)", duration(s.rto_seconds)),
        ("catch-up (ACTIVE \u2192 buffer drained)", duration(s.catch_up_seconds)),
        ("T, restore point", clock(s.restore_time)),
        (_r_label(s), clock(s.replay_from)),
    ]
    return [(label, value) for label, value in rows if value is not None]


def _r_label(s: RunSummary) -> str:
    """R's meaning: the replay start, or (a drill on a live table) the end of the writes that explain."""
    if s.drill is not None and s.drill.mode == "restore":
        return "R, end of the source's writes that explain (its stream read)"
    return "R, replay start"


def timeline_rows(s: RunSummary) -> list[tuple[str, Any]]:
    """The timeline table: the times the run recorded, and the durations between them."""
    rows: list[tuple[str, Any]] = [
        ("T, restore point", clock(s.restore_time)),
        (_r_label(s), clock(s.replay_from)),
        ("capture start", clock(s.capture_start)),
    ]
    rows += [(label, clock(s.timings.get(key))) for key, label in TIMING_LABELS]
    rows += [
        ("RTO (restore called \u2192 ACTIVE)", duration(s.rto_seconds)),
        ("catch-up (ACTIVE \u2192 drained)", duration(s.catch_up_seconds)),
        ("net drain rate, messages/s", s.drain_rate_per_second),
    ]
    return [(label, value) for label, value in rows if value is not None]


def _after_cutover(keep_for: float) -> str:
    """drill --with-buffer: this page is written in step 04, before the drill deletes or keeps the table."""
    plan = "deleted" if not keep_for else f"kept for {duration(keep_for)}, then deleted by drill --cleanup"
    return f"to be {plan} after the cutover (summary.json's drill.scratch_deleted says what was done)"


def drill_rows(s: RunSummary) -> list[tuple[str, Any]]:
    d = s.drill
    if d is None:
        return []
    rows: list[tuple[str, Any]] = [
        ("mode", {"catchup": "catch-up", "restore": "restore into a scratch table, reconciled with the live source"}
         .get(d.mode, d.mode)),
        ("scratch table", d.scratch_table),
        ("source table size", None if d.source_items is None else
         f"{num(d.source_items)} items, {num(d.source_bytes or 0)} bytes (ItemCount, TableSizeBytes)"),
        ("scratch table encryption", d.encryption),
        ("whole runbook on it", "the buffer on the source's stream, reconciled with the live writers, a forced cutover "
         "(no switch), the stack torn down" if d.with_buffer else None),
        ("scratch table afterwards", None if d.keep_for_seconds is None else
         ("deleted" if d.scratch_deleted else f"kept until {d.scratch_expires}" if d.scratch_expires else
          _after_cutover(d.keep_for_seconds) if d.with_buffer and d.scratch_deleted is None else "not deleted")),
        ("time budget of each of your checks", duration(d.check_timeout_seconds) if d.user_checks else None),
        ("automation", d.automation),
        ("items seeded", d.items),
        ("live traffic", d.traffic_text()),
        ("faults injected", ", ".join(d.faults) if d.faults else (None if d.scratch_table else "none")),
        ("RTO target", duration(d.rto_target_seconds)),
        ("rollback incident: keys written only in [T, R)", d.incident_keys),
        ("keys in the report", None if d.redact_keys is None else (
            ("digests under a key of this run only (nothing else carries them)" if d.scratch_table else "keyed digests")
            if d.redact_keys else "shown")),
        ("notebooks ran as", None if d.as_operator is None else
         ("the IAM user holding only infra/operator-policy.json" if d.as_operator else "the sandbox's root")),
        *(("note", note) for note in d.notes),
    ]
    return [(label, value) for label, value in rows if value is not None]


def _title(s: RunSummary) -> str:
    tables = f"{s.source_table} \u2192 {s.target_table}"
    if s.kind == RECONCILE:
        return f"Reconciliation {tables}"
    mode = {"catchup": " (catch-up)", "rollback": " (rollback)"}.get(s.mode or "", "")
    return ("Restore drill " if s.kind == DRILL else "Restore ") + tables + mode


def render_lead(summary: RunSummary) -> str:
    """The lead section and what to do next (the notebook's view of a summary)."""
    facts = lead_facts(summary)
    return environment().get_template("lead.html.j2").render(
        s=summary, facts=facts, steps=summary.next_steps,
        utc_note=bool(summary.restore_time or summary.replay_from or any(summary.timings.values())
                      or summary.last_changes_known),
    )


def report_figures(reconciliation: Reconciliation, state: dict[str, Any] | None = None, *,
                   summary: RunSummary | None = None) -> dict[str, RunbookFigure]:
    """The report's figures, by name, only those that have something to show: the timeline, the
    buffer's drain, the differences by class. ``report.html`` embeds them; 04_reconcile shows them."""
    state = state or {}
    s = summary if isinstance(summary, RunSummary) else summarize(reconciliation, state)
    figures: dict[str, RunbookFigure] = {}
    if s.kind != RECONCILE and len(timeline_rows(s)) >= 2:
        figures["timeline"] = timeline_figure(state)
    if len(_samples(state)) >= 2:
        figures["drain"] = drain_figure(state)
    if s.rows:
        figures["differences"] = differences_figure(reconciliation)
    return figures


def _figures(reconciliation: Reconciliation, state: dict[str, Any], s: RunSummary) -> dict[str, str]:
    return {name: figure_png_base64(fig) for name, fig in report_figures(reconciliation, state, summary=s).items()}


def render_html(
    reconciliation: Reconciliation,
    state: dict[str, Any] | None = None,
    *,
    summary: RunSummary | None = None,
    generated: datetime | None = None,
) -> str:
    """The whole report as one HTML page with everything embedded. Every text is escaped.
    ``generated``: the time the page says it was made (now by default)."""
    state = state or {}
    s = summary if isinstance(summary, RunSummary) else summarize(reconciliation, state)
    return environment().get_template("report.html.j2").render(
        s=s,
        title=_title(s),
        kind_label=(TABLE_DRILL_LABEL if s.drill is not None and s.drill.scratch_table else KIND_LABELS.get(s.kind, s.kind)),
        generated=generated or times.utcnow(),
        facts=lead_facts(s),
        steps=s.next_steps,
        timeline=timeline_rows(s) if s.kind != RECONCILE else [],
        drill=drill_rows(s),
        checks=s.checks,
        figures=_figures(reconciliation, state, s),
        faults=[{"name": f.get("name"), "rows": _fault_rows(f)} for f in s.faults],
        colours=CLASS_COLOURS,
        files={"differences": DIFFERENCES_FILE, "summary": SUMMARY_FILE},
        downtime_section=Markup(render_section(s.downtime)),
    )
