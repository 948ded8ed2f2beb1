"""Chain the notebooks under papermill: what ``pitr-runbook run`` and the drills execute.

Inputs are checked here, in Python, before any notebook runs, so bad input exits 2 with one line
and nothing created in AWS. Each executed notebook is kept in the run directory, failed ones too
(papermill writes the output notebook, with the error cell marked, before it raises). The run
stops at the first failing step and names it.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from . import console
from . import run_state
from . import times
from .automation import DEFAULT as DEFAULT_AUTOMATION, check_automation
from .errors import AccessDeniedError, InputError, RunbookError
from .restore import validate_table_names
from .times import parse_times

log = logging.getLogger(__name__)

STEPS = ("00_preflight", "01_deploy_buffer", "02_restore", "03_monitor", "04_reconcile", "05_cutover")  # steps.BY_NOTEBOOK
#: exceptions raised inside a notebook that mean "operator error", by class name
_OPERATOR_ERRORS = {"InputError", "PreconditionError", "RestoreError", "BufferError", "CutoverError", "RunbookError",
                    "AccessDeniedError"}
_AWS_ERRORS = {"ClientError", "ParamValidationError", "NoCredentialsError", "EndpointConnectionError", "NoRegionError"}


def notebooks_dir() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "notebooks", here / "notebooks"):
        if candidate.is_dir():
            return candidate
    raise RunbookError("the notebooks folder was not found next to runbook_lib: reinstall pitr-runbook from its repository")


@dataclass(frozen=True)
class RunParams:
    source_table: str
    target_table: str
    restore_time: str = "latest"
    replay_from: str = "restore_point"
    region: str | None = None
    endpoint_url: str | None = None
    run_dir: str = "runs/manual"
    execute: bool = False
    automation: str = DEFAULT_AUTOMATION
    #: the region the target table is restored into (None: the source's)
    target_region: str | None = None
    #: extra parameters per step, e.g. {"03_monitor": {"sample_seconds": 1}}
    step_parameters: dict[str, dict[str, Any]] = field(default_factory=dict)

    def common(self) -> dict[str, Any]:
        return {
            "source_table": self.source_table,
            "target_table": self.target_table,
            "restore_time": self.restore_time,
            "replay_from": self.replay_from,
            "region": self.region,
            "endpoint_url": self.endpoint_url,
            "run_dir": str(Path(self.run_dir).resolve()),
            "execute": self.execute,
            "automation": self.automation,
            "target_region": self.target_region,
        }


def validate(params: RunParams) -> None:
    """Every check that needs no AWS call. Raises ``InputError``."""
    validate_table_names(params.source_table, params.target_table)
    parse_times(params.restore_time, params.replay_from)
    check_automation(params.automation)
    if params.target_region:
        from .aws.clients import AwsTarget
        from .aws.regions import check_target_region

        check_target_region(AwsTarget(region=params.region).region_name, params.target_region, automation=params.automation)
    unknown = set(params.step_parameters) - set(STEPS)
    if unknown:
        raise InputError(f"unknown step(s) in step_parameters: {', '.join(sorted(unknown))}")
    check_step_parameters(params.step_parameters)


def check_step_parameters(step_parameters: dict[str, dict[str, Any]]) -> None:
    """Each step is given only parameters it declares (``steps.<step>.PARAMETERS``), of their type."""
    from . import steps
    from .steps.base import resolve

    for step, given in step_parameters.items():
        resolve(step, steps.BY_NOTEBOOK[step].PARAMETERS, given)


@dataclass
class RunResult:
    run_dir: str
    steps_done: list[str]
    exit_code: int
    failed_step: str | None = None
    error: str | None = None
    error_type: str | None = None
    verdict: str | None = None
    seconds: float = 0.0
    #: steps a resumed run found done already and did not run again
    steps_resumed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class StepFailed(RunbookError):
    """A notebook step raised; ``exit_code`` follows the kind of error raised inside it.

    A call IAM refused, whatever wrapped it (a ``ClientError``, or one of our errors quoting AWS's
    message), is reported as :class:`~runbook_lib.errors.AccessDeniedError`: the denied action, the
    resource, and the statement of ``infra/operator-policy.json`` that grants it; exit status 2.
    """

    def __init__(self, step: str, ename: str, evalue: str) -> None:
        denied = AccessDeniedError.from_message(evalue, step=step) if ename in _OPERATOR_ERRORS | _AWS_ERRORS else None
        if denied is not None:
            super().__init__(f"step {step} failed: {denied}", step=step, code=denied.code)
            ename = AccessDeniedError.__name__
        else:
            super().__init__(f"step {step} failed: {ename}: {evalue}", step=step)
        self.ename = ename
        self.denied = denied
        # our own errors and AWS's refusals are the operator's to act on; anything else is a bug
        self.exit_code = 2 if ename in _OPERATOR_ERRORS or ename in _AWS_ERRORS or denied else 3


def run_step(step: str, params: RunParams, *, kernel_name: str = "python3", extra: dict[str, Any] | None = None) -> Path:
    import papermill
    from papermill.exceptions import PapermillExecutionError

    run_dir = Path(params.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    output = run_dir / f"{step}.ipynb"
    parameters = {**params.common(), **params.step_parameters.get(step, {}), **(extra or {})}
    log.info("step %s: running", step)
    try:
        with console.kernel_output(step, run_dir) as output_kwargs:  # kernel output -> run.log, bars -> progress.jsonl
            papermill.execute_notebook(
                str(notebooks_dir() / f"{step}.ipynb"),
                str(output),
                parameters=parameters,
                kernel_name=kernel_name,
                progress_bar=False,
                cwd=str(run_dir),
                report_mode=False,
                **output_kwargs,
            )
    except PapermillExecutionError as exc:
        raise StepFailed(step, exc.ename, _one_line(exc.evalue)) from None
    return output


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run(
    params: RunParams,
    *,
    steps: Sequence[str] = STEPS,
    before_step: Callable[[str], None] | None = None,
    kernel_name: str = "python3",
    resume: bool = False,
    after_step: Callable[[console.StepReport], None] | None = None,
) -> RunResult:
    """Run ``steps`` in order; stop at the first failure. Never raises for a failed step.

    The run state records each step's status (``running``, then ``done`` or ``failed``). With
    ``resume``, steps this run directory's run finished (with the same ``execute``) are not run
    again; the step that was interrupted runs again and checks AWS before it acts (each step's
    docstring says how: a stack already deployed is used, a restore already called is followed).
    ``after_step`` hears how each step ended (outcome, seconds, one-line reason): the console's line.
    Each kernel's output is appended to ``<run_dir>/run.log``.
    """
    validate(params)
    for step in steps:
        if step not in STEPS:
            raise InputError(f"unknown step {step!r}: one of {', '.join(STEPS)}")
    run_dir = Path(params.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = RunResult(run_dir=str(run_dir), steps_done=[], exit_code=0)
    with run_state.edit(run_dir) as state:
        if resume:
            _same_run(state, params)
        if state.params.source_table is None:
            state.params = run_state.Params(
                source_table=params.source_table, target_table=params.target_table, region=params.region,
                endpoint_url=params.endpoint_url, automation=params.automation, restore_time=params.restore_time,
                replay_from=params.replay_from, target_region=params.target_region,
            )  # fmt: skip
        state.started = state.started or times.utcnow()
    for step in steps:
        if resume and state.step_done(step, execute=params.execute):
            result.steps_done.append(step)
            result.steps_resumed.append(step)
            if step == "04_reconcile" and (run_dir / "summary.json").exists():
                result.verdict = _verdict(run_dir)
            _StepReporter(step, after_step)(console.DONE, "done before the run was interrupted: not run again")
            continue
        if before_step is not None:
            before_step(step)
        if step == "04_reconcile":
            (run_dir / "summary.json").unlink(missing_ok=True)  # a verdict from an earlier run must not count
        _mark(run_dir, step, "running", params.execute)
        report = _StepReporter(step, after_step)
        try:
            run_step(step, params, kernel_name=kernel_name)
        except StepFailed as exc:
            result.failed_step, result.error, result.error_type, result.exit_code = step, str(exc), exc.ename, exc.exit_code
            _mark(run_dir, step, "failed", params.execute, error=result.error)
            report(console.FAIL, _reason(step, str(exc)))
            break
        except KeyboardInterrupt:
            report(console.INTERRUPTED)
            raise
        result.steps_done.append(step)
        if step == "04_reconcile" and (params.execute or (run_dir / "summary.json").exists()):
            result.verdict = _verdict(run_dir)
            if result.verdict != "PASS":
                result.exit_code = 1
                result.failed_step = step
                result.error = f"reconciliation verdict {result.verdict}: see {run_dir / 'report.html'}; cutover not attempted"
                _mark(run_dir, step, "failed", params.execute, error=result.error)
                report(console.FAIL, result.error)
                break
        _mark(run_dir, step, "done", params.execute)
        report(console.DONE if params.execute else console.DRY_RUN, f"verdict {result.verdict}" if step == "04_reconcile" and result.verdict else "")
    result.seconds = round(time.monotonic() - started, 3)
    (run_dir / "run.json").write_text(json.dumps(result.to_dict(), indent=2))
    return result


def _mark(run_dir: Path, step: str, status: str, execute: bool, error: str | None = None) -> None:
    with run_state.edit(run_dir) as state:
        state.mark_step(step, status, execute=execute, error=error)


def _same_run(state: run_state.RunState, params: RunParams) -> None:
    """A resumed run must be the run its directory holds: the same tables."""
    recorded = (state.params.source_table, state.params.target_table)
    if recorded[0] is not None and recorded != (params.source_table, params.target_table):
        raise InputError(
            f"the run directory {params.run_dir} holds the run {recorded[0]} -> {recorded[1]}, not "
            f"{params.source_table} -> {params.target_table}: give another --run-dir, or the tables of that run"
        )


class _StepReporter:
    """Tells ``after_step`` how a step ended, with the seconds it took."""

    def __init__(self, step: str, after_step: Callable[[console.StepReport], None] | None):
        self.step, self.after_step, self.started = step, after_step, time.monotonic()

    def __call__(self, outcome: str, detail: str = "") -> None:
        if self.after_step is not None:
            self.after_step(console.StepReport(self.step, outcome, time.monotonic() - self.started, detail))


def _reason(step: str, error: str) -> str:
    """A failed step's error without the \"step X failed: \" its line already says."""
    prefix = f"step {step} failed: "
    return console.one_line(error[len(prefix):] if error.startswith(prefix) else error)


def read_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``summary.json`` as a dict; empty when step 04 has not written one."""
    summary = Path(run_dir) / "summary.json"
    return json.loads(summary.read_text()) if summary.exists() else {}


def _verdict(run_dir: Path) -> str:
    return str(read_summary(run_dir).get("verdict", "UNKNOWN"))
