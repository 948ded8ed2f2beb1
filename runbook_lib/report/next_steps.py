"""What to do next after a FAIL, written for this run: its classes of difference, its kind
(``reconcile`` of two tables, a ``run`` of the runbook, a ``drill``), its mode (catch-up or
rollback), whether T and R were given, and what the buffer says it did.

Each rule is a small function of a :class:`~.summary.RunSummary` that returns a :class:`NextStep`
or None; :func:`next_steps` asks them in order (first what could still change the verdict by
itself, then what explains a difference, then what to look at). No rule applies to a PASS with
nothing in flight, except a drill check that failed. Each step names the commands or notebook
cells to run, filled in with this run's tables, T, R, region, endpoint, run directory and stack.
The report, the notebook view and ``summary.json`` (``next_steps``) show the same steps.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Callable

from .. import times
from .drill_facts import CHECK_FAULT, CHECK_RTO
from .text import duration

#: rule ids, in the order the steps are given
IN_FLIGHT = "in_flight"
DLQ = "dlq"
STREAM_FAILURES = "stream_failures"
ACCOUNTING_UNREAD = "accounting_unread"
COVERAGE = "coverage"
NO_WINDOW = "no_window"
MISSING_OR_EXTRA = "missing_or_extra"
CHANGED = "changed"
DRILL_RERUN = "drill_rerun"
DRILL_RTO = "drill_rto"
DRILL_FAULT = "drill_fault_not_injected"

#: the notebook and cell of the steps the next steps name (each step's one call)
RECONCILE_CELL = ("notebooks/04_reconcile.ipynb", "result = steps.reconcile.run(ctx, ...)")
MONITOR_CELL = ("notebooks/03_monitor.ipynb", "result = steps.monitor.run(ctx, ...)")


def notebook_cell(cell: tuple[str, str], parameters: str = "") -> str:
    """``in Jupyter: <notebook> with <parameters>, run the cell <call>``."""
    notebook, call = cell
    return f"in Jupyter: {notebook}" + (f" with {parameters}" if parameters else "") + f", run the cell {call}"


@dataclass(frozen=True)
class NextStep:
    """One thing to do: what (``title``), why and how (``detail``), and the commands or notebook
    cells to run (``commands``), in order."""

    rule: str
    title: str
    detail: str
    commands: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "title": self.title, "detail": self.detail}
        if self.commands:
            out["commands"] = list(self.commands)
        return out


# -- the commands, filled in for this run --------------------------------------------------------
def _q(text: str) -> str:
    return shlex.quote(text)


def _aws_flags(s) -> list[str]:
    inv = s.invocation
    out = []
    if inv.region:
        out += ["--region", _q(inv.region)]
    if inv.endpoint_url:
        out += ["--endpoint-url", _q(inv.endpoint_url)]
    return out


def _window(s) -> bool:
    return s.restore_time is not None and s.replay_from is not None and s.replay_from > s.restore_time


def reconcile_command(s, *, show_values: bool = False, restore_time: str | None = None,
                      replay_from: str | None = None, run_dir: str | None = None) -> str:
    """``pitr-runbook reconcile`` of this run's tables, with its T and R (or the ones given)."""
    parts = ["pitr-runbook reconcile", "--source-table", _q(s.source_table or "SOURCE"),
             "--target-table", _q(s.target_table or "TARGET")]
    t = restore_time or (times.iso_second(s.restore_time) if s.restore_time else None)
    r = replay_from or (times.iso_second(s.replay_from) if _window(s) else None)
    if t:
        parts += ["--restore-time", t]
    if r:
        parts += ["--replay-from", r]
    parts += _aws_flags(s)
    if s.values_shown or show_values:
        parts.append("--show-values")
    if not s.keys_shown:
        parts.append("--redact-keys")
        if s.key_digest and s.key_digest.get("secret_arn"):
            parts += ["--key-digest-secret-arn", _q(s.key_digest["secret_arn"])]
    if run_dir:
        parts += ["--run-dir", run_dir]
    return " ".join(parts)


