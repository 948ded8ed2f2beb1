"""What every notebook does in its first code cell: one context from the common parameters.

In a notebook's kernel the context also sets up what the cells show (:func:`context`): the library's
log records go to ``<run_dir>/run.log`` (``console.kernel_logging``), never into a cell, except
this runbook's own warnings, which need the operator's action and are shown where they arose, as
a warning box (:class:`NotebookWarnings`, :func:`warning_html`).
"""

from __future__ import annotations

import html
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import run_state
from .aws.clients import AwsTarget
from .automation import AUTOMATIONS, DEFAULT as DEFAULT_AUTOMATION, check_automation  # noqa: F401 - AUTOMATIONS: kept importable from here
from .errors import InputError



#: the notebooks' default run_dir; where `pitr-runbook lab` started the kernels (:data:`RUN_DIR_ENV`),
#: a notebook left at it uses the run directory the lab prepared
DEFAULT_RUN_DIR = "runs/manual"
RUN_DIR_ENV = "PITR_RUNBOOK_RUN_DIR"

#: a log record's attribute: the cell shows this warning already (a step result's), no box for it
SHOWN = "pitr_shown"
_WARNING_STYLE = ("border-left: 4px solid #bf8700; background: #fff8c5; color: #3b2300; padding: 4px 8px; "
                  "margin: 4px 0")


def warning_html(message: str) -> str:
    """A warning that needs the operator's action, styled as one (an amber box)."""
    return f'<div class="pitr-warning" style="{_WARNING_STYLE}">&#9888; <b>WARNING</b>: {html.escape(message)}</div>'


def show_warning(message: str) -> None:
    """Show ``message`` as a warning box in the cell that runs (``text/plain``: ``WARNING: ...``)."""
    from IPython.display import display

    display({"text/html": warning_html(message), "text/plain": f"WARNING: {message}"}, raw=True)


class NotebookWarnings(logging.Handler):
    """This runbook's warnings and errors (``runbook_lib.*``, WARNING and up), shown as warning boxes
    in the cell that logged them; everything else is in run.log only."""

    OWN = "runbook_lib"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        own = record.name == self.OWN or record.name.startswith(self.OWN + ".")
        if not own or getattr(record, SHOWN, False):
            return
        try:
            show_warning(record.getMessage())
        except Exception:  # noqa: BLE001 - a display failing must not fail the step; run.log has it
            self.handleError(record)


@dataclass(frozen=True)
class Context:
    target: AwsTarget
    source_table: str
    target_table: str
    restore_time: str
    replay_from: str
    run_dir: Path
    execute: bool
    automation: str
    #: the region the target table is restored into; None: the source's (``target``'s)
    target_region: str | None = None

    @property
    def destination(self) -> AwsTarget:
        """Where the target table lives (``aws.regions.destination``): the restore call, the restored
        table, its settings; ``target`` stays the source's side (its stream, the buffer stack)."""
        from .aws.regions import destination

        return destination(self.target, self.target_region)

    def load(self) -> run_state.RunState:
        """The run state as it is now (read again at every call: another step may have changed it)."""
        return run_state.load(self.run_dir)

    def edit(self) -> Iterator[run_state.RunState]:
        """``with ctx.edit() as state: ...``: read, change, write atomically."""
        return run_state.edit(self.run_dir)

    def banner(self) -> str:
        where = self.target.endpoint_url or f"AWS {self.target.region_name}"
        mode = "EXECUTE: changes will be made" if self.execute else "DRY RUN: nothing will be changed"
        if self.target_region:
            where += f" (target in {self.target_region})"
        return f"{self.source_table} -> {self.target_table} on {where} | automation={self.automation} | {mode} | run_dir={self.run_dir}"


def context(
    *,
    source_table: str,
    target_table: str,
    restore_time: str = "latest",
    replay_from: str = "restore_point",
    region: str | None = None,
    endpoint_url: str | None = None,
    run_dir: str = DEFAULT_RUN_DIR,
    execute: bool = False,
    automation: str = DEFAULT_AUTOMATION,
    target_region: str | None = None,
) -> Context:
    check_automation(automation)
    if not isinstance(execute, bool):
        raise InputError(f"execute must be True or False, not {execute!r}")
    try:
        import pandas as pd

        pd.set_option("display.max_colwidth", 200)
        pd.set_option("display.width", 200)
    except ImportError:  # pragma: no cover
        pass
    if run_dir == DEFAULT_RUN_DIR and os.environ.get(RUN_DIR_ENV):
        run_dir = os.environ[RUN_DIR_ENV]  # the run directory `pitr-runbook lab` prepared
    path = Path(run_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    from .progress import in_notebook

    if in_notebook():  # a script keeps its own logging (only the CLI configures it)
        from .console import kernel_logging

        kernel_logging(path, extra=[NotebookWarnings()])
    from .aws.regions import check_target_region

    source_side = AwsTarget(region=region, endpoint_url=endpoint_url or None)
    target_region = check_target_region(source_side.region_name, target_region, automation=automation)
    ctx = Context(
        target=source_side,
        source_table=source_table,
        target_table=target_table,
        restore_time=restore_time,
        replay_from=replay_from,
        run_dir=path,
        execute=execute,
        automation=automation,
        target_region=target_region,
    )
    with ctx.edit() as state:
        state.params = run_state.Params(
            source_table=source_table, target_table=target_table, region=ctx.target.region_name,
            endpoint_url=ctx.target.endpoint_url, automation=automation, restore_time=restore_time,
            replay_from=replay_from, target_region=target_region,
        )  # fmt: skip
    return ctx
