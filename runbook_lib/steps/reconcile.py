"""Step 04: counts and an item-by-item comparison of the source and the restored table, after the
buffer has drained; every difference classified; the verdict; the reports. Only reads.

T and R come from the run state's plan (step 02); a run without one (``pitr-runbook reconcile`` on
tables restored elsewhere) takes them from the parameters ("latest" and "restore_point" mean none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import InputError, PreconditionError
from .base import Parameter, StepResult, begin, pick

STEP = "04_reconcile"
PARAMETERS = (
    Parameter("segments", int, 4, "parallel scan segments per table"),
    Parameter("rate_limit", float, None, "items per second read from each table (None: unlimited); protect a live table"),
    Parameter("reread_rounds", int, 3, "consistent re-reads of each difference after the buffer drains"),
    Parameter("show_values", bool, False,
              "True puts item values in the differences (never in logs); keep False for reports you send"),
    Parameter("redact_keys", bool, False, "True shows every key as its keyed digest (the handlers' MessageGroupId and "
              "log field) in the report, differences.csv and summary.json; on in drills"),
    Parameter("key_digest_secret_arn", str, None, "the secret keying the digest; None: the buffer stack's "
              "KeyDigestSecretArn output (needed with redact_keys when this run has no stack)"),
    Parameter("drain_timeout", float, 600.0,
              "seconds to wait for the buffer to drain (queue empty) before the differences are re-read"),
    Parameter("method", str, "auto", '"scan" (both tables read through the API), "export" (PITR exports of both at one '
              'moment, compared by DuckDB or Athena) or "auto": scan up to 5,000,000 items in all, export above'),
    Parameter("export_bucket", str, None, "bucket for the exports; None: pitr-runbook-<account>-<region>, created if missing"),
    Parameter("athena_workgroup", str, None, "with athena_output: compare the exports on Athena in this workgroup"),
    Parameter("athena_output", str, None, "s3://... for Athena's query results; None: compare locally with DuckDB"),
    Parameter("live_source", bool, False, "True when the source's writers do not stop (a drill on a production table, "
              "drill --with-buffer): the buffer is waited for to catch up, not to empty, and a difference is explained "
              "only by a write to its key the buffer has not applied yet (scan only)"),
)  # fmt: skip


def arguments(namespace: dict[str, Any]) -> dict[str, Any]:
    return pick(PARAMETERS, namespace)


@dataclass(repr=False)
class ReconcileResult(StepResult):
    reconciliation: Any = None  # reconcile.Reconciliation
    paths: Any = None  # report.ReportPaths

    @property
    def verdict(self) -> str | None:
        return self.reconciliation.verdict if self.reconciliation is not None else None

    #: the report's summary (``report.summarize``), when a reconciliation ran
    summary: Any = None
    #: the run state the report was made from (its figures' data)
    view: Any = None

    def figures(self):
        """The figures of ``report.html`` (timeline, drain, differences by class), as images."""
        from ..report import Figures, report_figures

        if self.reconciliation is None:
            return Figures()
        return Figures(report_figures(self.reconciliation, self.view, summary=self.summary).values())

    def to_dataframe(self):
        import pandas as pd

        if self.reconciliation is None:
            return pd.DataFrame()
        return self.reconciliation.to_dataframe().head(50)

    def _repr_html_(self) -> str:
        """The report's lead (verdict, the buffer's accounting, RTO, catch-up), then the differences."""
        if self.summary is None:
            return super()._repr_html_()
        import html

        parts = [self.summary._repr_html_(), f"<p><b>{html.escape(self.step)}</b>: {html.escape(self.outcome)}</p>"]
        parts += self.warnings_html()
        frame = self.reconciliation.view_frame(50)
        if not frame.empty:
            parts.append("<p>differences (the first 50; all in differences.csv)</p>" + frame.to_html(index=False))
        return "\n".join(p for p in parts if p)


def restore_point_and_replay_start(ctx, state) -> tuple[datetime | str | None, datetime | str | None]:
    """(T, R) for the comparison: the plan's, else the parameters' (None for "latest"/"restore_point")."""
    if state.plan is not None:
        return state.plan.restore_time, state.plan.replay_from
    t = None if ctx.restore_time == "latest" else ctx.restore_time
    r = None if ctx.replay_from == "restore_point" else ctx.replay_from
    return t, r


def _incremental(ctx, p):
    """With execute: when the source's stream does not cover [T, R), incremental exports of the source
    (into the export bucket) give the keys' last changes; a dry run only reads, and says so instead."""
    if not ctx.execute:
        return None
    from ..reconcile.exports.incremental import IncrementalExports

    return IncrementalExports(bucket=p.export_bucket)


