"""The console of ``pitr-runbook run`` and ``drill`` (runbook_lib.console): a line per step, a bar
per wait, and every other log record in run.log unless --verbose. No kernel: the runner's steps are
stood in for."""

from __future__ import annotations

import io
import json
import logging
import warnings

import pytest

from runbook_lib import cli, console, progress, runner


class FakeClock:
    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- step lines -------------------------------------------------------------------------------------------


def test_a_step_line_is_name_outcome_duration_then_the_reason_on_one_line():
    assert console.step_line("03_monitor", "done", 58.4) == "03_monitor         done            58 s"
    assert console.step_line("00_preflight", "dry run", 4.25) == "00_preflight       dry run        4.2 s"
    failed = console.step_line("01_deploy_buffer", "FAIL", 3.0,
                               "AccessDeniedError: access denied:\n  cloudformation:DescribeStacks")
    assert failed == "01_deploy_buffer   FAIL           3.0 s  AccessDeniedError: access denied: cloudformation:DescribeStacks"
    # the outcome column starts at the same place for every name, durations end at the same place
    lines = [console.step_line(n, "done", s) for n, s in (("sandbox up", 1.0), ("05_cutover", 125.0))]
    assert {line.index("done") for line in lines} == {console.NAME_WIDTH + 1}
    assert len({len(line) for line in lines}) == 1


# -- what the console shows without --verbose ---------------------------------------------------------------


def _record(name: str, level: int) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, "message", None, None)


@pytest.mark.parametrize(
    "name, level, shown",
    [
        ("papermill", logging.INFO, False),  # "Input Notebook: ...", "Executing notebook with kernel"
        ("papermill.translators", logging.WARNING, False),  # "Unable to parse line 13 ..."
        ("kernel.03_monitor", logging.INFO, False),  # what a notebook prints
        ("kernel.03_monitor.stderr", logging.INFO, False),  # what a notebook logs
        ("py.warnings", logging.WARNING, False),  # Python warnings
        ("botocore.credentials", logging.WARNING, False),
        ("runbook_lib.runner", logging.INFO, False),  # "step 00_preflight: running": the step line says it
        ("runbook_lib.aws.clients", logging.WARNING, True),  # our own warnings are the operator's to read
        ("runbook_lib", logging.WARNING, True),
        ("runbook_libx", logging.WARNING, False),
        ("papermill", logging.ERROR, True),  # an error line always is
        ("kernel.05_cutover", logging.ERROR, True),
        ("nbclient", logging.CRITICAL, True),
    ],
)
def test_without_verbose_the_console_shows_errors_and_the_runbooks_warnings_only(name, level, shown):
    assert console.ConsoleFilter(verbose=False).filter(_record(name, level)) is shown
    assert console.ConsoleFilter(verbose=True).filter(_record(name, level)) is True


