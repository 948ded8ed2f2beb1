"""Render a :class:`~runbook_lib.reconcile.Reconciliation` and the run's state as files a person can send.

``write_reports(run_dir, reconciliation, state)`` computes one :class:`RunSummary` (:mod:`.summary`)
and writes, in ``run_dir``:

- ``summary.json``: ``schema_version``, the kind of run, verdict, counts, explained / unexplained /
  in flight, T, R, capture start, RTO (restore called -> target ACTIVE), catch-up (ACTIVE -> buffer
  drained), drain rate, the buffer's own accounting, a drill's facts and checks, what to do next,
  items scanned per second; only what the run knows (:meth:`RunSummary.to_json`);
- ``differences.csv``: one row per difference (:mod:`.differences`: keys, or their keyed digests
  when keys are redacted, and attribute names; values only when the reconciliation was asked for
  them);
- ``report.html``: one self-contained page from a Jinja2 template (:mod:`.html`), leading with the
  verdict, the writes that arrived and were applied, RTO and catch-up, then what to do next after a
  FAIL (:mod:`.next_steps`); each further section only when the run has its data; figures embedded
  as PNG.

The figures (:mod:`.figures`) are ``matplotlib.figure.Figure`` objects that show themselves as PNG
images in a notebook (``RunbookFigure``), the same images the HTML report embeds. Keys appear
everywhere in one form: the keyed digest the CDC handlers log and use as
``MessageGroupId`` (``key_hash``, and ``key`` when keys are redacted), or the key's canonical text.
"""

from __future__ import annotations

from .accounting import BufferAccounting, buffer_accounting, pipeline_lines
from .differences import CSV_COLUMNS, write_differences_csv
from .figures import Figures, RunbookFigure, differences_figure, drain_figure, figure_png_base64, timeline_figure
from .files import HTML_FILE, ReportPaths, write_reports
from .drill_facts import DrillCheck, DrillFacts, drill_checks
from .html import DIFFERENCES_FILE, SUMMARY_FILE, render_html, render_lead, report_figures
from .next_steps import NextStep
from .summary import (
    DRILL,
    RECONCILE,
    RUN,
    SCHEMA_VERSION,
    TIMING_LABELS,
    DifferenceRow,
    Invocation,
    RunSummary,
    drain_rate,
    key_text,
    kind_of_run,
    run_summary,
    summarize,
)

__all__ = [
    "CSV_COLUMNS",
    "DIFFERENCES_FILE",
    "DRILL",
    "HTML_FILE",
    "RECONCILE",
    "RUN",
    "SCHEMA_VERSION",
    "SUMMARY_FILE",
    "TIMING_LABELS",
    "BufferAccounting",
    "DifferenceRow",
    "DrillCheck",
    "DrillFacts",
    "Figures",
    "Invocation",
    "NextStep",
    "ReportPaths",
    "RunbookFigure",
    "RunSummary",
    "buffer_accounting",
    "differences_figure",
    "drain_figure",
    "drain_rate",
    "drill_checks",
    "figure_png_base64",
    "key_text",
    "kind_of_run",
    "pipeline_lines",
    "render_html",
    "render_lead",
    "report_figures",
    "run_summary",
    "summarize",
    "timeline_figure",
    "write_differences_csv",
    "write_reports",
]
