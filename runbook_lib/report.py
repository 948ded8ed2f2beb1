"""Render a :class:`~runbook_lib.reconcile.Reconciliation` and the run's state as files a person can send.

``write_reports(run_dir, reconciliation, state)`` writes, in ``run_dir``:

- ``summary.json``: verdict, counts, explained / unexplained / in flight, T, R, capture start, RTO
  (restore called -> target ACTIVE), catch-up (ACTIVE -> buffer drained), drain rate, items scanned
  per second (see :func:`run_summary`);
- ``differences.csv``: one row per difference (keys, or their keyed digests when keys are
  redacted, and attribute names; values only when the reconciliation was asked for them);
- ``report.html``: one self-contained page, verdict first, figures embedded as PNG.

The figures (:func:`timeline_figure`, :func:`drain_figure`, :func:`differences_figure`) are plain
``matplotlib.figure.Figure`` objects drawn with the Agg canvas (no pyplot, no global backend): the
notebooks show them as they are.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from . import run_state
from . import times
from .reconcile import CLASSES, DIFFERENCE_COLUMNS, EXPLAINED, IN_FLIGHT, KINDS, PASS, UNEXPLAINED, Reconciliation

log = logging.getLogger(__name__)

SUMMARY_FILE = "summary.json"
DIFFERENCES_FILE = "differences.csv"
HTML_FILE = "report.html"

CSV_COLUMNS = DIFFERENCE_COLUMNS

#: state["timings"] keys, in the order they happen, with how the timeline labels them
TIMING_LABELS = (
    ("restore_called", "restore called"),
    ("active", "target ACTIVE"),
    ("replay_enabled", "replay on"),
    ("drained", "buffer drained"),
    ("cutover_done", "cutover"),
)

_CLASS_COLOURS = {UNEXPLAINED: "#cf222e", IN_FLIGHT: "#bf8700", EXPLAINED: "#0969da"}
_KIND_HATCH = {"missing": "", "extra": "//", "changed": ".."}


@dataclass(frozen=True)
class ReportPaths:
    summary: Path
    differences: Path
    html: Path


# --------------------------------------------------------------------------------------------
# Numbers from the state
# --------------------------------------------------------------------------------------------


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


def _seconds_between(start: Any, end: Any) -> float | None:
    a, b = _when(start), _when(end)
    if a is None or b is None:
        return None
    return round((b - a).total_seconds(), 3)


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


def run_summary(reconciliation: Reconciliation, state: dict[str, Any] | None) -> dict[str, Any]:
    """What ``summary.json`` holds: the reconciliation's figures plus the run's times."""
    state = state or {}
    timings = state.get("timings") or {}
    rec = reconciliation.summary()
    rec.pop("sample", None)  # the differences are in the CSV
    restore_time = rec.pop("restore_time") or _iso_or_none(state.get("restore_time"))
    replay_from = rec.pop("replay_from") or _iso_or_none(state.get("replay_from"))
    return {
        "verdict": rec.pop("verdict"),
        "source_table": rec.pop("source_table") or state.get("source_table"),
        "target_table": rec.pop("target_table") or state.get("target_table"),
        "mode": state.get("mode"),
        "counts": rec.pop("counts"),
        "differences": rec.pop("differences"),
        "explained": rec.pop("explained"),
        "unexplained": rec.pop("unexplained"),
        "in_flight": rec.pop("in_flight"),
        "settled_on_reread": rec.pop("settled_on_reread"),
        "coverage_warning": rec.pop("coverage_warning"),
        "restore_time": restore_time,
        "replay_from": replay_from,
        "capture_start": _iso_or_none(state.get("capture_start")),
        "rto_seconds": timings.get("rto_seconds"),  # computed once, by the run state's Timings
        "catch_up_seconds": timings.get("catch_up_seconds"),
        "drain_rate_per_second": drain_rate(state),
        "items_scanned": rec.pop("items_scanned"),
        "scan_seconds": rec.pop("scan_seconds"),
        "items_per_second": rec.pop("items_per_second"),
        "timings": {key: _iso_or_none(timings.get(key)) for key, _ in TIMING_LABELS},
        "faults": state.get("faults") or [],
        **rec,  # segments, re-read rounds, consumed capacity, values_shown, keys_shown
    }


def _iso_or_none(value: Any) -> str | None:
    when = _when(value)
    return times.iso(when) if when else None


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _empty(fig: Figure, text: str) -> Figure:
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11, color="#57606a")
    ax.set_axis_off()
    return fig


def timeline_figure(state: dict[str, Any]) -> Figure:
    """The run on one time axis: T, R, capture start, restore call, ACTIVE, replay, drained, cutover.

    Shaded: the window ``[T, R)`` the restore reverts (rollback), the restore (RTO) and the
    catch-up (ACTIVE -> drained).
    """
    import matplotlib.dates as mdates

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    timings = state.get("timings") or {}
    events: list[tuple[str, datetime, str]] = []
    for key, label, colour in (
        ("restore_time", "T restore point", "#8250df"),
        ("replay_from", "R replay start", "#0969da"),
        ("capture_start", "capture start", "#1a7f37"),
    ):
        when = _when(state.get(key))
        if when:
            events.append((label, when, colour))
    for key, label in TIMING_LABELS:
        when = _when(timings.get(key))
        if when:
            events.append((label, when, "#57606a"))
    if not events:
        return _empty(fig, "no times recorded yet")
    events.sort(key=lambda e: e[1])
    ax = fig.add_subplot()
    t_point, r_point = _when(state.get("restore_time")), _when(state.get("replay_from"))
    if t_point and r_point and r_point > t_point:
        ax.axvspan(t_point, r_point, color="#cf222e", alpha=0.12, label="[T, R) reverted on purpose")
    called, active, drained = (_when(timings.get(k)) for k in ("restore_called", "active", "drained"))
    if called and active:
        ax.axvspan(called, active, color="#8250df", alpha=0.12, label="restore (RTO)")
    if active and drained:
        ax.axvspan(active, drained, color="#1a7f37", alpha=0.12, label="catch-up")
    for i, (label, when, colour) in enumerate(events):
        height = 1 + (i % 4)
        ax.vlines(when, 0, height, color=colour, linewidth=1.2)
        ax.plot([when], [0], marker="o", color=colour)
        ax.annotate(label, (when, height), xytext=(3, 0), textcoords="offset points", fontsize=8, va="center")
    ax.set_ylim(-0.5, 5.5)
    ax.get_yaxis().set_visible(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    first, last = events[0][1], events[-1][1]
    pad = max((last - first) * 0.08, (last - first).__class__(seconds=5))
    ax.set_xlim(first - pad, last + pad * 2)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title("Timeline (UTC)", fontsize=10, loc="left")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def drain_figure(state: dict[str, Any]) -> Figure:
    """The buffer draining: queue depth, messages in flight and DLQ depth over time."""
    import matplotlib.dates as mdates

    fig = Figure(figsize=(10, 3.2), layout="constrained")
    samples = _samples(state)
    if not samples:
        return _empty(fig, "no buffer samples recorded")
    ax = fig.add_subplot()
    times = [t for t, _ in samples]
    for field, label, colour in (
        ("depth", "queue depth", "#0969da"),
        ("in_flight", "in flight", "#bf8700"),
        ("dlq", "DLQ", "#cf222e"),
    ):
        values = [s.get(field) or 0 for _, s in samples]
        if field == "depth" or any(values):
            ax.plot(times, values, label=label, color=colour, marker="." if len(times) < 60 else None)
    ax.set_ylim(bottom=0, top=max(1, ax.get_ylim()[1]) * 1.1)
    ax.margins(x=0.04)
    timings = state.get("timings") or {}
    for key, label in (("replay_enabled", "replay on"), ("drained", "drained")):
        when = _when(timings.get(key))
        if when:
            ax.axvline(when, color="#57606a", linestyle="--", linewidth=1)
            ax.annotate(
                label, (when, 1), xycoords=("data", "axes fraction"), xytext=(-3, -10),
                textcoords="offset points", fontsize=8, ha="right",
            )
    rate = drain_rate(state)
    title = "Buffer drain" + (f" (net {rate:g} messages/s)" if rate else "")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel("messages")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def differences_figure(reconciliation: Reconciliation) -> Figure:
    """Differences by class (unexplained, in flight, explained), stacked by kind."""
    fig = Figure(figsize=(6, 3), layout="constrained")
    table = reconciliation.counts_by_class_and_kind()
    ax = fig.add_subplot()
    order = (UNEXPLAINED, IN_FLIGHT, EXPLAINED)
    labels = [c.replace("_", " ") for c in order]
    bottoms = [0] * len(order)
    for kind in KINDS:
        values = [table[c][kind] for c in order]
        ax.bar(
            labels,
            values,
            bottom=bottoms,
            color=[_CLASS_COLOURS[c] for c in order],
            hatch=_KIND_HATCH[kind],
            edgecolor="white",
            label=kind,
        )
        bottoms = [b + v for b, v in zip(bottoms, values)]
    for i, total in enumerate(bottoms):
        ax.annotate(str(total), (i, total), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=9)
    ax.set_ylim(0, max(bottoms + [1]) * 1.2)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("keys")
    ax.set_title("Differences by class (hatching: kind)", fontsize=10, loc="left")
    handles = [Patch(facecolor="#8c959f", edgecolor="white", hatch=_KIND_HATCH[k], label=k) for k in KINDS]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    return fig


def figure_png_base64(fig: Figure, dpi: int = 110) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def _csv_row(d) -> dict[str, str]:
    return {
        "key": d.key if isinstance(d.key, str) else json.dumps(d.key, sort_keys=True, separators=(",", ":")),
        "key_hash": d.key_hash,
        "kind": d.kind,
        "classification": d.classification,
        "attributes": ";".join(d.attributes),
        "last_change": times.iso(d.last_change) if d.last_change else "",
        "source_values": "" if d.source_values is None else json.dumps(d.source_values, sort_keys=True),
        "target_values": "" if d.target_values is None else json.dumps(d.target_values, sort_keys=True),
    }


def write_differences_csv(path: str | os.PathLike, reconciliation: Reconciliation) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for d in reconciliation.differences:
            writer.writerow(_csv_row(d))
    return path


def write_reports(
    run_dir: str | os.PathLike,
    reconciliation: Reconciliation,
    state: dict[str, Any] | None = None,
) -> ReportPaths:
    """Write ``summary.json``, ``differences.csv`` and ``report.html`` into ``run_dir``.

    ``state`` defaults to the run state of ``run_dir`` (``run_state.load(run_dir).view()``).
    """
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    if state is None:
        state = run_state.load(run).view()
    summary = run_summary(reconciliation, state)
    paths = ReportPaths(run / SUMMARY_FILE, run / DIFFERENCES_FILE, run / HTML_FILE)
    _atomic_write(paths.summary, json.dumps(summary, indent=2) + "\n")
    write_differences_csv(paths.differences, reconciliation)
    _atomic_write(paths.html, render_html(reconciliation, state, summary=summary))
    log.info("reports written to %s (verdict %s)", run, summary["verdict"])
    return paths


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1000px;color:#1f2328;padding:0 1em}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.1em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
.verdict{font-size:2.6em;font-weight:700;color:#fff;padding:.3em .6em;border-radius:8px;display:inline-block}
.pass{background:#1a7f37} .fail{background:#cf222e}
.lead{font-size:1.1em;margin:.6em 0}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:.6em .8em;border-radius:6px;margin:1em 0}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em} td,th{border:1px solid #d0d7de;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.9em;word-break:break-all} img{max-width:100%} .muted{color:#57606a;font-size:.9em}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _rows(pairs: list[tuple[str, Any]]) -> str:
    out = []
    for label, value in pairs:
        num = isinstance(value, (int, float)) and not isinstance(value, bool)
        if value is None:
            shown = "&ndash;"
        elif isinstance(value, int) and not isinstance(value, bool):
            shown = _e(f"{value:,}")
        else:
            shown = _e(value)
        cls = ' class="num"' if num else ""
        out.append(f"<tr><th>{_e(label)}</th><td{cls}>{shown}</td></tr>")
    return "<table>" + "".join(out) + "</table>"


def _counts_text(counts: Any) -> str:
    if not isinstance(counts, dict) or not counts:
        return "none"
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in sorted(counts.items()) if v)  or "none"


def pipeline_lines(pipeline: dict[str, Any]) -> list[tuple[str, str]]:
    """What the pipeline did, as (what, counts) rows: the functions' log events and totals, the DLQ."""
    rows: list[tuple[str, str]] = []
    for role in ("forwarder", "applier"):
        part = pipeline.get(role) or {}
        if part:
            rows.append((f"{role} log events", _counts_text(part.get("events"))))
            rows.append((f"{role} totals", _counts_text(part.get("totals"))))
            rows.append((f"{role} failed invocations", str(part.get("invocation_errors", 0))))
    if "dlq_depth" in pipeline:
        rows.append(("messages in the DLQ", str(pipeline["dlq_depth"])))
    if "stream_failures" in pipeline:
        rows.append(("stream records given up on", str(pipeline["stream_failures"])))
    return rows


