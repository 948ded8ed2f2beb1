"""``pitr-runbook lab``: JupyterLab on the runbook's notebooks, for a guided restore.

JupyterLab (the ``[lab]`` extra) is started as its own process on 127.0.0.1 only, with a token
(a fresh random one, handed to it in ``JUPYTER_TOKEN``, never on its command line where ``ps``
shows it), its file browser in the notebooks folder, and a run directory ready: the kernels get
:data:`RUN_DIR_ENV`, so a notebook whose ``run_dir`` is left at its default writes its run state
there (``notebook.context``). With ``sandbox``: the local sandbox on 127.0.0.1, the demo table the
notebooks name by default (``orders``: PITR, a stream, a CloudTrail trail) seeded and under live
traffic, and ``AWS_ENDPOINT_URL`` (and ``AWS_REGION``) set for the kernels, so that the notebooks,
as they stand (``endpoint_url = None``), talk to the sandbox (``aws.clients.AwsTarget`` takes
``AWS_ENDPOINT_URL`` as its endpoint and signs for it with the sandbox's credentials, never the
user's). It runs until interrupted (Ctrl-C, SIGTERM); then JupyterLab, the traffic and the sandbox
are stopped, in that order.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .errors import PreconditionError
from .notebook import RUN_DIR_ENV
from .runner import notebooks_dir

log = logging.getLogger(__name__)

#: what the notebooks name by default (their parameters cells): the sandbox's demo table
DEMO_TABLE = "orders"
DEMO_ITEMS = 500
DEMO_RATE = 5.0  # writes a second: a live table, light enough for a 2-core laptop
#: the sandbox's LatestRestorableDateTime lag (AWS's is about 5 min): "latest" restorable soon after start
RESTORABLE_LAG = 5.0
INSTALL_HINT = "pip install 'ddb-pitr-runbook[lab]'"


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab: where it listens and what it serves."""

    url: str  # http://127.0.0.1:<port>/lab?token=...
    base_url: str  # http://127.0.0.1:<port>
    token: str
    notebooks: Path
    run_dir: Path
    endpoint_url: str | None


def check_installed() -> None:
    """JupyterLab is there (the ``[lab]`` extra), or :class:`PreconditionError` naming the install."""
    if importlib.util.find_spec("jupyterlab") is None:
        raise PreconditionError(f"JupyterLab is not installed: {INSTALL_HINT} (or `make lab`), then run it again")


def jupyter_command(port: int, notebooks: Path) -> list[str]:
    """JupyterLab on 127.0.0.1:``port`` (not another port if it is taken), no browser, root ``notebooks``,
    no terminals (the runbook needs none: a shell in the browser is one thing less to guard). As
    root (a container) it needs ``--allow-root``, which Jupyter otherwise refuses to start without."""
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={notebooks}",
        "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def kernel_environment(base: dict[str, str], *, token: str, run_dir: Path, endpoint_url: str | None,
                       region: str | None) -> dict[str, str]:
    """The server's environment, which its kernels inherit: the token, the run directory and, with a
    sandbox, its endpoint and region; never the runner's progress file (a person watches these)."""
    from .console import VERBOSE_ENV
    from .progress import PROGRESS_ENV

    env = {k: v for k, v in base.items() if k not in (PROGRESS_ENV, VERBOSE_ENV)}
    env["JUPYTER_TOKEN"] = token
    env[RUN_DIR_ENV] = str(run_dir)
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
        env.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)
        if region:
            env["AWS_REGION"] = region
    return env


