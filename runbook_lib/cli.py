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

from . import cli_args
from .automation import DEFAULT as DEFAULT_AUTOMATION
from .cli_args import EXIT_OPERATOR
from .errors import AccessDeniedError, RunbookError

log = logging.getLogger("runbook_lib.cli")

EXIT_OK, EXIT_FAIL, EXIT_INTERRUPTED = 0, 1, 130


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
        runs_dir=args.runs_dir, redact_keys=args.redact_keys, verbose=args.verbose, with_buffer=args.with_buffer,
        cfn_role_arn=args.cfn_role_arn)
    if result.error:
        sys.stderr.write(f"pitr-runbook: {_one_line(result.error)}\n")
    return result.exit_code


def cmd_drill(args: argparse.Namespace) -> int:
    from .drill import drill, fault_table

    if (args.with_buffer or args.cfn_role_arn) and not args.source_table:
        from .errors import InputError
        raise InputError("--with-buffer (and --cfn-role-arn) run the runbook on a scratch copy of --source-table: give "
                         "--source-table (the demo drill always deploys the buffer)")
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


COMMANDS = {
    "sandbox": cmd_sandbox,
    "traffic": cmd_traffic,
    "run": cmd_run,
    "reconcile": cmd_reconcile,
    "drill": cmd_drill,
    "cutover": cmd_cutover,
    "lab": cmd_lab,
    "policy": cmd_policy,
    "adopt": cmd_adopt,
    "history": cmd_history,
    "publish": cmd_publish,
}


def build_parser():
    """The parser of every command, each bound to its handler here."""
    return cli_args.build_parser(COMMANDS)


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
