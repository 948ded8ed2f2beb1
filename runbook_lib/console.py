"""What the operator sees while ``pitr-runbook run`` or ``drill`` goes on, and what the run
directory keeps.

The console is a progress report: one line per step (and per drill phase) with its outcome
(``done``, ``dry run``, ``FAIL`` with the one-line reason) and its duration, and a progress bar on
a long wait. Everything else goes to ``<run_dir>/run.log`` (:func:`run_log`): the log records of
every library (papermill's INFO lines, botocore's warnings, Python warnings through
:func:`logging.captureWarnings`), each kernel's output (what its cells print and log,
:class:`KernelStream`), and the kernel process's own messages (:func:`kernel_manager_class`:
ipykernel's warnings on its stderr). The console's log handler shows only errors, and warnings of
this runbook's own modules, unless ``--verbose`` (:class:`ConsoleFilter`).

A wait runs inside a notebook's kernel, another process than the console. Its bar
(``runbook_lib.progress``) appends readings as JSON lines to ``<run_dir>/progress.jsonl``, a file
named to the kernel by the environment variable ``PITR_RUNBOOK_PROGRESS``; :class:`Console`
tails that file while the run goes on and draws the bars: a tqdm bar when the console is a
terminal, a line a minute (:data:`HEARTBEAT_SECONDS`) otherwise (a CI log stays readable).

A notebook's kernel (run by the runner, or by someone in JupyterLab) logs to the same
``<run_dir>/run.log`` itself (:func:`kernel_logging`, set up by ``notebook.context``), never into
its cells: each record says which step's kernel wrote it (``kernel.03_monitor``). With
``--verbose`` the kernels of a run also relay their records to the console through the progress
file (``{"event": "log"}``, :data:`VERBOSE_ENV`). A file,
rather than filtering papermill's stream of the kernel's output: the readings stay structured (no
parsing of text the notebook prints for people), the executed notebooks keep only what people
read, and the file outlives the process (``tail -f`` from another terminal, or a run resumed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TextIO

from .progress import PROGRESS_ENV, Bar, NullSink, Reading, TqdmSink, duration

RUN_LOG = "run.log"
PROGRESS_FILE = "progress.jsonl"
#: without a terminal, an open wait prints a line this often
HEARTBEAT_SECONDS = 60.0
#: width of the name column of a step line (the longest step name, 01_deploy_buffer, is 16)
NAME_WIDTH = 18
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: loggers whose DEBUG and INFO records are never wanted, even with --verbose (botocore's DEBUG
#: records carry request and response bodies: item values)
QUIET_LOGGERS = {"botocore": logging.WARNING, "boto3": logging.WARNING, "urllib3": logging.WARNING,
                 "werkzeug": logging.ERROR, "matplotlib": logging.WARNING, "asyncio": logging.WARNING}

#: a kernel's run.log lines: as :data:`LOG_FORMAT`, with the step whose kernel wrote them
KERNEL_LOG_FORMAT = "%(asctime)s %(levelname)s %(kernel)s %(name)s: %(message)s"
#: set (to 1) for the kernels of a run started with --verbose: they relay their log records to the console
VERBOSE_ENV = "PITR_RUNBOOK_VERBOSE"

#: outcomes of a step line
DONE, DRY_RUN, FAIL, INTERRUPTED = "done", "dry run", "FAIL", "interrupted"


# -- step lines ------------------------------------------------------------------------------------------


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def step_line(name: str, outcome: str, seconds: float | None = None, detail: str = "") -> str:
    """``03_monitor         done        58 s  detail``: name, outcome, duration, then what to know."""
    took = duration(seconds) if seconds is not None else ""
    return f"{name:<{NAME_WIDTH}} {outcome:<8} {took:>11}  {one_line(detail)}".rstrip()


@dataclass(frozen=True)
class StepReport:
    """How one step of a run ended: what the runner tells the console after each step."""

    step: str
    outcome: str  # DONE, DRY_RUN, FAIL, INTERRUPTED
    seconds: float
    detail: str = ""


# -- logging: the console and run.log -----------------------------------------------------------------------


class ConsoleFilter(logging.Filter):
    """Which log records reach the console: every one with ``--verbose``; otherwise errors (from
    anyone) and warnings of this runbook's own modules. papermill's INFO lines, the kernels'
    output, botocore's and Python's warnings stay in ``run.log``."""

    OWN = "runbook_lib"

    def __init__(self, verbose: bool = False):
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose or record.levelno >= logging.ERROR:
            return True
        own = record.name == self.OWN or record.name.startswith(self.OWN + ".")
        return own and record.levelno >= logging.WARNING


class _ConsoleHandler(logging.StreamHandler):
    """The console's log handler (one per process: set up again, it is replaced). Without a stream
    of its own it writes to whatever ``sys.stderr`` is when a record comes."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__(stream)
        self._own = stream

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._own if self._own is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._own = value


