"""The six notebooks, the steps, the CLI and the runner cannot drift apart: every notebook's
``parameters`` cell is exactly the common parameters plus its step's declared ones (names, types,
defaults, help), and what the CLI, the drill and the runner hand a step is only what it declares.
The notebooks stay thin: one or two calls per code cell, no ``execute`` switch of their own."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import papermill
import pytest

from runbook_lib import cli, drill, runner, steps
from runbook_lib.errors import InputError
from runbook_lib.steps.base import COMMON

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.parametrize("step", runner.STEPS)
def test_the_parameters_cell_is_the_steps_declared_parameters(step):
    inspected = papermill.inspect_notebook(str(NOTEBOOKS / f"{step}.ipynb"))
    declared = (*COMMON, *steps.BY_NOTEBOOK[step].PARAMETERS)
    assert list(inspected) == [p.name for p in declared]
    for p in declared:
        seen = inspected[p.name]
        assert seen["inferred_type_name"] == p.type.__name__, p.name
        assert ast.literal_eval(seen["default"]) == p.default, p.name
        assert seen["help"] == f"help: {p.help}", p.name


def test_the_runner_runs_the_steps_in_the_order_of_the_steps_package():
    assert tuple(steps.BY_NOTEBOOK) == runner.STEPS


@pytest.mark.parametrize("step", runner.STEPS)
def test_notebook_code_cells_are_at_most_six_lines_and_leave_execute_to_the_step(step):
    cells = json.loads((NOTEBOOKS / f"{step}.ipynb").read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] != "code" or "parameters" in cell["metadata"].get("tags", []):
            continue
        source = "".join(cell["source"])
        assert len(source.splitlines()) <= 6, source
        assert "if " not in source and "ctx.execute" not in source, source
        assert not cell["outputs"], f"{step} is committed with outputs"


def test_the_runner_refuses_a_parameter_a_step_does_not_declare():
    with pytest.raises(InputError) as info:
        runner.check_step_parameters({"03_monitor": {"drain_timout": 5}})
    assert "drain_timout" in str(info.value) and "drain_timeout" in str(info.value)
    with pytest.raises(InputError) as info:
        runner.check_step_parameters({"04_reconcile": {"segments": "four"}})
    assert "segments must be int" in str(info.value)
    params = runner.RunParams("orders", "orders-r", step_parameters={"05_cutover": {"quiet_second": 1}})
    with pytest.raises(InputError):
        runner.validate(params)


def _captured(monkeypatch, tmp_path, argv):
    seen = {}

    def fake_run(params, steps=runner.STEPS, **kwargs):
        seen["params"] = params
        return runner.RunResult(run_dir=str(tmp_path), steps_done=list(steps), exit_code=0, verdict="PASS")

    monkeypatch.setattr(runner, "run", fake_run)
    # no AWS here: ``reconcile`` checks that both tables exist (tests/notebooks/test_reconcile_command.py)
    monkeypatch.setattr(cli, "_require_tables", lambda params: None)
    assert cli.main(argv) == 0
    return seen["params"]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--source-table", "orders", "--target-table", "orders-r", "--billing-mode-override", "PROVISIONED",
         "--read-capacity", "5", "--write-capacity", "7", "--applier-max-concurrency", "20",
         "--cfn-role-arn", "arn:aws:iam::123456789012:role/cfn", "--redact-keys",
         "--key-digest-secret-arn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-key-digest-AbCdEf"],
        ["reconcile", "--source-table", "orders", "--target-table", "orders-r", "--rate-limit", "100"],
    ],
)
def test_the_cli_hands_each_step_only_declared_parameters(monkeypatch, tmp_path, argv):
    params = _captured(monkeypatch, tmp_path, [*argv, "--run-dir", str(tmp_path / "run")])
    assert params.step_parameters
    runner.check_step_parameters(params.step_parameters)


def test_the_drills_fault_parameters_are_declared_by_their_steps():
    for name, step_parameters in drill.FAULT_STEP_PARAMETERS.items():
        runner.check_step_parameters(step_parameters)


def test_notebook_03_draws_each_figure_once_the_drain_live_during_the_wait_the_timeline_at_the_end():
    """``monitor.follow_drain`` shows the drain figure live in a notebook; a cell drawing it again
    at the end would show it twice."""
    cells = json.loads((NOTEBOOKS / "03_monitor.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert not [c for c in code if "drain_figure" in c]
    assert [c for c in code if "timeline()" in c]
