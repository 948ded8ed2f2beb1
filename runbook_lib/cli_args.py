"""The flags of every ``pitr-runbook`` command: the parser, the shared flag groups and the value
checks (an argument error is one line and exit status 2). The handlers live in :mod:`runbook_lib.cli`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping

from .automation import AUTOMATIONS, DEFAULT as DEFAULT_AUTOMATION

EXIT_OPERATOR = 2
DESCRIPTION = "pitr-runbook: restore a DynamoDB table to a point in time, keep the writes made meanwhile, prove the result"


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


def _duration(text: str) -> float:
    from .errors import InputError
    from .times import parse_duration

    try:
        return parse_duration(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc))


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


def build_parser(commands: Mapping[str, Callable[[argparse.Namespace], int]]) -> argparse.ArgumentParser:
    """Every command's flags; ``commands`` maps each command to its handler (:mod:`runbook_lib.cli`)."""
    parser = _Parser(prog="pitr-runbook", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level (see run --help)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("sandbox", help="run the local AWS stand-in until stopped")
    p.add_argument("--host", type=_loopback, default="127.0.0.1")
    p.add_argument("--port", type=_port, default=4566)
    p.add_argument("--restore-seconds", type=_positive_float, default=5.0, help="how long a restore stays CREATING")
    p.add_argument("--restorable-lag", type=_positive_float, default=0.0, help="LatestRestorableDateTime = now minus this")
    p.set_defaults(func=commands["sandbox"])

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
    p.set_defaults(func=commands["traffic"])

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
    p.set_defaults(func=commands["run"])

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
    p.set_defaults(func=commands["reconcile"])

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
    g.add_argument("--with-buffer", action="store_true",
                   help="run the whole runbook on the scratch table: the buffer on the source's stream (it needs one with "
                        "NEW_AND_OLD_IMAGES), catch-up replay, reconciliation with the live writers, a forced cutover "
                        "(no switch) and the stack's teardown")
    g.add_argument("--cfn-role-arn", default=None, metavar="ARN",
                   help="with --with-buffer: the CloudFormation service role (infra/cfn-service-role.yaml) the buffer stack "
                        "is deployed and deleted with; the operator policy allows CreateStack/DeleteStack only with it")
    g.add_argument("--cleanup", action="store_true",
                   help="delete the drill tables (name <source>-drill-<stamp> AND tag pitr-runbook:drill=true) whose "
                        "pitr-runbook:expires is due, and the buffer stacks of drill tables that are gone, of --source-table only "
                        "when given; nothing else")
    _verbose_flag(p)
    p.set_defaults(func=commands["drill"])

    p = sub.add_parser("cutover", help="--undo: put back the SSM parameter a run's cutover switched")
    p.add_argument("--undo", action="store_true", help="write back the value the parameter held before the switch "
                                                       "(or delete it if it did not exist)")
    p.add_argument("--run-dir", required=True, help="the run directory of the run that switched")
    p.add_argument("--force", action="store_true", help="undo even if someone changed the parameter since the switch")
    _aws_flags(p)
    p.set_defaults(func=commands["cutover"])

    p = sub.add_parser("lab", help="JupyterLab on the notebooks (127.0.0.1 only, with a token), for a guided restore")
    p.add_argument("--sandbox", action="store_true",
                   help="also start the sandbox with the demo table 'orders' under live traffic, and point the "
                        "notebooks at it (AWS_ENDPOINT_URL)")
    p.add_argument("--port", type=_port, default=8888, help="JupyterLab's port on 127.0.0.1 (default 8888)")
    p.add_argument("--run-dir", default=None, help="the notebooks' run directory (default runs/lab-<time>)")
    p.add_argument("--runs-dir", default="runs")
    p.set_defaults(func=commands["lab"])

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
    p.set_defaults(func=commands["policy"])

    p = sub.add_parser("adopt", help="the table as it stands as a CloudFormation template or Terraform HCL, with the import steps")
    _aws_flags(p)
    p.add_argument("--table", required=True)
    p.add_argument("--format", choices=("cloudformation", "terraform"), required=True)
    p.add_argument("--out", default=None, help="write here (default: print, the steps as comments)")
    p.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    p.add_argument("--stack-name", default=None, help="CloudFormation: the new stack's name in the steps (default: from the table's)")
    p.set_defaults(func=commands["adopt"])

    p = sub.add_parser("history", help="the drills so far per table, a figure of RTO, and the tables that need a look")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--runs-dir", default=None, help="where drills wrote their run directories (default: runs)")
    source.add_argument("--bucket", default=None, metavar="S3_URI", help="s3://BUCKET/PREFIX where publish uploaded them")
    _aws_flags(p)
    p.add_argument("--out", default=None, help="where history.csv and history.png go (default: the runs dir, or ./history)")
    p.add_argument("--expect-every", default="7d", help="a table without a drill for longer is overdue (default 7d)")
    p.set_defaults(func=commands["history"])

    p = sub.add_parser("publish", help="a drill's run directory to S3 and its metrics to CloudWatch (after a scheduled drill)")
    p.add_argument("--run-dir", required=True, help="the drill's run directory")
    p.add_argument("--bucket", default=None, metavar="S3_URI", help="s3://BUCKET/PREFIX: upload the run directory there")
    p.add_argument("--namespace", default="PITRRunbook", help="CloudWatch namespace of the metrics (default PITRRunbook)")
    p.add_argument("--table", default=None, help="the source table, when the run directory names none (a drill stopped early)")
    _aws_flags(p)
    p.set_defaults(func=commands["publish"])
    return parser


