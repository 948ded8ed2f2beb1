"""moto's own test suite, in server mode, against the sandbox: the sandbox patches moto's internals,
and this checks that moto's behaviour survives the patches except where the sandbox is right about AWS.

The tests come from the sdist of the INSTALLED moto version (``pip download --no-deps --no-binary
:all: moto==<version>``, cached under ``.venv/moto-suite/<version>/``; only ``tests/`` and
``setup.cfg`` are kept, so the installed moto is the one under test). Each test file runs in its
own ``pytest`` process with ``TEST_SERVER_MODE=true`` and ``TEST_SERVER_MODE_ENDPOINT`` (read by
``moto/settings.py`` ``test_server_mode_endpoint()``) pointing at a fresh ``pitr-runbook sandbox
--port 0`` on 127.0.0.1: one sandbox per file, as issue 17 measured. Files run ``WORKERS`` at a
time.

The outcome is compared with ``expected_differences.toml`` (next to this file): a test fails here
when a moto test not on that list fails, or a listed one passes (so the list stays true), or a
listed one no longer exists.

To write the list, run the same selection against plain ``moto_server`` (never in CI):
``.venv/bin/python tests/moto_suite/test_moto_suite.py --against plain`` prints every test that fails
there; ``--against sandbox`` prints the sandbox's. A test belongs on the list when it passes on
plain moto and fails on the sandbox.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV_BIN = pathlib.Path(sys.executable).parent
EXPECTED = HERE / "expected_differences.toml"

#: two files at once: the machine has 2 cores; each file is a pytest process plus a sandbox process
WORKERS = int(os.environ.get("MOTO_SUITE_WORKERS", "2"))
#: one file may take this long (the largest, test_dynamodb.py, takes about 20 s)
FILE_TIMEOUT = 300

#: (folder or file under tests/, extra pytest arguments): the services the sandbox patches
SELECTION = [
    ("test_sqs/test_sqs.py", []),
    ("test_sqs/test_sqs_message_attributes.py", []),
    ("test_sqs/test_sqs_multiaccount.py", []),
    ("test_sqs/test_sqs_cloudformation.py", []),
    ("test_dynamodb", []),
    ("test_dynamodbstreams", []),
    ("test_stepfunctions", []),
    # Lambda: moto runs function code only in Docker; those tests are marked requires_docker
    ("test_awslambda", ["-m", "not requires_docker"]),
]


# -- the sdist ------------------------------------------------------------------------------------
def moto_version() -> str:
    return importlib.metadata.version("moto")


def suite_dir(version: str | None = None) -> pathlib.Path:
    """``tests/`` and ``setup.cfg`` of moto's sdist for the installed version, downloaded once."""
    version = version or moto_version()
    root = REPO / ".venv" / "moto-suite" / version
    if (root / "tests").is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             f"moto=={version}", "-d", tmp],
            check=True, timeout=600,
        )
        (sdist,) = pathlib.Path(tmp).glob("moto-*.tar.gz")
        staging = pathlib.Path(tmp) / "staging"
        prefix = f"moto-{version}/"
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith(prefix + "tests/") or m.name == prefix + "setup.cfg"]
            for m in members:
                m.name = m.name[len(prefix):]
            tar.extractall(staging, members=members, filter="data")
        try:
            staging.rename(root)
        except OSError:  # another process got there first
            if not (root / "tests").is_dir():
                raise
    return root


def files_to_run(root: pathlib.Path) -> list[tuple[str, list[str]]]:
    """(file relative to the suite root, extra arguments), one entry per test file."""
    out = []
    for entry, args in SELECTION:
        path = root / "tests" / entry
        files = [path] if path.is_file() else sorted(path.rglob("test_*.py"))
        for f in files:
            if f.name == "test_server.py":
                continue  # drives moto's WSGI app in-process: no server to point at
            out.append((str(f.relative_to(root)), args))
    return out


# -- servers --------------------------------------------------------------------------------------
class Server:
    """A sandbox (``pitr-runbook sandbox --port 0``) or plain ``moto_server``, on 127.0.0.1."""

    def __init__(self, against: str) -> None:
        env = dict(os.environ)
        env.pop("MOTO_PORT", None)
        if against == "sandbox":
            cmd = [str(VENV_BIN / "pitr-runbook"), "sandbox", "--port", "0", "--restore-seconds", "0"]
            self.port = None
        else:
            self.port = _free_port()
            cmd = [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )
        self.endpoint = self._wait_ready(against)

    def _wait_ready(self, against: str) -> str:
        deadline = time.monotonic() + 60
        if against == "sandbox":
            for line in self.proc.stdout:
                m = re.search(r"endpoint_url=(http://127\.0\.0\.1:\d+)", line)
                if m:
                    # keep draining the output so the server never blocks on a full pipe
                    threading.Thread(target=self.proc.stdout.read, daemon=True).start()
                    return m.group(1)
                if time.monotonic() > deadline:
                    break
            raise RuntimeError("the sandbox did not start")
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return f"http://127.0.0.1:{self.port}"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- running --------------------------------------------------------------------------------------
@dataclass
class FileResult:
    file: str
    outcomes: dict[str, str] = field(default_factory=dict)  # test id -> passed/failed/error/skipped
    seconds: float = 0.0
    problem: str | None = None  # the file could not run at all


