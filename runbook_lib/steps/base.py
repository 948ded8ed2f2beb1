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
    """What every step does first: its parameters checked (:func:`resolve`), and the kernel's
    run.log records labelled with the step from here on."""
    from ..console import kernel_log_step

    arguments = resolve(step, declared, given)
    kernel_log_step(step)
    return arguments


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
        in a notebook (``result.figures()``). None by default."""
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