def wait_for_server(base_url: str, token: str, *, timeout: float = 60.0, process: subprocess.Popen | None = None) -> None:
    """Until the server answers ``GET /api/status`` with the token (or the process has exited)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise PreconditionError(f"JupyterLab exited with status {process.returncode} before it was ready: "
                                    "is the port taken? try another --port")
        try:
            request = urllib.request.Request(f"{base_url}/api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise PreconditionError(f"JupyterLab did not answer on {base_url} within {timeout:.0f} s")
        time.sleep(0.3)


def lab(
    *,
    sandbox: bool = False,
    port: int = 8888,
    run_dir: str | Path | None = None,
    runs_dir: str | Path = "runs",
    items: int = DEMO_ITEMS,
    rate: float = DEMO_RATE,
    ready: Callable[[LabServer], None] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Start JupyterLab (and, with ``sandbox``, the sandbox with a demo table under live traffic),
    call ``ready`` once the server answers, and run until ``stop`` is set, the server exits, or
    SIGINT/SIGTERM. Returns JupyterLab's exit status (0 when stopped here)."""
    check_installed()
    notebooks = notebooks_dir()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_path = Path(run_dir or Path(runs_dir) / f"lab-{stamp}").resolve()
    run_path.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if not sandbox:
        return _serve(port, notebooks, run_path, token, None, None, ready, stop, not_before=0.0)
    from .aws.clients import AwsTarget
    from .drill import as_root
    from .sandbox import Sandbox
    from .sandbox.traffic import Traffic, create_demo_table, seed_items

    with as_root(), Sandbox(restorable_lag=RESTORABLE_LAG) as sb:
        target = AwsTarget(region=sb.region, endpoint_url=sb.endpoint_url)
        ddb = target.client("dynamodb")
        create_demo_table(ddb, DEMO_TABLE)
        restorable = time.monotonic() + RESTORABLE_LAG + 1.0  # "latest" lies after PITR's start from then on
        _trail(target)
        seed_items(ddb, DEMO_TABLE, items, seed=7)
        traffic = Traffic(ddb, DEMO_TABLE, rate=rate, key_space=items, seed=11)
        traffic.start()
        try:
            return _serve(port, notebooks, run_path, token, sb.endpoint_url, sb.region, ready, stop,
                          not_before=restorable)
        finally:
            traffic.stop()


def _trail(target: Any) -> None:
    """A trail logging management events, as the preflight's CloudTrail check wants (the drill's)."""
    from .drill import _trail as drill_trail

    drill_trail(target)


def _serve(port: int, notebooks: Path, run_dir: Path, token: str, endpoint_url: str | None, region: str | None,
           ready: Callable[[LabServer], None] | None, stop: threading.Event, *, not_before: float) -> int:
    """Run JupyterLab until ``stop``; ``ready`` is called once it answers, not before the monotonic
    time ``not_before`` (when the demo table's "latest" restore point is valid)."""
    env = kernel_environment(dict(os.environ), token=token, run_dir=run_dir, endpoint_url=endpoint_url, region=region)
    with open(run_dir / "jupyterlab.log", "ab") as server_log:
        process = subprocess.Popen(jupyter_command(port, notebooks), env=env, cwd=str(notebooks),
                                   stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_for_server(base_url, token, process=process)
            time.sleep(max(0.0, not_before - time.monotonic()))
            server = LabServer(f"{base_url}/lab?token={token}", base_url, token, notebooks, run_dir, endpoint_url)
            if ready is not None:
                ready(server)
            while not stop.wait(0.5):
                if process.poll() is not None:
                    return process.returncode
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """JupyterLab and its kernels (its process group): SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def describe(server: LabServer, *, rate: float = DEMO_RATE) -> str:
    lines = [f"JupyterLab: {server.url}", f"  notebooks: {server.notebooks}",
             f"  run directory: {server.run_dir} (the notebooks' default run_dir)"]
    if server.endpoint_url:
        lines.append(f"  sandbox: {server.endpoint_url} (AWS_ENDPOINT_URL for the kernels); table {DEMO_TABLE} "
                     f"under live traffic, {rate:g} writes/s: open 00_preflight and run it")
    lines.append("  Ctrl-C stops JupyterLab" + (", the traffic and the sandbox" if server.endpoint_url else ""))
    return "\n".join(lines)


__all__ = ["DEMO_TABLE", "RUN_DIR_ENV", "LabServer", "check_installed", "describe", "jupyter_command",
           "kernel_environment", "lab", "wait_for_server"]