def run_file(root: pathlib.Path, file: str, args: list[str], against: str = "sandbox") -> FileResult:
    started = time.monotonic()
    result = FileResult(file)
    server = Server(against)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            report = pathlib.Path(tmp) / "report.xml"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_", "PYTEST_"))}
            env.update(TEST_SERVER_MODE="true", TEST_SERVER_MODE_ENDPOINT=server.endpoint, AWS_DEFAULT_REGION="us-east-1",
                       PYTHONPATH=str(HERE))
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:nbval", "-p", "moto_suite_plugin",
                   "-o", "addopts=", f"--junitxml={report}", "--timeout", "120", *args, file]
            proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=FILE_TIMEOUT)
            if report.exists():
                result.outcomes = _outcomes(report)
            if not result.outcomes and proc.returncode not in (0, 5):
                result.problem = (proc.stdout + proc.stderr)[-2000:]
    except subprocess.TimeoutExpired:
        result.problem = f"{file} did not finish within {FILE_TIMEOUT} s"
    finally:
        server.stop()
    result.seconds = time.monotonic() - started
    return result


def _outcomes(report: pathlib.Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if "failure" in kinds:
            out[name] = "failed"
        elif "error" in kinds:
            out[name] = "error"
        elif "skipped" in kinds:
            out[name] = "skipped"
        else:
            out[name] = "passed"
    return out


def run_all(against: str = "sandbox", workers: int = WORKERS) -> list[FileResult]:
    root = suite_dir()
    files = files_to_run(root)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda fa: run_file(root, fa[0], fa[1], against), files))


def expected() -> dict[str, dict]:
    """Test id -> its entry (``why``, ``document``, ``branch``) from expected_differences.toml."""
    data = tomllib.loads(EXPECTED.read_text())
    out = {}
    for entry in data["difference"]:
        for test in entry["tests"]:
            assert test not in out, f"{test} is listed twice"
            out[test] = entry
    return out


# -- the pytest target ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sandbox_results() -> list[FileResult]:
    return run_all("sandbox")


def compare(seen: dict[str, str], listed: dict[str, dict]) -> dict[str, list[str]]:
    """What makes the target fail: unlisted failures, listed tests that pass, listed tests not run."""
    return {
        "moto tests that fail on the sandbox and are not in expected_differences.toml":
            sorted(t for t, o in seen.items() if o in ("failed", "error") and t not in listed),
        "listed in expected_differences.toml but now passing (drop them from the list)":
            sorted(t for t in listed if seen.get(t) == "passed" and not listed[t].get("races")),
        "listed in expected_differences.toml but not run (renamed or removed?)":
            sorted(t for t in listed if t not in seen),
    }


def test_compare_fails_on_unlisted_failures_listed_passes_and_vanished_tests():
    listed = {"m::listed_fails": {}, "m::listed_passes": {}, "m::listed_gone": {}}
    seen = {"m::listed_fails": "failed", "m::listed_passes": "passed", "m::new_failure": "error",
            "m::fine": "passed", "m::skipped": "skipped"}
    assert list(compare(seen, listed).values()) == [["m::new_failure"], ["m::listed_passes"], ["m::listed_gone"]]
    assert not any(compare({"m::a": "failed", "m::b": "passed"}, {"m::a": {}}).values())
    # a test that races a running execution may pass or fail; it must still run
    racing = {"m::race": {"races": True}}
    assert not any(compare({"m::race": "passed"}, racing).values())
    assert not any(compare({"m::race": "failed"}, racing).values())
    assert compare({}, racing)["listed in expected_differences.toml but not run (renamed or removed?)"] == ["m::race"]


@pytest.mark.slow
@pytest.mark.timeout(1800)  # about 2.5 min on 2 idle cores; 7 min seen on a machine shared by 8
def test_moto_suite_differs_from_moto_only_where_listed(sandbox_results):
    seen: dict[str, str] = {}
    for r in sandbox_results:
        seen.update(r.outcomes)
    counts = {o: sum(1 for v in seen.values() if v == o) for o in ("passed", "failed", "error", "skipped")}
    print(f"moto {moto_version()} suite against the sandbox: {counts} in {len(sandbox_results)} files")
    problems = [f"{r.file}: {r.problem}" for r in sandbox_results if r.problem]
    assert not problems, "files that could not run:\n" + "\n".join(problems)
    for what, tests in compare(seen, expected()).items():
        assert not tests, f"{what}:\n" + "\n".join(tests)
    assert counts["passed"] > 1000  # the selection really ran


def test_every_listed_difference_says_why_and_what_makes_it_right():
    """Each entry: a reason, and exactly one of an AWS document, a documented choice, the branch that
    fixes it, or a harness artefact (fails against plain moto_server too)."""
    data = tomllib.loads(EXPECTED.read_text())
    for entry in data["difference"]:
        assert entry["tests"] and len(entry["why"].strip()) > 40, entry
        kinds = [k for k in ("document", "choice", "branch", "harness") if entry.get(k)]
        assert len(kinds) == 1, entry
        if kinds == ["document"]:
            assert entry["document"].startswith("https://docs.aws.amazon.com/"), entry
    expected()  # no test listed twice


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", choices=("sandbox", "plain"), default="sandbox")
    parser.add_argument("--workers", type=int, default=WORKERS)
    args = parser.parse_args(argv)
    started = time.monotonic()
    results = run_all(args.against, args.workers)
    for r in sorted(results, key=lambda r: -r.seconds):
        bad = [t for t, o in r.outcomes.items() if o in ("failed", "error")]
        print(f"{r.seconds:6.1f} s  {r.file}: {len(r.outcomes)} tests, {len(bad)} failing" + (f"  PROBLEM {r.problem}" if r.problem else ""))
    failing = sorted(t for r in results for t, o in r.outcomes.items() if o in ("failed", "error"))
    print(f"\n{len(failing)} failing against {args.against} (moto {moto_version()}), {time.monotonic() - started:.0f} s wall:")
    for t in failing:
        print(t)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