def resume_command(s) -> str:
    """``pitr-runbook run ... --execute`` on this run's directory: the steps done are not run
    again, step 04 (FAIL) is, and on PASS the run goes on to cutover."""
    parts = ["pitr-runbook run", "--source-table", _q(s.source_table or "SOURCE"),
             "--target-table", _q(s.target_table or "TARGET")]
    if s.restore_time:
        parts += ["--restore-time", times.iso_second(s.restore_time)]
    parts += ["--replay-from", times.iso_second(s.replay_from) if s.mode == "rollback" and s.replay_from else "restore_point"]
    parts += _aws_flags(s)
    if s.invocation.automation and s.invocation.automation != "notebook":
        parts += ["--automation", s.invocation.automation]
    if not s.keys_shown:
        parts.append("--redact-keys")
    parts += ["--execute", "--run-dir", _q(s.invocation.run_dir or "RUN_DIR")]
    return " ".join(parts)


def drill_command(s, *, redact_keys: bool | None = None, faults: bool = True) -> str:
    """``pitr-runbook drill`` as this drill ran (``redact_keys``: override; ``faults``: keep them)."""
    d = s.drill
    if d.scratch_table:
        return table_drill_command(s, redact_keys=redact_keys)
    parts = ["pitr-runbook drill", "--mode", d.mode]
    if d.automation and d.automation != "notebook":
        parts += ["--automation", d.automation]
    if d.items is not None:
        parts += ["--items", str(d.items)]
    if faults:
        for name in d.faults:
            parts += ["--fault", _q(name)]
    redact = d.redact_keys if redact_keys is None else redact_keys
    if redact is False:
        parts.append("--no-redact-keys")
    if d.rto_target_seconds is not None:
        parts += ["--rto-target", f"{d.rto_target_seconds:g}"]
    if d.runs_dir:
        parts += ["--runs-dir", _q(d.runs_dir)]
    return " ".join(parts)


def table_drill_command(s, *, redact_keys: bool | None = None, keep_for: str | None = None) -> str:
    """``pitr-runbook drill --source-table`` as this drill on an existing table ran."""
    d = s.drill
    parts = ["pitr-runbook drill", "--source-table", _q(s.source_table or "")] + _aws_flags(s)
    for file in dict.fromkeys(str(c.get("file")) for c in d.user_checks if c.get("file")):
        parts += ["--check", _q(file)]
    if d.check_timeout_seconds is not None and d.user_checks:
        parts += ["--check-timeout", f"{d.check_timeout_seconds:g}"]
    if d.rto_target_seconds is not None:
        parts += ["--rto-target", f"{d.rto_target_seconds:g}"]
    if keep_for:
        parts += ["--keep-for", keep_for]
    if (d.redact_keys if redact_keys is None else redact_keys) is False:
        parts.append("--no-redact-keys")
    if d.runs_dir:
        parts += ["--runs-dir", _q(d.runs_dir)]
    return " ".join(parts)


def _table_drill(s) -> bool:
    return s.kind == "drill" and s.drill is not None and bool(s.drill.scratch_table)


def reconcile_again(s) -> tuple[str, ...]:
    """How to reconcile this run again: the command (reconcile), or the resume and the notebook cell (run)."""
    if s.kind == "reconcile":
        return (reconcile_command(s),)
    if s.kind == "drill":
        return (drill_command(s),)
    return (resume_command(s), notebook_cell(RECONCILE_CELL, f"run_dir = {s.invocation.run_dir or 'RUN_DIR'!r}"))


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


# -- the rules -----------------------------------------------------------------------------------
def _in_flight(s) -> NextStep | None:
    if not s.in_flight:
        return None
    keys = _plural(s.in_flight, "key")
    if s.kind == "drill":
        detail = (f"{keys} changed again between the consistent re-reads. The drill stops its traffic before "
                  "step 04, so the buffer was still applying: look at the drain figure and the buffer's accounting, "
                  "then run the drill again.")
    elif s.kind == "run":
        detail = (f"{keys} changed again between the consistent re-reads: neither shown equal nor shown lost. "
                  "Stop the application's writers to the source (or wait until the buffer has drained: the "
                  "drain figure falls to zero), then run step 04 again.")
    else:
        detail = (f"{keys} changed again between the consistent re-reads: neither shown equal nor shown lost. "
                  "Stop the writers to the source (and to the target, if anything writes it), then reconcile again.")
    return NextStep(IN_FLIGHT, f"Reconcile again once writes stop ({keys} still changing)", detail, reconcile_again(s))


