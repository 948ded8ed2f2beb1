"""``pitr-runbook``: maps flags onto the Python API, and errors onto exit codes, in one place.

Exit codes: 0 success (verdict PASS), 1 reconciliation FAIL, 2 operator error (bad input, failed
precondition: one line on stderr, nothing changed), 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any, Callable, Sequence

from .errors import RunbookError

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
    from .config import AwsTarget
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


# -- parser ----------------------------------------------------------------------------------------


def _aws_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", default=None, help="AWS region (default: AWS_REGION or us-east-1)")
    p.add_argument("--endpoint-url", default=None, help="an endpoint such as the sandbox's; omit for real AWS")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pitr-runbook", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
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

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


#: commands defined next to their own code register here (run, drill, reconcile, history)
_EXTRA_COMMANDS: list[Callable[[Any], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except RunbookError as exc:
        sys.stderr.write(f"pitr-runbook: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("pitr-runbook: interrupted\n")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
