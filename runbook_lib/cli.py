"""``pitr-runbook``: maps flags onto the Python API, and errors onto exit codes, in one place.

Exit codes: 0 success (verdict PASS), 1 reconciliation FAIL, 2 operator error (bad input, failed
precondition: one line on stderr, nothing changed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any, Sequence

from botocore.exceptions import ClientError

from .automation import AUTOMATIONS, DEFAULT as DEFAULT_AUTOMATION
from .errors import AccessDeniedError, RunbookError

log = logging.getLogger("runbook_lib.cli")

EXIT_OK, EXIT_FAIL, EXIT_OPERATOR, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Parser(argparse.ArgumentParser):
    """An argument error is one line and exit status 2, never a usage dump or a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(EXIT_OPERATOR)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0..65535, not {value}")
    return value


def _loopback(text: str) -> str:
    if text not in ("127.0.0.1", "localhost"):
        raise argparse.ArgumentTypeError("the sandbox binds only to 127.0.0.1")
    return "127.0.0.1"


# -- commands ------------------------------------------------------------------------------------


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Sandbox(args.host, args.port, restore_seconds=args.restore_seconds, restorable_lag=args.restorable_lag) as sb:
        print(f"sandbox ready: endpoint_url={sb.endpoint_url}", flush=True)
        print("  restores take %.1f s; LatestRestorableDateTime = now - %.1f s; Ctrl-C to stop"
              % (args.restore_seconds, args.restorable_lag), flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def cmd_traffic(args: argparse.Namespace) -> int:
    from .aws.clients import AwsTarget
    from .errors import PreconditionError
    from .sandbox.traffic import Traffic, create_demo_table

    ddb = AwsTarget(args.region, args.endpoint_url).client("dynamodb")
    try:
        ddb.describe_table(TableName=args.table)
    except ddb.exceptions.ResourceNotFoundException:
        if not args.create:
            raise PreconditionError(
                f"table {args.table} does not exist: create it, or pass --create for a demo table", table=args.table
            )
        create_demo_table(ddb, args.table, range_key=args.range_key)
    traffic = Traffic(ddb, args.table, rate=args.rate, key_space=args.key_space, large_fraction=args.large_fraction, seed=args.seed)
    stats = traffic.run(seconds=args.seconds)
    print(f"traffic on {args.table}: {stats.puts} puts, {stats.updates} updates, {stats.deletes} deletes, {stats.errors} errors")
    return EXIT_OK if stats.errors == 0 else EXIT_OPERATOR


def _one_line(error: object) -> str:
    return " ".join(str(error).split())


def _print_result(result) -> int:
    if result.verdict:
        print(f"verdict: {result.verdict} (report: {result.run_dir}/report.html)")
    print(f"executed notebooks and run.log: {result.run_dir}", flush=True)
    if result.error:
        sys.stderr.write(f"pitr-runbook: {_one_line(result.error)}\n")
    return result.exit_code


def _run_with_console(params, verbose: bool = False, **kwargs: Any):
    """``runner.run`` with a line per step on stdout, the waits' bars (not with ``verbose``: log
    lines would tangle with them), and ``run.log`` kept."""
    from . import console, runner

    out = console.Console(bars=False if verbose else None)
    with console.run_log(params.run_dir), out.following(params.run_dir):
        return runner.run(params, after_step=out.step_finished, **kwargs)


def _run_params(args: argparse.Namespace, **overrides: Any):
    from .runner import RunParams

    values = dict(
        source_table=args.source_table,
        target_table=args.target_table,
        restore_time=args.restore_time,
        replay_from=args.replay_from,
        region=args.region,
        endpoint_url=args.endpoint_url,
        run_dir=args.run_dir,
        execute=getattr(args, "execute", False),
        automation=getattr(args, "automation", DEFAULT_AUTOMATION),
        target_region=getattr(args, "target_region", None),
    )
    values.update(overrides)
    return RunParams(**values)


def _capacity_step_parameters(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """``run``'s capacity flags as notebook parameters of steps 01 and 02 (only those given)."""
    from .errors import InputError

    out: dict[str, dict[str, Any]] = {}
    if args.applier_max_concurrency is not None:
        out["01_deploy_buffer"] = {"applier_max_concurrency": args.applier_max_concurrency}
    restore: dict[str, Any] = {}
    if args.billing_mode_override:
        restore["billing_mode_override"] = args.billing_mode_override
    if (args.read_capacity is None) != (args.write_capacity is None):
        raise InputError("--read-capacity and --write-capacity go together (ProvisionedThroughputOverride takes both)")
    if args.read_capacity is not None:
        restore["provisioned_throughput_override"] = {
            "ReadCapacityUnits": args.read_capacity, "WriteCapacityUnits": args.write_capacity}
    if restore:
        out["02_restore"] = restore
    return out


def _redaction_step_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``--redact-keys`` / ``--key-digest-secret-arn`` as step 04's notebook parameters."""
    return {"redact_keys": bool(args.redact_keys), "key_digest_secret_arn": args.key_digest_secret_arn}


def _role_step_parameters(args: argparse.Namespace, base: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``--cfn-role-arn`` as the ``cfn_role_arn`` parameter of the steps that check (00), deploy (01) and delete (05) the stack."""
    if not args.cfn_role_arn:
        return base
    out = {step: dict(values) for step, values in base.items()}
    for step in ("00_preflight", "01_deploy_buffer", "05_cutover"):
        out.setdefault(step, {})["cfn_role_arn"] = args.cfn_role_arn
    return out


def _switch_step_parameters(args: argparse.Namespace, step_parameters: dict[str, dict[str, Any]]) -> None:
    """``--switch`` / ``--force-switch`` as step 05's ``switch`` and ``force_switch`` (checked before any step runs)."""
    from .switch import parse

    if args.switch:
        parse(args.switch)
        step_parameters.setdefault("05_cutover", {})["switch"] = args.switch
        step_parameters.setdefault("00_preflight", {})["switch"] = args.switch  # read and permission-checked first
    if args.force_switch:
        step_parameters.setdefault("05_cutover", {})["force_switch"] = True


def cmd_cutover(args: argparse.Namespace) -> int:
    """``cutover --undo``: the SSM parameter a run's cutover switched, put back as it was."""
    from . import run_state
    from .aws.clients import AwsTarget
    from .errors import InputError
    from .switch import undo

    if not args.undo:
        raise InputError("cutover takes --undo (put back the SSM parameter a run switched); to cut over, run "
                         "`pitr-runbook run ... --execute --switch ssm:/...` again with the same --run-dir (it resumes)")
    if not run_state.exists(args.run_dir):
        raise InputError(f"{args.run_dir} holds no run state ({run_state.path(args.run_dir)} is missing): give the run "
                         "directory of the run whose switch to undo")
    params = run_state.load(args.run_dir).params
    target = AwsTarget(args.region or params.region, args.endpoint_url or params.endpoint_url)
    outcome = undo(target, args.run_dir, force=args.force)
    print(f"undone: {outcome.line}", flush=True)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from . import runner

    step_parameters = _role_step_parameters(args, _capacity_step_parameters(args))
    _switch_step_parameters(args, step_parameters)
    if args.sse_kms_key_id:  # checked by 00 (its region), sent by 02 (SSESpecificationOverride)
        for step in ("00_preflight", "02_restore"):
            step_parameters.setdefault(step, {})["sse_kms_key_id"] = args.sse_kms_key_id
    if args.redact_keys or args.key_digest_secret_arn:  # otherwise the notebook's default: keys shown
        step_parameters["04_reconcile"] = _redaction_step_parameters(args)
    params = _run_params(args, step_parameters=step_parameters)
    runner.validate(params)
    print(f"running the runbook for {params.source_table} -> {params.target_table} in {params.run_dir}"
          f" ({'EXECUTE' if params.execute else 'dry run'})", flush=True)
    result = _run_with_console(params, args.verbose, resume=True)
    downtime = runner.read_summary(result.run_dir).get("downtime")
    if downtime:  # cutover measured the write-unavailability window (README, "The switch the application reads")
        parts = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in downtime.get("parts", {}).items())
        print(f"downtime: writes unavailable {downtime['seconds']:.1f} s ({parts})", flush=True)
    return _print_result(result)


def _require_tables(params) -> None:
    """``reconcile`` compares two existing tables: a missing one is the operator's error (exit 2,
    nothing written), not the dry-run answer step 04 gives a notebook run before its restore."""
    from .aws.clients import AwsTarget
    from .aws.tables import table_exists
    from .errors import PreconditionError

    target = AwsTarget(params.region, params.endpoint_url)
    for role, table in (("source", params.source_table), ("target", params.target_table)):
        if not table_exists(target, table):
            raise PreconditionError(
                f"{role} table {table} does not exist in {target.region_name}: reconcile compares two existing "
                f"tables; check --{role}-table and --region (a restore not finished yet: wait until it is ACTIVE)",
                table=table,
            )


def cmd_reconcile(args: argparse.Namespace) -> int:
    from . import runner

    from . import run_state
    from .reconcile import check_redaction

    params = _run_params(args, execute=False)
    runner.validate(params)
    # before any work: redacted keys need the secret that keys their digest
    check_redaction(run_state.load(params.run_dir).view(), args.redact_keys, args.key_digest_secret_arn)
    _require_tables(params)
    step_parameters = {"04_reconcile": {"segments": args.segments, "rate_limit": args.rate_limit, "show_values": args.show_values,
                                        **_redaction_step_parameters(args), **_export_step_parameters(args)}}
    # --method export changes AWS (PITR on the target, the bucket, two exports): asked for, so executed
    params = _run_params(args, execute=args.method == "export", step_parameters=step_parameters)
    return _print_result(_run_with_console(params, args.verbose, steps=["04_reconcile"]))


def _export_step_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``--method``, ``--export-bucket``, ``--athena-workgroup``, ``--athena-output`` as step 04's parameters
    (only those given: otherwise the notebook's defaults)."""
    given = {"method": args.method, "export_bucket": args.export_bucket, "athena_workgroup": args.athena_workgroup,
             "athena_output": args.athena_output}
    return {k: v for k, v in given.items() if v is not None and not (k == "method" and v == "auto")}


def _duration(text: str) -> float:
    from .errors import InputError
    from .times import parse_duration

    try:
        return parse_duration(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def _terminate_as_interrupt(*_: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (a scheduler stopping the task): the drill removes what it made


def cmd_drill_table(args: argparse.Namespace) -> int:
    """``drill --cleanup`` and ``drill --source-table`` (runbook_lib.drills); the demo drill otherwise."""
    from .aws.clients import AwsTarget
    from . import drills

    if args.target_region:
        from .errors import InputError
        raise InputError("drill --source-table and --cleanup work in the source's region; --target-region is for "
                         "pitr-runbook run and the demo drill")
    if args.cleanup:
        report = drills.cleanup(AwsTarget(args.region, args.endpoint_url), source_table=args.source_table)
        print("\n".join(f"cleanup: {line}" for line in report.lines()), flush=True)
        return EXIT_OK
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    result = drills.drill_table(
        source_table=args.source_table, region=args.region, endpoint_url=args.endpoint_url,
        restore_time=args.restore_time, checks=args.check or (), check_timeout=args.check_timeout,
        keep_for=args.keep_for, rto_target=args.rto_target, run_dir=args.run_dir,
        runs_dir=args.runs_dir, redact_keys=args.redact_keys, verbose=args.verbose)
    if result.error:
        sys.stderr.write(f"pitr-runbook: {_one_line(result.error)}\n")
    return result.exit_code


def cmd_drill(args: argparse.Namespace) -> int:
    from .drill import drill, fault_table

    if args.cleanup or args.source_table:
        return cmd_drill_table(args)
    if "list" in (args.fault or []):
        print(fault_table())
        return EXIT_OK
    result = drill(mode=args.mode, items=args.items, runs_dir=args.runs_dir, run_dir=args.run_dir,
                   automation=args.automation, faults=args.fault or (), redact_keys=args.redact_keys,
                   as_operator=not args.as_root, without_statements=args.without_statement or (),
                   record_calls=args.record_calls, verbose=args.verbose, rto_target=args.rto_target,
                   target_region=args.target_region,
                   **({"switch": args.switch or None} if args.switch is not None else {}))
    if result.error:
        sys.stderr.write(f"pitr-runbook: {_one_line(result.error)}\n")
    return result.exit_code


def cmd_lab(args: argparse.Namespace) -> int:
    from .lab import describe, lab

    return lab(sandbox=args.sandbox, port=args.port, run_dir=args.run_dir, runs_dir=args.runs_dir,
               ready=lambda server: print(describe(server), flush=True))


def cmd_policy(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import permissions
    from .aws.partitions import partition

    region = args.region or "us-east-1"
    policy = permissions.render_policy(
        partition=partition(region), region=region, account=args.account,
        source_table_pattern=args.source_table, target_table_pattern=args.target_table,
        stack_pattern=args.stack_pattern, cfn_service_role_name=args.cfn_role_name,
        operator_principal=args.operator, trail_account=args.trail_account,
        switch_parameter_pattern=args.switch_parameter, target_region=args.target_region,
    )
    parts = permissions.split_policy(policy)
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for n, part in enumerate(parts, start=1):
            (out / f"operator-policy-{n}.json").write_text(json.dumps(part, indent=2) + "\n")
            print(f"{out / f'operator-policy-{n}.json'}: {len(part['Statement'])} statements, "
                  f"{permissions.policy_size(part)} of {permissions.MANAGED_POLICY_MAX_CHARS} characters")
    else:
        print(json.dumps(parts, indent=2))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from .aws.clients import AwsTarget
    from .schedule import history, parse_s3_uri

    if args.runs_dir is None and args.bucket is None:
        args.runs_dir = "runs"
    found = history.history(runs_dir=args.runs_dir, bucket=parse_s3_uri(args.bucket) if args.bucket else None,
                            target=AwsTarget(args.region, args.endpoint_url),
                            expect_every=history.parse_interval(args.expect_every))
    table, figure = found.write(args.out or args.runs_dir or "history")
    print(found.text())
    print(f"table: {table}; figure (RTO over time and against table size): {figure}")
    print(found.attention_line())
    return EXIT_OK


def cmd_publish(args: argparse.Namespace) -> int:
    from .aws.clients import AwsTarget
    from .schedule import parse_s3_uri, publish

    done = publish.publish(args.run_dir, target=AwsTarget(args.region, args.endpoint_url),
                           bucket=parse_s3_uri(args.bucket) if args.bucket else None, namespace=args.namespace,
                           table=args.table)
    if done.location:
        print(f"uploaded {done.objects} file(s) of {args.run_dir} to {done.location} ({done.encryption['ServerSideEncryption']})")
    metrics = ", ".join(f"{k}={v:g}" for k, v in done.metrics.items())
    print(f"metrics {done.namespace} TableName={done.table}: {metrics}")
    return EXIT_OK


def cmd_adopt(args: argparse.Namespace) -> int:
    from .adopt import adopt
    from .aws.clients import AwsTarget

    result = adopt(AwsTarget(args.region, args.endpoint_url), args.table, args.format, out=args.out,
                   force=args.force, stack=args.stack_name)
    if result.path is None:
        sys.stdout.write(result.commented())
        return EXIT_OK
    print(f"{result.path}: {args.format} for table {result.table}; import it with:")
    print("\n".join(f"  {line}" for line in result.steps))
    for note in result.notes:
        print(f"note: {note}")
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------------


def _aws_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION or us-east-1)")
    p.add_argument("--endpoint-url", default=None, help="an endpoint such as the sandbox's; omit for real AWS")


def _redact_flags(p: argparse.ArgumentParser, *, default: bool, secret_arn: bool = True) -> None:
    p.add_argument("--redact-keys", action=argparse.BooleanOptionalAction, default=default,
                   help="show every primary key as its keyed digest (HMAC-SHA256 under the buffer stack's secret: the "
                        "MessageGroupId and the 'group' the handlers log) in the report, differences.csv and summary.json"
                        f" (default: {'on' if default else 'off'})")
    if secret_arn:
        p.add_argument("--key-digest-secret-arn", default=None, metavar="ARN",
                       help="the Secrets Manager secret keying the digest (default: the buffer stack's KeyDigestSecretArn "
                            "output); needed by --redact-keys when the run has no buffer stack")


def _switch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--switch", default=None, metavar="ssm:/PATH",
                   help="at cutover, once the writers stopped and the buffer drained, write the restored table's name "
                        "into this SSM parameter (String) the application reads; pitr-runbook cutover --undo puts it back")
    p.add_argument("--force-switch", action="store_true",
                   help="write the switch even if writes keep reaching the source or the buffer did not drain")


def _target_region_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target-region", default=None, metavar="REGION",
                   help="restore into this region of the source's partition (cross-region restore: SourceTableArn, an "
                        "SSE override; --automation notebook); the buffer stays next to the source (default: --region)")


def _verbose_flag(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: given before the command (pitr-runbook -v run) or after it (pitr-runbook run -v), never reset
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="show every log record on the console (papermill's, the kernels' output, Python warnings) and "
                        "log at DEBUG level; without it the console shows a line per step and errors, and the rest "
                        "goes to <run_dir>/run.log")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pitr-runbook", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level (see run --help)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("sandbox", help="run the local AWS stand-in until stopped")
    p.add_argument("--host", type=_loopback, default="127.0.0.1")
    p.add_argument("--port", type=_port, default=4566)
    p.add_argument("--restore-seconds", type=_positive_float, default=5.0, help="how long a restore stays CREATING")
    p.add_argument("--restorable-lag", type=_positive_float, default=0.0, help="LatestRestorableDateTime = now minus this")
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("traffic", help="put, update and delete items at a set rate")
    _aws_flags(p)
    p.add_argument("--table", required=True)
    p.add_argument("--rate", type=_positive_float, default=20.0, help="operations per second")
    p.add_argument("--seconds", type=_positive_float, default=10.0)
    p.add_argument("--key-space", type=int, default=500)
    p.add_argument("--large-fraction", type=_positive_float, default=0.0, help="share of puts that write ~350 KB items")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--create", action="store_true", help="create a demo table (PITR, stream) if it is missing")
    p.add_argument("--range-key", action="store_true", help="with --create: a hash+range table")
    p.set_defaults(func=cmd_traffic)

    def table_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--source-table", required=True)
        p.add_argument("--target-table", required=True)
        _aws_flags(p)
        p.add_argument("--run-dir", default=None, help="where the executed notebooks and reports go (default runs/<time>)")

    p = sub.add_parser("run", help="run the notebooks 00..05 in order with papermill")
    table_flags(p)
    p.add_argument("--restore-time", default="latest", help="'latest', ISO-8601 UTC, or a duration ago such as 15m")
    p.add_argument("--replay-from", default="restore_point", help="'restore_point' (catch-up) or ISO-8601 UTC after the restore time (rollback)")
    p.add_argument("--automation", choices=AUTOMATIONS, default=DEFAULT_AUTOMATION)
    p.add_argument("--execute", action="store_true", help="change AWS; without it every step shows its plan only")
    p.add_argument("--billing-mode-override", choices=("PROVISIONED", "PAY_PER_REQUEST"), default=None,
                   help="the restored table's billing mode (default: as the source; PAY_PER_REQUEST: replay never throttled by capacity)")
    p.add_argument("--read-capacity", type=int, default=None, help="with --write-capacity: the restored table's provisioned RCU")
    p.add_argument("--write-capacity", type=int, default=None, help="with --read-capacity: the restored table's provisioned WCU")
    p.add_argument("--applier-max-concurrency", type=int, default=None,
                   help="most applier invocations at once (2-1000, 0 = no cap; default: the template's, 10)")
    p.add_argument("--cfn-role-arn", default=None,
                   help="CloudFormation service role (infra/cfn-service-role.yaml) the buffer stack is created, "
                        "updated and deleted with; you then need only iam:PassRole on it")
    _target_region_flag(p)
    p.add_argument("--sse-kms-key-id", default=None, metavar="KEY",
                   help="a KMS key of the target's region to encrypt the restored table with (default: as the source; "
                        "across regions an AWS owned key, or the AWS managed key there if the source uses KMS)")
    _redact_flags(p, default=False)
    _switch_flags(p)
    _verbose_flag(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("reconcile", help="reconcile two existing tables (e.g. a restore made by AWS Backup)")
    table_flags(p)
    p.add_argument("--restore-time", default="latest", help="T, if known: keys last changed in [T, R) are explained")
    p.add_argument("--replay-from", default="restore_point", help="R, if known")
    p.add_argument("--segments", type=int, default=4)
    p.add_argument("--rate-limit", type=_positive_float, default=None, help="items per second read from each table")
    p.add_argument("--show-values", action="store_true", help="include item values in differences.csv (never in logs)")
    p.add_argument("--method", choices=("auto", "scan", "export"), default="auto",
                   help="scan: read both tables through the API; export: export both at one moment (PITR turned on for the "
                        "target if off) and compare the exports; auto (default): scan up to 5,000,000 items, else say so")
    p.add_argument("--export-bucket", default=None, help="with --method export (default: pitr-runbook-<account>-<region>, "
                                                         "created private and encrypted if missing)")
    p.add_argument("--athena-workgroup", default=None, help="with --athena-output: compare the exports on Athena")
    p.add_argument("--athena-output", default=None, metavar="S3_URI", help="s3://... for Athena's query results")
    _redact_flags(p, default=False)
    _verbose_flag(p)
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("drill", help="the whole runbook on the local sandbox with live traffic")
    p.add_argument("--mode", choices=("catchup", "rollback"), default="catchup")
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--automation", choices=AUTOMATIONS, default=DEFAULT_AUTOMATION)
    p.add_argument("--runs-dir", default="runs", help="where drills and history.jsonl go")
    p.add_argument("--run-dir", default=None)
    p.add_argument("--fault", action="append", metavar="NAME",
                   help="inject this sandbox fault during the drill (repeatable); --fault list prints them")
    _redact_flags(p, default=True, secret_arn=False)  # scheduled drills run this: keys redacted unless asked
    p.add_argument("--as-root", action="store_true",
                   help="run the notebooks with the sandbox's root credentials, not as the IAM user pitr-operator "
                        "that holds only infra/operator-policy.json")
    p.add_argument("--without-statement", action="append", metavar="SID",
                   help="drop this statement of infra/operator-policy.json from pitr-operator's policy (repeatable): "
                        "see what a missing permission does")
    p.add_argument("--record-calls", default=None, metavar="PATH",
                   help="append every AWS call the notebooks make to PATH, one '<service> <Operation>' a line")
    _target_region_flag(p)
    p.add_argument("--rto-target", type=_duration, default=None, metavar="DURATION",
                   help="the RTO the drill must meet (restore called -> target ACTIVE), seconds or e.g. 1h: the report "
                        "checks it, and a drill over it exits 1")
    p.add_argument("--switch", default=None, metavar="ssm:/PATH",
                   help="the SSM parameter the drill's writers read their table from, switched at cutover "
                        "(default ssm:/drill/orders/table-name; '' for none)")
    g = p.add_argument_group("a drill on an existing table (real AWS, or a running sandbox)")
    g.add_argument("--source-table", default=None, metavar="NAME",
                   help="restore this table (never changed) into <NAME>-drill-<UTC stamp>, reconcile it with the live "
                        "source, run --check files, record RTO and verdict, delete the scratch table")
    _aws_flags(g)
    g.add_argument("--restore-time", default="latest", metavar="T", help="'latest' (default), ISO-8601 UTC, or a duration ago")
    g.add_argument("--check", action="append", metavar="FILE",
                   help="a Python file whose check_*(ctx) functions check the restored table (repeatable)")
    g.add_argument("--check-timeout", type=_duration, default=300.0, metavar="SECONDS",
                   help="time budget of each check (default 300 s): a check still running then is TIMED_OUT")
    g.add_argument("--keep-for", type=_duration, default=0.0, metavar="DURATION",
                   help="keep the scratch table this long (e.g. 2h) for inspection; drill --cleanup deletes it once due "
                        "(default 0: deleted at once)")
    g.add_argument("--cleanup", action="store_true",
                   help="delete the drill tables (name <source>-drill-<stamp> AND tag pitr-runbook:drill=true) whose "
                        "pitr-runbook:expires is due, of --source-table only when given; nothing else")
    _verbose_flag(p)
    p.set_defaults(func=cmd_drill)

    p = sub.add_parser("cutover", help="--undo: put back the SSM parameter a run's cutover switched")
    p.add_argument("--undo", action="store_true", help="write back the value the parameter held before the switch "
                                                       "(or delete it if it did not exist)")
    p.add_argument("--run-dir", required=True, help="the run directory of the run that switched")
    p.add_argument("--force", action="store_true", help="undo even if someone changed the parameter since the switch")
    _aws_flags(p)
    p.set_defaults(func=cmd_cutover)

    p = sub.add_parser("lab", help="JupyterLab on the notebooks (127.0.0.1 only, with a token), for a guided restore")
    p.add_argument("--sandbox", action="store_true",
                   help="also start the sandbox with the demo table 'orders' under live traffic, and point the "
                        "notebooks at it (AWS_ENDPOINT_URL)")
    p.add_argument("--port", type=_port, default=8888, help="JupyterLab's port on 127.0.0.1 (default 8888)")
    p.add_argument("--run-dir", default=None, help="the notebooks' run directory (default runs/lab-<time>)")
    p.add_argument("--runs-dir", default="runs")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("policy", help="infra/operator-policy.json rendered for an account, as managed policies that fit IAM's size quota")
    p.add_argument("--account", required=True, help="the 12-digit account id")
    p.add_argument("--region", default=None, help="default us-east-1; the partition follows the region")
    p.add_argument("--target-region", default=None, help="the region restores go into (default: --region)")
    p.add_argument("--source-table", required=True, help="name or pattern (* ?) of the tables restored from")
    p.add_argument("--target-table", required=True, help="name or pattern of the tables restores create, e.g. 'orders-restored-*'")
    p.add_argument("--stack-pattern", default="pitr-*")
    p.add_argument("--cfn-role-name", default="cfn-service-role-pitr-runbook")
    p.add_argument("--operator", default="user/pitr-operator", help="user/NAME or role/NAME: who may simulate itself")
    p.add_argument("--trail-account", default=None,
                   help="when an organization trail logs this account: the organization's management account, "
                        "whose trail the CloudTrail check reads (default: --account)")
    p.add_argument("--switch-parameter", default=None, metavar="NAME",
                   help="the SSM parameter (or a pattern, * ?) cutover's --switch writes, e.g. /orders/table-name: "
                        "grants ssm:GetParameter/PutParameter/DeleteParameter on it alone (default: no SSM permission)")
    p.add_argument("--out-dir", default=None, help="write operator-policy-N.json files here instead of printing")
    p.set_defaults(func=cmd_policy)

    p = sub.add_parser("adopt", help="the table as it stands as a CloudFormation template or Terraform HCL, with the import steps")
    _aws_flags(p)
    p.add_argument("--table", required=True)
    p.add_argument("--format", choices=("cloudformation", "terraform"), required=True)
    p.add_argument("--out", default=None, help="write here (default: print, the steps as comments)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--stack-name", default=None, help="CloudFormation: the new stack's name in the steps (default: from the table's)")
    p.set_defaults(func=cmd_adopt)

    p = sub.add_parser("history", help="the drills so far per table, a figure of RTO, and the tables that need a look")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--runs-dir", default=None, help="where drills wrote their run directories (default: runs)")
    source.add_argument("--bucket", default=None, metavar="S3_URI", help="s3://BUCKET/PREFIX where publish uploaded them")
    _aws_flags(p)
    p.add_argument("--out", default=None, help="where history.csv and history.png go (default: the runs dir, or ./history)")
    p.add_argument("--expect-every", default="7d", help="a table without a drill for longer is overdue (default 7d)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("publish", help="a drill's run directory to S3 and its metrics to CloudWatch (after a scheduled drill)")
    p.add_argument("--run-dir", required=True, help="the drill's run directory")
    p.add_argument("--bucket", default=None, metavar="S3_URI", help="s3://BUCKET/PREFIX: upload the run directory there")
    p.add_argument("--namespace", default="PITRRunbook", help="CloudWatch namespace of the metrics (default PITRRunbook)")
    p.add_argument("--table", default=None, help="the source table, when the run directory names none (a drill stopped early)")
    _aws_flags(p)
    p.set_defaults(func=cmd_publish)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from . import console

    console.setup_logging(verbose=args.verbose)
    if args.command in ("run", "reconcile") and args.run_dir is None:
        from datetime import datetime, timezone

        args.run_dir = f"runs/{args.command}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    try:
        return int(args.func(args) or 0)
    except RunbookError as exc:
        sys.stderr.write(f"pitr-runbook: {_one_line(exc)}\n")
        return exc.exit_code
    except ClientError as exc:
        denied = AccessDeniedError.from_client_error(exc)
        if denied is None:
            raise
        sys.stderr.write(f"pitr-runbook: {_one_line(denied)}\n")
        return denied.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("pitr-runbook: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