def _dlq(s) -> NextStep | None:
    b = s.buffer
    if b is None or not b.dead_lettered or s.kind == "reconcile":
        return None
    n = _plural(b.dead_lettered, "change")
    why = (f"{n} failed MaxReceiveCount times and sit in the buffer's dead-letter queue: they never reached "
           f"{s.target_table}. The applier's log group says why for each (`message_failed`, by keyed digest).")
    if s.kind == "drill":
        return NextStep(DLQ, f"Find why {n} reached the DLQ", why + " The drill's sandbox is gone: the applier's "
                        "events are counted in the faults section; fix the cause and run the drill again.",
                        (drill_command(s),))
    group = f"/aws/lambda/{s.invocation.stack_name}-applier" if s.invocation.stack_name else "the applier's log group"
    return NextStep(
        DLQ, f"Redrive the {n} in the dead-letter queue, then reconcile again",
        why + " Fix the cause first; a redriven change is applied as the source's current item.",
        (f"aws logs filter-log-events --log-group-name {group} --filter-pattern '\"message_failed\"'"
         + "".join(" " + flag for flag in _aws_flags(s)),
         notebook_cell(MONITOR_CELL, f"redrive_dlq = True, execute = True, run_dir = {s.invocation.run_dir or 'RUN_DIR'!r}")
         + " (it moves the DLQ back with StartMessageMoveTask and follows the drain)",
         *reconcile_again(s)),
    )


def _stream_failures(s) -> NextStep | None:
    b = s.buffer
    if b is None or not b.stream_failures or s.passed:
        return None
    n = _plural(b.stream_failures, "stream record")
    return NextStep(
        STREAM_FAILURES, f"{n} never reached the buffer",
        f"The forwarder gave up on {n} (its on-failure queue holds each batch's shard and sequence numbers, not "
        "the items): replay cannot apply those changes, so the unexplained keys are most likely theirs. The "
        "forwarder's log group says why (`entry_failed`, `record`).",
    )


def _accounting_unread(s) -> NextStep | None:
    if not s.buffer_error or s.passed:
        return None
    return NextStep(
        ACCOUNTING_UNREAD, "Let the report read the buffer's accounting",
        f"It could not be read ({s.buffer_error}), so a dead-lettered or never-forwarded write cannot be told "
        "from a lost one. Grant the operator logs:FilterLogEvents on the buffer's two log groups "
        "(infra/operator-policy.json), then run step 04 again.",
        reconcile_again(s),
    )


def _coverage(s) -> NextStep | None:
    if not s.coverage_warning or not s.unexplained:
        return None
    return NextStep(
        COVERAGE, "Find the last change of the unexplained keys elsewhere",
        f"The source's stream cannot explain every change in [T, R): {s.coverage_warning}. An unexplained key may "
        "be a change in the part it does not cover: look it up in an incremental export of the source over "
        "[T, R) (ExportTableToPointInTime, ExportType INCREMENTAL_EXPORT) before counting it as lost.",
    )


def _no_window(s) -> NextStep | None:
    if s.kind != "reconcile" or not s.unexplained or _window(s):
        return None
    given = "T was given but no R after it" if s.restore_time else "No restore point T and no replay start R were given"
    t = times.iso_second(s.restore_time) if s.restore_time else "T"
    return NextStep(
        NO_WINDOW, "Give T and R if the target is a restore",
        f"{given}, so nothing can be explained: every difference counts as unexplained. If "
        f"{s.target_table} is {s.source_table} restored to a time T (AWS Backup, a point-in-time restore) and the "
        "source kept taking writes, reconcile again with T and R, the time up to which its writes are accepted as "
        "missing from the copy (for example when this reconciliation ran): keys last changed in [T, R) are then "
        "explained from the source's stream (it must be on, and keeps records 24 h).",
        (reconcile_command(s, restore_time=t, replay_from="R"),),
    )