class _RunLogHandler(logging.FileHandler):
    """``run.log``'s handler."""


_verbose = False


def setup_logging(verbose: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """The CLI's logging: the root logger at INFO (DEBUG with ``verbose``) with a filtered console
    handler on stderr; Python warnings as log records (``py.warnings``)."""
    global _verbose
    _verbose = verbose
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for old in [h for h in root.handlers if isinstance(h, _ConsoleHandler)]:
        root.removeHandler(old)
    handler = _ConsoleHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(ConsoleFilter(verbose))
    root.addHandler(handler)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)
    return handler


@contextlib.contextmanager
def run_log(run_dir: str | Path) -> Iterator[Path]:
    """Every log record of the process goes to ``<run_dir>/run.log`` meanwhile (appended; nested
    calls for the same directory share one handler)."""
    path = Path(run_dir).resolve() / RUN_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if any(isinstance(h, _RunLogHandler) and Path(h.baseFilename) == path for h in root.handlers):
        yield path
        return
    handler = _RunLogHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()


class _KernelRunLogHandler(logging.FileHandler):
    """A kernel's handler on ``run.log``; ``step`` (set when a step starts) labels its records."""

    def __init__(self, path: Path):
        super().__init__(path, encoding="utf-8")
        self.step = ""
        self.setFormatter(logging.Formatter(KERNEL_LOG_FORMAT))

    def emit(self, record: logging.LogRecord) -> None:
        record.kernel = f"kernel.{self.step}" if self.step else "kernel"
        super().emit(record)


class _RelayHandler(logging.Handler):
    """A kernel's records for the console of a ``--verbose`` run: JSON lines in the progress file."""

    def __init__(self, path: str):
        super().__init__(logging.DEBUG)
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        line = json.dumps({"id": "log", "event": "log", "level": record.levelname, "name": record.name,
                           "message": record.getMessage()})
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError:  # pragma: no cover - a courtesy, as the bars are
            pass


def kernel_logging(run_dir: str | Path, *, extra: Sequence[logging.Handler] = ()) -> Path:
    """A notebook kernel's logging: every record (INFO and up; botocore and the like at WARNING, as
    :data:`QUIET_LOGGERS`) to ``<run_dir>/run.log``, Python warnings too (``py.warnings``), and no
    handler writing to the cell's stdout or stderr. ``extra``: further handlers (the notebook's
    warning boxes). Set up again (another ``run_dir``, a cell run twice), it replaces its handlers."""
    path = Path(run_dir).resolve() / RUN_LOG
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_pitr_kernel", False)]:
        root.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [_KernelRunLogHandler(path), *extra]
    relay = os.environ.get(PROGRESS_ENV)
    if relay and os.environ.get(VERBOSE_ENV):
        handlers.append(_RelayHandler(relay))
    for handler in handlers:
        handler._pitr_kernel = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if os.environ.get(VERBOSE_ENV) else logging.INFO)
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)
    return path


