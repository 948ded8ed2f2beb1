"""``pitr-runbook lab``'s pieces, without starting JupyterLab (tests/notebooks/test_lab.py starts it)."""

from __future__ import annotations

import importlib.util

import pytest

from runbook_lib import cli, console, lab, notebook, progress
from runbook_lib.errors import PreconditionError


def test_jupyterlab_listens_on_loopback_only_on_the_port_asked_with_no_terminals(tmp_path):
    command = lab.jupyter_command(18888, tmp_path)
    assert "--ServerApp.ip=127.0.0.1" in command and "--ServerApp.port=18888" in command
    assert "--ServerApp.port_retries=0" in command  # never silently another port
    assert f"--ServerApp.root_dir={tmp_path}" in command and "--ServerApp.terminals_enabled=False" in command
    assert not [arg for arg in command if "token" in arg.lower()]  # the token is in the environment, not in `ps`


def test_the_kernels_get_the_token_the_run_directory_and_the_sandbox_but_not_the_runners_progress_file(tmp_path):
    base = {"PATH": "/usr/bin", progress.PROGRESS_ENV: "/x/progress.jsonl", console.VERBOSE_ENV: "1",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}
    env = lab.kernel_environment(base, token="t0k", run_dir=tmp_path, endpoint_url="http://127.0.0.1:4566",
                                 region="eu-west-1")
    assert env["JUPYTER_TOKEN"] == "t0k" and env[notebook.RUN_DIR_ENV] == str(tmp_path)
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566" and env["AWS_REGION"] == "eu-west-1"
    assert progress.PROGRESS_ENV not in env and console.VERBOSE_ENV not in env  # a person watches these kernels
    assert "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" not in env
    plain = lab.kernel_environment({"PATH": "/usr/bin"}, token="t", run_dir=tmp_path, endpoint_url=None, region=None)
    assert "AWS_ENDPOINT_URL" not in plain  # without --sandbox: real AWS, as the user's credentials say


def test_a_notebook_left_at_the_default_run_dir_uses_the_labs_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(notebook.RUN_DIR_ENV, str(tmp_path / "lab-run"))
    ctx = notebook.context(source_table="orders", target_table="orders-restored", endpoint_url="http://127.0.0.1:1")
    assert ctx.run_dir == (tmp_path / "lab-run").resolve()
    chosen = notebook.context(source_table="orders", target_table="orders-restored", run_dir="runs/mine",
                              endpoint_url="http://127.0.0.1:1")
    assert chosen.run_dir == (tmp_path / "runs/mine").resolve()  # a run_dir the operator chose stays


def test_without_jupyterlab_lab_exits_2_naming_the_extra(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name, *a))
    with pytest.raises(PreconditionError, match=r"pip install 'ddb-pitr-runbook\[lab\]'"):
        lab.check_installed()
    assert cli.main(["lab", "--port", "18888"]) == 2
    assert "[lab]" in capsys.readouterr().err


def test_lab_refuses_a_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["lab", "--port", "70000"])
    assert exit_.value.code == 2
