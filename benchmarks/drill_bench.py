"""A whole drill at scale: seconds per step, items per second where items move, and the peak
resident memory and CPU of each process.

Not a test: it prints figures. It runs ``pitr-runbook drill --items N`` (this checkout's
``.venv/bin/pitr-runbook``) in a child process, exactly as a user does, and meanwhile samples every
process of its tree from ``/proc`` (Linux only) every ``--interval`` seconds:

- the **drill** process: the runner (papermill's side of every step) and the sandbox (moto's server,
  its Lambda pollers, the demo table's live traffic), which share one interpreter;
- the **kernels**: one per notebook, each named after the step that ran while it was alive;
- the **Lambda workers**: the forwarder's and applier's worker processes, added up as one.

Per process: the peak resident memory (``VmHWM``, the kernel's own high-water mark, so a peak
between two samples is not missed; the last reading before the process ends counts) and the CPU
seconds it used (``utime + stime``), split by step. Per step: the drill's own seconds (from its
console lines), the machine's load average when the step ended, and items per second where items
move (the demo table's load: items written; ``04_reconcile``: items scanned over the scan's seconds,
from the run's ``summary.json``, both tables together).

    .venv/bin/python benchmarks/drill_bench.py                   # 20,000 items
    .venv/bin/python benchmarks/drill_bench.py --large           # 200,000 items
    .venv/bin/python benchmarks/drill_bench.py --items 5000 -- --mode rollback

The machine is shared: the load average (``/proc/loadavg``) is printed at the start, at every step
and at the end; compare only figures taken in one run or at a similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ITEMS = 20_000
LARGE_ITEMS = 200_000
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

#: a console line of the drill: name, outcome, duration (``3.7 s``, ``1 min 33 s``), detail
_LINE = re.compile(r"^(?P<name>\S+(?: \S+)*?)\s{2,}(?P<outcome>\S+)\s+(?P<took>(?:\d+ h )?(?:\d+ min )?[\d.]+ s)?(?:\s+(?P<detail>.*))?$")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def parse_duration(text: str | None) -> float | None:
    if not text:
        return None
    seconds = 0.0
    for number, unit in re.findall(r"([\d.]+) (h|min|s)", text):
        seconds += float(number) * {"h": 3600, "min": 60, "s": 1}[unit]
    return seconds


@dataclass
class Proc:
    pid: int
    kind: str  # drill, kernel, lambda, other
    label: str
    first_seen: float
    hwm_kb: int = 0
    rss_kb: int = 0
    cpu_s: float = 0.0
    #: CPU seconds at each step boundary: step -> cpu used while that step ran
    cpu_by_step: dict[str, float] = field(default_factory=dict)
    alive: bool = True


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children = _children_map()
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def _read(pid: int) -> tuple[int, int, float, str] | None:
    """(VmHWM kB, VmRSS kB, CPU seconds, command line) of a process, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    hwm = re.search(r"VmHWM:\s+(\d+)", status)
    rss = re.search(r"VmRSS:\s+(\d+)", status)
    fields = stat[stat.rindex(")") + 2:].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return int(hwm.group(1)) if hwm else 0, int(rss.group(1)) if rss else 0, cpu, cmdline


def _kind(pid: int, root: int, cmdline: str) -> str:
    if pid == root:
        return "drill"
    if "ipykernel" in cmdline:
        return "kernel"
    if "lambda_worker" in cmdline:
        return "lambda"
    return "other"


class Sampler(threading.Thread):
    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True, name="sampler")
        self.root, self.interval = root, interval
        self.procs: dict[int, Proc] = {}
        self.step = "start"
        self._step_cpu_base: dict[int, float] = {}
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def sample(self) -> None:
        now = time.monotonic()
        seen = set()
        for pid in _tree(self.root):
            got = _read(pid)
            if got is None:
                continue
            hwm, rss, cpu, cmdline = got
            seen.add(pid)
            with self.lock:
                proc = self.procs.get(pid)
                if proc is None:
                    kind = _kind(pid, self.root, cmdline)
                    proc = self.procs[pid] = Proc(pid, kind, self.step if kind == "kernel" else "", now)
                    self._step_cpu_base[pid] = cpu
                proc.hwm_kb, proc.rss_kb = max(proc.hwm_kb, hwm), rss
                proc.cpu_s = cpu
                proc.cpu_by_step[self.step] = cpu - self._step_cpu_base[pid]
        with self.lock:
            for pid, proc in self.procs.items():
                if pid not in seen:
                    proc.alive = False

    def next_step(self, name: str) -> None:
        """The step that just ended is ``self.step``; CPU from now on counts for ``name``."""
        self.sample()
        with self.lock:
            for pid, proc in self.procs.items():
                if proc.alive:
                    self._step_cpu_base[pid] = proc.cpu_s
            self.step = name

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()
        self.sample()


