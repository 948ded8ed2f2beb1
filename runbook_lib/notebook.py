"""What every notebook does in its first code cell: one context from the common parameters."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import run_state
from .aws.clients import AwsTarget
from .automation import AUTOMATIONS, DEFAULT as DEFAULT_AUTOMATION, check_automation  # noqa: F401 - AUTOMATIONS: kept importable from here
from .errors import InputError



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

    def load(self) -> run_state.RunState:
        """The run state as it is now (read again at every call: another step may have changed it)."""
        return run_state.load(self.run_dir)

    def edit(self) -> Iterator[run_state.RunState]:
        """``with ctx.edit() as state: ...``: read, change, write atomically."""
        return run_state.edit(self.run_dir)

    def banner(self) -> str:
        where = self.target.endpoint_url or f"AWS {self.target.region_name}"
        mode = "EXECUTE: changes will be made" if self.execute else "DRY RUN: nothing will be changed"
        return f"{self.source_table} -> {self.target_table} on {where} | automation={self.automation} | {mode} | run_dir={self.run_dir}"


def context(
    *,
    source_table: str,
    target_table: str,
    restore_time: str = "latest",
    replay_from: str = "restore_point",
    region: str | None = None,
    endpoint_url: str | None = None,
    run_dir: str = "runs/manual",
    execute: bool = False,
    automation: str = DEFAULT_AUTOMATION,
) -> Context:
    check_automation(automation)
    if not isinstance(execute, bool):
        raise InputError(f"execute must be True or False, not {execute!r}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", force=False)
    for noisy in ("botocore", "urllib3", "boto3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import pandas as pd

        pd.set_option("display.max_colwidth", 200)
        pd.set_option("display.width", 200)
    except ImportError:  # pragma: no cover
        pass
    path = Path(run_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        target=AwsTarget(region=region, endpoint_url=endpoint_url or None),
        source_table=source_table,
        target_table=target_table,
        restore_time=restore_time,
        replay_from=replay_from,
        run_dir=path,
        execute=execute,
        automation=automation,
    )
    with ctx.edit() as state:
        state.params = run_state.Params(
            source_table=source_table, target_table=target_table, region=ctx.target.region_name,
            endpoint_url=ctx.target.endpoint_url, automation=automation, restore_time=restore_time,
            replay_from=replay_from,
        )  # fmt: skip
    return ctx