def _missing_or_extra(s) -> NextStep | None:
    by_kind = s.unexplained_by_kind
    missing, extra = by_kind.get("missing", 0), by_kind.get("extra", 0)
    if not missing and not extra:
        return None
    what = " and ".join(p for p in (f"{missing:,} missing from the target" if missing else "",
                                    f"{extra:,} extra in the target" if extra else "") if p)
    title = f"Trace the unexplained keys ({what})"
    if s.kind == "reconcile":
        detail = ("A key missing from the target was written on the source after the target's copy was taken (or "
                  "was not copied); an extra one was deleted on the source since, or written to the target alone. "
                  "Either way that write is not in the target: check whether writes ran during the copy, then "
                  "reconcile again once they stop.")
        return NextStep(MISSING_OR_EXTRA, title, detail, (reconcile_command(s),))
    if _table_drill(s):
        return NextStep(MISSING_OR_EXTRA, title, (
            "The scratch table holds the source as of T, and the source's stream shows no write of these keys since T: "
            "either the stream does not hold every change since T (see the coverage warning, if any: a stream turned "
            "off, or records older than its 24 hours), or the restore does not hold what the source held at T. Run the "
            "drill again with the keys shown and the scratch table kept, and compare the keys on both tables."),
            (table_drill_command(s, redact_keys=False, keep_for="1d"),))
    mode = "rollback: a key last changed from R on" if s.mode == "rollback" else "catch-up: a key"
    detail = (f"After the drain every key should hold the source's state ({mode} holds its newest image), so each "
              "is a write the buffer did not apply. Look for its keyed digest (the key_hash column of "
              "differences.csv) in the applier's log group and the DLQ: the digest is the message's MessageGroupId "
              "and the `group` of its log lines.")
    commands: list[str] = []
    first = next((row.key_hash for row in s.rows if row.classification == "unexplained"
                  and row.kind in ("missing", "extra") and row.key_hash), None)
    if s.kind == "run" and first and s.invocation.stack_name:
        commands.append(f"aws logs filter-log-events --log-group-name /aws/lambda/{s.invocation.stack_name}-applier "
                        f"--filter-pattern '\"{first}\"'" + "".join(" " + flag for flag in _aws_flags(s)))
    elif s.kind == "drill":
        detail += (" The drill's sandbox, and the functions' logs with it, is gone: the applier's events are counted "
                   "in the faults section; run the drill again to search the logs while it runs.")
    return NextStep(MISSING_OR_EXTRA, title, detail, tuple(commands))


def _changed(s) -> NextStep | None:
    n = s.unexplained_by_kind.get("changed", 0)
    if not n:
        return None
    keys = _plural(n, "key")
    title = "Compare the values of the key that differs" if n == 1 else f"Compare the values of the {keys} that differ"
    if s.values_shown:
        return NextStep(CHANGED, title, f"{_plural(n, 'key exists', 'keys exist')} on both sides with different attributes: compare "
                        "source_values and target_values in differences.csv (this report holds item values: keep it "
                        "where only you can read it).")
    if _table_drill(s):
        return NextStep(CHANGED, title, (
            f"{_plural(n, 'key exists', 'keys exist')} on both sides with different attributes (named in the table below), "
            "and the source's stream shows no write of them since T. Run the drill again with the scratch table kept, "
            "and compare the items of both tables where only you can read them."),
            (table_drill_command(s, redact_keys=False, keep_for="1d"),))
    if s.kind == "drill":
        return NextStep(CHANGED, "See which key differs" if n == 1 else f"See which {keys} differ",
                        f"{_plural(n, 'key exists', 'keys exist')} on both sides with different attributes (named in the table below). Run "
                        "the drill again with its keys shown (the demo table's keys are not personal data).",
                        (drill_command(s, redact_keys=False),))
    why = ("A key whose source was still being written while the comparison ran can differ without being lost: "
           "re-read it after writes stop (reconcile again). If it still differs, look at the values in a restricted "
           "place: item values then go into differences.csv and report.html of that run directory (never into "
           "logs); do not send that report.")
    if s.kind == "run":
        return NextStep(CHANGED, title, why, (
            notebook_cell(RECONCILE_CELL, "show_values = True and a run_dir only you can read"),
            reconcile_command(s, show_values=True, run_dir="RESTRICTED_DIR"),
        ))
    return NextStep(CHANGED, title, why, (reconcile_command(s, show_values=True, run_dir="RESTRICTED_DIR"),))


