"""The user's own checks on the restored table: ``--check FILE`` (repeatable).

Every top-level function named ``check_*`` in each file is a check. It is called with one argument,
a :class:`CheckContext`: ``ctx.table`` (a boto3 ``Table`` of the restored scratch table),
``ctx.table_name``, ``ctx.source_table``, ``ctx.restore_time`` (T, an aware UTC datetime),
``ctx.region`` (and ``ctx.endpoint_url``, None on AWS). It passes by returning, fails by raising
``AssertionError`` (its message is the result's message), and times out when it runs longer than
its budget (``--check-timeout``, seconds per check). Any other exception is a failure too, reported
with its type. The results are named as AWS Backup names restore-testing validation results
(``PutRestoreValidationResult``'s ``ValidationStatus``: SUCCESSFUL, FAILED, TIMED_OUT; AWS Backup API
Reference).

Each check runs in a process of its own (``multiprocessing``, spawned: a fresh interpreter, no state
shared with the drill or with another check), so a check that hangs is stopped when its budget is
spent and cannot hold the drill. The files are read (parsed) before the drill calls AWS, so a file
that does not parse or holds no check stops the drill at once (exit 2) instead of after a restore.

```python
# checks.py
def check_orders_have_a_customer(ctx):
    page = ctx.table.scan(Limit=100)
    assert all("customer" in item for item in page["Items"]), "an order without a customer"
```
"""

from __future__ import annotations

import ast
import importlib.util
import logging
import multiprocessing
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from .. import times
from ..errors import InputError

log = logging.getLogger(__name__)

SUCCESSFUL, FAILED, TIMED_OUT = "SUCCESSFUL", "FAILED", "TIMED_OUT"
STATUSES = (SUCCESSFUL, FAILED, TIMED_OUT)
#: seconds a check gets by default
DEFAULT_TIMEOUT = 300.0
#: seconds a check's process gets to start (a fresh interpreter importing boto3 and the file)
START_TIMEOUT = 120.0
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class CheckContext:
    """What a check is given."""

    table: Any  # boto3.resources.factory.dynamodb.Table
    table_name: str
    source_table: str
    restore_time: datetime
    region: str
    endpoint_url: str | None = None


@dataclass(frozen=True)
class Check:
    file: str
    name: str

    @property
    def label(self) -> str:
        return f"{Path(self.file).name}::{self.name}"


@dataclass(frozen=True)
class CheckResult:
    name: str
    file: str
    status: str
    message: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == SUCCESSFUL

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find_checks(paths: Sequence[str | Path]) -> list[Check]:
    """Every top-level ``check_*`` function of each file, in file order. Raises ``InputError`` for a
    missing file, one that does not parse, or one without any check. Nothing is executed."""
    checks: list[Check] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise InputError(f"check file {path} does not exist: give a Python file with check_* functions")
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            raise InputError(f"check file {path} does not parse (line {exc.lineno}: {exc.msg}): fix it") from None
        names = [node.name for node in tree.body
                 if isinstance(node, ast.FunctionDef) and node.name.startswith("check_")]
        if not names:
            raise InputError(f"check file {path} has no top-level function named check_*: a check is "
                             "def check_something(ctx): ... assert ...")
        checks += [Check(str(path.resolve()), name) for name in names]
    return checks


def run_checks(checks: Sequence[Check], *, table_name: str, source_table: str, restore_time: datetime,
               region: str, endpoint_url: str | None, timeout: float = DEFAULT_TIMEOUT,
               start_timeout: float = START_TIMEOUT) -> list[CheckResult]:
    """Run each check in its own process, one after the other, each within ``timeout`` seconds."""
    return [run_check(check, table_name=table_name, source_table=source_table, restore_time=restore_time,
                      region=region, endpoint_url=endpoint_url, timeout=timeout, start_timeout=start_timeout)
            for check in checks]


def run_check(check: Check, *, table_name: str, source_table: str, restore_time: datetime, region: str,
              endpoint_url: str | None, timeout: float, start_timeout: float = START_TIMEOUT) -> CheckResult:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(
        target=_child, name=f"check-{check.name}", daemon=True,
        args=(check.file, check.name, table_name, source_table, times.iso(restore_time), region, endpoint_url, child),
    )
    process.start()
    child.close()
    try:
        if not parent.poll(start_timeout):
            return _result(check, TIMED_OUT, f"the check's process did not start within {start_timeout:g} s", 0.0)
        started = parent.recv()
        if started[0] != "started":  # the file failed to import
            return _result(check, *started[1:])
        clock = time.monotonic()
        if not parent.poll(timeout):
            return _result(check, TIMED_OUT, f"still running after its budget of {timeout:g} s: stopped",
                           time.monotonic() - clock)
        status, message, seconds = parent.recv()
        return _result(check, status, message, seconds)
    except EOFError:
        process.join(5)
        return _result(check, FAILED, f"the check's process ended (exit code {process.exitcode}) without a result", 0.0)
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        parent.close()


def _result(check: Check, status: str, message: str, seconds: float) -> CheckResult:
    text = " ".join(str(message).split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 3] + "..."
    result = CheckResult(check.name, check.file, status, text, round(seconds, 3))
    log.info("check %s: %s in %.1f s", check.label, status, seconds)  # the message is the user's: not logged
    return result


def _failure(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        return str(exc) or "assertion failed (no message)"
    return f"{type(exc).__name__}: {exc}"


def _child(file: str, name: str, table_name: str, source_table: str, restore_time: str, region: str,
           endpoint_url: str | None, conn) -> None:  # pragma: no cover - runs in the check's process
    try:
        spec = importlib.util.spec_from_file_location(f"pitr_runbook_checks_{Path(file).stem}", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        function = getattr(module, name)
        from ..aws.clients import AwsTarget

        target = AwsTarget(region, endpoint_url)
        context = CheckContext(target.resource("dynamodb").Table(table_name), table_name, source_table,
                               times.parse_iso(restore_time), target.region_name, target.endpoint_url)
    except BaseException as exc:  # noqa: BLE001 - the file's own error is the check's result
        conn.send(("error", FAILED, f"the check file could not be loaded: {_failure(exc)}", 0.0))
        return
    conn.send(("started",))
    clock = time.monotonic()
    try:
        function(context)
    except BaseException as exc:  # noqa: BLE001
        log.debug("check %s failed: %s", name, traceback.format_exc(limit=1))
        conn.send((FAILED, _failure(exc), time.monotonic() - clock))
        return
    conn.send((SUCCESSFUL, "", time.monotonic() - clock))
