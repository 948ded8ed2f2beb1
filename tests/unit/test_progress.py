"""Bars on long waits and the figure that redraws in place (runbook_lib.progress), without a kernel."""

from __future__ import annotations

import io
import json
import sys

import pytest

from runbook_lib import progress
from runbook_lib.aws.waiting import poll


class FakeClock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingSink:
    def __init__(self):
        self.shown: list[progress.Reading] = []
        self.closed: list[tuple[progress.Reading, bool]] = []

    def show(self, reading):
        self.shown.append(reading)

    def close(self, reading, ok):
        self.closed.append((reading, ok))


@pytest.fixture
def no_runner(monkeypatch):
    """As outside ``pitr-runbook run``: no progress file named, stderr not a terminal."""
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())


def _events(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_duration_is_to_the_second_past_ten_seconds():
    assert [progress.duration(s) for s in (0.25, 9.94, 42.4, 185, 7260)] == ["0.2 s", "9.9 s", "42 s", "3 min 05 s", "2 h 01 min"]


def test_a_timed_wait_shows_elapsed_of_timeout_and_fills_by_time():
    clock, sink = FakeClock(), RecordingSink()
    bar = progress.Bar("orders-restored to be ACTIVE", timeout=120, sink=sink, clock=clock)
    clock.now += 30
    reading = bar.update(status="CREATING")
    assert reading.elapsed == 30 and reading.fraction == 0.25
    assert reading.detail() == "30 s of 2 min 00 s, CREATING"
    clock.now += 200  # past the timeout the bar stays full
    assert bar.update().fraction == 1.0


def test_a_counted_wait_shows_n_of_total_before_the_time():
    clock, sink = FakeClock(), RecordingSink()
    bar = progress.Bar("the DLQ redrive", timeout=1800, unit="messages moved", sink=sink, clock=clock)
    assert bar.reading.fraction == 0.0  # no count yet: by time
    clock.now += 12
    reading = bar.update(3, total=12, status="RUNNING")
    assert reading.fraction == 0.25
    assert reading.detail() == "3 of 12 messages moved, 12 s of 30 min 00 s, RUNNING"
    # a later reading without n keeps the count and the total
    assert bar.update(status="RUNNING").detail().startswith("3 of 12 messages moved")


def test_a_wait_without_timeout_or_total_has_no_bar_only_elapsed():
    bar = progress.Bar("something", sink=RecordingSink(), clock=FakeClock())
    assert bar.reading.fraction is None and bar.reading.detail() == "0.0 s"


def test_close_in_a_finally_block_reads_the_outcome_from_the_exception_on_its_way_out():
    sink = RecordingSink()
    bar = progress.Bar("x", timeout=10, sink=sink, clock=FakeClock())
    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("restore failed")
        finally:
            bar.close()
    assert [ok for _, ok in sink.closed] == [False]
    good = RecordingSink()
    other = progress.Bar("y", timeout=10, sink=good, clock=FakeClock())
    try:
        pass
    finally:
        other.close()
    other.close()  # closing twice ends the bar once
    assert [ok for _, ok in good.closed] == [True]


def test_outside_a_notebook_and_a_terminal_a_bar_shows_nowhere_and_opens_no_widget(no_runner):
    assert not progress.in_notebook()
    bar = progress.wait("the buffer to drain", timeout=60)
    assert isinstance(bar.sink, progress.NullSink)
    assert "tqdm.notebook" not in sys.modules or not isinstance(getattr(bar.sink, "bar", None), sys.modules["tqdm.notebook"].tqdm)
    bar.close()


def test_in_a_terminal_the_bar_is_tqdms_console_form_and_is_wiped_when_the_wait_ends(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    bar = progress.wait("the buffer to drain", timeout=60)
    assert isinstance(bar.sink, progress.TqdmSink)
    tqdm_bar = bar.sink.bar
    assert type(tqdm_bar).__module__ == "tqdm.std" and tqdm_bar.leave is False
    bar.update(status="depth 3")
    assert "waiting for the buffer to drain" in sys.stderr.getvalue() and "depth 3" in sys.stderr.getvalue()
    bar.close(ok=True)
    assert tqdm_bar.n == tqdm_bar.total  # ended well: full


def test_a_failed_wait_leaves_the_tqdm_bar_where_it_stopped():
    out = io.StringIO()
    from tqdm import tqdm

    clock = FakeClock()
    sink = progress.TqdmSink(tqdm, progress.Reading("x", 0.0, timeout=100), leave=True, file=out)
    bar = progress.Bar("x", timeout=100, sink=sink, clock=clock)
    clock.now += 40
    bar.update()
    bar.close(ok=False)
    assert sink.bar.n == 400 and sink.bar.total == 1000


def test_under_the_runner_readings_go_to_the_progress_file_at_most_twice_a_second(monkeypatch, tmp_path):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    clock = FakeClock()
    sink = progress.sink_for(progress.Reading("x", 0.0))
    assert isinstance(sink, progress.FileSink)
    sink.clock = clock
    bar = progress.Bar("the buffer to drain", timeout=300, sink=sink, clock=clock)
    for step in (0.1, 0.1, 0.4, 0.1):  # updates at 0.1, 0.2, 0.6, 0.7 s: only 0.6 is due
        clock.now += step
        bar.update(status=f"depth {step}")
    bar.close(ok=True)
    events = _events(path)
    assert [e["event"] for e in events] == ["start", "update", "end"]
    assert {e["id"] for e in events} == {sink.id}
    assert events[1]["elapsed"] == pytest.approx(0.6) and events[1]["timeout"] == 300
    assert events[-1]["ok"] is True and events[-1]["what"] == "the buffer to drain"
    assert progress.Reading.from_dict(events[1]).detail() == "0.6 s of 5 min 00 s, depth 0.4"


def test_poll_with_progress_reports_the_wait_and_how_it_ended(monkeypatch, tmp_path):
    path = tmp_path / "progress.jsonl"
    monkeypatch.setenv(progress.PROGRESS_ENV, str(path))
    answers = iter([None, None, "ACTIVE"])
    assert poll(lambda: next(answers), timeout=60, interval=0.01, on_timeout=RuntimeError, sleep=lambda s: None,
                progress="orders to be ACTIVE") == "ACTIVE"
    events = _events(path)
    assert events[0]["event"] == "start" and events[0]["what"] == "orders to be ACTIVE" and events[0]["timeout"] == 60
    assert events[-1]["event"] == "end" and events[-1]["ok"] is True
    path.unlink()
    with pytest.raises(TimeoutError):
        poll(lambda: None, timeout=0.02, interval=0.01, on_timeout=TimeoutError, progress="never")
    assert _events(path)[-1]["ok"] is False
    path.unlink()
    poll(lambda: "now", timeout=1, interval=0.01, on_timeout=RuntimeError)  # no progress: no bar
    assert not path.exists()


# -- the live figure -----------------------------------------------------------------------------------


class FakeHandle:
    def __init__(self, first):
        self.shown = [first]

    def update(self, obj):
        self.shown.append(obj)


class FakeDisplay:
    def __init__(self):
        self.handles: list[FakeHandle] = []

    def __call__(self, obj, display_id=False):
        assert display_id is True  # a handle, so that later samples redraw the same output
        self.handles.append(FakeHandle(obj))
        return self.handles[-1]


def test_live_figure_redraws_the_same_display_handle_at_most_once_per_interval():
    clock, display, samples = FakeClock(), FakeDisplay(), []
    live = progress.LiveFigure(lambda: f"figure of {len(samples)} samples", interval=2.0, display=display, clock=clock)
    for n in range(1, 6):  # a sample a second
        samples.append(n)
        live.update()
        clock.now += 1.0
    live.close()  # the last samples came after the last redraw: drawn once more
    assert len(display.handles) == 1
    assert display.handles[0].shown == ["figure of 1 samples", "figure of 3 samples", "figure of 5 samples"]
    live.close()
    assert len(display.handles[0].shown) == 3  # nothing new: no redraw


def test_live_figure_shows_a_matplotlib_figure_as_a_png_image():
    from matplotlib.figure import Figure

    display = FakeDisplay()
    live = progress.LiveFigure(lambda: Figure(figsize=(2, 1)), display=display)
    live.update()
    image = display.handles[0].shown[0]
    assert type(image).__name__ == "Image" and image.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_live_figure_shows_a_runbook_figure_as_itself_its_own_png():
    from runbook_lib.report import RunbookFigure

    display = FakeDisplay()
    progress.LiveFigure(lambda: RunbookFigure(figsize=(2, 1)), display=display).update()
    shown = display.handles[0].shown[0]
    assert isinstance(shown, RunbookFigure) and shown._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"


def test_in_a_kernel_the_runner_started_the_live_figure_is_drawn_once_when_the_wait_ends():
    """Nobody watches it live, but the executed notebook keeps it: the drain as it ended."""
    clock, display, samples = FakeClock(), FakeDisplay(), []
    live = progress.LiveFigure(lambda: f"figure of {len(samples)} samples", display=display, clock=clock, final_only=True)
    for n in range(1, 6):
        samples.append(n)
        live.update()
        clock.now += 3.0
    assert display.handles == []
    live.close()
    assert [h.shown for h in display.handles] == [["figure of 5 samples"]]


def test_the_runners_kernels_draw_the_live_figure_only_at_the_end(monkeypatch, tmp_path):
    monkeypatch.setenv(progress.PROGRESS_ENV, str(tmp_path / "progress.jsonl"))
    assert progress.LiveFigure(lambda: None, display=FakeDisplay()).final_only is True
    monkeypatch.delenv(progress.PROGRESS_ENV)
    assert progress.LiveFigure(lambda: None, display=FakeDisplay()).final_only is False


def test_a_notebook_bar_without_ipywidgets_is_one_text_line_on_stdout_and_no_tqdm_warning(monkeypatch):
    import warnings

    from tqdm import notebook as tqdm_notebook

    monkeypatch.setattr(tqdm_notebook, "IProgress", None)  # as where ipywidgets is not installed
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a TqdmWarning would fail here
        bar_class, kwargs = progress._notebook_tqdm()
        sink = progress.TqdmSink(bar_class, progress.Reading("the buffer to drain", 1.0, timeout=10.0), leave=True, **kwargs)
        for elapsed in (2.0, 3.0, 4.0):
            sink.show(progress.Reading("the buffer to drain", elapsed, timeout=10.0, status="depth 3"))
        sink.close(progress.Reading("the buffer to drain", 5.0, timeout=10.0), ok=True)
    text = out.getvalue()
    assert text.count("\n") == 1 and "\r" in text  # one line, rewritten in place
    assert "waiting for the buffer to drain" in text


def test_a_notebook_bar_with_ipywidgets_is_the_widget():
    from tqdm import notebook as tqdm_notebook

    assert tqdm_notebook.IProgress is not None  # ipywidgets comes with the install (tqdm[notebook])
    assert progress._notebook_tqdm() == (tqdm_notebook.tqdm, {})


def test_without_a_notebook_the_live_figure_draws_nothing(no_runner):
    rendered = []
    live = progress.live_figure(lambda: rendered.append(1))
    live.update()
    live.close()
    assert not live.active and rendered == []


def test_the_live_drain_figure_draws_this_waits_samples_with_the_runs_markers(tmp_path):
    from runbook_lib import run_state, times

    with run_state.edit(tmp_path) as state:
        state.timings.replay_enabled = times.parse_iso("2026-11-30T10:00:01Z")
    samples = [{"t": "2026-11-30T10:00:00Z", "depth": 5, "in_flight": 1, "dlq": 0},
               {"t": "2026-11-30T10:00:02Z", "depth": 0, "in_flight": 0, "dlq": 0}]
    live = progress.live_drain_figure(samples, tmp_path)
    figure = live.render()
    (ax,) = figure.axes
    assert [len(line.get_xdata()) for line in ax.get_lines() if line.get_label() == "queue depth"] == [2]
    assert any(text.get_text() == "replay on" for text in ax.texts)
