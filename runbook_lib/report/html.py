"""``report.html``: one self-contained page rendered from :class:`~.summary.RunSummary` by the
Jinja2 template ``templates/report.html.j2``, autoescaped (every text from a table, a key, an error
message or a value is escaped by the template engine, not by hand). Figures are embedded as PNG.

The page leads with what the operator came for (``templates/lead.html.j2``, also the notebook's
view of a summary): the verdict, then "N writes arrived during the restore; N applied, 0 lost"
when the run has the buffer's accounting, that accounting, RTO and catch-up. Times to the second,
UTC said once. Item values appear only when the reconciliation was asked for them (``show_values``).
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from .. import times
from ..reconcile import Reconciliation
from .accounting import counts_text, pipeline_lines
from .figures import CLASS_COLOURS, differences_figure, drain_figure, figure_png_base64, timeline_figure
from .summary import TIMING_LABELS, RunSummary, summarize

DIFFERENCES_FILE = "differences.csv"
SUMMARY_FILE = "summary.json"


def clock(when: datetime | str | None) -> str | None:
    """A time to the second, without its offset (the page says UTC once): ``2026-11-28 05:00:00``."""
    if when is None or when == "":
        return None
    if isinstance(when, str):
        when = times.parse_iso(when)
    return times.to_utc(when, "time").strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[union-attr]


def duration(seconds: float | None) -> str | None:
    """Seconds to the second, in words: ``510.4`` -> ``8 min 30 s``; ``3725`` -> ``1 h 2 min 5 s``."""
    if seconds is None:
        return None
    total = int(round(seconds))
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    parts = ([f"{hours} h"] if hours else []) + ([f"{minutes} min"] if hours or minutes else []) + [f"{secs} s"]
    return ("-" if total < 0 else "") + " ".join(parts)


def _num(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


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
        clock=clock, duration=duration, num=_num, tojson_sorted=lambda v: json.dumps(v, sort_keys=True)
    )
    return env


def _fault_rows(entry: dict[str, Any]) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("parameters", counts_text(entry.get("params")) if entry.get("params") else "defaults"),
        ("injected", counts_text(entry.get("injected"))),
    ]
    rows += pipeline_lines(entry.get("pipeline") or {})
    for fallback in entry.get("fallbacks") or []:
        rows.append(("fallback", fallback if isinstance(fallback, str) else json.dumps(fallback, default=str)))
    return rows


def render_lead(summary: RunSummary) -> str:
    """The lead section alone (the notebook's view of a summary)."""
    return environment().get_template("lead.html.j2").render(s=summary)


def render_html(
    reconciliation: Reconciliation,
    state: dict[str, Any] | None = None,
    *,
    summary: RunSummary | None = None,
) -> str:
    """The whole report as one HTML page with everything embedded. Every text is escaped."""
    state = state or {}
    s = summary if isinstance(summary, RunSummary) else summarize(reconciliation, state)
    figures = {
        "timeline": figure_png_base64(timeline_figure(state)),
        "drain": figure_png_base64(drain_figure(state)),
        "differences": figure_png_base64(differences_figure(reconciliation)),
    }
    return environment().get_template("report.html.j2").render(
        s=s,
        title=f"Reconciliation {s.source_table} \u2192 {s.target_table}",
        generated=times.utcnow(),
        timing_labels=TIMING_LABELS,
        figures=figures,
        faults=[{"name": f.get("name"), "rows": _fault_rows(f)} for f in s.faults],
        colours=CLASS_COLOURS,
        files={"differences": DIFFERENCES_FILE, "summary": SUMMARY_FILE},
    )
