"""``pitr-runbook drill --source-table T --with-buffer``: the whole runbook on a scratch table.

The six steps run as ``pitr-runbook run --execute`` runs them (:func:`runbook_lib.runner.run`, the
notebooks under papermill), with the user's table as the source and ``<source>-drill-<UTC stamp>`` as
the target, in catch-up mode (R = T minus the overlap) with notebook automation:

1. **00-02**: preflight (the source must have a stream with ``NEW_AND_OLD_IMAGES``: refused before
   anything is made, exit 2, with the remedy), the buffer deployed on the source's stream, the
   restore called (encrypted with the source's customer managed key when it has one; otherwise the
   restore keeps the source's encryption, as ``RestoreTableToPointInTime`` does);
2. the restore followed to ACTIVE (the RTO) and the table **tagged** as a drill's at once, as the
   plain drill does (so ``drill --cleanup`` never mistakes it for an interrupted drill's);
3. **03** replay turned on and followed until the buffer has caught up;
4. the user's **checks** on the scratch table (before 04, so the report holds their results);
5. **04** reconciled with ``live_source``: the production table's writers do not stop for a drill,
   so the buffer is waited for to catch up (not to empty) and a difference is explained only by a
   write to its key that the buffer had not applied yet (:mod:`runbook_lib.reconcile.classify`); a
   difference on a key written before the buffer's horizon is unexplained: the verdict FAILs;
6. **05** cutover with ``force``, a short quiet period and ``apply_settings=False``, and never a
   switch: the writers will not stop, so cutover must neither wait for quiet nor fail on it. Forcing
   turns replay off while writes still arrive, so the scratch table misses the newest writes: that
   is acceptable ONLY because nothing reads the scratch table after the reconciliation and it is
   deleted (or kept for inspection, tagged, then deleted by ``drill --cleanup``); no application is
   ever pointed at it. The settings diff (what a restore does not carry) is shown in 05 but not
   applied: applying it would create account resources (alarms, scaling targets) for a table about
   to be deleted. Then the stack is deleted and verified gone (``buffer.teardown``).

When a step fails (04's FAIL stops the run before 05) or the drill is interrupted (Ctrl-C, SIGTERM)
after the buffer was deployed, the stack is torn down and the scratch table removed as the plain
drill removes it; what cannot be removed then (a table still CREATING) ``drill --cleanup`` removes,
buffer stacks of drill scratch tables included (:mod:`.cleanup`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from .. import console, run_state, runner, times
from ..aws.clients import AwsTarget
from ..aws.tables import describe_table
from ..errors import PreconditionError
from . import checks as user_checks
from . import table_drill

log = logging.getLogger(__name__)

VIEW_TYPE = "NEW_AND_OLD_IMAGES"
#: the steps before the restore is followed by the drill itself, and after
BEFORE, AFTER = runner.STEPS[:3], runner.STEPS[3:]


def require_stream(desc: dict[str, Any]) -> str:
    """The source's stream ARN; ``PreconditionError`` (exit 2, nothing made) naming the remedy when the
    source has no stream, or one without old and new images (the buffer needs both)."""
    spec = desc.get("StreamSpecification") or {}
    name = desc.get("TableName")
    if not spec.get("StreamEnabled") or not desc.get("LatestStreamArn"):
        raise PreconditionError(
            f"table {name} has no stream: --with-buffer deploys the buffer on the source's stream. Turn it on with "
            f"UpdateTable StreamSpecification={{StreamEnabled: true, StreamViewType: {VIEW_TYPE}}} (aws dynamodb "
            f"update-table --table-name {name} --stream-specification StreamEnabled=true,StreamViewType={VIEW_TYPE}), "
            "or drill without --with-buffer", table=name)
    if spec.get("StreamViewType") != VIEW_TYPE:
        raise PreconditionError(
            f"table {name}'s stream has StreamViewType {spec.get('StreamViewType')}, the buffer needs {VIEW_TYPE}: "
            "a stream's view type cannot be changed; a table's own stream consumers decide whether to replace it, "
            "or drill without --with-buffer", table=name)
    return str(desc["LatestStreamArn"])


def step_parameters(target: AwsTarget, inputs, facts: dict[str, Any], segments: int,
                    cfn_role_arn: str | None = None) -> dict[str, dict[str, Any]]:
    sandbox = target.is_sandbox
    sse = facts.get("sse") or {}
    role = {"cfn_role_arn": cfn_role_arn} if cfn_role_arn else {}
    return {
        "00_preflight": dict(role),
        "01_deploy_buffer": dict(role),
        "02_restore": {"sse_kms_key_id": sse["KMSMasterKeyId"]} if sse.get("KMSMasterKeyId") else {},
        "03_monitor": {"sample_seconds": 0.5 if sandbox else 2.0, "quiet_samples": 2,
                       "restore_poll_seconds": 0.5 if sandbox else 5.0},
        "04_reconcile": {"live_source": True, "segments": segments, "redact_keys": inputs.redact_keys,
                         "drain_timeout": 300.0 if sandbox else 1800.0},
        # writers that never stop: no quiet period to wait for, replay turned off anyway (see the module)
        "05_cutover": {"force": True, "drain_required": False, "quiet_seconds": 1.0, "cutover_timeout": 3.0,
                       "apply_settings": False,
                       "drain_timeout": 20.0 if sandbox else 120.0, **role},
    }


def drill_with_buffer(target: AwsTarget, inputs, name, run_path: Path, out: console.Console, *, runs_dir,
                      segments: int, in_use_seconds: float, restore_timeout: float, started: float,
                      cfn_role_arn: str | None = None) -> runner.RunResult:
    """The drill; see the module. Returns the run's result (exit 0 only on PASS with every check met)."""
    require_stream(describe_table(target, inputs.source))
    plan, facts = table_drill._source(target, inputs, name, run_path, out, runs_dir)
    params = runner.RunParams(
        source_table=inputs.source, target_table=name.name, restore_time=inputs.restore_time,
        replay_from="restore_point", region=target.region, endpoint_url=target.endpoint_url, run_dir=str(run_path),
        execute=True, automation="notebook", step_parameters=step_parameters(target, inputs, facts, segments, cfn_role_arn))
    with run_state.edit(run_path) as state:
        state.params = run_state.Params(
            source_table=inputs.source, target_table=name.name, region=target.region,
            endpoint_url=target.endpoint_url, automation="notebook", restore_time=inputs.restore_time,
            replay_from="restore_point")
    table_drill._record(run_path, with_buffer=True)
    result: runner.RunResult | None = None
    try:  # from the deployment on, a failure removes the stack and the scratch table
        result = runner.run(params, steps=BEFORE, after_step=out.step_finished)
        if result.exit_code == 0:
            table_drill._follow_restore(target, plan, run_path, out, restore_timeout)
            table_drill._tag(target, inputs.source, name.name, times.utcnow(), inputs.keep_for + in_use_seconds, out,
                             "in use by this drill")

            def before(step: str) -> None:
                if step == "04_reconcile":
                    results = table_drill._checks(target, inputs, name.name, plan, out)
                    table_drill._record(run_path, user_checks=[r.to_json() for r in results])

            later = runner.run(params, steps=AFTER, before_step=before, after_step=out.step_finished)
            result = _merged(result, later)
        _tear_down(target, run_path, out)
        if result.exit_code == 0 or result.verdict is not None:
            table_drill._scratch_after(target, inputs, name.name, run_path, out)
        else:
            table_drill._abandon(target, name.name, out, RuntimeError(result.error or "a step failed"))
    except BaseException as exc:
        _remove_buffer(target, run_path, inputs.source, name.name, out)
        table_drill._abandon(target, name.name, out, exc)
        raise
    return _finish(run_path, result, out, started)


