"""Replay throughput on the sandbox vs plain BatchWriteItem of the same items, in one run.

    .venv/bin/python benchmarks/replay_bench.py [--items 3000] [--shape simple|rich]

1. A source table with a stream, the buffer deployed from infra/ (replay off), an empty target.
2. N items written to the source; the forwarder moves their N stream records into the FIFO queue.
3. Plain: the same N items written with BatchWriteItem (25 per call, one client) into a fresh table.
4. Replay: enable the queue mapping; time until the queue is empty and the target holds N items.

Prints both rates in events (items) per second and their ratio (replay / plain).
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from runbook_lib import buffer
from runbook_lib.config import AwsTarget
from runbook_lib.sandbox import Sandbox
from runbook_lib.sandbox.traffic import create_demo_table, make_item


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=3000)
    ap.add_argument("--shape", choices=("simple", "rich"), default="simple")
    args = ap.parse_args(argv)
    rng = random.Random(1)
    with Sandbox() as sb:
        target = AwsTarget(region="us-east-1", endpoint_url=sb.endpoint_url)
        ddb = target.client("dynamodb")
        create_demo_table(ddb, "bench-source", pitr=False)
        create_demo_table(ddb, "bench-target", pitr=False, stream=None)
        create_demo_table(ddb, "bench-plain", pitr=False, stream=None)
        stack = buffer.deploy(target, buffer.plan(target, source_table="bench-source", target_table="bench-target"))
        items = [simple_item(n) if args.shape == "simple" else make_item([("pk", "S")], n, rng) for n in range(args.items)]

        write_batches(ddb, "bench-source", items)
        print(f"{args.items} items written to the source; waiting for the forwarder to queue them", file=sys.stderr)
        deadline = time.monotonic() + 600
        while (depth := buffer.status(target, stack).depth) < args.items and time.monotonic() < deadline:
            print(f"  queued {depth}", file=sys.stderr)
            time.sleep(2)
        queued = buffer.status(target, stack).depth
        if queued < args.items:
            print(f"only {queued} of {args.items} records reached the queue", file=sys.stderr)
            return 1

        started = time.perf_counter()
        write_batches(ddb, "bench-plain", items)
        plain_seconds = time.perf_counter() - started
        create_demo_table(ddb, "bench-plain-10", pitr=False, stream=None)
        started = time.perf_counter()
        write_batches(ddb, "bench-plain-10", items, size=10)
        plain10_seconds = time.perf_counter() - started

        # measured by one light call (the queue's counts) twice a second, so that the measurement
        # itself does not compete with the replay for the sandbox
        sqs = target.client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        started = time.perf_counter()
        buffer.enable_replay(target, stack)
        while True:
            attrs = sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=names)["Attributes"]
            if all(attrs[n] == "0" for n in names):
                break
            if time.monotonic() > deadline:
                print("replay did not finish in time", file=sys.stderr)
                return 1
            time.sleep(0.5)
        replay_seconds = time.perf_counter() - started
        applied = count(ddb, "bench-target")
        st = buffer.status(target, stack)
        if applied != args.items or st.dlq_depth:
            print(f"replay applied {applied} of {args.items} items, {st.dlq_depth} in the DLQ", file=sys.stderr)
            return 1

    plain_rate, replay_rate = args.items / plain_seconds, args.items / replay_seconds
    plain10_rate = args.items / plain10_seconds
    print(f"items: {args.items} ({args.shape})")
    print(f"plain BatchWriteItem, 25 per call: {plain_seconds:.2f} s, {plain_rate:.0f} items/s")
    print(f"plain BatchWriteItem, 10 per call (one FIFO batch): {plain10_seconds:.2f} s, {plain10_rate:.0f} items/s")
    print(f"replay (queue -> applier -> table): {replay_seconds:.2f} s, {replay_rate:.0f} events/s")
    print(f"ratio replay/plain(25): {replay_rate / plain_rate:.2f}  (floor 0.8, goal 0.9)")
    print(f"ratio replay/plain(10): {replay_rate / plain10_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
