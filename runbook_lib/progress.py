"""Progress of long waits: one bar API for a notebook, a terminal and the runner's console, and a
figure that redraws in place.

A wait (the restore CREATING -> ACTIVE, the buffer draining, cutover's quiet period, a DLQ
redrive) opens a :class:`Bar` with :func:`wait`, updates it each time it polls, and closes it.
Where the bar shows is chosen once, when it opens:

- **under the runner** (``pitr-runbook run`` and ``drill``): the notebook's kernel is another
  process than the console, so the bar appends its readings as JSON lines to the file named by
  :data:`PROGRESS_ENV` (the runner sets it to ``<run_dir>/progress.jsonl`` for the kernels it
  starts) and the runner's console draws them (``runbook_lib.console``). No widget: nobody watches
  that kernel.
- **in a notebook** someone runs: tqdm's notebook bar (``tqdm.auto``: an ipywidgets bar, updated in
  place).
- **in a terminal** (a script, a Python prompt): tqdm's console bar on stderr, gone when the wait
  ends.
- **anywhere else** (a pipe, a test, a Lambda): nothing; the waits log as they always did.

:class:`LiveFigure` shows a figure once in a notebook and redraws it in the same output (an IPython
display handle) as new samples arrive: the drain figure while the buffer drains. In a kernel the
runner started, nobody watches the output but the executed notebook is the run's record: the
figure is drawn once, when the wait ends, as it stands then. Outside a notebook it does nothing.

In a notebook someone runs, a bar is tqdm's ipywidgets bar where ipywidgets is installed, and
otherwise tqdm's text bar on the cell's stdout: one line rewritten in place (``\r``), never
tqdm's ``TqdmWarning: IProgress not found`` and its line per update.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

#: the file the bars of a kernel started by the runner write to (one JSON object a line)
PROGRESS_ENV = "PITR_RUNBOOK_PROGRESS"
#: a bar writes at most one reading per this many seconds to the progress file (start and end always)
FILE_INTERVAL = 0.5

_ids = itertools.count(1)


# -- what a bar shows ---------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 00 min``: to the second, never with a fraction over a minute."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


@dataclass(frozen=True)
class Reading:
    """One look at a wait: ``n`` of ``total`` (when the wait counts something), ``elapsed`` of
    ``timeout`` (when it has one), and a short ``status`` in the wait's own words."""

    what: str
    elapsed: float
    timeout: float | None = None
    n: float | None = None
    total: float | None = None
    unit: str = ""
    status: str = ""

    @property
    def fraction(self) -> float | None:
        """How far the bar is filled: n of total if counted, else elapsed of timeout; None: no bar."""
        if self.total:
            return max(0.0, min(1.0, (self.n or 0) / self.total))
        if self.timeout:
            return max(0.0, min(1.0, self.elapsed / self.timeout))
        return None

    def detail(self) -> str:
        """``12 of 40 messages, 8.0 s of 10 min 00 s, RUNNING``: the text beside the bar."""
        parts = []
        if self.total is not None:
            parts.append(f"{_number(self.n or 0)} of {_number(self.total)}{' ' + self.unit if self.unit else ''}")
        elif self.n is not None:
            parts.append(f"{_number(self.n)}{' ' + self.unit if self.unit else ''}")
        parts.append(f"{duration(self.elapsed)} of {duration(self.timeout)}" if self.timeout else duration(self.elapsed))
        if self.status:
            parts.append(self.status)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Reading":
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


# -- where a bar shows ---------------------------------------------------------------------------------


class NullSink:
    """Nothing to show (no notebook, no terminal, nobody tailing)."""

    def show(self, reading: Reading) -> None:
        pass

    def close(self, reading: Reading, ok: bool) -> None:
        pass