def _faults_section(entries: list[dict[str, Any]]) -> str:
    """Injected faults (drills): what the sandbox did, and what the pipeline did about it."""
    out = ["<h2>Injected faults</h2>"]
    for entry in entries:
        rows: list[tuple[str, Any]] = [
            ("parameters", _counts_text(entry.get("params")) if entry.get("params") else "defaults"),
            ("injected", _counts_text(entry.get("injected"))),
        ]
        rows += pipeline_lines(entry.get("pipeline") or {})
        for fallback in entry.get("fallbacks") or []:
            rows.append(("fallback", fallback if isinstance(fallback, str) else json.dumps(fallback, default=str)))
        out.append(f"<h3>{_e(entry.get('name'))}</h3>" + _rows(rows))
    return "".join(out)


def _img(fig: Figure, alt: str) -> str:
    return f'<p><img alt="{_e(alt)}" src="data:image/png;base64,{figure_png_base64(fig)}"></p>'


def render_html(
    reconciliation: Reconciliation,
    state: dict[str, Any] | None = None,
    *,
    summary: dict[str, Any] | None = None,
) -> str:
    """The whole report as one HTML page with everything embedded. Every text is escaped."""
    state = state or {}
    s = summary or run_summary(reconciliation, state)
    passed = s["verdict"] == PASS
    diffs = s["differences"]
    title = f"Reconciliation {s['source_table']} \u2192 {s['target_table']}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}: {_e(s['verdict'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">generated {_e(times.iso(times.utcnow()))}'
        + (f"; mode {_e(s['mode'])}" if s.get("mode") else "")
        + "</p>",
        f'<div class="verdict {"pass" if passed else "fail"}">{_e(s["verdict"])}</div>',
        f'<p class="lead">{_e(s["unexplained"])} unexplained, {_e(s["in_flight"])} in flight, '
        f'{_e(s["explained"])} explained difference(s) out of {_e(s["counts"]["source"])} source and '
        f'{_e(s["counts"]["target"])} target items. '
        + (
            "Every difference is explained by the restore point and the replay start."
            if passed
            else "The restored table is not shown equal to the source: see the differences below."
        )
        + "</p>",
    ]
    if s.get("coverage_warning"):
        parts.append(f'<div class="warn"><b>Coverage:</b> {_e(s["coverage_warning"])}</div>')
    if s["in_flight"]:
        parts.append(
            '<div class="warn"><b>In flight:</b> some items were still changing at the last consistent re-read; '
            "let the buffer drain (or stop the writers) and reconcile again.</div>"
        )
    parts.append("<h2>Counts</h2>")
    parts.append(
        _rows(
            [
                (f"items in source {s['source_table']}", s["counts"]["source"]),
                (f"items in target {s['target_table']}", s["counts"]["target"]),
                ("missing in target", diffs["missing"]),
                ("extra in target", diffs["extra"]),
                ("changed", diffs["changed"]),
                ("unexplained", s["unexplained"]),
                ("in flight", s["in_flight"]),
                ("explained (last change in [T, R))", s["explained"]),
                ("settled on consistent re-read", s.get("settled_on_reread")),
                ("items scanned", s["items_scanned"]),
                ("scan seconds", s["scan_seconds"]),
                ("items scanned per second", s["items_per_second"]),
            ]
        )
    )
    parts.append("<h2>Timeline</h2>")
    parts.append(
        _rows(
            [
                ("T, restore point", s["restore_time"]),
                ("R, replay start", s["replay_from"]),
                ("capture start", s["capture_start"]),
                *[(label, s["timings"].get(key)) for key, label in TIMING_LABELS],
                ("RTO (restore called \u2192 ACTIVE), s", s["rto_seconds"]),
                ("catch-up (ACTIVE \u2192 drained), s", s["catch_up_seconds"]),
                ("net drain rate, messages/s", s["drain_rate_per_second"]),
            ]
        )
    )
    parts.append(_img(timeline_figure(state), "timeline of the run"))
    parts.append("<h2>Buffer drain</h2>")
    parts.append(_img(drain_figure(state), "buffer depth over time"))
    if s.get("faults"):
        parts.append(_faults_section(s["faults"]))
    parts.append("<h2>Differences by class</h2>")
    parts.append(_img(differences_figure(reconciliation), "differences by class and kind"))
    parts.append(_sample_table(reconciliation))
    parts.append(
        '<p class="muted">'
        + (
            "Values are shown (show_values=True)."
            if s.get("values_shown")
            else "Values are redacted: keys and attribute names only."
        )
        + (
            ""
            if s.get("keys_shown", True)
            else " Keys are redacted: each is shown as its keyed digest (HMAC-SHA256 under the buffer stack's"
            " secret), the MessageGroupId and the \"group\" the CDC handlers log for that key: search the"
            " functions' logs and the DLQ for it."
        )
        + f" All differences: {_e(DIFFERENCES_FILE)}; figures: {_e(SUMMARY_FILE)}.</p>"
    )
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _sample_table(reconciliation: Reconciliation) -> str:
    sample = reconciliation.sample()
    total = len(reconciliation.differences)
    if not sample:
        return "<h2>Differing keys</h2><p>None.</p>"
    values = reconciliation.show_values
    head = ["key", "kind", "class", "attributes that differ", "last change"]
    if values:
        head += ["source values", "target values"]
    rows = []
    for d in sample:
        key = d.key if isinstance(d.key, str) else json.dumps(d.key, sort_keys=True)
        cells = [
            f"<code>{_e(key)}</code>",
            _e(d.kind),
            f'<span style="color:{_CLASS_COLOURS[d.classification]}">{_e(d.classification.replace("_", " "))}</span>',
            _e(", ".join(d.attributes)),
            _e(times.iso(d.last_change) if d.last_change else ""),
        ]
        if values:
            cells += [
                f"<code>{_e(json.dumps(d.source_values, sort_keys=True))}</code>",
                f"<code>{_e(json.dumps(d.target_values, sort_keys=True))}</code>",
            ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    heading = f"<h2>Differing keys ({len(sample)} of {total})</h2>"
    return heading + "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>" + "".join(rows) + "</table>"


__all__ = [
    "CLASSES",
    "CSV_COLUMNS",
    "EXPLAINED",
    "ReportPaths",
    "differences_figure",
    "drain_figure",
    "drain_rate",
    "render_html",
    "run_summary",
    "timeline_figure",
    "write_differences_csv",
    "write_reports",
]