def _merged(first: runner.RunResult, later: runner.RunResult) -> runner.RunResult:
    later.steps_done = [*first.steps_done, *later.steps_done]
    later.seconds = round(first.seconds + later.seconds, 3)
    return later


def _tear_down(target: AwsTarget, run_path: Path, out: console.Console) -> None:
    """The stack deleted and verified gone, unless 05 did it (a failed step stops the run before it)."""
    from ..buffer import teardown

    state = run_state.load(run_path)
    if state.stack is None or (state.teardown is not None and state.teardown.clean):
        return
    with out.phase("buffer teardown") as phase:
        report = teardown(target, state.buffer_stack, execute=True)
        table_drill._record(run_path, buffer_torn_down=True)
        phase["detail"] = f"stack {report.stack_name} deleted, nothing left"


def _remove_buffer(target: AwsTarget, run_path: Path, source: str, table: str, out: console.Console) -> None:
    """After an interruption: tear the stack down (the recorded one, else the name 01 gives it). Never
    raises: what is left, ``drill --cleanup`` removes."""
    from ..buffer import stack_name_for, teardown

    try:
        state = run_state.load(run_path)
        if state.teardown is not None and state.teardown.clean:
            return
        stack = state.buffer_stack if state.stack is not None else stack_name_for(source, table)
        teardown(target, stack, execute=True)
        out.line("buffer teardown", "deleted", None, "the drill stopped: stack deleted, nothing left")
    except BaseException as err:  # noqa: BLE001
        log.warning("could not tear down the buffer of %s after the drill stopped: %s", table, type(err).__name__)
        out.line("buffer teardown", "left", None, "pitr-runbook drill --cleanup deletes the stack once the scratch "
                 "table is gone")