def kernel_log_step(step: str) -> None:
    """Label this kernel's run.log records with ``step`` from now on (a step's start)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _KernelRunLogHandler):
            handler.step = step


class KernelStream:
    """A file-like object for papermill's ``stdout_file``/``stderr_file``: each line a kernel's
    cells print becomes an INFO record of the logger ``kernel.<step>`` (``kernel.<step>.stderr``),
    so it lands in ``run.log`` and, with ``--verbose`` only, on the console."""

    def __init__(self, step: str, name: str = "stdout"):
        self.log = logging.getLogger(f"kernel.{step}" + ("" if name == "stdout" else f".{name}"))
        self._partial = ""

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            line = line.rstrip("\r")
            if line.strip():
                self.log.info("%s", line.rsplit("\r", 1)[-1])  # a text bar's last state, not every redraw
        return len(text)

    def flush(self) -> None:
        """Nothing: papermill flushes after every chunk, and a line may come in several."""

    def close(self) -> None:
        """The last line, if it had no newline."""
        if self._partial.strip():
            self.log.info("%s", self._partial.rsplit("\r", 1)[-1])
        self._partial = ""


def kernel_manager_class(env: dict[str, str], stderr: Any) -> type:
    """A kernel manager that starts the kernel with ``env`` added to this process's environment
    (``PITR_RUNBOOK_PROGRESS``) and the kernel process's own stderr (ipykernel's warnings,
    a crash's last words) sent to ``stderr`` (``run.log``) instead of the operator's terminal.
    nbclient takes it as ``kernel_manager_class``; papermill passes that on."""
    from jupyter_client.manager import AsyncKernelManager

    class RunKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]
            kw["env"] = {**kw.get("env", os.environ), **env}
            kw.setdefault("stderr", stderr)
            await super().start_kernel(**kw)

    return RunKernelManager


@contextlib.contextmanager
def kernel_output(step: str, run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """papermill's keyword arguments that send a step's kernel output to ``run.log`` and its bars
    to ``progress.jsonl``."""
    run_dir = Path(run_dir).resolve()
    stdout, stderr = KernelStream(step), KernelStream(step, "stderr")
    with open(run_dir / RUN_LOG, "a", encoding="utf-8") as process_stderr:
        try:
            yield {
                "log_output": False,
                "stdout_file": stdout,
                "stderr_file": stderr,
                "kernel_manager_class": kernel_manager_class(
                    {PROGRESS_ENV: str(run_dir / PROGRESS_FILE), **({VERBOSE_ENV: "1"} if _verbose else {})},
                    process_stderr),
            }
        finally:
            stdout.close()
            stderr.close()


# -- the console ------------------------------------------------------------------------------------------


def _terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class HeartbeatSink:
    """A wait's bar where there is no terminal: one indented line per ``every`` seconds of the wait."""

    def __init__(self, console: "Console", every: float):
        self.console, self.every = console, every
        self.last = 0.0

    def show(self, reading: Reading) -> None:
        if reading.elapsed - self.last >= self.every:
            self.last = reading.elapsed
            self.console.write(f"{'':<{NAME_WIDTH}} waiting for {reading.what}: {reading.detail()}")

    def close(self, reading: Reading, ok: bool) -> None:
        pass


