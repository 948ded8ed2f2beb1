"""The arrows between runbook_lib's parts point one way (DESIGN.md, section 4a), checked on the source.

- ``runbook_lib/cdc/`` is the Lambda zip: it imports nothing else of ours (the zip holds only it);
- the sandbox is a leaf: outside ``runbook_lib/sandbox/`` only the commands that start it import
  it (``cli``: ``sandbox`` and ``traffic``; ``drill``; ``lab``), never a step, so that a step cannot come to
  depend on the stand-in;
- moto and cfn-lint (the ``[sandbox]`` and ``[test]`` extras) are imported only inside the sandbox,
  so that a plain install runs every AWS-side command (``test_plain_install.py`` runs them);
- the AWS layer (``runbook_lib/aws/``) imports no step: only itself, ``errors``, ``times`` and
  ``progress`` (the bar a wait shows).

Every import counts, at the top of a module or inside a function. The checker is shown to find a
violation of each rule in ``test_the_checker_finds_*``, so that a rule cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import pathlib
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "runbook_lib"

#: modules outside the sandbox that may import it: the commands that start it
SANDBOX_STARTERS = ("runbook_lib.cli", "runbook_lib.drill", "runbook_lib.lab")
#: what the AWS layer may import of ours
AWS_LAYER_MAY_IMPORT = ("runbook_lib.aws", "runbook_lib.errors", "runbook_lib.times", "runbook_lib.progress")
#: third-party packages that only the sandbox (and the tests) may import
SANDBOX_ONLY_PACKAGES = ("moto", "cfnlint")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of everything ``source`` (module ``module``) imports, relative imports
    resolved; ``from X import a`` yields ``X.a`` (``a`` may be a module or a name in ``X``)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            for alias in node.names:
                yield node.lineno, f"{prefix}.{alias.name}" if alias.name != "*" else prefix


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def sources() -> Iterator[tuple[str, pathlib.Path, str, bool]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield module_name(path), path, path.read_text(), path.name == "__init__.py"


def violations(rule, modules) -> list[str]:
    found = []
    for module, path, source, is_package in modules:
        for line, name in imports_of(source, module, is_package):
            if rule(module, name):
                found.append(f"{path.relative_to(ROOT) if path.is_absolute() else path}:{line} {module} imports {name}")
    return found


# -- the rules: (importing module, imported name) -> True when it breaks the rule ------------------
def cdc_imports_outside_cdc(module: str, name: str) -> bool:
    return within(module, "runbook_lib.cdc") and within(name, "runbook_lib") and not within(name, "runbook_lib.cdc")


def sandbox_imported_by_other_than_its_starters(module: str, name: str) -> bool:
    if within(module, "runbook_lib.sandbox") or any(within(module, s) for s in SANDBOX_STARTERS):
        return False
    return within(name, "runbook_lib.sandbox")


def sandbox_only_package_imported_outside_the_sandbox(module: str, name: str) -> bool:
    if within(module, "runbook_lib.sandbox"):
        return False
    return any(within(name, p) for p in SANDBOX_ONLY_PACKAGES)


def aws_layer_imports_a_step(module: str, name: str) -> bool:
    if not within(module, "runbook_lib.aws") or not within(name, "runbook_lib"):
        return False
    return not any(within(name, allowed) for allowed in AWS_LAYER_MAY_IMPORT)


RULES = [
    cdc_imports_outside_cdc,
    sandbox_imported_by_other_than_its_starters,
    sandbox_only_package_imported_outside_the_sandbox,
    aws_layer_imports_a_step,
]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_runbook_lib_keeps_the_import_rule(rule):
    modules = list(sources())
    assert len(modules) > 40, "the walk found too few modules: is ROOT right?"
    assert violations(rule, modules) == []


# -- the checker itself finds each kind of violation -----------------------------------------------
def _fake(module: str, source: str, is_package: bool = False):
    return [(module, pathlib.Path(module.replace(".", "/") + ".py"), source, is_package)]


@pytest.mark.parametrize(
    ("rule", "module", "source"),
    [
        (cdc_imports_outside_cdc, "runbook_lib.cdc.applier", "from .. import errors\n"),
        (cdc_imports_outside_cdc, "runbook_lib.cdc.applier", "def f():\n    from runbook_lib.aws import clients\n"),
        (sandbox_imported_by_other_than_its_starters, "runbook_lib.restore", "from .sandbox import Sandbox\n"),
        (sandbox_imported_by_other_than_its_starters, "runbook_lib.buffer.deploy", "def f():\n    from ..sandbox.traffic import make_key\n"),
        (sandbox_imported_by_other_than_its_starters, "runbook_lib.preflight", "import runbook_lib.sandbox.faults\n"),
        (sandbox_only_package_imported_outside_the_sandbox, "runbook_lib.buffer", "def lint():\n    from cfnlint.api import lint_file\n"),
        (sandbox_only_package_imported_outside_the_sandbox, "runbook_lib.cli", "import moto.server\n"),
        (aws_layer_imports_a_step, "runbook_lib.aws.tables", "from ..settings import snapshot\n"),
    ],
)
def test_the_checker_finds_a_violation(rule, module, source):
    assert len(violations(rule, _fake(module, source))) == 1


@pytest.mark.parametrize(
    ("rule", "module", "source", "is_package"),
    [
        (cdc_imports_outside_cdc, "runbook_lib.cdc.applier", "from . import codec, runtime\nimport boto3\n", False),
        (cdc_imports_outside_cdc, "runbook_lib.cdc", "from .codec import KeyDigest\n", True),
        (sandbox_imported_by_other_than_its_starters, "runbook_lib.cli", "from .sandbox import Sandbox\n", False),
        (sandbox_imported_by_other_than_its_starters, "runbook_lib.sandbox.server", "from ..aws.clients import x\n", False),
        (sandbox_only_package_imported_outside_the_sandbox, "runbook_lib.sandbox.pitr", "from moto.dynamodb import models\n", False),
        (aws_layer_imports_a_step, "runbook_lib.aws.tables", "from ..errors import InputError\nfrom .clients import AwsTarget\n", False),
    ],
)
def test_the_checker_allows_what_the_rules_allow(rule, module, source, is_package):
    assert violations(rule, _fake(module, source, is_package)) == []