@pytest.fixture
def logging_state():
    """setup_logging changes the root logger: put it back afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    logging.captureWarnings(False)  # an earlier cli.main left it on: on again only from here
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.parametrize("verbose", [False, True])
def test_log_records_and_python_warnings_go_to_run_log_and_the_console_gets_the_filtered_few(verbose, tmp_path, logging_state):
    err = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        console.setup_logging(verbose=verbose, stream=err)
        with console.run_log(tmp_path):
            logging.getLogger("papermill").info("Input Notebook:  00_preflight.ipynb")
            warnings.warn("datetime.utcnow() is deprecated", DeprecationWarning)
            logging.getLogger("botocore.hooks").debug("Event before-call.dynamodb.Scan: a request body")
            logging.getLogger("runbook_lib.drill").error("the sandbox stopped")
    shown = err.getvalue()
    kept = (tmp_path / console.RUN_LOG).read_text()
    assert "the sandbox stopped" in shown and "the sandbox stopped" in kept
    assert "Input Notebook" in kept and "utcnow() is deprecated" in kept
    assert ("Input Notebook" in shown) is verbose and ("utcnow() is deprecated" in shown) is verbose
    assert "a request body" not in shown + kept  # botocore's DEBUG carries request bodies: never, not even verbose


def test_a_kernels_output_becomes_log_lines_of_its_step(caplog):
    caplog.set_level(logging.INFO)
    out, err = console.KernelStream("02_restore"), console.KernelStream("02_restore", "stderr")
    out.write("restore started: drill-orders-")
    out.write("restored is CREATING\n\n")
    err.write("waiting: 10%\rwaiting: 50%\rwaiting: 100%\nINFO runbook_lib.restore: rest")
    err.flush()  # papermill flushes after each chunk: a line still waits for its end
    assert len(caplog.records) == 2
    err.close()
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("kernel.02_restore", "restore started: drill-orders-restored is CREATING"),
        ("kernel.02_restore.stderr", "waiting: 100%"),
        ("kernel.02_restore.stderr", "INFO runbook_lib.restore: rest"),
    ]


# -- bars the kernels report --------------------------------------------------------------------------------


def _kernel_bar(path, clock, what="the buffer to drain", timeout=300.0):
    """A bar as a kernel started by the runner opens it: readings appended to progress.jsonl."""
    return progress.Bar(what, timeout=timeout, sink=progress.FileSink(path, interval=0, clock=clock), clock=clock)


def test_without_a_terminal_a_wait_prints_a_line_a_minute_and_the_step_its_line(tmp_path):
    out, clock = io.StringIO(), FakeClock()
    con = console.Console(out, bars=False, heartbeat=60, clock=clock)
    path = tmp_path / console.PROGRESS_FILE
    with con.following(tmp_path, interval=3600):  # polled by hand below
        bar = _kernel_bar(path, clock)
        for _ in range(5):  # 150 s of a wait, a reading each 30 s
            clock.now += 30
            bar.update(status="depth 3")
            con.poll()
        bar.close(ok=True)
        con.step_finished(console.StepReport("03_monitor", console.DONE, 151.0))
    lines = out.getvalue().splitlines()
    assert lines == [
        " " * console.NAME_WIDTH + " waiting for the buffer to drain: 1 min 00 s of 5 min 00 s, depth 3",
        " " * console.NAME_WIDTH + " waiting for the buffer to drain: 2 min 00 s of 5 min 00 s, depth 3",
        console.step_line("03_monitor", "done", 151.0),
    ]


def test_in_a_terminal_the_bar_is_drawn_and_wiped_before_the_steps_line(tmp_path):
    out, clock = io.StringIO(), FakeClock()
    con = console.Console(out, bars=True, clock=clock)
    path = tmp_path / console.PROGRESS_FILE
    with con.following(tmp_path, interval=3600):
        bar = _kernel_bar(path, clock, "drill-orders-restored to be ACTIVE", timeout=120)
        clock.now += 30
        bar.update(status="CREATING")
        con.poll()
        assert "25%" in out.getvalue() and "waiting for drill-orders-restored to be ACTIVE: 30 s of 2 min 00 s, CREATING" in out.getvalue()
        # the kernel ends (its bar's last readings still in the file): the step line closes it first
        con.step_finished(console.StepReport("03_monitor", console.DONE, 31.0))
    text = out.getvalue()
    assert text.endswith(console.step_line("03_monitor", "done", 31.0) + "\n")
    assert "\r" + " " * 20 in text  # the bar's line was wiped (leave=False) before the step's line


def test_a_resumed_run_does_not_replay_the_readings_of_its_earlier_steps(tmp_path):
    path = tmp_path / console.PROGRESS_FILE
    clock = FakeClock()
    old = _kernel_bar(path, clock, "an earlier wait")
    old.update()  # left open: its kernel was killed
    out = io.StringIO()
    con = console.Console(out, bars=False, heartbeat=1, clock=clock)
    with con.following(tmp_path, interval=3600):
        clock.now += 5
        con.poll()
    assert "an earlier wait" not in out.getvalue()


# -- the runner tells the console how each step ended ---------------------------------------------------------


def _fake_steps(monkeypatch, fail_at: str | None = None, ename: str = "BufferError"):
    def run_step(step, params, **kwargs):
        if step == fail_at:
            raise runner.StepFailed(step, ename, "the buffer did not drain within 300 s:\ncheck the DLQ")

    monkeypatch.setattr(runner, "run_step", run_step)


def test_the_runner_reports_each_step_with_its_outcome_and_the_failing_ones_reason(monkeypatch, tmp_path):
    _fake_steps(monkeypatch, fail_at="03_monitor")
    reports: list[console.StepReport] = []
    params = runner.RunParams("orders", "orders-r", run_dir=str(tmp_path), execute=True)
    result = runner.run(params, after_step=reports.append)
    assert [(r.step, r.outcome) for r in reports] == [
        ("00_preflight", "done"), ("01_deploy_buffer", "done"), ("02_restore", "done"), ("03_monitor", "FAIL")]
    assert reports[-1].detail == "BufferError: the buffer did not drain within 300 s: check the DLQ"
    assert all(r.seconds >= 0 for r in reports)
    assert (result.exit_code, result.failed_step) == (2, "03_monitor")  # exit codes as before


def test_run_prints_a_line_per_step_and_nothing_else_on_the_console(monkeypatch, tmp_path, capsys, logging_state):
    # GIVEN steps that pass without execute (a dry run), and a noisy library
    def run_step(step, params, **kwargs):
        logging.getLogger("papermill").info("Executing notebook with kernel: python3")
        warnings.warn("a deprecation inside a library", DeprecationWarning)

    monkeypatch.setattr(runner, "run_step", run_step)
    # WHEN the runbook runs from the command line
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    # THEN one line per step with its outcome, no log lines, and the rest in run.log
    assert code == 0 and err == ""
    step_lines = [line for line in out.splitlines() if line.split(" ")[0] in runner.STEPS]
    assert [line.split()[0:3] for line in step_lines] == [[step, "dry", "run"] for step in runner.STEPS]
    assert "INFO" not in out and "Warning" not in out
    kept = (tmp_path / console.RUN_LOG).read_text()
    assert "Executing notebook with kernel" in kept and "a deprecation inside a library" in kept


def test_a_failing_step_prints_its_reason_and_keeps_exit_status_2(monkeypatch, tmp_path, capsys, logging_state):
    _fake_steps(monkeypatch, fail_at="01_deploy_buffer", ename="PreconditionError")
    code = cli.main(["run", "--source-table", "orders", "--target-table", "orders-r", "--run-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    (line,) = [line for line in out.splitlines() if line.startswith("01_deploy_buffer")]
    assert line.split()[1] == "FAIL" and line.endswith("PreconditionError: the buffer did not drain within 300 s: check the DLQ")
    assert err.count("\n") == 1 and err.startswith("pitr-runbook: step 01_deploy_buffer failed: PreconditionError")


@pytest.mark.parametrize("argv", [
    ["-v", "run", "--source-table", "a", "--target-table", "b"],
    ["run", "--source-table", "a", "--target-table", "b", "--verbose"],
    ["drill", "-v"],
    ["reconcile", "--source-table", "a", "--target-table", "b", "--verbose"],
])
def test_verbose_is_taken_before_or_after_the_command(argv):
    assert cli.build_parser().parse_args(argv).verbose is True


def test_without_verbose_flag_the_console_stays_quiet():
    assert cli.build_parser().parse_args(["drill"]).verbose is False


# -- a notebook's kernel: logs to run.log, never into its cells -------------------------------------------------


def test_a_kernels_log_records_go_to_run_log_labelled_with_the_step_and_no_handler_writes_to_a_cell(
        tmp_path, logging_state, monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        console.kernel_logging(tmp_path)
        console.kernel_logging(tmp_path)  # the context cell run twice: one handler, not two
        console.kernel_log_step("03_monitor")
        logging.getLogger("runbook_lib.monitor").info("enabling replay")
        warnings.warn("IProgress not found", UserWarning)
        logging.getLogger("botocore.hooks").debug("Event before-call.dynamodb.Scan: a request body")
    kept = (tmp_path / console.RUN_LOG).read_text().splitlines()
    assert len([line for line in kept if "enabling replay" in line]) == 1
    assert [line for line in kept if "enabling replay" in line][0].split(" ", 2)[2].startswith(
        "INFO kernel.03_monitor runbook_lib.monitor: enabling replay")
    assert any("py.warnings" in line and "IProgress not found" in line for line in kept)
    assert not any("a request body" in line for line in kept)
    # a cell's output is the kernel's sys.stdout and sys.stderr: no handler of the root logger writes there
    import sys

    cell = (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    assert not [h for h in logging.getLogger().handlers if getattr(h, "stream", None) in cell]


def test_a_verbose_runs_kernels_relay_their_records_to_the_console_through_the_progress_file(
        tmp_path, logging_state, monkeypatch):
    relay = tmp_path / console.PROGRESS_FILE
    monkeypatch.setenv(progress.PROGRESS_ENV, str(relay))
    monkeypatch.setenv(console.VERBOSE_ENV, "1")
    console.kernel_logging(tmp_path)
    logging.getLogger("runbook_lib.buffer").info("replay on: queue mapping Enabled")
    out = io.StringIO()
    shown = console.Console(out, bars=False, heartbeat=0)
    for line in relay.read_text().splitlines():  # what the console's tail of the progress file reads
        shown.handle(json.loads(line))
    assert out.getvalue().splitlines() == ["INFO runbook_lib.buffer: replay on: queue mapping Enabled"]


def test_the_runner_tells_its_kernels_to_relay_their_records_only_with_verbose(tmp_path, logging_state):
    for verbose in (False, True):
        console.setup_logging(verbose=verbose, stream=io.StringIO())
        with console.kernel_output("03_monitor", tmp_path) as kwargs:
            manager = kwargs["kernel_manager_class"]
            captured = {}

            async def start(self, **kw):
                captured.update(kw["env"])

            import jupyter_client.manager as jm

            original = jm.AsyncKernelManager.start_kernel
            jm.AsyncKernelManager.start_kernel = start
            try:
                import asyncio

                asyncio.run(manager().start_kernel(env={}))
            finally:
                jm.AsyncKernelManager.start_kernel = original
        assert (console.VERBOSE_ENV in captured) is verbose
        assert captured[progress.PROGRESS_ENV] == str(tmp_path.resolve() / console.PROGRESS_FILE)


def test_in_a_notebook_the_runbooks_own_warnings_show_as_warning_boxes_and_nothing_else_does(logging_state):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from runbook_lib import notebook

    InteractiveShell.instance()
    root = logging.getLogger()
    handler = notebook.NotebookWarnings()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    with capture_output() as captured:
        logging.getLogger("runbook_lib.monitor").warning("buffer drained with %d message(s) in the DLQ", 2)
        logging.getLogger("runbook_lib.monitor").info("enabling replay")
        logging.getLogger("botocore.retryhandler").warning("retry needed")
        logging.getLogger("runbook_lib.steps.base").warning("shown by the result", extra={notebook.SHOWN: True})
    assert captured.stdout == captured.stderr == ""
    (box,) = captured.outputs
    assert box.data["text/plain"] == "WARNING: buffer drained with 2 message(s) in the DLQ"
    assert 'class="pitr-warning"' in box.data["text/html"] and "&#9888;" in box.data["text/html"]