def run_drill(items: int, runs_dir: Path, interval: float, extra: list[str]) -> dict:
    exe = ROOT / ".venv" / "bin" / "pitr-runbook"
    cmd = [str(exe), "drill", "--items", str(items), "--runs-dir", str(runs_dir), *extra]
    print(f"$ {' '.join(cmd)}", flush=True)
    print(f"load average at start: {loadavg()}", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    sampler = Sampler(proc.pid, interval)
    sampler.start()
    steps: list[dict] = []
    run_dir = None
    last_line = 0.0
    for raw in proc.stdout:  # type: ignore[union-attr]
        last_line = time.monotonic() - started
        line = raw.rstrip("\n")
        print(line, flush=True)
        if run_dir is None and line.startswith("drill ") and ": /" in line:
            run_dir = line.rsplit(": ", 1)[1]
        m = _LINE.match(line.strip())
        if m and m.group("took") and not line.startswith("drill "):
            name = m.group("name")
            steps.append({"step": name, "outcome": m.group("outcome"), "seconds": parse_duration(m.group("took")),
                          "detail": m.group("detail") or "", "at": time.monotonic() - started, "load": loadavg()})
            sampler.next_step(_next_name(name))
    code = proc.wait()
    sampler.stop()
    wall = time.monotonic() - started
    summary = {}
    if run_dir and (Path(run_dir) / "summary.json").exists():
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    return {"exit": code, "wall": wall, "last_line": last_line, "steps": steps, "procs": list(sampler.procs.values()), "summary": summary,
            "run_dir": run_dir, "load_end": loadavg()}


#: the drill's phases in order: CPU sampled after a line counts for the next one
_ORDER = ["sandbox up", "operator", "demo table", "00_preflight", "01_deploy_buffer", "restore point",
          "02_restore", "03_monitor", "04_reconcile", "05_cutover", "report"]


def _next_name(done: str) -> str:
    if done == "traffic":  # printed just before 04 starts, inside its "before" hook
        return "04_reconcile"
    if done in _ORDER and _ORDER.index(done) + 1 < len(_ORDER):
        return _ORDER[_ORDER.index(done) + 1]
    return "after " + done


def _rate(step: dict, items: int, summary: dict) -> str:
    if step["step"] == "demo table":
        m = re.search(r": (\d+) items", step["detail"])
        count = int(m.group(1)) if m else items
        return f"{count / step['seconds']:,.0f} items/s written ({count:,} items, table creation included)"
    if step["step"] == "04_reconcile" and summary.get("items_scanned"):
        return (f"{summary['items_per_second']:,.0f} items/s scanned ({summary['items_scanned']:,} items "
                f"in {summary['scan_seconds']:.1f} s of scan)")
    return ""


def report(result: dict, items: int) -> None:
    print()
    print(f"drill of {items:,} items: exit {result['exit']}, {result['wall']:.1f} s wall "
          f"(load average at the end {result['load_end']}); run {result['run_dir']}")
    print(f"the process ended {result['wall'] - result['last_line']:.1f} s after its last line")
    print(f"{'step':<18} {'seconds':>8}  {'load':<15} items per second")
    for step in result["steps"]:
        print(f"{step['step']:<18} {step['seconds']:>8.1f}  {step['load']:<15} {_rate(step, items, result['summary'])}")
    print()
    print(f"{'process':<34} {'peak RSS':>9} {'CPU s':>7}  CPU s by step (over 0.5 s)")
    groups: dict[str, list[Proc]] = {}
    for proc in result["procs"]:
        groups.setdefault(proc.kind, []).append(proc)
    for proc in groups.get("drill", []):
        _proc_line("drill (runner + sandbox)", proc.hwm_kb, proc.cpu_s, proc.cpu_by_step)
    for proc in groups.get("kernel", []):
        _proc_line(f"kernel of {proc.label or '?'}", proc.hwm_kb, proc.cpu_s, proc.cpu_by_step)
    workers = groups.get("lambda", [])
    if workers:
        by_step: dict[str, float] = {}
        for proc in workers:
            for step, cpu in proc.cpu_by_step.items():
                by_step[step] = by_step.get(step, 0.0) + cpu
        _proc_line(f"Lambda workers ({len(workers)}), largest", max(p.hwm_kb for p in workers),
                   sum(p.cpu_s for p in workers), by_step)
        print(f"{'  all Lambda workers together':<34} {sum(p.hwm_kb for p in workers) / 1024:>7.0f} MB")
    for proc in groups.get("other", []):
        _proc_line(f"other pid {proc.pid}", proc.hwm_kb, proc.cpu_s, proc.cpu_by_step)


def _proc_line(label: str, hwm_kb: int, cpu: float, by_step: dict[str, float]) -> None:
    steps = ", ".join(f"{k} {v:.1f}" for k, v in by_step.items() if v >= 0.5)
    print(f"{label:<34} {hwm_kb / 1024:>7.0f} MB {cpu:>7.1f}  {steps}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS, help="items in the demo table (default 20,000)")
    parser.add_argument("--large", action="store_true", help=f"{LARGE_ITEMS:,} items")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between samples of /proc")
    parser.add_argument("--runs-dir", default=None, help="where the drill writes its run (default: a temporary directory)")
    parser.add_argument("--reconcile-bench", action="store_true",
                        help="then run benchmarks/reconcile_bench.py on the drill's items (--shape drill, the drill's "
                             "2 segments, sandbox in its own process) and print the drill's reconcile rate over it")
    parser.add_argument("--compare-load", action="store_true",
                        help="then measure the sandbox's own BatchWriteItem rate on 20,000 of the drill's items and "
                             "print the demo table's load rate over it")
    parser.add_argument("--plain-load", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("extra", nargs="*", help="after --: more arguments for pitr-runbook drill")
    args = parser.parse_args(argv)
    if args.plain_load:
        plain_load(args.plain_load)
        return 0
    if not Path("/proc/self/status").exists():
        parser.error("needs Linux's /proc")
    items = LARGE_ITEMS if args.large else args.items
    with tempfile.TemporaryDirectory(prefix="drill-bench-") as tmp:
        runs = Path(args.runs_dir) if args.runs_dir else Path(tmp)
        result = run_drill(items, runs, args.interval, args.extra)
        report(result, items)
    if args.compare_load:
        compare_load(result, min(items, DEFAULT_ITEMS))
    if args.reconcile_bench:
        compare_reconcile(result, items)
    return result["exit"]


def plain_load(count: int) -> None:
    """Child process: the sandbox's own BatchWriteItem rate, as the drill loads (sandbox in this process,
    the drill's items, 25 per call), on a table without stream or PITR; prints one line."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    sys.path.insert(0, str(ROOT))
    import random

    from runbook_lib.aws.clients import AwsTarget
    from runbook_lib.sandbox import Sandbox
    from runbook_lib.sandbox.traffic import create_demo_table, make_item

    with Sandbox() as sandbox:
        ddb = AwsTarget(region=sandbox.region, endpoint_url=sandbox.endpoint_url).client("dynamodb")
        create_demo_table(ddb, "plain", pitr=False, stream=None)
        rng = random.Random(7)
        started = time.perf_counter()
        for base in range(0, count, 25):
            request = {"plain": [{"PutRequest": {"Item": make_item([("pk", "S")], n, rng)}}
                                 for n in range(base, min(base + 25, count))]}
            while request:
                request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        print(f"plain BatchWriteItem: {count / (time.perf_counter() - started):.0f} items/s")


def compare_load(result: dict, count: int) -> None:
    step = next((s for s in result["steps"] if s["step"] == "demo table"), None)
    cmd = [sys.executable, __file__, "--plain-load", str(count)]
    print(f"\n$ {' '.join(cmd)}   (load average {loadavg()})", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    print(out)
    m = re.search(r"(\d+) items/s", out)
    if m and step:
        found = re.search(r": (\d+) items", step["detail"])
        loaded = int(found.group(1)) if found else 0
        rate = loaded / step["seconds"]
        print(f"demo table load / the sandbox's own BatchWriteItem rate = {rate / float(m.group(1)):.2f} "
              f"({rate:,.0f} / {float(m.group(1)):,.0f} items/s, table creation in the drill's figure; "
              f"load average {loadavg()})")


def compare_reconcile(result: dict, items: int) -> None:
    """The same reconciliation code on the same kind and number of items, outside a drill, right after it."""
    summary = result["summary"]
    per_table = (summary.get("items_scanned") or 2 * items) // 2
    cmd = [str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "benchmarks" / "reconcile_bench.py"), "--shape", "drill",
           "--segments", str(summary.get("segments") or 2), "--server-process", "--items", str(per_table)]
    print(f"\n$ {' '.join(cmd)}   (load average {loadavg()})", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    print(out.rstrip())
    m = re.search(r"reconcile\(\), \d+ segments\s+: [\d,]+ items in\s+[\d.]+ s =\s+(\d+) items/s", out)
    if m and summary.get("items_per_second"):
        bench = float(m.group(1))
        print(f"reconcile in the drill / its benchmark on the same items = {summary['items_per_second'] / bench:.2f} "
              f"({summary['items_per_second']:,.0f} / {bench:,.0f} items/s; goal >= 0.9; load average {loadavg()})")


if __name__ == "__main__":
    sys.exit(main())
