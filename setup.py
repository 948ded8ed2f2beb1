"""Packaging: everything is in pyproject.toml except one step it cannot say.

``infra/`` (the templates, the workflow, the operator policy) and ``notebooks/`` live at the
repository's top level, where a checkout (``make drill``, ``make test``: editable installs) reads
them. A plain ``pip install`` builds a wheel, which would leave them out: ``pitr-runbook policy``,
``run`` and the notebooks could not find them. The build copies them into the package
(``runbook_lib/infra``, ``runbook_lib/notebooks``), where ``buffer.infra_dir`` and
``runner.notebooks_dir`` look when the top-level folders are not there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent

#: top-level folder -> the files of it the installed package needs
PACKAGED = {"infra": ("*.yaml", "*.json"), "notebooks": ("*.ipynb",)}


class BuildPyWithRunbookFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        for folder, patterns in PACKAGED.items():
            target = Path(self.build_lib) / "runbook_lib" / folder
            target.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for path in sorted((HERE / folder).glob(pattern)):
                    shutil.copy2(path, target / path.name)


setup(cmdclass={"build_py": BuildPyWithRunbookFiles})
