"""Reconciliation throughput against a plain paginated Scan, and its peak memory.

Not a test: it prints figures. Both measurements run against the local sandbox
(``runbook_lib.sandbox.Sandbox``), over HTTP, with clients from ``runbook_lib.aws.clients``.

    .venv/bin/python benchmarks/reconcile_bench.py                      # ratio, 20,000 items per table
    .venv/bin/python benchmarks/reconcile_bench.py --items 5000         # quicker
    .venv/bin/python benchmarks/reconcile_bench.py --memory --items 200000

Throughput: two tables with the same N items; in the same run, on the same sandbox, ``--repeat``
rounds of: a plain paginated ``Scan`` of both tables (one after the other, the way a script would
do it, with the same client settings); a parallel ``Scan`` of both with reconcile's segments and
threads but no digesting (the reads alone); ``reconcile()`` of the two tables. Printed: reconcile's
mean items per second over the plain scan's (goal >= 0.9, floor 0.8), and over the parallel
scan's (what digesting and matching cost). On the sandbox a segmented scan costs the server more
than a plain one (moto hashes every item of the table for each page of each segment), and one
interpreter serves all threads, so segments cannot win time back there as they do on AWS;
``--segments 1`` shows reconcile without that cost. By default the sandbox runs in this process, so the client (parsing, digesting) and
the server share one interpreter lock: digesting is not hidden behind the server's work.
``--server-process`` runs the sandbox in a child process instead, as AWS would be.

Memory (``--memory``): the sandbox runs in a child process so that only the reconciling side is
measured. A first ``reconcile()`` gives this process's peak RSS during the call (Linux ``VmHWM``,
reset through ``/proc/self/clear_refs`` just before; elsewhere ``resource.getrusage``'s
``ru_maxrss``, a high-water mark of the whole process); a second one, under ``tracemalloc``, gives the peak of
Python allocations (parsed pages in flight, the unmatched-key map, the differences). The worst
case of the unmatched-key map (one whole side unmatched) is extrapolated to a million items per
side from a measured map.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import sys
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

from runbook_lib.aws.clients import AwsTarget  # noqa: E402
from runbook_lib.reconcile import item_digest, key_id, reconcile  # noqa: E402

REGION = "us-east-1"
SOURCE, TARGET = "bench_source", "bench_target"


def _quiet() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def _serve(conn) -> None:  # child process: a sandbox until told to stop
    _quiet()
    from runbook_lib.sandbox import Sandbox

    with Sandbox() as sandbox:
        conn.send(sandbox.endpoint_url)
        conn.recv()


class _ChildSandbox:
    def __enter__(self) -> "_ChildSandbox":
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        self.endpoint_url = self.conn.recv()
        return self

    def __exit__(self, *exc) -> None:
        self.conn.send("stop")
        self.proc.join(timeout=30)
        if self.proc.is_alive():
            self.proc.terminate()


#: "bench": the flat items below; "drill": the drill's demo items (runbook_lib.sandbox.traffic.make_item:
#: twelve attributes of every type, nested maps, lists and sets), to compare with a drill's 04_reconcile
SHAPE = "bench"


def _item(i: int) -> dict:
    if SHAPE == "drill":
        import random

        from runbook_lib.sandbox.traffic import make_item

        return make_item([("pk", "S")], i, random.Random(i))
    item = {
        "pk": {"S": f"customer#{i:09d}"},
        "version": {"N": str(i % 97)},
        "price": {"N": f"{i % 1000}.{i % 100:02d}"},
        "active": {"BOOL": i % 2 == 0},
        "note": {"S": "lorem ipsum dolor sit amet " * 6},
    }
    if i % 10 == 0:
        item["tags"] = {"SS": ["blue", "green", f"t{i % 7}"]}
        item["address"] = {"M": {"city": {"S": "Lisbon"}, "zip": {"N": "1000"}, "lines": {"L": [{"S": "a"}]}}}
    return item


def _load(target: AwsTarget, items: int) -> float:
    client = target.client("dynamodb")
    for name in (SOURCE, TARGET):
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    start = time.perf_counter()

    def load_range(lo: int, hi: int) -> None:
        own = target.client("dynamodb")
        for base in range(lo, hi, 25):
            batch = [{"PutRequest": {"Item": _item(i)}} for i in range(base, min(base + 25, hi))]
            for name in (SOURCE, TARGET):
                request = {name: batch}
                while request:
                    request = own.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    chunk = max(25, (items // 4 // 25 + 1) * 25)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda lo: load_range(lo, min(lo + chunk, items)), range(0, items, chunk)))
    return time.perf_counter() - start


def _plain_scan(target: AwsTarget) -> tuple[int, float]:
    client = target.client("dynamodb")
    start = time.perf_counter()
    count = 0
    for name in (SOURCE, TARGET):
        for page in client.get_paginator("scan").paginate(TableName=name):
            count += len(page["Items"])
    return count, time.perf_counter() - start


def _parallel_scan(target: AwsTarget, segments: int) -> tuple[int, float]:
    """The reads reconcile() makes, without digesting: both tables, ``segments`` threads each."""
    from botocore.config import Config

    client = target.client("dynamodb", config=Config(max_pool_connections=2 * segments + 2))

    def worker(name: str, seg: int) -> int:
        kwargs = {"TableName": name, "ReturnConsumedCapacity": "TOTAL"}
        if segments > 1:
            kwargs.update(Segment=seg, TotalSegments=segments)
        count = 0
        while True:
            page = client.scan(**kwargs)
            count += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2 * segments) as pool:
        futures = [pool.submit(worker, name, seg) for seg in range(segments) for name in (SOURCE, TARGET)]
        count = sum(f.result() for f in futures)
    return count, time.perf_counter() - start


def _line(label: str, n: int, seconds: float, extra: str = "") -> None:
    print(f"  {label:<38}: {n:,} items in {seconds:7.2f} s = {n / seconds:7.0f} items/s{extra}")


def throughput(args) -> None:
    if args.server_process:
        context = _ChildSandbox()
        where = "sandbox in a child process"
    else:
        from runbook_lib.sandbox import Sandbox

        context = Sandbox()
        where = "sandbox in this process (client and server share the interpreter)"
    with context as sandbox:
        target = AwsTarget(REGION, sandbox.endpoint_url)
        load_seconds = _load(target, args.items)
        print(f"loaded {args.items:,} items into each of 2 tables in {load_seconds:.1f} s ({where})")
        plain, parallel, recs = [], [], []
        for _ in range(args.repeat):
            n, seconds = _plain_scan(target)
            plain.append(n / seconds)
            _line("plain paginated Scan, both tables", n, seconds)
            n, seconds = _parallel_scan(target, args.segments)
            parallel.append(n / seconds)
            _line(f"parallel Scan, {args.segments} segments, no digest", n, seconds)
            result = reconcile(target, SOURCE, TARGET, segments=args.segments)
            assert result.verdict == "PASS", result.summary()
            recs.append(result.items_scanned / result.seconds)
            _line(f"reconcile(), {args.segments} segments", result.items_scanned, result.seconds, f", {result.verdict}")
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    ratio = mean(recs) / mean(plain)
    verdict = "goal met" if ratio >= 0.9 else ("above floor" if ratio >= 0.8 else "BELOW FLOOR")
    print(
        f"ratio reconcile / plain paginated scan = {ratio:.2f}  ({mean(recs):.0f} / {mean(plain):.0f} items/s; "
        f"goal >= 0.9, floor 0.8: {verdict})"
    )
    print(
        f"ratio reconcile / parallel scan with the same segments = {mean(recs) / mean(parallel):.2f}  "
        "(reconcile's own cost: digesting, matching, re-reads)"
    )


def _digest_cost(items: int = 20000) -> float:
    sample = [_item(i) for i in range(items)]
    start = time.perf_counter()
    for item in sample:
        key_id(item, ("pk",))
        item_digest(item)
    return (time.perf_counter() - start) / items * 1e6


def _pending_bytes_per_key(n: int = 100_000) -> float:
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    pending = {key_id(_item(i), ("pk",)): item_digest(_item(i)) for i in range(n)}
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del pending
    return used / n


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> tuple[float, str]:
    """Current RSS in MB, after resetting the peak where Linux allows it (``/proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        current = _status_mb("VmRSS")
        if current is not None:
            return current, "Linux VmHWM, reset just before"
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "resource.getrusage ru_maxrss"


def _peak_rss() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(args) -> None:
    with _ChildSandbox() as sandbox:
        target = AwsTarget(REGION, sandbox.endpoint_url)
        load_seconds = _load(target, args.items)
        print(f"loaded {args.items:,} items into each of 2 tables in {load_seconds:.1f} s (sandbox in a child process)")
        # 1. peak RSS, without tracemalloc (whose own bookkeeping would inflate it)
        rss_before, how = _reset_peak_rss()
        start = time.perf_counter()
        result = reconcile(target, SOURCE, TARGET, segments=args.segments)
        seconds = time.perf_counter() - start
        rss_after = _peak_rss()
        print(
            f"reconciled {result.source_count:,} + {result.target_count:,} items in {seconds:.1f} s "
            f"({result.items_per_second:.0f} items/s), verdict {result.verdict}, "
            f"at most {result.peak_unmatched_keys:,} unmatched keys held at once"
        )
        print(
            f"peak RSS of this process during reconcile() ({how}): {rss_after:.1f} MB, "
            f"from {rss_before:.1f} MB before it (+{rss_after - rss_before:.1f} MB)"
        )
        del result
        if not args.no_tracemalloc:
            # 2. the same reconciliation again under tracemalloc: the peak of Python allocations
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            result = reconcile(target, SOURCE, TARGET, segments=args.segments)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(
                f"peak memory of reconcile(), tracemalloc (Python allocations, second run): {(peak - base) / 2**20:.1f} MB"
                f" (verdict {result.verdict})"
            )
    per_key = _pending_bytes_per_key()
    print(
        f"worst case of the matching map (a whole side unmatched): {per_key:.0f} bytes per key, "
        f"so {per_key * 1_000_000 / 2**20:.0f} MB for a million items per side, on top of the pages in flight"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="items per table")
    parser.add_argument("--segments", type=int, default=4, help="reconcile's TotalSegments")
    parser.add_argument("--memory", action="store_true", help="measure peak memory instead of throughput")
    parser.add_argument("--server-process", action="store_true", help="run the sandbox in a child process")
    parser.add_argument("--shape", choices=("bench", "drill"), default="bench",
                        help="the items: flat (bench) or the drill's demo items (drill: twelve attributes, nested)")
    parser.add_argument("--repeat", type=int, default=1, help="reconcile runs between plain scans")
    parser.add_argument("--no-tracemalloc", action="store_true", help="with --memory: RSS only (one run)")
    args = parser.parse_args(argv)
    global SHAPE
    SHAPE = args.shape
    _quiet()
    print(f"digest cost: {_digest_cost():.1f} us per item (key id + canonical BLAKE2b digest)")
    if args.memory:
        memory(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
