"""Scheduled restore drills: the whole runbook on the sandbox, and the drill history.

``drill()`` starts the sandbox, creates a demo table (PITR, stream, a CloudTrail trail) with live
traffic, runs every notebook through :func:`runbook_lib.runner.run` (the ``pitr-runbook run`` code
path), stopping the traffic before reconciliation and cutover as an operator stops the writers, and
appends the result to ``<runs>/history.jsonl``.

- ``mode="catchup"``: restore to ``latest`` (which, with the sandbox's restorable lag, lies before
  the buffer's deployment) and replay from the restore point: the restored table must equal the
  source.
- ``mode="rollback"``: traffic runs through an "incident window" [T, R); the restore goes to T and
  replay starts at R: exactly the keys last written in [T, R) keep their state at T.

The drill runs the runbook as an operator would on AWS: as the sandbox's root it sets up the demo
table, its traffic and trail, deploys the CloudFormation service role (``infra/cfn-service-role.yaml``)
and creates the IAM user ``pitr-operator`` holding only ``infra/operator-policy.json`` (rendered for
the demo's tables, attached as managed policies) and an access key; the notebooks then run with
``PITR_RUNBOOK_SANDBOX_*`` set to that key (papermill's kernels inherit the environment), and deploy
the buffer with ``cfn_role_arn``. ``without_statements`` drops statements from the user's policy
(the test that a missing permission stops the run with exit status 2); ``as_operator=False`` runs
as root.

``switch`` (on by default: ``ssm:/drill/orders/table-name``) is the SSM parameter the demo
application reads its table from: the drill creates it (naming the source) as the application's
owner would, the operator's policy grants it (``SwitchParameter``), and step 05 switches it. The
writers then behave as that application: paused before reconciliation, writing to the source again
after it, stopped when cutover tells them (its run state records the start of the quiet wait),
reading the parameter every ``switch_cache_seconds`` and resuming on the table it names; the drill
prints the measured write-unavailability window and the writes that landed on the restored table.

``faults`` names sandbox faults (``runbook_lib.sandbox.faults``; ``pitr-runbook drill --fault list``)
switched on for the whole drill. The drill must still PASS; before reconciliation it records, in
the run state and so in ``summary.json`` and the report (``faults``), one entry per fault: what the
sandbox injected and what the pipeline did about it (retries, re-reads, failed invocations, DLQ,
fallbacks), read back from the functions' logs (``runbook_lib.activity``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from . import console, permissions, runner
from .aws import clients as config
from . import run_state
from . import times
from .aws.clients import AwsTarget
from .automation import DEFAULT as DEFAULT_AUTOMATION, EVENT, check_automation
from .errors import InputError

log = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
#: the SSM parameter the drill's application reads its table name from
DRILL_SWITCH = "ssm:/drill/orders/table-name"
#: keys only the rollback drill's "incident" writes (inside [T, R))
INCIDENT_KEYS = 20


def _incident(ddb, table: str, first: int) -> None:
    """The bad deploy: overwrite INCIDENT_KEYS items that nothing else writes."""
    from .sandbox.traffic import key_schema, make_key

    schema = key_schema(ddb, table)
    for n in range(first, first + INCIDENT_KEYS):
        ddb.update_item(
            TableName=table,
            Key=make_key(schema, n),
            UpdateExpression="SET #s = :s, version = :v",
            ExpressionAttributeNames={"#s": "s"},
            ExpressionAttributeValues={":s": {"S": "canary-incident"}, ":v": {"N": "-1"}},
        )


#: faults that only make sense with one automation mode, and which
FAULT_AUTOMATION = {"event-lost": EVENT}
#: step parameters a fault needs for the drill to show the pipeline dealing with it (merged into
#: the drill's own).
#: - applier-crash: a killed applier invocation leaves its messages invisible for
#:   QueueVisibilityTimeout (360 s by default, longer than the drain timeout); 10 receives x 30 s
#:   still keep a message out of the DLQ for 5 minutes (buffer.REDRIVE_MIN_SECONDS);
#: - poison-redrive: a change reaches the DLQ after MaxReceiveCount x QueueVisibilityTimeout, at
#:   least the 300 s the runbook allows; 03_monitor then redrives the DLQ once the cause is gone
#:   and follows the drain again.
FAULT_STEP_PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "applier-crash": {
        "01_deploy_buffer": {"buffer_parameters": {"ApplierTimeoutSeconds": "15", "QueueVisibilityTimeout": "30"}},
    },
    "poison-redrive": {
        "01_deploy_buffer": {"buffer_parameters": {"MaxReceiveCount": "1", "QueueVisibilityTimeout": "300"}},
        "03_monitor": {"drain_timeout": 900, "redrive_dlq": True, "dlq_wait": 600},
    },
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def fault_table() -> str:
    """The faults a drill can inject, one per line: name, parameters, what it does."""
    from .sandbox import faults

    lines = []
    for name, fault in faults.available().items():
        params = ", ".join(f"{k}={v}" for k, v in fault.params.items())
        lines.append(f"{name:<18} {fault.description}" + (f" [{params}]" if params else ""))
    return "\n".join(lines) if lines else "no faults are available"


def check_faults(names: Sequence[str], automation: str) -> list[str]:
    """The fault names, checked against the registry and the automation mode. Raises ``InputError``."""
    from .sandbox import faults

    available = faults.available()
    chosen: list[str] = []
    for name in names:
        if name not in available:
            raise InputError(f"unknown fault {name!r}: choose from {', '.join(available) or 'none'} "
                             "(pitr-runbook drill --fault list)")
        needed = FAULT_AUTOMATION.get(name)
        if needed and needed != automation:
            raise InputError(f"fault {name!r} needs --automation {needed}")
        if name not in chosen:
            chosen.append(name)
    return chosen


def record_faults(run_dir: str | Path, target: AwsTarget, names: Sequence[str]) -> list[dict[str, Any]]:
    """Write into the run state (``faults``) what each fault injected and what the pipeline did."""
    from .activity import pipeline_activity
    from .sandbox import faults

    with run_state.edit(run_dir) as state:
        pipeline: dict[str, Any] = {}
        if state.stack is not None:
            pipeline = pipeline_activity(target, state.buffer_stack)
        snapshot = faults.snapshot()
        state.faults = [
            {
                "name": name,
                "params": snapshot["active"].get(name, {}),
                "injected": snapshot["events"].get(name, {}),
                "pipeline": pipeline,
                "fallbacks": [f.to_json() for f in state.fallbacks],
            }
            for name in names
        ]
    return state.faults


def record_drill(run_dir: str | Path, **facts: Any) -> dict[str, Any]:
    """Write the drill's own facts into the run state (``drill``): the report shows them with the
    checks they imply (``report.drill_facts``). Unknown facts (None) are left out."""
    with run_state.edit(run_dir) as state:
        state.drill = {k: v for k, v in facts.items() if v is not None}
    return state.drill


def _fault_step_parameters(names: Sequence[str], base: dict[str, Any]) -> dict[str, Any]:
    for name in names:
        base = _merge(base, FAULT_STEP_PARAMETERS.get(name, {}))
    return base


# -- the operator's identity --------------------------------------------------------------------------
OPERATOR_USER = "pitr-operator"
CFN_ROLE_STACK = "cfn-service-role-pitr-runbook"


@dataclass(frozen=True)
class Operator:
    """An IAM user of the sandbox that holds only the operator policy, and its access key."""

    user_arn: str
    access_key_id: str
    secret_access_key: str
    cfn_role_arn: str
    policy: dict

    def environment(self) -> dict[str, str]:
        return {config.SANDBOX_ACCESS_KEY_ENV: self.access_key_id, config.SANDBOX_SECRET_KEY_ENV: self.secret_access_key}


def deploy_cfn_service_role(root: AwsTarget, *, source_table: str, target_table: str, timeout: float = 120.0) -> str:
    """As the account's administrator would: deploy ``infra/cfn-service-role.yaml``; its role's ARN."""
    from .buffer import infra_dir

    cfn = root.client("cloudformation")
    body = (infra_dir() / permissions.CFN_ROLE_FILE).read_text()
    cfn.create_stack(StackName=CFN_ROLE_STACK, TemplateBody=body, Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[{"ParameterKey": "RoleName", "ParameterValue": permissions.DEFAULT_CFN_ROLE_NAME},
                                 {"ParameterKey": "StackPattern", "ParameterValue": permissions.DEFAULT_STACK_PATTERN},
                                 {"ParameterKey": "SourceTablePattern", "ParameterValue": source_table},
                                 {"ParameterKey": "TargetTablePattern", "ParameterValue": target_table}])
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=CFN_ROLE_STACK)["Stacks"][0]
        if stack["StackStatus"] == "CREATE_COMPLETE":
            return next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "RoleArn")
        if not stack["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            raise RuntimeError(f"{CFN_ROLE_STACK} ended {stack['StackStatus']}: {stack.get('StackStatusReason')}")
        time.sleep(0.2)


def create_operator(root: AwsTarget, *, source_table: str, target_table: str, cfn_role_arn: str,
                    without: Sequence[str] = (), switch_parameter: str | None = None,
                    target_region: str | None = None) -> Operator:
    """As root: the user ``pitr-operator`` with the rendered operator policy (less ``without``) and a key."""
    iam = root.client("iam")
    account = root.client("sts").get_caller_identity()["Account"]
    policy = permissions.render_policy(
        partition=root.partition, region=root.region_name, account=account, source_table_pattern=source_table,
        target_table_pattern=target_table, operator_principal=f"user/{OPERATOR_USER}", without=without,
        switch_parameter_pattern=switch_parameter,
        target_region=target_region,
    )
    user = iam.create_user(UserName=OPERATOR_USER)["User"]
    for n, part in enumerate(permissions.split_policy(policy), start=1):
        arn = iam.create_policy(PolicyName=f"{OPERATOR_USER}-{n}", PolicyDocument=json.dumps(part))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=OPERATOR_USER, PolicyArn=arn)
    key = iam.create_access_key(UserName=OPERATOR_USER)["AccessKey"]
    return Operator(user["Arn"], key["AccessKeyId"], key["SecretAccessKey"], cfn_role_arn, policy)


@contextlib.contextmanager
def _environment(values: dict[str, str], *, drop: Sequence[str] = ()):
    """Set (and drop) environment variables for the block; the kernels papermill starts inherit them."""
    saved = {k: os.environ.get(k) for k in (*values, *drop)}
    os.environ.update(values)
    for k in drop:
        os.environ.pop(k, None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def as_root():
    """The sandbox's root credentials (and no call recording) for the drill's own calls."""
    return _environment({}, drop=(config.SANDBOX_ACCESS_KEY_ENV, config.SANDBOX_SECRET_KEY_ENV,
                                  config.SANDBOX_SESSION_TOKEN_ENV, config.RECORD_CALLS_ENV))


def _whole_second_after(delay: float = 0.0) -> datetime:
    """Sleep to the next whole second (plus ``delay``) and return that second."""
    now = time.time() + delay
    target = math.ceil(now)
    time.sleep(max(0.0, target - time.time()))
    return datetime.fromtimestamp(target, tz=timezone.utc)


def _trail(target: AwsTarget) -> None:
    s3 = target.client("s3")
    s3.create_bucket(Bucket="drill-cloudtrail-logs")
    ct = target.client("cloudtrail")
    ct.create_trail(Name="drill-management-events", S3BucketName="drill-cloudtrail-logs", IsMultiRegionTrail=True)
    ct.start_logging(Name="drill-management-events")


def drill(
    *,
    mode: str = "catchup",
    items: int = 1000,
    runs_dir: str | Path = "runs",
    run_dir: str | Path | None = None,
    automation: str = DEFAULT_AUTOMATION,
    rate: float = 15.0,
    large_fraction: float = 0.02,
    restore_seconds: float = 3.0,
    restorable_lag: float | None = None,
    incident_seconds: float = 3.0,
    quiet_seconds: float = 1.0,
    faults: Sequence[str] = (),
    redact_keys: bool = True,
    as_operator: bool = True,
    without_statements: Sequence[str] = (),
    record_calls: str | Path | None = None,
    verbose: bool = False,
    rto_target: float | None = None,
    switch: str | None = DRILL_SWITCH,
    switch_cache_seconds: float = 2.0,
    target_region: str | None = None,
) -> runner.RunResult:
    """A whole restore drill on the sandbox. ``redact_keys`` (on: what scheduled drills run) shows
    every key in the report as the buffer's keyed digest. ``rto_target`` (seconds): the report checks
    the restore's RTO against it. ``target_region``: restore into that region of the sandbox (a
    cross-region restore; the buffer stays next to the source).

    Prints a line per phase and step (``runbook_lib.console``; bars on long waits in a terminal,
    none with ``verbose``, whose log lines would tangle with them); everything logged goes to the run
    directory's ``run.log``."""
    if mode not in ("catchup", "rollback"):
        raise InputError(f"mode must be 'catchup' or 'rollback', not {mode!r}")
    if items < 1:
        raise InputError(f"items must be at least 1, not {items}")
    check_automation(automation)
    fault_names = check_faults(faults, automation)
    from .switch import parse as parse_switch

    switch_name = parse_switch(switch)
    from .sandbox import Sandbox
    from .sandbox import faults as sandbox_faults
    from .sandbox.traffic import Traffic, create_demo_table, enable_stream, seed_items

    if restorable_lag is None:
        # catch-up: "latest" must lie before the buffer's deployment, as on AWS (about 5 min behind)
        # catch-up: "latest" lies a few seconds behind, so before the buffer's deployment, as on AWS
        # (about 5 min behind); the lag is counted from the end of the load while 00 and 01 run
        restorable_lag = 5.0 if mode == "catchup" else 4.0
    runs = Path(runs_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    # absolute: papermill runs each notebook with the run directory as the working directory, and the
    # writers (another thread of this process) read the run state meanwhile
    run_path = (Path(run_dir) if run_dir else runs / f"drill-{mode}-{stamp}").resolve()
    source, target_table = "drill-orders", "drill-orders-restored"
    out = console.Console(bars=False if verbose else None)
    out.write(f"drill {mode} ({automation} automation), {items} items: {run_path.resolve()}")
    clock = time.monotonic
    started = clock()

    with console.run_log(run_path), as_root(), Sandbox(restore_seconds=restore_seconds, restorable_lag=restorable_lag) as sb:
        out.line("sandbox up", console.DONE, clock() - started, sb.endpoint_url)
        target = AwsTarget(region=sb.region, endpoint_url=sb.endpoint_url)
        ddb = target.client("dynamodb")
        table_started = clock()
        create_demo_table(ddb, source, stream=None)  # the stream once the items are in (see below)
        _trail(target)
        application = _application(target, switch_name, source, switch_cache_seconds)
        table_seconds = clock() - table_started
        # the administrator's part first: the stream's oldest records must not age meanwhile (a
        # forwarder that starts behind by more than buffer.LAG_TOLERANCE_SECONDS delays "drained")
        operator: Operator | None = None
        if as_operator:
            with out.phase("operator") as phase:
                operator = create_operator(target, source_table=source, target_table=target_table,
                                           cfn_role_arn=deploy_cfn_service_role(target, source_table=source, target_table=target_table),
                                           without=without_statements, switch_parameter=switch_name,
                                           target_region=target_region)
                phase["detail"] = (f"notebooks run as {operator.user_arn} (infra/operator-policy.json"
                                   + (f" without {', '.join(without_statements)}" if without_statements else "") + ")")
        role_parameters = {"cfn_role_arn": operator.cfn_role_arn} if operator else {}
        for name in fault_names:
            sandbox_faults.enable(name)
            out.line(f"fault {name}", "on", None, sandbox_faults.available()[name].description)
        # keys [items, items + INCIDENT_KEYS) are left alone by the live traffic: in a rollback drill
        # the "incident" writes them inside [T, R) only, so exactly they must keep their state at T
        seed_started = clock()
        seed_items(ddb, source, items + INCIDENT_KEYS, seed=7)
        # the load is not what a drill proves: with the stream on during it, the buffer (reading from
        # TRIM_HORIZON) forwarded every loaded item only for the applier to drop it (before R)
        enable_stream(ddb, source)
        out.line("demo table", console.DONE, table_seconds + clock() - seed_started,
                 f"{source}: {items + INCIDENT_KEYS} items, PITR, stream, a CloudTrail trail")
        regional = {target_region: AwsTarget(target_region, sb.endpoint_url).client("dynamodb")} if target_region else {}
        traffic = Traffic(ddb, application.get() if application else source, rate=rate, key_space=items,
                          large_fraction=large_fraction, seed=11, parameter=application, regional_clients=regional)
        traffic.start()
        traffic_started = clock()
        try:
            if mode == "rollback":
                with out.phase("incident") as phase:
                    restore_at = _whole_second_after(1.0)
                    _incident(ddb, source, items)
                    replay_from = _whole_second_after(incident_seconds)
                    restore_time, replay = times.iso(restore_at), times.iso(replay_from)
                    phase["detail"] = (f"[T, R) = [{restore_time}, {replay}): the {INCIDENT_KEYS} keys written in it"
                                       " will be reverted")
            else:
                restore_time, replay = "latest", "restore_point"
            # T (or "latest", which must lie after the load) is restorable once the window has passed
            # it: counted from now while 00 and 01 run, and waited for (if at all) just before 02
            restorable_at = clock() + restorable_lag + 1.0
            params = runner.RunParams(
                source_table=source,
                target_table=target_table,
                restore_time=restore_time,
                replay_from=replay,
                region=sb.region,
                endpoint_url=sb.endpoint_url,
                run_dir=str(run_path),
                execute=True,
                automation=automation,
                target_region=target_region,
                step_parameters=_fault_step_parameters(fault_names, {
                    "00_preflight": {**role_parameters, **({"switch": switch} if switch_name else {})},
                    # the workflow polls the restored table every 2 s (AWS-sized default: 30 s)
                    "01_deploy_buffer": {"buffer_parameters": {"RestorePollSeconds": "2"}, **role_parameters},
                    # event mode: the sandbox's event starts the workflow at once; a lost one is missed 5 s after ACTIVE
                    "03_monitor": {"restore_timeout": 120, "restore_poll_seconds": 0.5, "drain_timeout": 300, "sample_seconds": 0.5, "quiet_samples": 2,
                                   "event_grace_seconds": 5},
                    "04_reconcile": {"segments": 2, "redact_keys": bool(redact_keys)},
                    "05_cutover": {"quiet_seconds": quiet_seconds, "cutover_timeout": 60, **role_parameters,
                                   **({"switch": switch, "first_write_wait": 30.0} if switch_name else {})},
                }),
            )

            def before(step: str) -> None:
                if step == "02_restore":
                    with out.phase("restore point") as phase:
                        _sleep_with_bar(out, "the restorable window to pass T", max(0.0, restorable_at - clock()))
                        phase["detail"] = (f"T = {restore_time} is restorable (the sandbox's LatestRestorableDateTime "
                                           f"lags {restorable_lag:g} s, AWS's about 5 min)")
                if step == "04_reconcile" and fault_names:
                    with as_root():  # the drill's own bookkeeping, not the operator's
                        entries = record_faults(run_path, target, fault_names)
                    for entry in entries:
                        out.line(f"fault {entry['name']}", "injected", None, str(entry["injected"] or "nothing"))
                if step == "05_cutover" and application is not None and traffic._thread is not None:
                    _writers_until_cutover(out, traffic, run_path, switch_name, switch_cache_seconds)
                if step == "04_reconcile" and traffic._thread is not None:
                    stats = traffic.stop() if application is None else (traffic.pause(), traffic.stats)[1]
                    out.line("traffic", "stopped", clock() - traffic_started,
                             f"{stats.puts} puts, {stats.updates} updates, {stats.deletes} deletes at {rate:g} writes/s;"
                             " the writers stop before reconciliation")
                    record_drill(run_path, mode=mode, automation=automation, items=items, faults=list(fault_names),
                                 rto_target_seconds=rto_target, incident_keys=INCIDENT_KEYS if mode == "rollback" else None,
                                 redact_keys=bool(redact_keys), as_operator=as_operator, runs_dir=str(runs),
                                 traffic={"rate": rate, "puts": stats.puts, "updates": stats.updates,
                                          "deletes": stats.deletes})

            identity = operator.environment() if operator else {}
            recording = {config.RECORD_CALLS_ENV: str(Path(record_calls).resolve())} if record_calls else {}
            with _environment({**identity, **recording}), out.following(run_path):
                result = runner.run(params, before_step=before, after_step=out.step_finished)
        finally:
            traffic.stop()
    missed = fail_on_missed_checks(result)
    downtime = (runner.read_summary(result.run_dir).get("downtime") or {}) if application is not None else {}
    record = append_history(runs, result, mode=mode, items=items, automation=automation, faults=list(fault_names),
                            **({"downtime_seconds": downtime["seconds"]} if downtime.get("seconds") is not None else {}))
    if application is not None:
        _downtime_lines(out, downtime, traffic, source, target_table)
    out.line("report", *_report_line(result, record))
    for check in missed:
        out.line("drill check", "missed", None, f"{check.get('check')}: {check.get('detail')}")
    out.write(f"drill {mode} ({automation}): {result.verdict or 'no verdict'} in {console.duration(clock() - started)}")
    return result


def _application(target: AwsTarget, name: str | None, table: str, cache_seconds: float):
    """As the application's owner (root): its SSM parameter naming ``table``, and the cached reader
    the drill's writers use (``traffic.CachedParameter``); None without a switch."""
    if name is None:
        return None
    from .sandbox.traffic import CachedParameter

    ssm = target.client("ssm")
    ssm.put_parameter(Name=name, Value=table, Type="String", Overwrite=False)
    return CachedParameter(ssm, name, ttl=cache_seconds)


def _told_to_stop(run_path: Path) -> bool:
    """Cutover has begun waiting for quiet: what the operator reads in 05 as "stop the writers now"."""
    try:
        d = run_state.load(run_path).downtime
    except (InputError, ValueError, OSError):
        return False
    return d is not None and d.quiet_wait_started is not None and d.switched is None


def _writers_until_cutover(out: console.Console, traffic, run_path: Path, name: str, cache: float) -> None:
    traffic.resume()
    traffic.pause_when(lambda: _told_to_stop(run_path), delay=1.0)  # an operator takes a moment
    out.line("writers", "resumed", None, f"on {traffic.table} until cutover tells them to stop; then they read "
                                         f"{name} every {cache:g} s and write where it points")


def _downtime_lines(out: console.Console, downtime: dict[str, Any], traffic, source: str, target_table: str) -> None:
    """The measured window, and the writes the resumed writers landed on the restored table."""
    if downtime.get("seconds") is not None:
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in (downtime.get("parts") or {}).items())
        start = f"last write on {source}" if downtime.get("from_kind") == "last_source_write" else "quiet wait start"
        first = (f"; first write on {target_table} {downtime['until_first_target_write_seconds']:.1f} s after the last on {source}"
                 if downtime.get("until_first_target_write_seconds") is not None else
                 f"; {downtime.get('first_write_note')}" if downtime.get("first_write_note") else "")
        out.line("downtime", "measured", downtime["seconds"], f"{start} -> switch: {parts}{first}")
    else:
        out.line("downtime", "none", None, "cutover did not switch: no window measured")
    stats = traffic.stats
    landed = stats.by_table.get(target_table, 0)
    after = (f", the first {stats.first_write_at[target_table] - stats.paused_at:.1f} s after they stopped"
             if landed and stats.paused_at else "")
    out.line("writers", "on target" if landed else "not resumed", None,
             f"{landed} write(s) landed on {target_table} after the switch{after}")