def _buffer_losses(accounting: dict) -> list[dict]:
    """A failed check when the buffer's own accounting shows changes it did not apply (messages in the
    DLQ, or that could not be decoded): the horizon explains keys still written after it, and a hot key
    whose every change is dead-lettered would otherwise pass as explained on every drill."""
    lost = {k: accounting.get(k) for k in ("dead_lettered", "poison") if accounting.get(k)}
    if not lost:
        return []
    detail = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in lost.items())
    return [{"check": "buffer_applied_everything", "ok": False,
             "detail": f"{detail}: changes the buffer did not apply to the scratch table (its DLQ, the applier's log)"}]


def _finish(run_path: Path, result: runner.RunResult, out: console.Console, started: float) -> runner.RunResult:
    """summary.json's ``drill`` gets what happened after step 04 wrote it (the scratch table's fate, the
    teardown); the exit status counts the drill's checks (user checks, the RTO target) as the plain drill does."""
    summary_path = run_path / "summary.json"
    summary = runner.read_summary(run_path)
    if summary:
        facts = run_state.load(run_path).drill or {}
        summary["drill"] = {**(summary.get("drill") or {}),
                            **{k: facts[k] for k in ("scratch_deleted", "scratch_expires", "buffer_torn_down") if k in facts}}
        summary["drill"]["checks"] = [*(summary["drill"].get("checks") or []), *_buffer_losses(summary.get("buffer") or {})]
        summary_path.write_text(json.dumps(summary, indent=2) + "\n")
    missed = [c for c in (summary.get("drill") or {}).get("checks") or [] if not c.get("ok")]
    if result.exit_code == 0 and (summary.get("verdict") != "PASS" or missed):
        result.exit_code = 1
        result.error = "; ".join([f"verdict {summary.get('verdict')}"] * (summary.get("verdict") != "PASS")
                                 + [f"{c.get('check')}: {c.get('detail')}" for c in missed])
    result.verdict = summary.get("verdict") or result.verdict
    result.seconds = round(time.monotonic() - started, 3)
    for check in missed:
        out.line("drill check", "missed", None, f"{check.get('check')}: {check.get('detail')}")
    (run_path / "run.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result
