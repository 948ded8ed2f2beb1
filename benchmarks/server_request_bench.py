"""The sandbox server's own CPU per request on the replay path's two HTTP calls.

    .venv/bin/python benchmarks/server_request_bench.py [--calls 400] [--repeat 3]

Starts ``pitr-runbook sandbox`` in its own process and sends, one at a time, ``--calls`` FIFO
``SendMessageBatch`` calls of 10 messages (the forwarder's call) and as many ``BatchWriteItem``
calls of 10 puts (the applier's call), then reads the server process's CPU time from /proc.
Prints the server's CPU per call of each kind (best of ``--repeat``: the machine is shared), which
is what a change to the server's request path saves, without the noise of a whole replay.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import boto3

sys.path.insert(0, os.path.dirname(__file__))
from replay_bench import cpu_seconds, simple_item, start_sandbox  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    proc, endpoint = start_sandbox()
    try:
        kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
        sqs, ddb = boto3.client("sqs", **kw), boto3.client("dynamodb", **kw)
        ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        best: dict[str, float] = {}
        n = 0
        for r in range(args.repeat):
            url = sqs.create_queue(QueueName=f"bench{r}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            before = cpu_seconds(proc.pid)[0]
            for _ in range(args.calls):
                sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "MessageBody": f'{{"n": {n + i}, "s": "{"x" * 200}"}}',
                     "MessageGroupId": f"g{(n + i) % 7}", "MessageDeduplicationId": f"d{n + i}"}
                    for i in range(10)])
                n += 10
            mid = cpu_seconds(proc.pid)[0]
            for _ in range(args.calls):
                ddb.batch_write_item(RequestItems={"bench": [
                    {"PutRequest": {"Item": simple_item(n + i)}} for i in range(10)]})
                n += 10
            end = cpu_seconds(proc.pid)[0]
            for key, value in (("SendMessageBatch", mid - before), ("BatchWriteItem", end - mid)):
                best[key] = min(best.get(key, value), value)
            print(f"  run {r + 1}: SendMessageBatch {1000 * (mid - before) / args.calls:.2f} ms, "
                  f"BatchWriteItem {1000 * (end - mid) / args.calls:.2f} ms", file=sys.stderr)
            time.sleep(0.5)
        for key, value in best.items():
            print(f"server CPU per {key} of 10: {1000 * value / args.calls:.2f} ms")
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
