"""What every step shares: its declared parameters and the result it returns.

A step is a module with ``STEP`` (the notebook's name), ``PARAMETERS`` (name, type, default and
help of each parameter of its own, in the order of the notebook's ``parameters`` cell, after the
:data:`COMMON` ones) and ``run(ctx, **parameters) -> StepResult``. ``run`` owns the ``execute``
switch: without it the step shows its plan and changes nothing. The notebook's ``parameters`` cell,
the CLI and the runner are checked against ``PARAMETERS`` (``tests/notebooks/test_step_parameters.py``).
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Parameter:
    name: str
    type: type
    default: Any
    help: str

    def check(self, value: Any, step: str) -> Any:
        """``value`` if it has the declared type (None where the default is None; an int for a float)."""
        if value is None and self.default is None:
            return None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if self.type is int and isinstance(value, bool):
            raise InputError(f"{step}: parameter {self.name} must be {self.type.__name__}, not {value!r}")
        if not isinstance(value, self.type):
            raise InputError(
                f"{step}: parameter {self.name} must be {self.type.__name__}"
                f"{' or None' if self.default is None else ''}, not {type(value).__name__} {value!r}"
            )
        return value

    def cell_line(self) -> str:
        """This parameter as a line of the notebook's ``parameters`` cell."""
        return f"{self.name}: {self.type.__name__} = {_literal(self.default)}  # help: {self.help}"


def _literal(value: Any) -> str:
    import json

    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


#: the parameters every notebook takes first (``notebook.context`` reads them)
COMMON: tuple[Parameter, ...] = (
    Parameter("source_table", str, "orders", "the table to restore from (PITR and a stream on)"),
    Parameter("target_table", str, "orders-restored", "the new table the restore creates (must not exist)"),
    Parameter("restore_time", str, "latest",
              '"latest", ISO-8601 UTC such as "2026-11-28T04:00:00Z", or a duration ago such as "15m"'),
    Parameter("replay_from", str, "restore_point", '"restore_point" (catch-up) or ISO-8601 UTC after restore_time (rollback)'),
    Parameter("region", str, None, "AWS region; None: AWS_REGION or us-east-1"),
    Parameter("endpoint_url", str, None, "None: real AWS; a URL: the local sandbox or another emulator"),
    Parameter("run_dir", str, "runs/manual", "where the run state, executed notebooks and reports go"),
    Parameter("execute", bool, False, "True changes AWS; False shows the plan and changes nothing"),
    Parameter("automation", str, "notebook",
              '"notebook" (step 03 turns replay on) or "event" (CloudTrail -> EventBridge -> Step Functions)'),
    Parameter("target_region", str, None, "the region to restore into; None: the source's region. Another region of "
              "the same partition restores across regions (SourceTableArn, an SSE override; automation notebook)"),
)  # fmt: skip