def fail_on_missed_checks(result: runner.RunResult) -> list[dict[str, Any]]:
    """The drill's checks that were not met (from the run's ``summary.json``; none without one). A
    drill stands for its checks as well as its verdict (RTO within ``--rto-target``, each fault
    injected, ...): a missed one turns a passing run's exit status into 1, as a FAIL. An exit status
    that already says more (2, 3) is kept."""
    drill_part = runner.read_summary(result.run_dir).get("drill") or {}
    missed = [c for c in drill_part.get("checks") or [] if not c.get("ok")]
    if missed and result.exit_code == 0:
        result.exit_code = 1
    return missed


def _sleep_with_bar(out: console.Console, what: str, seconds: float) -> None:
    bar = out.wait(what, timeout=seconds)
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(0.5, left))
        bar.update()
    bar.close(ok=True)


def _report_line(result: runner.RunResult, record: dict[str, Any]) -> tuple[str, None, str]:
    """The report's line: the verdict, RTO and catch-up, the differences, where the report is."""
    report = Path(result.run_dir) / "report.html"
    if not result.verdict:
        return "none", None, f"no verdict: {result.failed_step or 'the run'} failed (executed notebooks and run.log in {result.run_dir})"
    numbers = ""
    if record.get("rto_seconds") is not None:
        numbers = (f"RTO {record['rto_seconds']:.1f} s, catch-up {record.get('catch_up_seconds') or 0:.1f} s, "
                   f"differences explained {record.get('explained', 0)}, unexplained {record.get('unexplained', 0)}: ")
    error = f" ({result.error})" if result.error else ""
    return result.verdict, None, numbers + str(report) + error


# -- history ---------------------------------------------------------------------------------------------


def append_history(runs_dir: str | Path, result: runner.RunResult, **extra: Any) -> dict[str, Any]:
    runs = Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    summary = runner.read_summary(result.run_dir)
    counts = summary.get("differences", {}) if isinstance(summary.get("differences"), dict) else {}
    record = {
        "finished": times.iso(times.utcnow()),
        "run_dir": str(result.run_dir),
        "verdict": result.verdict or "NONE",
        "exit_code": result.exit_code,
        "failed_step": result.failed_step,
        "seconds": result.seconds,
        "rto_seconds": summary.get("rto_seconds"),
        "catch_up_seconds": summary.get("catch_up_seconds"),
        "explained": summary.get("explained", counts.get("explained")),
        "unexplained": summary.get("unexplained", counts.get("unexplained")),
        "in_flight": summary.get("in_flight", counts.get("in_flight")),
        **extra,
    }
    with open(runs / HISTORY_FILE, "a") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    return record


def read_history(runs_dir: str | Path):
    import pandas as pd

    path = Path(runs_dir) / HISTORY_FILE
    if not path.exists():
        return pd.DataFrame()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return pd.DataFrame(rows)
