"""Replay throughput on the sandbox vs plain BatchWriteItem of the same items, in one run.

    .venv/bin/python benchmarks/replay_bench.py [--items 3000] [--rounds 3] [--shape simple|rich]

The sandbox runs in a process of its own (``pitr-runbook sandbox``), as an operator runs it, so
that the plain writer below does not share an interpreter with the server. Each round:

1. N new items are written to the source table; the forwarder moves their N stream records into
   the FIFO queue (replay is off, so they wait there).
2. Plain: the same N items written with BatchWriteItem (25 per call, one client) into a fresh
   table; then again 10 per call (a FIFO batch's size) into another.
3. Replay: the queue mapping is enabled; timed until the queue is empty and the target holds the
   round's items; then disabled again.

A warm-up replay of ``--warmup`` items comes first, untimed: it starts the Lambda worker
processes, whose cold starts are part of a replay's start, not of its throughput. It is 1,000
items (100 batches) because 200 (20 batches) left the mapping still starting workers during the
first timed round: with 200, round 1 was the lowest of its run in every one of four runs (0.69 to
0.84 against 0.76 to 0.91 for rounds 2 and 3); with 1,000, round 1 is like the others. Five rounds,
so that the median is not one noisy round's.

The sandbox counts requests (``/_sandbox/stats``): the script prints, per change, the DynamoDB
write and read requests (API calls and item requests per table) of the replay, the forwarder's SQS
sends, and what that costs per million changes on AWS at the on-demand prices below. (The sandbox's
Lambda poller receives from and deletes in the queue in-process, not over HTTP: those SQS requests,
about two per batch of up to ten messages on AWS, are added from the batch count.)

Prints both rates in events (items) per second and their ratio (replay / plain) for each round,
the median ratio, and the CPU both ways cost per 10 events (plain: this client and the sandbox
server; replay: the sandbox server and its Lambda worker processes). Plain
writes one call at a time; replay runs batches in parallel, so on a machine of N cores the ratio
cannot exceed N x (plain wall time) / (replay CPU), and, the sandbox's server being one process,
on any number of cores (plain wall time) / (server CPU per replayed batch): the script prints both.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from runbook_lib import buffer
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox.traffic import create_demo_table, make_item

FIFO_BATCH = 10
#: us-east-1 list prices (USD) used for the cost per million changes: DynamoDB on-demand per million
#: write / read request units (after the November 2024 reduction), SQS FIFO per million requests,
#: Lambda per million invocations (duration not included)
PRICE_WRU, PRICE_RRU, PRICE_SQS_FIFO, PRICE_LAMBDA = 0.625, 0.125, 0.50, 0.20
_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")


def sandbox_stats(endpoint: str, reset: bool = False) -> dict:
    req = urllib.request.Request(f"{endpoint}/_sandbox/stats", data=b"{}" if reset else None,
                                 method="POST" if reset else "GET")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def dynamodb_requests(stats: dict, ops: tuple[str, ...], table: str | None = None) -> tuple[int, int]:
    """(API calls, item requests) of ``ops``; item requests only on ``table`` when given."""
    calls = sum(n for k, n in stats["requests"].items() if k.startswith("dynamodb.") and k.split(".", 1)[1] in ops)
    items = 0
    for key, n in stats["items"].items():
        if not key.startswith("dynamodb."):
            continue
        op, _, name = key.split(".", 1)[1].partition(":")
        if op in ops and (table is None or name == table):
            items += n
    return calls, items


def simple_item(n: int) -> dict:
    return {"pk": {"S": f"k{n:07d}"}, "v": {"N": str(n)}, "s": {"S": "x" * 200}}


def write_batches(ddb, table: str, items: list[dict], size: int = 25) -> None:
    for i in range(0, len(items), size):
        pending = {table: [{"PutRequest": {"Item": it}} for it in items[i : i + size]]}
        while pending:
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def count(ddb, table: str) -> int:
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runbook_lib.cli", "sandbox", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()  # "sandbox ready: endpoint_url=..."
    if "endpoint_url=" not in line:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    return proc, line.strip().split("endpoint_url=", 1)[1]


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU of ``pid``, CPU of its live children), from /proc; (0, 0) where /proc is missing."""
    tick = os.sysconf("SC_CLK_TCK")

    def stat(path: str) -> tuple[int, float] | None:
        try:
            with open(path) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / tick

    own = stat(f"/proc/{pid}/stat")
    children = 0.0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            found = stat(f"/proc/{entry}/stat")
            if found and found[0] == pid:
                children += found[1]
    return (own[1] if own else 0.0), children