class Console:
    """Step lines on ``out`` (stdout), and the bars of the waits a run's kernels report.

    ``bars``: draw tqdm bars (default: when ``out`` is a terminal); otherwise a line per
    ``heartbeat`` seconds of a wait.
    """

    def __init__(self, out: TextIO | None = None, *, bars: bool | None = None, heartbeat: float = HEARTBEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.out = out if out is not None else sys.stdout
        self.bars = _terminal(self.out) if bars is None else bars
        self.heartbeat = heartbeat
        self.clock = clock
        self._lock = threading.RLock()
        self._open: dict[str, Any] = {}
        self._offset = 0
        self._partial = ""
        self._progress: Path | None = None

    # lines
    def write(self, text: str) -> None:
        with self._lock:
            self._clear_bars()
            print(text, file=self.out, flush=True)
            self._redraw_bars()

    def line(self, name: str, outcome: str, seconds: float | None = None, detail: str = "") -> None:
        self.write(step_line(name, outcome, seconds, detail))

    def step_finished(self, report: StepReport) -> None:
        """The runner's ``after_step``: first the kernel's last readings, then the step's line."""
        self.poll()
        self.close_bars(ok=report.outcome in (DONE, DRY_RUN))
        self.line(report.step, report.outcome, report.seconds, report.detail)

    @contextlib.contextmanager
    def phase(self, name: str, outcome: str = DONE) -> Iterator[dict[str, Any]]:
        """Time a block and print its line: ``outcome`` (or ``FAIL`` and the reason if it raises).
        The block may set ``detail`` (and ``outcome``) in the dict it gets."""
        started = self.clock()
        info: dict[str, Any] = {"detail": "", "outcome": outcome}
        try:
            yield info
        except KeyboardInterrupt:
            self.line(name, INTERRUPTED, self.clock() - started)
            raise
        except BaseException as exc:
            self.line(name, FAIL, self.clock() - started, f"{type(exc).__name__}: {exc}")
            raise
        self.line(name, info["outcome"], self.clock() - started, info["detail"])

    def wait(self, what: str, *, timeout: float | None = None, total: float | None = None, unit: str = "") -> Bar:
        """A bar for a wait in this process (the drill's own), drawn as the kernels' are."""
        reading = Reading(what=what, elapsed=0.0, timeout=timeout, total=total, unit=unit)
        return Bar(what, timeout=timeout, total=total, unit=unit, sink=_Locked(self, self._sink(reading)), clock=self.clock)

    # bars the kernels report
    def _sink(self, reading: Reading) -> Any:
        if self.bars:
            from tqdm import tqdm as console_tqdm

            return TqdmSink(console_tqdm, reading, leave=False, file=self.out, dynamic_ncols=True)
        if self.heartbeat:
            return HeartbeatSink(self, self.heartbeat)
        return NullSink()

    def _clear_bars(self) -> None:
        for sink in self._open.values():
            if sink.bar is not None:
                sink.bar.clear()

    def _redraw_bars(self) -> None:
        for sink in self._open.values():
            if sink.bar is not None:
                sink.bar.refresh()

    def close_bars(self, ok: bool = True) -> None:
        with self._lock:
            for key, sink in list(self._open.items()):
                sink.close(sink_reading(sink), ok)
                del self._open[key]

    def handle(self, event: dict[str, Any]) -> None:
        """One reading from ``progress.jsonl`` (or a log record a ``--verbose`` kernel relays)."""
        if event.get("event") == "log":
            self.write(f"{event.get('level')} {event.get('name')}: {event.get('message')}")
            return
        reading = Reading.from_dict(event)
        key = str(event.get("id"))
        with self._lock:
            sink = self._open.get(key)
            if sink is None and event.get("event") != "end":
                sink = self._open[key] = _Remembering(self._sink(reading), reading)
            if sink is None:
                return
            if event.get("event") == "end":
                sink.close(reading, bool(event.get("ok", True)))
                self._open.pop(key, None)
            else:
                sink.show(reading)

    def poll(self) -> None:
        """Read what the kernels appended to the progress file since the last poll."""
        path = self._progress
        if path is None or not path.exists():
            return
        with self._lock:
            with open(path, encoding="utf-8") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
                self._offset = fh.tell()
            lines = (self._partial + chunk).split("\n")
            self._partial = lines.pop()
            for text in lines:
                try:
                    event = json.loads(text)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    self.handle(event)

    @contextlib.contextmanager
    def following(self, run_dir: str | Path, interval: float = 0.25) -> Iterator["Console"]:
        """Tail ``<run_dir>/progress.jsonl`` in a thread while the block runs."""
        path = Path(run_dir).resolve() / PROGRESS_FILE
        self._progress = path
        self._offset = path.stat().st_size if path.exists() else 0  # a resumed run: only new readings
        self._partial = ""
        stop = threading.Event()

        def tail() -> None:
            while not stop.wait(interval):
                try:
                    self.poll()
                except Exception:  # the console's courtesy must never stop a run
                    logging.getLogger(__name__).debug("progress tail", exc_info=True)

        thread = threading.Thread(target=tail, name="progress-tail", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=2)
            self.poll()
            self.close_bars(ok=sys.exc_info()[1] is None)
            self._progress = None


class _Remembering:
    """A sink that keeps its last reading, so that the console can close it at a step's end."""

    def __init__(self, sink: Any, reading: Reading):
        self.sink, self.reading = sink, reading
        sink.show(reading)

    def show(self, reading: Reading) -> None:
        self.reading = reading
        self.sink.show(reading)

    def close(self, reading: Reading, ok: bool) -> None:
        self.reading = reading
        self.sink.close(reading, ok)

    @property
    def bar(self) -> Any:
        return getattr(self.sink, "bar", None)


class _Locked:
    """A sink used from the drill's own thread under the console's lock."""

    def __init__(self, console: Console, sink: Any):
        self.console, self.sink = console, sink

    def show(self, reading: Reading) -> None:
        with self.console._lock:
            self.sink.show(reading)

    def close(self, reading: Reading, ok: bool) -> None:
        with self.console._lock:
            self.sink.close(reading, ok)


def sink_reading(sink: Any) -> Reading:
    return getattr(sink, "reading", Reading(what="", elapsed=0.0))


__all__ = [
    "ConsoleFilter",
    "Console",
    "HeartbeatSink",
    "KernelStream",
    "StepReport",
    "kernel_log_step",
    "kernel_logging",
    "kernel_manager_class",
    "kernel_output",
    "one_line",
    "run_log",
    "setup_logging",
    "step_line",
]
