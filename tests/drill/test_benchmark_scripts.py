"""The README's benchmark commands run, end to end, at a size that proves they work (not their figures)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return proc.stdout


def test_replay_bench_replays_every_item_and_prints_the_ratio_and_its_bound():
    # the script exits 1 unless the target holds every replayed item and the DLQ is empty
    out = run("replay_bench.py", "--items", "60", "--rounds", "2", "--warmup", "20")
    rows = re.findall(r"^\s+\d+\s+(\d+)/s\s+(\d+)/s\s+(\d+)/s", out, re.M)
    assert len(rows) == 2 and all(int(rate) > 0 for row in rows for rate in row)
    ratio = float(re.search(r"median ratio replay/plain\(25\): ([0-9.]+)", out).group(1))
    bounds = [float(b) for b in re.findall(r" = ([0-9.]+)", out.split("bounds:", 1)[1])]
    assert 0 < ratio and len(bounds) == 2 and all(b > 0 for b in bounds)
    # every replayed change was written to the target at least once, and sent to the queue once
    per = re.search(r"([0-9.]+) item writes to the target.*forwarder SQS sends [0-9.]+ calls \(([0-9.]+) messages\)", out)
    assert float(per.group(1)) >= 1.0 and float(per.group(2)) >= 1.0
    assert re.search(r"AWS cost per million changes .*: \$[0-9.]+ = ", out)
    assert re.fullmatch(r"replay/plain10: [0-9.]+", out.strip().splitlines()[-1])


def test_reconcile_bench_reconciles_and_prints_the_ratio():
    out = run("reconcile_bench.py", "--items", "300")
    assert "PASS" in out
    assert float(re.search(r"ratio reconcile / plain paginated scan = ([0-9.]+)", out).group(1)) > 0


def test_capacity_bench_compares_with_and_without_the_extension_and_prints_the_ratio():
    out = run("capacity_bench.py", "--items", "50", "--rounds", "1")
    assert len(re.findall(r"^\s+1\s+(PutItem|GetItem|BatchWriteItem)\s", out, re.M)) == 3
    assert float(re.search(r"^capacity/none: ([0-9.]+)$", out, re.M).group(1)) > 0