def wait_queued(target: AwsTarget, stack, wanted: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        depth = buffer.status(target, stack).depth
        if depth >= wanted:
            return True
        print(f"  queued {depth} of {wanted}", file=sys.stderr)
        time.sleep(2)
    return False


def replay(target: AwsTarget, stack, deadline: float) -> float:
    # measured by one light call (the queue's counts) at most five times a second, so that the
    # measurement itself does not compete with the replay for the sandbox; near the end the calls
    # come closer (half the time the drain rate so far says is left, at least 10 ms apart), so
    # that the end is seen within a few milliseconds, not up to 200 ms late
    sqs = target.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    started = time.perf_counter()
    buffer.enable_replay(target, stack)
    first = None
    while True:
        attrs = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)["Attributes"]
        left = sum(int(attrs[n]) for n in names)
        if not left:
            break
        if time.monotonic() > deadline:
            raise SystemExit("replay did not finish in time")
        now = time.perf_counter()
        if first is None:
            first = (now, left)
        done = first[1] - left
        eta = left * (now - first[0]) / done if done > 0 else 0.2
        time.sleep(min(0.2, max(eta / 2, 0.01)))
    seconds = time.perf_counter() - started
    buffer.disable_replay(target, stack)
    return seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000, help="items per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1000, help="items replayed, untimed, before the rounds (0: none)")
    ap.add_argument("--shape", choices=("simple", "rich"), default="simple")
    ap.add_argument("--concurrency", type=int, help="the sandbox's concurrent batches per FIFO mapping (default: its own)")
    args = ap.parse_args(argv)
    rng = random.Random(1)
    proc, endpoint = start_sandbox()
    try:
        target = AwsTarget(region="us-east-1", endpoint_url=endpoint)
        if args.concurrency:
            body = json.dumps({"sqs_concurrency": args.concurrency}).encode()
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_sandbox/settings", data=body, method="POST"))
        ddb = target.client("dynamodb")
        create_demo_table(ddb, "bench-source", pitr=False)
        create_demo_table(ddb, "bench-target", pitr=False, stream=None)
        stack = buffer.deploy(target, buffer.plan(target, source_table="bench-source", target_table="bench-target"))
        if args.warmup:
            # Lambda's cold starts (a worker process importing boto3: about half a second of CPU
            # each here) belong to the start of a replay, not to its throughput
            deadline = time.monotonic() + 900
            write_batches(ddb, "bench-source", [simple_item(-1 - n) for n in range(args.warmup)])
            if not wait_queued(target, stack, args.warmup, deadline):
                print("the warm-up records did not all reach the queue", file=sys.stderr)
                return 1
            replay(target, stack, deadline)
        rows, server_cpu, worker_cpu, plain_cpu, batches = [], 0.0, 0.0, 0.0, 0
        sends = {"calls": 0, "entries": 0}
        replayed = {"write_calls": 0, "target_items": 0, "other_items": 0, "read_calls": 0, "read_items": 0}
        for r in range(args.rounds):
            base = r * args.items
            items = [
                simple_item(base + n) if args.shape == "simple" else make_item([("pk", "S")], base + n, rng)
                for n in range(args.items)
            ]
            deadline = time.monotonic() + 900
            sandbox_stats(endpoint, reset=True)
            write_batches(ddb, "bench-source", items)
            print(f"round {r + 1}: {args.items} items written to the source; waiting for the queue", file=sys.stderr)
            if not wait_queued(target, stack, args.items, deadline):
                print("the records did not all reach the queue", file=sys.stderr)
                return 1
            captured = sandbox_stats(endpoint)
            sends["calls"] += captured["requests"].get("sqs.SendMessageBatch", 0) + captured["requests"].get("sqs.SendMessage", 0)
            sends["entries"] += captured["items"].get("sqs.SendMessageBatch:entries", 0)
            timings = {}
            for size in (25, FIFO_BATCH):
                table = f"bench-plain-{size}-{r}"
                create_demo_table(ddb, table, pitr=False, stream=None)
                cpu0, own0 = cpu_seconds(proc.pid), time.process_time()
                started = time.perf_counter()
                write_batches(ddb, table, items, size=size)
                timings[size] = time.perf_counter() - started
                if size == 25:
                    plain_cpu += cpu_seconds(proc.pid)[0] - cpu0[0] + time.process_time() - own0
            cpu0 = cpu_seconds(proc.pid)
            sandbox_stats(endpoint, reset=True)
            seconds = replay(target, stack, deadline)
            cpu1 = cpu_seconds(proc.pid)
            used = sandbox_stats(endpoint)
            write_calls, all_items = dynamodb_requests(used, _WRITES)
            _, target_items = dynamodb_requests(used, _WRITES, "bench-target")
            read_calls, read_items = dynamodb_requests(used, _READS)
            replayed["write_calls"] += write_calls
            replayed["target_items"] += target_items
            replayed["other_items"] += all_items - target_items
            replayed["read_calls"] += read_calls
            replayed["read_items"] += read_items
            server_cpu += cpu1[0] - cpu0[0]
            worker_cpu += max(cpu1[1] - cpu0[1], 0.0)
            batches += -(-args.items // FIFO_BATCH)
            applied = count(ddb, "bench-target")
            st = buffer.status(target, stack)
            if applied != args.warmup + base + args.items or st.dlq_depth:
                print(f"replay applied {applied} of {args.warmup + base + args.items} items, {st.dlq_depth} in the DLQ",
                      file=sys.stderr)
                return 1
            rows.append((args.items / timings[25], args.items / timings[FIFO_BATCH], args.items / seconds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print(f"items: {args.items} per round ({args.shape}), {args.rounds} rounds after a warm-up of {args.warmup}, "
          "sandbox in its own process")
    print("round  plain 25/call  plain 10/call  replay     replay/plain25  replay/plain10")
    for i, (p25, p10, rep) in enumerate(rows, 1):
        print(f"{i:5d}  {p25:8.0f}/s    {p10:8.0f}/s    {rep:6.0f}/s  {rep / p25:14.2f}  {rep / p10:14.2f}")
    ratio = statistics.median(rep / p25 for p25, _, rep in rows)
    ratio10 = statistics.median(rep / p10 for _, p10, rep in rows)
    print(f"median ratio replay/plain(25): {ratio:.2f}")
    print(f"median ratio replay/plain(10): {ratio10:.2f}  (floor 0.75, goal 0.9)")
    changes = args.items * args.rounds
    per = {k: v / changes for k, v in replayed.items()}
    # the round's items are ~250 B: one write request unit per item written, one read request unit
    # per strongly consistent item read (<= 4 KB)
    wru = per["target_items"] + per["other_items"]
    rru = per["read_items"]
    sqs_requests = sends["calls"] / changes + 2 * batches / changes  # sends; Lambda's receive + delete per batch
    lambda_invocations = batches / changes  # the applier's; the forwarder's depend on the stream batch size
    print(
        f"per replayed change: DynamoDB write requests {per['write_calls']:.3f} calls, "
        f"{per['target_items']:.3f} item writes to the target, {per['other_items']:.3f} to other tables; "
        f"read requests {per['read_calls']:.3f} calls, {per['read_items']:.3f} item reads; "
        f"forwarder SQS sends {sends['calls'] / changes:.3f} calls ({sends['entries'] / changes:.3f} messages)"
    )
    cost = wru * PRICE_WRU + rru * PRICE_RRU + sqs_requests * PRICE_SQS_FIFO + lambda_invocations * PRICE_LAMBDA
    print(
        f"AWS cost per million changes (us-east-1 on-demand, items <= 1 KB, Lambda duration excluded): "
        f"${cost:.2f} = DynamoDB writes ${wru * PRICE_WRU:.3f} + reads ${rru * PRICE_RRU:.3f} + "
        f"SQS FIFO ${sqs_requests * PRICE_SQS_FIFO:.3f} + applier invocations ${lambda_invocations * PRICE_LAMBDA:.3f}"
    )
    if batches and server_cpu:
        cores = os.cpu_count() or 1
        replay_per_10 = (server_cpu + worker_cpu) / batches * 1000
        plain_per_10 = plain_cpu / (args.items * args.rounds) * FIFO_BATCH * 1000
        plain_wall_per_10 = statistics.median(FIFO_BATCH / p25 * 1000 for p25, _, _ in rows)
        print(
            f"CPU per {FIFO_BATCH} events: replay {replay_per_10:.1f} ms (sandbox server {server_cpu / batches * 1000:.1f}, "
            f"Lambda workers {worker_cpu / batches * 1000:.1f}); plain 25/call {plain_per_10:.1f} ms "
            f"(client + server; {plain_wall_per_10:.1f} ms of wall time)"
        )
        # plain makes one call at a time; replay runs batches in parallel on at most `cores` CPUs,
        # and every batch needs its share of the one server process, whatever the cores
        server_per_10 = server_cpu / batches * 1000
        print(
            f"bounds: replay/plain(25) <= {cores} cores x {plain_wall_per_10:.1f} / {replay_per_10:.1f} = "
            f"{cores * plain_wall_per_10 / replay_per_10:.2f}; on any number of cores, "
            f"<= {plain_wall_per_10:.1f} / {server_per_10:.1f} (the server process's share) = "
            f"{plain_wall_per_10 / server_per_10:.2f}"
        )
    print(f"replay/plain10: {ratio10:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
