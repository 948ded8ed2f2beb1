"""What enforcing provisioned capacity costs the sandbox on tables that have none (on-demand).

Not a test: it prints figures. ``runbook_lib/sandbox/capacity.py`` runs on every item call; on an
on-demand table it must decide "not throttled" cheaply. Two sandboxes run side by side, each in a
process of its own: one as shipped, one without the capacity extension (taken out of
``faults.EXTENSIONS`` before it starts). The same workload runs against both in alternating rounds
(this client, one thread, over HTTP): ``PutItem`` and ``GetItem`` of single items, and
``BatchWriteItem`` of 25. Printed: items per second each way per round, the median ratio
with/without (1.00 = no cost), what the on-demand decision costs per request measured in this
process around a handler that does nothing (the HTTP figures move by more than that on a busy
machine), and the last line ``capacity/none: <ratio>``.

    .venv/bin/python benchmarks/capacity_bench.py                 # 3 rounds of 1,500 items
    .venv/bin/python benchmarks/capacity_bench.py --items 300 --rounds 1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402

REGION = "us-east-1"


def _serve(with_capacity: bool, ready) -> None:
    import logging

    logging.disable(logging.CRITICAL)
    from runbook_lib.sandbox import faults
    from runbook_lib.sandbox.server import Sandbox

    if not with_capacity:
        faults.EXTENSIONS = tuple(e for e in faults.EXTENSIONS if e != "capacity")
    sb = Sandbox().start()
    ready.put(sb.endpoint_url)
    threading.Event().wait()


def _start(with_capacity: bool) -> tuple[mp.Process, str]:
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(with_capacity, ready), daemon=True)
    proc.start()
    return proc, ready.get(timeout=60)


def _client(endpoint: str):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def _setup(ddb) -> None:
    ddb.create_table(
        TableName="bench",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _item(i: int, tag: str) -> dict:
    return {"pk": {"S": f"{tag}-{i:07d}"}, "n": {"N": str(i)}, "v": {"S": "x" * 200}}


def _round(ddb, items: int, tag: str) -> dict[str, float]:
    out = {}
    t = time.perf_counter()
    for i in range(items):
        ddb.put_item(TableName="bench", Item=_item(i, tag))
    out["PutItem"] = items / (time.perf_counter() - t)
    t = time.perf_counter()
    for i in range(items):
        ddb.get_item(TableName="bench", Key={"pk": {"S": f"{tag}-{i:07d}"}})
    out["GetItem"] = items / (time.perf_counter() - t)
    t = time.perf_counter()
    for start in range(0, items, 25):
        batch = [{"PutRequest": {"Item": _item(i, tag + "b")}} for i in range(start, min(items, start + 25))]
        ddb.batch_write_item(RequestItems={"bench": batch})
    out["BatchWriteItem"] = items / (time.perf_counter() - t)
    return out


def decision_cost(calls: int = 200_000) -> tuple[float, float]:
    """Microseconds the PutItem and BatchWriteItem wrappers add to a request on an on-demand table
    (in this process, around a handler that does nothing)."""
    from types import SimpleNamespace

    from runbook_lib.sandbox import capacity

    table = SimpleNamespace(billing_mode="PAY_PER_REQUEST", throughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
                            name="bench", table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/bench")
    backend = SimpleNamespace(tables={"bench": table})
    put = SimpleNamespace(body={"TableName": "bench", "Item": _item(1, "x")}, dynamodb_backend=backend)
    batch = SimpleNamespace(body={"RequestItems": {"bench": [{"PutRequest": {"Item": _item(i, "x")}} for i in range(25)]}},
                            dynamodb_backend=backend)
    out = []
    for handler, wrap in ((put, capacity._wrap_put), (batch, capacity._wrap_batch_write)):
        def nothing(self):
            return None

        wrapped = wrap(nothing)
        t = time.perf_counter()
        for _ in range(calls):
            nothing(handler)
        bare = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(calls):
            wrapped(handler)
        out.append((time.perf_counter() - t - bare) / calls * 1e6)
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=1500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    procs = []
    try:
        with_proc, with_url = _start(True)
        none_proc, none_url = _start(False)
        procs = [with_proc, none_proc]
        clients = {"capacity": _client(with_url), "none": _client(none_url)}
        for ddb in clients.values():
            _setup(ddb)
            _round(ddb, 50, "warm")  # connections, first-request costs
        ratios: dict[str, list[float]] = {"PutItem": [], "GetItem": [], "BatchWriteItem": []}
        print(f"{'round':>5}  {'call':<15} {'with capacity':>14} {'without':>10} {'ratio':>6}")
        for r in range(args.rounds):
            order = ["capacity", "none"] if r % 2 == 0 else ["none", "capacity"]
            rates = {name: _round(clients[name], args.items, f"r{r}") for name in order}
            for call in ratios:
                ratio = rates["capacity"][call] / rates["none"][call]
                ratios[call].append(ratio)
                print(f"{r + 1:>5}  {call:<15} {rates['capacity'][call]:>12.0f}/s {rates['none'][call]:>8.0f}/s {ratio:>6.2f}")
        medians = {call: statistics.median(v) for call, v in ratios.items()}
        for call, m in medians.items():
            print(f"median ratio with/without capacity, {call}: {m:.2f}")
        put_us, batch_us = decision_cost()
        print(f"the on-demand decision, in process: {put_us:.2f} us per PutItem, {batch_us:.2f} us per BatchWriteItem of 25")
        print(f"capacity/none: {statistics.median(medians.values()):.2f}")
        return 0
    finally:
        for p in procs:
            p.terminate()
            p.join(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
