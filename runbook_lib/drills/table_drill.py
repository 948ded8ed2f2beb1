"""A restore drill on an existing table: ``pitr-runbook drill --source-table NAME``.

A pipeline of named stages, each a short function (papermill's ``execute_notebook`` shape):

1. **inputs** (no AWS call): the source's name, T, the check files (parsed), the durations;
2. **source**: ``DescribeTable`` of the source (its size for the record, its encryption), the
   restore plan (PITR on, T inside the restorable window, the scratch name free: ``restore.plan_restore``);
3. **restore** into ``<source>-drill-<UTC stamp>`` (:mod:`.scratch`), encrypted as the source is
   (``SSESpecificationOverride``), followed to ACTIVE: the RTO (restore called -> ACTIVE);
4. **tag** it as a drill table (``TagResource``, once ACTIVE), with when it expires: at once plus
   :data:`IN_USE_SECONDS` while the drill works on it (a concurrent ``drill --cleanup`` leaves it alone);
5. **reconcile** it with the live source (``reconcile(..., live_source=True)``): every difference must
   be a key the source's stream shows written since T;
6. **checks**: the user's ``check_*`` functions (:mod:`.checks`);
7. **scratch**: deleted at once (``--keep-for 0``, the default; the drill waits until it is gone), or
   kept with ``expires`` = now + keep-for for ``drill --cleanup`` (:mod:`.cleanup`) to delete later;
8. **report**: ``summary.json`` (kind ``drill``), ``report.html``, ``differences.csv`` and ``run.json``.

The source is only read: ``DescribeTable``, ``DescribeContinuousBackups``, ``Scan``, ``BatchGetItem``
and its stream. A drill that fails after its restore started deletes its scratch table if it can
(ACTIVE), else (still CREATING) leaves it to ``drill --cleanup`` and says so; a drill killed outright
is covered by ``drill --cleanup`` (see :mod:`.cleanup`).

Exit status (``RunResult.exit_code``): 0 the verdict is PASS and every check of the drill is met
(each user check SUCCESSFUL, the RTO within ``--rto-target``); 1 otherwise; errors raise (exit 2).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Sequence

from botocore.exceptions import ClientError

from .. import console, run_state, times
from ..aws.clients import AwsTarget
from ..aws.codes import is_not_found
from ..aws.tables import describe_table, validate_table_name
from ..aws.waiting import interval, poll
from ..errors import InputError, RestoreError
from ..runner import RunResult, read_summary
from . import checks as user_checks
from . import scratch
from .cleanup import delete_table

log = logging.getLogger(__name__)

MODE = "restore"
#: the scratch table's ``expires`` while the drill works on it (reconcile, checks): 6 h past ACTIVE
IN_USE_SECONDS = 6 * 3600.0
#: how long a restore may take before the drill gives up following it
RESTORE_TIMEOUT = 12 * 3600.0
#: how long the drill waits for its deleted scratch table to be gone
DELETE_TIMEOUT = 900.0


@dataclass(frozen=True)
class _Inputs:
    source: str
    restore_time: str
    checks: tuple[user_checks.Check, ...]
    check_timeout: float
    keep_for: float
    rto_target: float | None
    redact_keys: bool


def drill_table(
    *,
    source_table: str,
    region: str | None = None,
    endpoint_url: str | None = None,
    restore_time: str = "latest",
    checks: Sequence[str | Path] = (),
    check_timeout: float = user_checks.DEFAULT_TIMEOUT,
    keep_for: float = 0.0,
    rto_target: float | None = None,
    run_dir: str | Path | None = None,
    runs_dir: str | Path = "runs",
    redact_keys: bool = True,
    verbose: bool = False,
    segments: int = 4,
    in_use_seconds: float = IN_USE_SECONDS,
    restore_timeout: float = RESTORE_TIMEOUT,
    with_buffer: bool = False,
    cfn_role_arn: str | None = None,
) -> RunResult:
    """The drill on ``source_table``; see the module. ``redact_keys``: the differing keys appear as
    HMAC-SHA256 digests under a random key of this run only (there is no buffer stack, so no secret to
    match them with: the report says which keys differed without naming them); off, keys are shown.
    ``with_buffer``: the whole runbook on the scratch table, buffer and cutover included
    (:mod:`.buffer_drill`), its stack deployed and deleted with ``cfn_role_arn`` when given."""
    if cfn_role_arn and not with_buffer:
        raise InputError("--cfn-role-arn is for the buffer's stack: it goes with --with-buffer")
    inputs = _inputs(source_table, restore_time, checks, check_timeout, keep_for, rto_target, redact_keys)
    target = AwsTarget(region, endpoint_url)
    name = scratch.scratch_name(inputs.source)
    run_path = Path(run_dir) if run_dir else Path(runs_dir) / name.name
    out = console.Console(bars=False if verbose else None)
    out.write(f"drill on {inputs.source} (restore into {name.name}): {run_path.resolve()}")
    started = time.monotonic()
    if with_buffer:
        from .buffer_drill import drill_with_buffer

        with console.run_log(run_path):
            run = drill_with_buffer(target, inputs, name, run_path, out, runs_dir=runs_dir, segments=segments,
                                    in_use_seconds=in_use_seconds, restore_timeout=restore_timeout, started=started,
                                    cfn_role_arn=cfn_role_arn)
        out.write(f"drill on {inputs.source} with the buffer: {run.verdict or 'no verdict'} (exit status "
                  f"{run.exit_code}) in {console.duration(time.monotonic() - started)}")
        return run
    with console.run_log(run_path):
        plan, facts = _source(target, inputs, name, run_path, out, runs_dir)
        _start_restore(target, plan, facts, run_path, out)
        try:  # from here on the scratch table exists: a failure removes it (or leaves it to drill --cleanup)
            _follow_restore(target, plan, run_path, out, restore_timeout)
            _tag(target, inputs.source, name.name, times.utcnow(), inputs.keep_for + in_use_seconds, out,
                 "in use by this drill")
            result = _reconcile(target, inputs, plan, segments, out)
            results = _checks(target, inputs, name.name, plan, out)
            _record(run_path, user_checks=[r.to_json() for r in results])
            _scratch_after(target, inputs, name.name, run_path, out)
        except BaseException as exc:
            _abandon(target, name.name, out, exc)
            raise
        run = _report(run_path, result, out, started)
    out.write(f"drill on {inputs.source}: {run.verdict} (exit status {run.exit_code}) in "
              f"{console.duration(time.monotonic() - started)}")
    return run


# -- stages -----------------------------------------------------------------------------------------


def _inputs(source, restore_time, checks, check_timeout, keep_for, rto_target, redact_keys) -> _Inputs:
    validate_table_name(source, param="source_table")
    times.parse_time(restore_time, name="restore_time")
    for value, what in ((check_timeout, "check timeout"), (keep_for, "keep-for")):
        if value is None or value < 0:
            raise InputError(f"{what} must be zero or more seconds, not {value!r}")
    if check_timeout == 0:
        raise InputError("the check timeout must be more than 0 seconds")
    if rto_target is not None and rto_target <= 0:
        raise InputError(f"the RTO target must be more than 0 seconds, not {rto_target!r}")
    found = tuple(user_checks.find_checks(checks))
    return _Inputs(source, restore_time, found, float(check_timeout), float(keep_for), rto_target, bool(redact_keys))


def _source(target: AwsTarget, inputs: _Inputs, name: scratch.ScratchName, run_path: Path, out, runs_dir):
    from ..restore import plan_restore

    with out.phase("source") as phase:
        desc = describe_table(target, inputs.source)
        plan = plan_restore(target, source_table=inputs.source, target_table=name.name,
                            restore_time=inputs.restore_time, replay_from="restore_point")
        notes = [n for n in (name.note,) if n]
        sse = scratch.sse_override(target, desc, notes)
        kind = "aws-owned" if not sse["Enabled"] else ("customer-managed" if "KMSMasterKeyId" in sse else "aws-managed")
        facts: dict[str, Any] = {
            "mode": MODE, "scratch_table": name.name, "source_items": desc.get("ItemCount"),
            "source_bytes": desc.get("TableSizeBytes"), "rto_target_seconds": inputs.rto_target,
            "keep_for_seconds": inputs.keep_for, "encryption": kind, "redact_keys": inputs.redact_keys,
            "check_timeout_seconds": inputs.check_timeout if inputs.checks else None,
            "runs_dir": str(runs_dir), "notes": notes, "sse": sse,
        }
        with run_state.edit(run_path) as state:
            state.params = run_state.Params(source_table=inputs.source, target_table=name.name, region=target.region,
                                            endpoint_url=target.endpoint_url, restore_time=inputs.restore_time)
            state.started = times.utcnow()
            state.drill = {k: v for k, v in facts.items() if v is not None and k != "sse"}
        phase["detail"] = (f"{inputs.source}: about {desc.get('ItemCount', 0):,} items, encryption {kind}; "
                           f"T = {times.iso_second(plan.restore_time)}")
    return plan, facts


def _start_restore(target: AwsTarget, plan, facts: dict[str, Any], run_path: Path, out) -> None:
    """``RestoreTableToPointInTime``; a refusal (the name taken by a drill started in the same second,
    a limit) leaves nothing behind and is the operator's error (``RestoreError``, exit 2)."""
    from ..restore import start_restore

    with out.phase("restore called") as phase:
        start_restore(target, plan, execute=True, run_dir=run_path, sse_specification=facts["sse"])
        phase["detail"] = f"{plan.source_table} -> {plan.target_table} at T = {times.iso_second(plan.restore_time)}"


