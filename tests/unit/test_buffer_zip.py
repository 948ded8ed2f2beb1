"""The Lambda package: reproducible bytes, only the handlers' code, importable on its own."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path


import runbook_lib
from runbook_lib import buffer

PACKAGE = Path(runbook_lib.__file__).resolve().parent
HANDLER_MODULES = ("runbook_lib.cdc.forwarder", "runbook_lib.cdc.applier")


def _expected_names() -> list[str]:
    cdc = sorted(
        p.relative_to(PACKAGE.parent).as_posix()
        for p in (PACKAGE / "cdc").rglob("*.py")
        if "__pycache__" not in p.parts
    )
    return sorted(["runbook_lib/__init__.py", *cdc])


def test_zip_is_reproducible():
    first, second = buffer.build_zip(), buffer.build_zip()
    assert first == second
    assert buffer.code_sha256(first) == buffer.code_sha256(second)


def test_code_sha256_is_base64_sha256_as_lambda_reports_it():
    data = buffer.build_zip()
    assert buffer.code_sha256(data) == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert len(base64.b64decode(buffer.code_sha256(data))) == 32


def test_zip_holds_only_the_package_init_and_the_cdc_code():
    with zipfile.ZipFile(io.BytesIO(buffer.build_zip())) as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names), "entries are sorted"
    assert names == _expected_names()
    assert not any("__pycache__" in n or not n.endswith(".py") for n in names)
    assert all(n == "runbook_lib/__init__.py" or n.startswith("runbook_lib/cdc/") for n in names)


def test_zip_entries_have_fixed_timestamps_and_permissions():
    with zipfile.ZipFile(io.BytesIO(buffer.build_zip())) as zf:
        for info in zf.infolist():
            assert info.date_time == buffer.ZIP_EPOCH
            assert info.external_attr >> 16 == buffer.ZIP_FILE_MODE
            assert info.create_system == 3
            assert info.compress_type == zipfile.ZIP_DEFLATED


def test_zip_content_equals_the_sources():
    with zipfile.ZipFile(io.BytesIO(buffer.build_zip())) as zf:
        for name in zf.namelist():
            assert zf.read(name) == (PACKAGE.parent / name).read_bytes()


# What the Lambda Python runtime offers besides the standard library.
LAMBDA_RUNTIME_PACKAGES = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"]

IMPORT_CHECK = textwrap.dedent(
    """
    import importlib, importlib.machinery, json, sys
    root, modules, allowed = sys.argv[1], json.loads(sys.argv[2]), set(json.loads(sys.argv[3]))
    allowed |= set(sys.stdlib_module_names) | {"runbook_lib"}

    class OnlyTheLambdaRuntime:
        # Refuse anything the Lambda runtime would not have; take runbook_lib from the zip only.
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top not in allowed:
                raise ModuleNotFoundError(f"{name} is not available in the Lambda runtime", name=name)
            if top == "runbook_lib":
                # Only the zip's copy (an editable install would otherwise answer too).
                spec = importlib.machinery.PathFinder.find_spec(name, [root] if name == top else path)
                if spec is None:
                    raise ModuleNotFoundError(f"{name} is not in the zip", name=name)
                return spec
            return None

    sys.meta_path.insert(0, OnlyTheLambdaRuntime())
    out = {}
    for module in modules:
        mod = importlib.import_module(module)
        out[module] = {"file": mod.__file__, "handler": callable(getattr(mod, "handler", None))}
    print(json.dumps(out))
    """
)


def test_handler_modules_import_from_the_extracted_zip_alone(tmp_path):
    missing = [m for m in HANDLER_MODULES if not (PACKAGE.parent / (m.replace(".", "/") + ".py")).exists()]
    assert missing == []
    with zipfile.ZipFile(io.BytesIO(buffer.build_zip())) as zf:
        zf.extractall(tmp_path)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo",
        "MAX_MESSAGE_BYTES": "262144",
        "TARGET_TABLE": "orders-restored",
        "SOURCE_TABLE": "orders",
        "REPLAY_FROM": "",
        "LOG_LEVEL": "INFO",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-I",  # no PYTHONPATH, no user site, no current directory on sys.path
            "-c",
            IMPORT_CHECK,
            str(tmp_path),
            json.dumps(list(HANDLER_MODULES)),
            json.dumps(LAMBDA_RUNTIME_PACKAGES),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    for module in HANDLER_MODULES:
        assert Path(imported[module]["file"]).resolve().is_relative_to(tmp_path.resolve())
        assert imported[module]["handler"], f"{module}.handler is not callable"