def _drill_rerun(s) -> NextStep | None:
    if s.kind != "drill" or s.passed:
        return None
    commands = []
    if s.drill.faults:
        commands.append(drill_command(s, faults=False))
    commands.append(drill_command(s))
    if _table_drill(s):
        failed = [c for c in s.drill.user_checks if c.get("status") != "SUCCESSFUL"]
        detail = "Keep this run directory (run.log, summary.json, the report). "
        if failed:
            detail += (f"{_plural(len(failed), 'check')} of yours did not succeed: a FAILED check's message says what it "
                       "found; a TIMED_OUT one ran past --check-timeout (raise it, or make the check cheaper). Run the "
                       "drill again with the scratch table kept to look at what the checks saw.")
            return NextStep(DRILL_RERUN, "Look at your checks", detail, (table_drill_command(s, keep_for="1d"),))
        return NextStep(DRILL_RERUN, "Run the drill again", detail + "Run the drill again to see whether the failure "
                        "repeats.", (table_drill_command(s),))
    detail = ("Keep this run directory (run.log, the executed notebooks, the injected faults and what the pipeline "
              "did about them). ")
    detail += ("Run the drill again without its faults to tell a fault's effect from a defect, then with them."
               if s.drill.faults else "Run the drill again to see whether the failure repeats.")
    return NextStep(DRILL_RERUN, "Run the drill again", detail, tuple(commands))


def _drill_rto(s) -> NextStep | None:
    missed = [c for c in s.checks if c.check == CHECK_RTO and not c.ok]
    if not missed:
        return None
    target = duration(s.drill.rto_target_seconds)
    detail = (f"The restore took {duration(s.rto_seconds)} from the restore call to ACTIVE, over the {target} target"
              if s.rto_seconds is not None else "The RTO was not measured")
    detail += (". The restore's time is AWS's (it grows with the table's size and partitions, not with this "
               "runbook); compare with earlier drills, and set the target from them.")
    commands = [f"pitr-runbook history --runs-dir {_q(s.drill.runs_dir)}"] if s.drill.runs_dir else []
    return NextStep(DRILL_RTO, "The RTO missed its target", detail, tuple(commands))


def _drill_fault(s) -> NextStep | None:
    idle = [c.fault for c in s.checks if c.check == CHECK_FAULT and not c.ok and c.fault]
    if not idle:
        return None
    names = ", ".join(idle)
    more = max((s.drill.items or 0) * 2, 1000)
    return NextStep(
        DRILL_FAULT, f"Make the fault fire: {names}",
        f"The sandbox never injected {names} during this drill, so the drill proved nothing about it: run it again "
        "with more items (more traffic and batches for the fault to hit), or with the fault's parameters "
        "(pitr-runbook drill --fault list).",
        (drill_command(s).replace(f"--items {s.drill.items}", f"--items {more}") if s.drill.items is not None
         else drill_command(s) + f" --items {more}",),
    )


RULES: tuple[Callable[[Any], NextStep | None], ...] = (
    _in_flight, _dlq, _stream_failures, _accounting_unread, _coverage, _no_window, _missing_or_extra, _changed,
    _drill_rerun, _drill_rto, _drill_fault,
)


def next_steps(s) -> tuple[NextStep, ...]:
    """The steps for a :class:`~.summary.RunSummary`: none for a PASS with nothing in flight and
    every drill check met."""
    if s.passed and not s.in_flight and all(c.ok for c in s.checks):
        return ()
    return tuple(step for step in (rule(s) for rule in RULES) if step is not None)


__all__ = ["NextStep", "RULES", "next_steps", "reconcile_command", "resume_command", "drill_command"]