class Arguments(dict):
    """A step's parameters with their declared defaults filled in, readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def resolve(step: str, declared: Sequence[Parameter], given: Mapping[str, Any]) -> Arguments:
    """``given`` checked against ``declared``: unknown names and wrong types raise ``InputError``."""
    by_name = {p.name: p for p in declared}
    unknown = sorted(set(given) - set(by_name))
    if unknown:
        raise InputError(f"{step} takes no parameter {', '.join(unknown)}: it takes {', '.join(by_name) or 'none'}")
    return Arguments({p.name: p.check(given[p.name], step) if p.name in given else p.default for p in declared})


def begin(ctx: Any, step: str, declared: Sequence[Parameter], given: Mapping[str, Any]) -> Arguments:
    """What every step does first: its parameters checked (:func:`resolve`), the kernel's run.log
    records labelled with the step from here on, and the step's :class:`AuditRecord` made its first
    output (in a notebook) and logged."""
    from ..console import kernel_log_step
    from ..progress import in_notebook

    arguments = resolve(step, declared, given)
    kernel_log_step(step)
    record = audit_record(ctx, step, arguments)
    log.info("%s", record.line())
    if in_notebook():
        from IPython.display import display

        display(record)
    return arguments


@dataclass(frozen=True)
class AuditRecord:
    """Who ran a step, when, with which version of the runbook, against what, with which parameters:
    the first output of every step, so that an executed notebook is an audit record."""

    step: str
    caller: str  # sts:GetCallerIdentity's Arn, or why it is unknown
    account: str | None
    started: Any  # datetime, UTC
    version: str
    where: str
    mode: str
    parameters: dict[str, Any]

    def when(self) -> str:
        return f"{self.started:%Y-%m-%d %H:%M:%S} UTC"

    def line(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())
        return (f"{self.step} run by {self.caller} at {self.when()} with pitr-runbook {self.version} on {self.where}; "
                f"{self.mode}; parameters: {params}")

    def __repr__(self) -> str:
        params = "\n".join(f"  {k} = {v!r}" for k, v in self.parameters.items())
        return (f"{self.step} run by {self.caller} at {self.when()} with pitr-runbook {self.version}\n"
                f"on {self.where}: {self.mode}\nparameters:\n{params}")

    def _repr_html_(self) -> str:
        e = html.escape
        colour = "#cf222e" if self.mode.startswith("EXECUTE") else "#1a7f37"
        rows = "".join(f"<tr><td style='text-align:left'><code>{e(k)}</code></td>"
                       f"<td style='text-align:left'><code>{e(repr(v))}</code></td></tr>" for k, v in self.parameters.items())
        return (f"<div class='pitr-audit' style='border-left:4px solid #0969da;padding:2px 8px;margin:4px 0'>"
                f"<b>{e(self.step)}</b> run by <code>{e(self.caller)}</code> at <b>{e(self.when())}</b> with "
                f"pitr-runbook {e(self.version)} on {e(self.where)}: <b style='color:{colour}'>{e(self.mode)}</b>"
                f"<details open><summary>parameters</summary><table>{rows}</table></details></div>")


def caller_identity(target: Any) -> tuple[str, str | None]:
    """(Arn, Account) of the credentials in use (``sts:GetCallerIdentity``, which needs no
    permission: "No permissions are required to perform this operation", AWS STS API Reference,
    https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html); when the call
    fails, ``unknown (<error code>)`` and None: the record says so, the step goes on to fail or not
    on its own calls."""
    from botocore.exceptions import BotoCoreError, ClientError

    from ..aws.codes import error_code

    try:
        identity = target.client("sts").get_caller_identity()
    except ClientError as exc:
        return f"unknown ({error_code(exc)})", None
    except BotoCoreError as exc:
        return f"unknown ({type(exc).__name__})", None
    return identity["Arn"], identity.get("Account")


def audit_record(ctx: Any, step: str, arguments: Mapping[str, Any]) -> AuditRecord:
    from .. import __version__, times

    caller, account = caller_identity(ctx.target)
    common = {
        "source_table": ctx.source_table, "target_table": ctx.target_table, "restore_time": ctx.restore_time,
        "replay_from": ctx.replay_from, "region": ctx.target.region_name, "endpoint_url": ctx.target.endpoint_url,
        "run_dir": str(ctx.run_dir), "execute": ctx.execute, "automation": ctx.automation,
        "target_region": getattr(ctx, "target_region", None),
    }  # fmt: skip
    where = ctx.target.endpoint_url or f"AWS {ctx.target.region_name}"
    if account and not ctx.target.endpoint_url:
        where += f", account {account}"
    mode = "EXECUTE: changes will be made" if ctx.execute else "DRY RUN: nothing will be changed"
    started = times.utcnow().replace(microsecond=0)
    return AuditRecord(step, caller, account, started, __version__, where, mode, {**common, **arguments})


def pick(declared: Sequence[Parameter], namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The declared parameters found in ``namespace`` (a notebook's ``globals()``)."""
    return {p.name: namespace[p.name] for p in declared if p.name in namespace}


def parameters_cell(declared: Sequence[Parameter]) -> str:
    """The text of a notebook's ``parameters`` cell: the common parameters, then the step's own."""
    return "\n".join(p.cell_line() for p in (*COMMON, *declared))


@dataclass(repr=False)
class StepResult:
    """What a step did (or, in a dry run, would do): one line, a table, and what to show after it.

    In a notebook it shows itself (``_repr_html_``): the outcome, then :meth:`to_dataframe`, then
    the tables of :meth:`extra_tables`. ``str()`` is the one-line outcome.
    """

    step: str
    executed: bool
    outcome: str
    warnings: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return []

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(self.rows())

    def extra_tables(self) -> list[tuple[str, Any]]:
        """(title, DataFrame) shown under the main table."""
        return []

    def figures(self):
        """The figures of this step, the report's (``report.Figures``): each shows as a PNG image
        in a notebook (``result.figures()``). No figure by default."""
        from ..report import Figures

        return Figures()

    def __str__(self) -> str:
        return f"{self.step}: {self.outcome}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    def warnings_html(self) -> list[str]:
        """Each warning as a warning box (it needs the operator's action)."""
        from ..notebook import warning_html

        return [warning_html(w) for w in self.warnings]

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.step)}</b>: {html.escape(self.outcome)}</p>", *self.warnings_html()]
        frame = self.to_dataframe()
        if not frame.empty:
            parts.append(frame.to_html(index=False))
        for title, table in self.extra_tables():
            if table is not None and not table.empty:
                parts.append(f"<p>{html.escape(title)}</p>" + table.to_html(index=False))
        return "\n".join(parts)

    def announce(self) -> StepResult:
        """Log the one-line outcome and each warning (run.log); outside a notebook, print them too.
        In a notebook the result shows them itself (``_repr_html_``): printed, they would show twice."""
        from ..notebook import SHOWN
        from ..progress import in_notebook

        for warning in self.warnings:
            log.warning("%s: %s", self.step, warning, extra={SHOWN: True})
        log.info("%s", self)
        if not in_notebook():
            for warning in self.warnings:
                print("WARNING:", warning, flush=True)
            print(str(self), flush=True)
        return self


def item_rows(pairs: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"item": k, "value": v} for k, v in pairs]