class FileSink:
    """JSON lines for the runner's console: ``{"id", "event": start|update|end, "ok", ...Reading}``."""

    def __init__(self, path: str | Path, *, interval: float = FILE_INTERVAL, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.id = f"{os.getpid()}-{next(_ids)}"
        self.interval = interval
        self.clock = clock
        self._last: float | None = None

    def _write(self, event: str, reading: Reading, **extra: Any) -> None:
        data = reading.to_dict()
        data["elapsed"] = round(data["elapsed"], 3)
        line = json.dumps({"id": self.id, "event": event, **data, **extra})
        try:
            with open(self.path, "a") as fh:
                fh.write(line + "\n")
        except OSError:  # progress is a courtesy: a full disk or a removed run directory must not fail a wait
            pass

    def show(self, reading: Reading) -> None:
        now = self.clock()
        if self._last is None:
            self._write("start", reading)
        elif now - self._last < self.interval:
            return
        else:
            self._write("update", reading)
        self._last = now

    def close(self, reading: Reading, ok: bool) -> None:
        if self._last is None:
            self._write("start", reading)
        self._write("end", reading, ok=ok)


class TqdmSink:
    """A tqdm bar (the notebook widget or the console form): the fraction filled, then what is
    awaited and the reading's detail. ``leave``: keep the last state shown after the wait (a
    notebook), or wipe it (a console, where a step line follows)."""

    SCALE = 1000
    BOUNDED = "{percentage:3.0f}%|{bar}| {desc}"

    def __init__(self, tqdm_class: Any, reading: Reading, *, leave: bool, **kwargs: Any):
        bounded = reading.fraction is not None
        self.bar = tqdm_class(
            total=self.SCALE if bounded else None,
            desc=self.text(reading),
            bar_format=self.BOUNDED if bounded else "{desc}",
            leave=leave,
            mininterval=0.5,
            **kwargs,
        )
        self.show(reading)

    @staticmethod
    def text(reading: Reading) -> str:
        return f"waiting for {reading.what}: {reading.detail()}"

    def show(self, reading: Reading) -> None:
        fraction = reading.fraction
        if fraction is not None:
            if self.bar.total is None:  # a total became known (a redrive's count)
                self.bar.total, self.bar.bar_format = self.SCALE, self.BOUNDED
            self.bar.n = round(fraction * self.SCALE)
        self.bar.set_description_str(self.text(reading), refresh=False)
        self.bar.refresh()

    def close(self, reading: Reading, ok: bool) -> None:
        if ok and self.bar.total:
            self.bar.n = self.bar.total  # a wait that ended well ends full (the widget turns green, not red)
        self.bar.set_description_str(self.text(reading), refresh=False)
        self.bar.close()


def in_notebook() -> bool:
    """A Jupyter kernel (someone may be watching its output), not a terminal IPython."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    shell = ipython.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _notebook_tqdm() -> tuple[Any, dict[str, Any]]:
    """tqdm's widget bar when ipywidgets is importable, else its text bar on stdout (``\r`` updates
    one line in place in a notebook). ``tqdm.auto`` would warn (``TqdmWarning``) and fall back to
    stderr instead."""
    from tqdm import notebook as tqdm_notebook

    if getattr(tqdm_notebook, "IProgress", None) is not None:
        return tqdm_notebook.tqdm, {}
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm, {"file": sys.stdout, "ascii": True}


def sink_for(reading: Reading) -> NullSink | FileSink | TqdmSink:
    """Where a bar opened now shows (see the module's docstring for the order)."""
    path = os.environ.get(PROGRESS_ENV)
    if path:
        return FileSink(path)
    if in_notebook():
        notebook_tqdm, kwargs = _notebook_tqdm()
        return TqdmSink(notebook_tqdm, reading, leave=True, **kwargs)
    if _terminal(sys.stderr):
        from tqdm import tqdm as console_tqdm

        return TqdmSink(console_tqdm, reading, leave=False, file=sys.stderr)
    return NullSink()


# -- the bar --------------------------------------------------------------------------------------------


class Bar:
    """A wait in progress: ``update`` at each poll, ``close`` at the end (or use it as a context
    manager). Closed in a ``finally`` block without ``ok``, it reads the outcome from the exception
    on its way out, if any."""

    def __init__(
        self,
        what: str,
        *,
        timeout: float | None = None,
        total: float | None = None,
        unit: str = "",
        sink: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.clock = clock
        self.started = clock()
        self.reading = Reading(what=what, elapsed=0.0, timeout=timeout, total=total, unit=unit)
        self.sink = sink if sink is not None else sink_for(self.reading)
        self.closed = False
        self.sink.show(self.reading)

    def update(self, n: float | None = None, *, total: float | None = None, status: str | None = None) -> Reading:
        """A new reading: ``n`` (of ``total``) counted so far, ``status`` in the wait's words."""
        if self.closed:
            return self.reading
        r = self.reading
        self.reading = Reading(
            what=r.what,
            elapsed=self.clock() - self.started,
            timeout=r.timeout,
            n=r.n if n is None else n,
            total=r.total if total is None else total,
            unit=r.unit,
            status=r.status if status is None else status,
        )
        self.sink.show(self.reading)
        return self.reading

    def close(self, ok: bool | None = None) -> None:
        if self.closed:
            return
        self.closed = True
        if ok is None:
            ok = sys.exc_info()[1] is None
        r = self.reading
        self.reading = Reading(r.what, self.clock() - self.started, r.timeout, r.n, r.total, r.unit, r.status)
        self.sink.close(self.reading, ok)

    def __enter__(self) -> "Bar":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc is None)

    def __del__(self) -> None:  # a wait left by an exception before its close: end the bar anyway
        try:
            self.close(ok=False)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


def wait(what: str, *, timeout: float | None = None, total: float | None = None, unit: str = "", show: bool = True) -> Bar:
    """Open a bar for "waiting for ``what``": ``timeout`` in seconds, ``total`` things to count.
    ``show=False``: a bar that shows nowhere (a caller that reports progress its own way)."""
    return Bar(what, timeout=timeout, total=total, unit=unit, sink=None if show else NullSink())


# -- a figure that redraws in place ------------------------------------------------------------------------


def _notebook_display() -> Callable[..., Any] | None:
    """IPython's ``display`` in a notebook (someone runs it, or the runner: see :func:`_unwatched`);
    None outside a notebook."""
    if not in_notebook():
        return None
    from IPython.display import display

    return display


def _unwatched() -> bool:
    """A kernel the runner started (``pitr-runbook run``, ``drill``): nobody watches its output live."""
    return bool(os.environ.get(PROGRESS_ENV))


class LiveFigure:
    """A figure shown once and redrawn in the same output as data arrive (an IPython display
    handle), at most once per ``interval`` seconds plus a last time on :meth:`close`.

    ``render`` builds the figure from what is known now. Without a notebook (``display`` None) it
    renders nothing. ``final_only`` (a kernel the runner started): drawn once, on :meth:`close`,
    as the executed notebook's record.
    """

    def __init__(
        self,
        render: Callable[[], Any],
        *,
        interval: float = 2.0,
        display: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        final_only: bool | None = None,
    ):
        self.render = render
        self.interval = interval
        self.display = display if display is not None else _notebook_display()
        self.final_only = _unwatched() if final_only is None else final_only
        self.clock = clock
        self.handle: Any = None
        self._last: float | None = None
        self._stale = False

    @property
    def active(self) -> bool:
        return self.display is not None

    def update(self, *, force: bool = False) -> None:
        """Redraw, unless the last redraw was less than ``interval`` ago (then on the next one)."""
        if self.display is None:
            return
        now = self.clock()
        if not force and (self.final_only or (self._last is not None and now - self._last < self.interval)):
            self._stale = True
            return
        figure = _displayable(self.render())
        if self.handle is None:
            self.handle = self.display(figure, display_id=True)
        else:
            self.handle.update(figure)
        self._last, self._stale = now, False

    def close(self) -> None:
        """The last redraw, if samples came after the previous one."""
        if self._stale:
            self.update(force=True)


def _displayable(figure: Any) -> Any:
    """A matplotlib figure as a PNG image (shown whatever the kernel's matplotlib backend); anything
    else as it is."""
    if not hasattr(figure, "savefig") or hasattr(figure, "_repr_png_"):
        return figure  # a RunbookFigure shows as its PNG itself
    import io

    from IPython.display import Image

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return Image(data=buffer.getvalue(), format="png")


def live_figure(render: Callable[[], Any], *, interval: float = 2.0) -> LiveFigure:
    return LiveFigure(render, interval=interval)


def live_drain_figure(samples: list[dict[str, Any]], run_dir: str | Path | None = None) -> LiveFigure:
    """The drain figure (``report.drain_figure``) redrawn as ``samples`` (this wait's) grows, with
    the run's timings (the "replay on" marker) when there is a run directory."""

    def render() -> Any:
        from . import report, run_state

        timings = run_state.load(run_dir).view().get("timings", {}) if run_dir is not None else {}
        return report.drain_figure({"drain_samples": list(samples), "timings": timings})

    return live_figure(render)


__all__ = [
    "PROGRESS_ENV",
    "Bar",
    "FileSink",
    "LiveFigure",
    "NullSink",
    "Reading",
    "TqdmSink",
    "duration",
    "in_notebook",
    "live_drain_figure",
    "live_figure",
    "sink_for",
    "wait",
]