def run(ctx, **parameters: Any) -> ReconcileResult:
    from .. import activity, monitor, reconcile, report
    from .. import restore as restore_lib
    from ..reconcile.exports import start as exports

    p = begin(ctx, STEP, PARAMETERS, parameters)
    state = ctx.load()
    if not restore_lib.table_exists(ctx.destination, ctx.target_table):
        if ctx.execute:
            raise PreconditionError(
                f"target table {ctx.target_table} does not exist: run 02_restore with execute=True first",
                table=ctx.target_table, step=STEP,
            )  # fmt: skip
        return ReconcileResult(STEP, False, f"dry run: {ctx.target_table} does not exist yet, nothing to reconcile").announce()
    wait_drained = applied_until = None
    if state.stack is not None and state.teardown is None:
        stack = state.buffer_stack
        horizons: list = []

        def wait_drained() -> None:
            drain = monitor.follow_drain(ctx.target, stack, timeout=p.drain_timeout, sample_seconds=1.0, quiet_samples=2,
                                         require_empty=not p.live_source)
            if p.live_source:  # what the buffer had applied by then: older writes must match
                horizons.append(monitor.applied_until(ctx.target, drain, quiet_samples=2))

        def applied_until():
            if not horizons:
                wait_drained()
            return horizons[-1]

    # before any scan: redacting needs the secret (InputError naming the remedy if there is none)
    digest, secret_arn = reconcile.key_digest_for(ctx.target, state.view(), p.redact_keys, p.key_digest_secret_arn)
    t, r = restore_point_and_replay_start(ctx, state)
    if p.live_source:
        if p.method == "export":
            raise InputError("live_source compares a moving source item by item: use method='scan'", step=STEP)
        if t is None:
            raise InputError("live_source needs the restore point T (the run's plan, or restore_time)", step=STEP)
        r = None  # the source's writes since T (since the buffer's horizon, with a buffer) explain the differences
    if p.live_source:
        method, why = "scan", "live_source: the source keeps changing, so it is read item by item"
    elif ctx.target_region and p.method != "export":  # the export engine compares exports of one region
        method, why = "scan", f"{ctx.target_table} is in {ctx.target_region}: each table is scanned in its region"
    else:
        method, why = exports.resolve_method(ctx.target, ctx.source_table, ctx.target_table, p.method)
    print(f"method: {method} ({why})", flush=True)
    if method == "export" and ctx.target_region:
        raise InputError(f"reconciling from exports compares exports of one region; {ctx.target_table} is in "
                         f"{ctx.target_region}: use method='scan' (it reads each table in its region)",
                         table=ctx.target_table, step=STEP)
    pair = None
    if method == "export":
        if not ctx.execute:  # exports turn PITR on for the target, may create the bucket, and cost money
            return ReconcileResult(STEP, False, f"dry run: would export {ctx.source_table} and {ctx.target_table} at one "
                                   f"moment and compare the exports ({why}); run with execute=True (pitr-runbook reconcile --method export), "
                                   "or method='scan'").announce()
        if wait_drained is not None:
            wait_drained()  # the target's export then holds what the buffer replayed
        pair = exports.exports_for(ctx.target, ctx.source_table, ctx.target_table, bucket=p.export_bucket,
                                   athena_workgroup=p.athena_workgroup, athena_output=p.athena_output)
    result = reconcile.reconcile(
        ctx.target, ctx.source_table, ctx.target_table, restore_time=t, replay_from=r, segments=p.segments,
        rate_limit=p.rate_limit, reread_rounds=p.reread_rounds, wait_drained=wait_drained, show_values=p.show_values,
        redact_keys=p.redact_keys, key_digest=digest, key_digest_secret_arn=secret_arn, method=method, exports=pair,
        incremental=None if p.live_source else _incremental(ctx, p),
        destination=ctx.destination, live_source=p.live_source,
        applied_until=applied_until if p.live_source else None,
    )  # fmt: skip
    result = dataclasses.replace(result, method_reason=why)  # the plan's words, into the report
    if wait_drained is not None:  # the buffer's accounting, read afresh after the drain, before the report
        activity.record(ctx.target, ctx.run_dir, stack)
    view = ctx.load().view()
    paths = report.write_reports(ctx.run_dir, result, view)
    outcome = (f"VERDICT: {result.verdict}  (unexplained {result.unexplained}, explained {result.explained}, "
               f"in flight {result.in_flight}); report: {paths.html}")
    return ReconcileResult(STEP, ctx.execute, outcome, reconciliation=result, paths=paths, view=view,
                           summary=report.summarize(result, view, run_dir=str(ctx.run_dir))).announce()