def _follow_restore(target: AwsTarget, plan, run_path: Path, out, timeout: float) -> None:
    from ..restore import record_active, wait_active

    with out.phase("restore") as phase:
        wait_active(target, plan.target_table, timeout=timeout, interval=interval(target, 5.0))
        state = record_active(run_path)
        phase["detail"] = f"{plan.target_table} ACTIVE: RTO {state.timings.rto_seconds or 0:.1f} s"


def _tag(target: AwsTarget, source: str, table: str, now, seconds: float, out, why: str) -> str:
    ddb = target.client("dynamodb")
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    expires = now + timedelta(seconds=seconds)
    ddb.tag_resource(ResourceArn=arn, Tags=scratch.drill_tags(source, expires))
    out.line("tag", console.DONE, None, f"{scratch.TAG_DRILL}=true, {scratch.TAG_EXPIRES}={times.iso_second(expires)} ({why})")
    return times.iso_second(expires)


def _reconcile(target: AwsTarget, inputs: _Inputs, plan, segments: int, out):
    from ..cdc.codec import KeyDigest
    from ..reconcile import reconcile

    with out.phase("reconcile") as phase:
        digest = KeyDigest(os.urandom(32)) if inputs.redact_keys else None
        result = reconcile(target, inputs.source, plan.target_table, restore_time=plan.restore_time, live_source=True,
                           segments=segments, redact_keys=inputs.redact_keys, key_digest=digest)
        phase["detail"] = (f"verdict {result.verdict}: explained {result.explained}, unexplained {result.unexplained}, "
                           f"in flight {result.in_flight}")
    return result


