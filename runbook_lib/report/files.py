"""Writing a run's report files: ``summary.json``, ``differences.csv``, ``report.html``, each atomically."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import run_state
from ..reconcile import Reconciliation
from .differences import write_differences_csv
from .html import DIFFERENCES_FILE, SUMMARY_FILE, render_html
from .summary import RunSummary, summarize

log = logging.getLogger(__name__)

HTML_FILE = "report.html"


@dataclass(frozen=True)
class ReportPaths:
    summary: Path
    differences: Path
    html: Path


def write_reports(
    run_dir: str | os.PathLike,
    reconciliation: Reconciliation,
    state: dict[str, Any] | None = None,
) -> ReportPaths:
    """Write ``summary.json``, ``differences.csv`` and ``report.html`` into ``run_dir``, all three
    from one :class:`~.summary.RunSummary`. ``state`` defaults to the run's state."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    if state is None:
        state = run_state.load(run).view()
    summary = summarize(reconciliation, state, run_dir=str(run))
    paths = ReportPaths(run / SUMMARY_FILE, run / DIFFERENCES_FILE, run / HTML_FILE)
    _atomic_write(paths.summary, summary_json_text(summary))
    write_differences_csv(paths.differences, summary)
    _atomic_write(paths.html, render_html(reconciliation, state, summary=summary))
    log.info("reports written to %s (verdict %s)", run, summary.verdict)
    return paths


def summary_json_text(summary: RunSummary) -> str:
    """``summary.json``'s text: the summary's JSON, indented, one newline at the end."""
    return json.dumps(summary.to_json(), indent=2) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
