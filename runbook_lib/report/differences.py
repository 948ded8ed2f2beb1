"""``differences.csv``: one row per difference, rendered from the summary's rows."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..reconcile import DIFFERENCE_COLUMNS, Reconciliation
from .summary import DifferenceRow, RunSummary

CSV_COLUMNS = DIFFERENCE_COLUMNS


def write_differences_csv(path: str | os.PathLike, source: Reconciliation | RunSummary) -> Path:
    """Write every difference of ``source`` (a summary's rows, or a reconciliation's differences)."""
    rows = source.rows if isinstance(source, RunSummary) else tuple(DifferenceRow.of(d) for d in source.differences)
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.csv())
    return path
