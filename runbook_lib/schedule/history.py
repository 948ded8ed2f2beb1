"""``pitr-runbook history``: the drills so far, per table, from a runs directory or an S3 bucket.

Sources, each read the same way (:func:`.records.record_of` on every drill's ``summary.json``):

- ``--runs-dir DIR``: the run directories the drills wrote there (``DIR/*/summary.json``) and those
  the drill history ``DIR/history.jsonl`` names (``drill.append_history`` records every drill with
  its run directory and finish time: reused here, not kept twice);
- ``--bucket s3://bucket/prefix``: what ``pitr-runbook publish`` uploaded
  (``<prefix>/<table>/<stamp>/summary.json``), read with ``ListObjectsV2`` (every page) and
  ``GetObject``.

What it gives: one row per drill (table, date, mode, verdict, RTO, unexplained differences,
checks), a figure (``history.png``: RTO over time per table, its target dashed; RTO against the
table's size), the rows as ``history.csv``, and **one line** naming every table that needs a look:
its last drill failed, its last RTO is over its target, or it is overdue (no drill within
``expect_every``, 7 days by default). A missing or empty source is an ``InputError`` (exit 2).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Sequence

from .. import runner, times
from ..aws.clients import AwsTarget
from ..aws.codes import error_code
from ..errors import InputError, PreconditionError
from ..progress import duration
from .location import SUMMARY_FILE, S3Location
from .records import DrillRecord, record_of

DEFAULT_EXPECT_EVERY = timedelta(days=7)
FIGURE_FILE, TABLE_FILE = "history.png", "history.csv"
_DRILL = "drill"


def span(seconds: float) -> str:
    """A long time in days (``10 d``, ``1.5 d``), a shorter one as the console says it."""
    days = seconds / 86400
    if days >= 1:
        return f"{days:.1f} d".replace(".0 d", " d")
    return duration(seconds)


def parse_interval(text: str, *, name: str = "--expect-every") -> timedelta:
    """``7d``, ``36h``, ``90m``: a positive duration."""
    from ..times import _DURATION, _UNIT_SECONDS

    match = _DURATION.match(str(text)) if text is not None else None
    if not match or match.group(3):
        raise InputError(f"{name} {text!r} is not a duration: give a number and a unit, such as 7d, 36h or 90m")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
    if seconds <= 0:
        raise InputError(f"{name} must be more than zero, not {text!r}")
    return timedelta(seconds=seconds)


# -- reading the drills ----------------------------------------------------------------------------------


def _is_drill(summary: dict[str, Any]) -> bool:
    return summary.get("kind", _DRILL) == _DRILL and bool(summary.get("source_table"))


def from_runs_dir(runs_dir: str | Path) -> list[DrillRecord]:
    """Every drill under ``runs_dir``. ``InputError`` when the directory is missing or holds none."""
    from ..drill import HISTORY_FILE, read_history

    runs = Path(runs_dir)
    if not runs.is_dir():
        raise InputError(f"no drills recorded: {runs} does not exist; give --runs-dir the directory drills wrote "
                         "(pitr-runbook drill --runs-dir), or --bucket s3://... where publish put them")
    finished: dict[Path, str | None] = {}
    frame = read_history(runs)
    for row in frame.to_dict("records") if not frame.empty else []:
        if row.get("run_dir"):
            finished[Path(str(row["run_dir"])).resolve()] = row.get("finished")
    for summary_file in runs.glob(f"*/{SUMMARY_FILE}"):
        finished.setdefault(summary_file.parent.resolve(), None)
    records = []
    for run_dir, done in finished.items():
        summary = runner.read_summary(run_dir)
        if _is_drill(summary):
            record = record_of(summary, location=str(run_dir), finished=done)
            if record is not None:
                records.append(record)
    if not records:
        raise InputError(f"no drills recorded in {runs} (no run directory with a drill's summary.json, no "
                         f"{HISTORY_FILE}): run pitr-runbook drill --runs-dir {runs}, or give the directory it used")
    return records


def from_bucket(target: AwsTarget, location: S3Location) -> list[DrillRecord]:
    """Every drill ``publish`` put under ``location``. ``PreconditionError`` for a missing bucket,
    ``InputError`` when it holds none."""
    from botocore.exceptions import ClientError

    s3 = target.client("s3")
    keys: list[str] = []
    prefix = f"{location.prefix}/" if location.prefix else ""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents") or [] if o["Key"].endswith(f"/{SUMMARY_FILE}")]
        records = []
        for key in sorted(keys):
            summary = json.loads(s3.get_object(Bucket=location.bucket, Key=key)["Body"].read())
            if isinstance(summary, dict) and _is_drill(summary):
                record = record_of(summary, location=f"s3://{location.bucket}/{key.rsplit('/', 1)[0]}/")
                if record is not None:
                    records.append(record)
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucket":
            raise PreconditionError(f"bucket {location.bucket} does not exist: give --bucket the RunsBucket output of the "
                                    "drill-schedule stack", code="NoSuchBucket") from None
        raise
    if not records:
        raise InputError(f"no drills published under {location}: check --bucket (the stack's RunsBucket output and "
                         "prefix) and that the scheduled job's publish step ran (its CodeBuild log)")
    return records


# -- what they say ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    records: tuple[DrillRecord, ...]
    now: datetime
    expect_every: timedelta

    def by_table(self) -> dict[str, list[DrillRecord]]:
        out: dict[str, list[DrillRecord]] = {}
        for record in sorted(self.records, key=lambda r: (r.table, r.when or datetime.min.replace(tzinfo=self.now.tzinfo))):
            out.setdefault(record.table, []).append(record)
        return out

    def attention(self) -> dict[str, list[str]]:
        """table -> why it needs a look (empty lists left out)."""
        out: dict[str, list[str]] = {}
        for table, drills in self.by_table().items():
            last, why = drills[-1], []
            if not last.passed:
                why.append(f"last drill {'FAIL' if last.verdict == 'PASS' else last.verdict}"
                           + (f" ({last.checks_text})" if last.verdict == "PASS" else "")
                           + (f" on {times.iso_second(last.when)}" if last.when else ""))
            if last.over_target:
                earlier_within = any(d.rto_seconds is not None and not d.over_target for d in drills[:-1])
                why.append(f"RTO {duration(last.rto_seconds)} {'grew past' if earlier_within else 'over'} its target "
                           f"{duration(last.rto_target_seconds)}")
            newest = max((d.when for d in drills if d.when), default=None)
            if newest is None or self.now - newest > self.expect_every:
                ago = "never dated" if newest is None else f"last drill {span((self.now - newest).total_seconds())} ago"
                why.append(f"overdue: {ago}, expected every {span(self.expect_every.total_seconds())}")
            if why:
                out[table] = why
        return out

    def attention_line(self) -> str:
        found = self.attention()
        if not found:
            return (f"attention: none ({len(self.by_table())} table(s): last drill passed, within its RTO target, "
                    f"within {span(self.expect_every.total_seconds())})")
        return "attention: " + "; ".join(f"{table}: {', '.join(why)}" for table, why in found.items())

    def rows(self) -> list[dict[str, Any]]:
        return [{
            "table": r.table,
            "date": times.iso_second(r.when) if r.when else "",
            "mode": r.mode or "",
            "verdict": r.verdict if r.passed or r.verdict != "PASS" else "PASS (check failed)",
            "rto_seconds": "" if r.rto_seconds is None else round(r.rto_seconds, 1),
            "rto_target_seconds": "" if r.rto_target_seconds is None else round(r.rto_target_seconds, 1),
            "unexplained": "" if r.unexplained is None else r.unexplained,
            "checks": r.checks_text,
            "source_items": "" if r.source_items is None else int(r.source_items),
            "source_bytes": "" if r.source_bytes is None else int(r.source_bytes),
            "run": r.location,
        } for drills in self.by_table().values() for r in drills]

    def text(self) -> str:
        rows = self.rows()
        columns = ["table", "date", "mode", "verdict", "rto_seconds", "unexplained", "checks"]
        columns = [c for c in columns if any(str(row[c]) for row in rows)]
        width = {c: max(len(c), *(len(str(row[c])) for row in rows)) for c in columns}
        lines = ["  ".join(c.ljust(width[c]) for c in columns)]
        lines += ["  ".join(str(row[c]).ljust(width[c]) for c in columns) for row in rows]
        return "\n".join(line.rstrip() for line in lines)

    def figure(self):
        """RTO over time per table (its target dashed), and RTO against the table's size."""
        from ..report.figures import RunbookFigure

        fig = RunbookFigure(figsize=(10, 4.2), layout="constrained")
        over_time, over_size = fig.subplots(1, 2)
        by_bytes = all(r.source_bytes is not None for r in self.records if r.rto_seconds is not None)
        for n, (table, drills) in enumerate(self.by_table().items()):
            color = f"C{n % 10}"
            timed = [d for d in drills if d.when is not None and d.rto_seconds is not None]
            if timed:
                over_time.plot([d.when for d in timed], [d.rto_seconds / 60 for d in timed], marker="o", color=color, label=table)
                failed = [d for d in timed if not d.passed]
                over_time.scatter([d.when for d in failed], [d.rto_seconds / 60 for d in failed], marker="x", s=80,
                                  color="#cf222e", zorder=3)
            targets = [d.rto_target_seconds for d in drills if d.rto_target_seconds is not None]
            if targets:
                over_time.axhline(targets[-1] / 60, color=color, linestyle="--", linewidth=1)
            sized = [d for d in drills if d.rto_seconds is not None and (d.source_bytes if by_bytes else d.source_items) is not None]
            if sized:
                over_size.scatter([(d.source_bytes / 2**20 if by_bytes else d.source_items) for d in sized],
                                  [d.rto_seconds / 60 for d in sized], color=color, label=table)
        over_time.set_title("RTO per drill (dashed: target; x: failed)")
        over_time.set_ylabel("RTO (min)")
        over_time.tick_params(axis="x", labelrotation=30)
        over_size.set_title("RTO against table size")
        over_size.set_xlabel("source size (MiB)" if by_bytes else "source items")
        over_size.set_ylabel("RTO (min)")
        for ax in (over_time, over_size):
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", fontsize=8)
        return fig

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        rows = self.rows()
        with open(out / TABLE_FILE, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        self.figure().savefig(out / FIGURE_FILE, dpi=100)
        return out / TABLE_FILE, out / FIGURE_FILE


def history(*, runs_dir: str | Path | None = None, bucket: S3Location | None = None, target: AwsTarget | None = None,
            expect_every: timedelta = DEFAULT_EXPECT_EVERY, now: datetime | None = None) -> History:
    """The drills from one source (``runs_dir`` or ``bucket``, not both)."""
    if (runs_dir is None) == (bucket is None):
        raise InputError("give one of --runs-dir DIR or --bucket s3://BUCKET/PREFIX")
    if bucket is not None:
        records: Sequence[DrillRecord] = from_bucket(target or AwsTarget(), bucket)
    else:
        records = from_runs_dir(runs_dir)  # type: ignore[arg-type]
    return History(tuple(records), now or times.utcnow(), expect_every)