def _checks(target: AwsTarget, inputs: _Inputs, table: str, plan, out) -> list[user_checks.CheckResult]:
    results = []
    for check in inputs.checks:
        clock = time.monotonic()
        result = user_checks.run_check(check, table_name=table, source_table=inputs.source,
                                       restore_time=plan.restore_time, region=target.region_name,
                                       endpoint_url=target.endpoint_url, timeout=inputs.check_timeout)
        out.line(f"check {check.name}", result.status, time.monotonic() - clock, result.message)
        results.append(result)
    return results


def _scratch_after(target: AwsTarget, inputs: _Inputs, table: str, run_path: Path, out) -> None:
    if inputs.keep_for > 0:
        expires = _tag(target, inputs.source, table, times.utcnow(), inputs.keep_for, out,
                       "kept for inspection: drill --cleanup deletes it once due")
        _record(run_path, scratch_deleted=False, scratch_expires=expires)
        return
    with out.phase("scratch table") as phase:
        delete_and_wait(target, table)
        _record(run_path, scratch_deleted=True)
        phase["detail"] = f"{table} deleted"


def delete_and_wait(target: AwsTarget, table: str, timeout: float = DELETE_TIMEOUT) -> None:
    """``DeleteTable``, then ``DescribeTable`` until it answers ``ResourceNotFoundException``."""
    ddb = target.client("dynamodb")
    delete_table(ddb, table)

    def gone() -> bool | None:
        try:
            ddb.describe_table(TableName=table)
            return None
        except ClientError as exc:
            if is_not_found(exc):
                return True
            raise

    poll(gone, timeout=timeout, interval=interval(target, 5.0), on_timeout=lambda: RestoreError(
        f"scratch table {table} is still there {timeout:.0f} s after DeleteTable: check it in the console, "
        "then run pitr-runbook drill --cleanup", table=table))


