"""A plain install (``pip install ddb-pitr-runbook``, no extras) is the runbook for AWS.

moto and cfn-lint come only with the ``[sandbox]`` and ``[test]`` extras. Here they are made
unimportable in a child process (a ``sitecustomize`` on ``PYTHONPATH`` puts a blocker first on
``sys.meta_path``; the kernels papermill starts inherit it), which then imports every module of
``runbook_lib`` outside the sandbox, runs ``pitr-runbook --help``, ``policy`` and ``history``,
reconciles two tables on the sandbox through the notebook (the sandbox runs in this process, with
moto; the child only talks to it over HTTP, as it would to AWS), and finds that ``sandbox`` and
``drill`` stop at once with exit status 2 and one line naming the extra to install.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
REMEDY = "pip install 'ddb-pitr-runbook[sandbox]'"

#: what a plain install lacks and runbook_lib must not need outside the sandbox: moto with the web
#: server it runs in, cfn-lint, and the test tools
BLOCKED = ("moto", "cfnlint", "werkzeug", "flask", "flask_cors", "freezegun", "pytest", "nbval")

BLOCKER = f'''
import sys

class _PlainInstall:
    """Finds nothing for the packages a plain install of ddb-pitr-runbook does not have."""

    blocked = {BLOCKED!r}

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.blocked:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in a plain install)", name=name)
        return None

sys.meta_path.insert(0, _PlainInstall())
for _name in list(sys.modules):
    if _name.partition(".")[0] in _PlainInstall.blocked:
        del sys.modules[_name]
'''


@pytest.fixture
def plain_env(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def _cli() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("pitr-runbook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "runbook_lib.cli"]


def _run(env, *args, cwd=None, timeout=120):
    return subprocess.run([*args], env=env, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout)


def _non_sandbox_modules() -> list[str]:
    names = []
    for path in sorted((ROOT / "runbook_lib").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[:2] != ["runbook_lib", "sandbox"]:
            names.append(".".join(parts))
    return names


def test_the_blocker_makes_moto_and_cfn_lint_unimportable(plain_env):
    for name in ("moto", "cfnlint", "moto.dynamodb.models"):
        done = _run(plain_env, sys.executable, "-c", f"import {name}")
        assert done.returncode == 1 and "not in a plain install" in done.stderr, name


def test_every_module_outside_the_sandbox_imports_without_the_extras(plain_env):
    modules = _non_sandbox_modules()
    assert "runbook_lib.cli" in modules and "runbook_lib.cdc.applier" in modules and len(modules) > 20
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('imported', len(sys.argv) - 1)"
    done = _run(plain_env, sys.executable, "-c", code, *modules)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"imported {len(modules)}"


def test_help_policy_and_history_run_without_the_extras(plain_env, tmp_path):
    done = _run(plain_env, *_cli(), "--help")
    assert done.returncode == 0 and "usage: pitr-runbook" in done.stdout, done.stderr

    done = _run(plain_env, *_cli(), "policy", "--account", "123456789012", "--source-table", "orders",
                "--target-table", "orders-restored-*")
    assert done.returncode == 0, done.stderr
    policies = json.loads(done.stdout)
    assert policies and all(p["Statement"] for p in policies)

    # no drills yet: an operator error that says so (issue 13: a missing or empty runs dir is exit 2)
    done = _run(plain_env, *_cli(), "history", "--runs-dir", str(tmp_path / "runs"))
    assert done.returncode == 2 and "no drills recorded" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "args",
    [("sandbox", "--port", "0"), ("drill", "--items", "10"), ("drill", "--fault", "list")],
    ids=["sandbox", "drill", "drill-fault-list"],
)
def test_sandbox_and_drill_without_the_extra_exit_2_naming_it(plain_env, tmp_path, args):
    done = _run(plain_env, *_cli(), *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and REMEDY in lines[0] and "moto" in lines[0], done.stderr
    assert not (tmp_path / "runs").exists()  # stopped before any work


@pytest.mark.slow
def test_reconcile_through_the_notebook_without_the_extras(aws, endpoint, plain_env, tmp_path):
    """The AWS side of the runbook, notebook kernel included, against an endpoint (here the
    sandbox, which runs in this process with moto) from a process that has no moto."""
    from runbook_lib.sandbox.traffic import create_demo_table, seed_items

    ddb = aws("dynamodb")
    create_demo_table(ddb, "orders", pitr=False)
    create_demo_table(ddb, "orders-copy", pitr=False, stream=None)
    seed_items(ddb, "orders", 20, seed=3)
    seed_items(ddb, "orders-copy", 20, seed=3)
    run_dir = tmp_path / "run"
    done = _run(plain_env, *_cli(), "reconcile", "--source-table", "orders", "--target-table", "orders-copy",
                "--endpoint-url", endpoint, "--run-dir", str(run_dir), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["counts"] == {"source": 20, "target": 20}
