"""End to end: the drills `make drill` runs, with live traffic, through `pitr-runbook run`'s code path."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_lib import run_state
from runbook_lib.drill import INCIDENT_KEYS
from runbook_lib.runner import STEPS
from test_drill_as_operator import assert_recorded_calls_listed  # noqa: E402 - tests/drill is on sys.path

pytestmark = pytest.mark.slow


def pitr_runbook(*args: str) -> subprocess.CompletedProcess:
    """The command as `make drill` runs it: its own process, hence its own sandbox."""
    return subprocess.run([sys.executable, "-m", "runbook_lib.cli", *args], capture_output=True, text=True, timeout=900)


def _no_canary(run_dir: Path) -> None:
    """Item values (all traffic strings start with 'canary-') appear in no report, notebook output or log."""
    for path in [p for pattern in ("*.html", "*.csv", "*.json", "*.ipynb", "*.log", "*.jsonl") for p in run_dir.glob(pattern)]:
        assert "canary-" not in path.read_text(errors="replace"), f"an item value leaked into {path.name}"


def test_catch_up_drill_ends_with_pass_report_history_and_nothing_left(tmp_path):
    proc = pitr_runbook("drill", "--items", "150", "--runs-dir", str(tmp_path), "--run-dir", str(tmp_path / "catchup"),
                        "--record-calls", str(tmp_path / "calls.txt"))
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    # as the IAM user holding only infra/operator-policy.json, making only the calls it is derived from
    assert "as arn:aws:iam::123456789012:user/pitr-operator" in out
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    run = tmp_path / "catchup"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["unexplained"] == 0
    assert summary["counts"]["source"] == summary["counts"]["target"] > 0
    assert summary["rto_seconds"] > 0 and summary["catch_up_seconds"] is not None
    # an ordinary run records the buffer's own accounting (its functions' logs, read as the operator
    # after the drain): every write that arrived is applied, superseded, dead-lettered or lost
    buf = summary["buffer"]
    assert "buffer_error" not in summary and buf is not None and buf["arrived"] > 0, summary
    assert buf["arrived"] == buf["applied"] + (buf["dropped_as_stale"] or 0) + (buf["dead_lettered"] or 0) + summary["unexplained"], buf
    headline = f"{buf['arrived']:,} writes arrived during the restore; {buf['applied']:,} applied"
    assert headline in (run / "report.html").read_text() and headline in (run / "04_reconcile.ipynb").read_text()
    state = run_state.load(run)
    assert state.pipeline is not None and state.pipeline.error is None and state.pipeline.counts["applier"]["totals"]
    # "latest" lay before the buffer was deployed: the buffer had to cover it from TRIM_HORIZON
    assert state.plan.restore_time < state.stack.capture_start
    assert state.teardown.clean is True
    assert "report.html" in out and (run / "report.html").exists() and (run / "differences.csv").exists()
    for step in ("00_preflight", "01_deploy_buffer", "02_restore", "03_monitor", "04_reconcile", "05_cutover"):
        assert (run / f"{step}.ipynb").exists()
    history = (tmp_path / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["verdict"] == "PASS"
    _no_canary(run)
    _console_is_a_progress_report(out, proc.stderr, run)
    _notebooks_are_a_clean_record(run)


#: a log record as a handler formats it (with or without its time): never in a cell's output
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )?(DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ", re.M)


def _notebooks_are_a_clean_record(run: Path) -> None:
    """Each executed notebook opens with who ran the step, when, which version and its parameters;
    every figure is an image (as report.html's); no cell output holds a library's log line."""
    import nbformat

    from runbook_lib import __version__

    images = {}
    for step in STEPS:
        nb = nbformat.read(run / f"{step}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        first = outputs[0]
        assert first["output_type"] == "display_data" and "text/html" in first["data"], (step, first)
        assert re.match(rf"{step} run by arn:aws:iam::123456789012:user/pitr-operator at "
                        rf"\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC with pitr-runbook {re.escape(__version__)}\n",
                        first["data"]["text/plain"]), first["data"]["text/plain"]
        assert "  source_table = 'drill-orders'" in first["data"]["text/plain"] and "  execute = True" in first["data"]["text/plain"]
        for o in outputs:
            texts = [o.get("text", "")] + [v for k, v in o.get("data", {}).items() if k.startswith("text/")]
            for text in texts:
                assert not _LOG_LINE.search(text), f"a log line in {step}'s output: {text[:500]}"
                assert "TqdmWarning" not in text and "IProgress not found" not in text, step
            if o.get("data", {}).get("text/plain", "").startswith("<Figure size") or "<RunbookFigure size" in o.get("data", {}).get("text/plain", ""):
                assert "image/png" in o["data"], f"a figure of {step} without its image"
        images[step] = sum(1 for o in outputs if "image/png" in o.get("data", {}))
    # 02 the timeline; 03 the drain (drawn when the wait ended) and the timeline; 04 report.html's figures
    assert images["02_restore"] >= 1 and images["03_monitor"] >= 2, images
    assert images["04_reconcile"] == (run / "report.html").read_text().count("data:image/png;base64,") >= 2, images
    # and in the HTML a user exports from them (jupyter nbconvert --to html): the same images, embedded
    from nbconvert import HTMLExporter

    for step in ("02_restore", "03_monitor", "04_reconcile"):
        page, _ = HTMLExporter().from_filename(str(run / f"{step}.ipynb"))
        assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page)) == images[step], step


def _console_is_a_progress_report(out: str, err: str, run: Path) -> None:
    """One line per drill phase and step with its outcome, no log lines or warnings (those are in run.log)."""
    lines = out.splitlines()
    for name in ("sandbox up", "demo table", *STEPS, "traffic", "report"):
        assert len([line for line in lines if line.startswith(name + " ")]) == 1, f"not one line for {name}:\n{out}"
    for step in STEPS:
        (line,) = [line for line in lines if line.startswith(step + " ")]
        assert line.split()[1] == "done" and re.search(r"\d s\b", line), line  # its outcome and its duration
    assert [line for line in lines if line.startswith("report ")][0].split()[1] == "PASS"
    for noise in ("INFO", "WARNING", "Warning", "DeprecationWarning", "[IPKernelApp]", "papermill"):
        assert noise not in out and noise not in err, f"{noise!r} on the console:\n{out}\n{err}"
    assert err == ""
    # nothing is lost: papermill's lines, every kernel's output and the waits' readings are kept
    kept = (run / "run.log").read_text()
    assert "papermill: Input Notebook" in kept and all(f"kernel.{step}" in kept for step in STEPS)
    waits = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert {"drill-orders-restored to be ACTIVE", "the buffer to drain"} <= {w["what"] for w in waits}
    assert all(w["ok"] for w in waits if w["event"] == "end")


def test_rollback_drill_with_event_automation_reverts_exactly_the_incident_window(tmp_path):
    proc = pitr_runbook("drill", "--mode", "rollback", "--automation", "event", "--items", "150",
                        "--runs-dir", str(tmp_path), "--run-dir", str(tmp_path / "rollback"),
                        "--record-calls", str(tmp_path / "calls.txt"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert_recorded_calls_listed(tmp_path / "calls.txt")
    run = tmp_path / "rollback"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["unexplained"] == 0
    # the incident keys were written only inside [T, R): each differs, and each is explained
    assert summary["explained"] >= INCIDENT_KEYS
    state = run_state.load(run)
    assert state.plan.mode == "rollback" and state.plan.restore_time < state.plan.replay_from
    assert state.workflow.status == "SUCCEEDED" and state.workflow.execution_arn
    assert state.teardown.clean is True
    differences = (run / "differences.csv").read_text()
    assert differences.count("explained") >= INCIDENT_KEYS
    _no_canary(run)
    # keys are redacted by default in drills: every row's key is the buffer's keyed digest, and no
    # key value (the demo table's keys are k0000000...) is in a report or in step 04's notebook
    rows = list(csv.DictReader((run / "differences.csv").open()))
    assert len(rows) >= INCIDENT_KEYS
    assert all(re.fullmatch(r"[0-9a-f]{64}", r["key"]) and r["key"] == r["key_hash"] for r in rows)
    assert summary["keys_shown"] is False and summary["key_digest"]["secret_arn"].startswith("arn:aws:secretsmanager:")
    for name in ("differences.csv", "report.html", "summary.json", "04_reconcile.ipynb"):
        text = re.sub(r"base64,[A-Za-z0-9+/=]+", "", (run / name).read_text())  # embedded figures
        assert not re.search(r"\bk[0-9]{7}\b", text), f"a key value leaked into {name}"

    # the history now shows one drill; `pitr-runbook history` prints it and draws the trend
    proc = pitr_runbook("history", "--runs-dir", str(tmp_path))
    assert proc.returncode == 0 and "rollback" in proc.stdout and (tmp_path / "history.png").exists()