def _abandon(target: AwsTarget, table: str, out, exc: BaseException) -> None:
    """After a failure: delete the scratch table if it is ACTIVE (tagged as due first), else leave it
    to ``drill --cleanup`` and say so. Never raises (the failure itself is what the operator sees)."""
    try:
        ddb = target.client("dynamodb")
        try:
            desc = ddb.describe_table(TableName=table)["Table"]
        except ClientError as err:
            if is_not_found(err):
                return
            raise
        if desc.get("TableStatus") == "ACTIVE":
            ddb.tag_resource(ResourceArn=desc["TableArn"], Tags=scratch.drill_tags(table.rpartition(scratch.DRILL_INFIX)[0],
                                                                                  times.utcnow()))
            delete_table(ddb, table)
            out.line("scratch table", "deleted", None, f"{table}: the drill stopped ({type(exc).__name__})")
        else:
            out.line("scratch table", "left", None, f"{table} is {desc.get('TableStatus')}: pitr-runbook drill "
                     "--cleanup deletes it once ACTIVE")
    except BaseException as err:  # noqa: BLE001
        log.warning("could not remove scratch table %s after the drill stopped: %s", table, type(err).__name__)
        out.line("scratch table", "left", None, f"{table}: pitr-runbook drill --cleanup deletes it")


def _record(run_path: Path, **facts: Any) -> None:
    with run_state.edit(run_path) as state:
        state.drill = {**(state.drill or {}), **{k: v for k, v in facts.items() if v is not None}}


def _report(run_path: Path, reconciliation, out, started: float) -> RunResult:
    from .. import report

    paths = report.write_reports(run_path, reconciliation, run_state.load(run_path).view())
    summary = read_summary(run_path)
    missed = [c for c in (summary.get("drill") or {}).get("checks") or [] if not c.get("ok")]
    verdict = summary.get("verdict")
    run = RunResult(run_dir=str(run_path.resolve()), steps_done=[], exit_code=0 if verdict == "PASS" and not missed else 1,
                    verdict=verdict, seconds=round(time.monotonic() - started, 3))
    if run.exit_code:
        run.error = "; ".join([f"verdict {verdict}"] * (verdict != "PASS")
                              + [f"{c.get('check')}: {c.get('detail')}" for c in missed])
    out.line("report", verdict or "none", None, str(paths.html))
    for check in missed:
        out.line("drill check", "missed", None, f"{check.get('check')}: {check.get('detail')}")
    (run_path / "run.json").write_text(json.dumps(run.to_dict(), indent=2))
    return run
