"""What the sandbox's Lambda runtime itself costs per SQS batch, without the function's own work.

Not a test: it prints figures. ``replay_bench.py`` measures the whole replay, where the applier's
BatchWriteItem (botocore in the worker, moto's DynamoDB handler in the server) is most of the CPU;
this script isolates the runtime: a FIFO queue, an event source mapping as the buffer's applier
has it (batch size 10, ``ReportBatchItemFailures``, ``MaximumConcurrency`` 10), one message group
per message, and a function that only logs a line and returns an empty ``batchItemFailures``.
What the sandbox server spends per batch is then the runtime's own work: receive, event records,
the pipe to the worker, the answer, log lines, metrics, delete, threads.

The sandbox runs in a process of its own (``pitr-runbook sandbox``). A warm-up drain (200
messages) starts the workers; then ``--messages`` are sent and drained, timed from enabling the
mapping until the queue is empty. Printed: messages per second, and CPU per batch of the sandbox
server (user and system) and of its Lambda worker processes, from /proc.

    .venv/bin/python benchmarks/lambda_runtime_bench.py                  # 10,000 messages
    .venv/bin/python benchmarks/lambda_runtime_bench.py --messages 3000 --rounds 3
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boto3  # noqa: E402
from replay_bench import cpu_seconds, start_sandbox  # noqa: E402

HANDLER = """import logging
log = logging.getLogger()
log.setLevel(logging.INFO)


def handler(event, context):
    log.info("batch of %d", len(event["Records"]))
    return {"batchItemFailures": []}
"""
BATCHES_OF = 10


def _user_system(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10000, help="messages per round")
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args(argv)
    proc, endpoint = start_sandbox()
    try:
        kw = {"endpoint_url": endpoint, "region_name": "us-east-1",
              "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        sqs, lam, iam = boto3.client("sqs", **kw), boto3.client("lambda", **kw), boto3.client("iam", **kw)
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        role = iam.create_role(RoleName="bench-noop", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        url = sqs.create_queue(QueueName="bench-noop.fifo",
                               Attributes={"FifoQueue": "true", "VisibilityTimeout": "60"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": arn, "Action": [
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]}]}
        iam.put_role_policy(RoleName="bench-noop", PolicyName="poll", PolicyDocument=json.dumps(policy))
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("app.py", HANDLER)
        lam.create_function(FunctionName="bench-noop", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": code.getvalue()}, Timeout=30)
        uuid = lam.create_event_source_mapping(
            FunctionName="bench-noop", EventSourceArn=arn, BatchSize=BATCHES_OF, Enabled=False,
            FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 10},
        )["UUID"]
        body = json.dumps({"k": "x" * 300})
        sent = 0

        def fill(count: int) -> None:
            nonlocal sent
            for start in range(sent, sent + count, 10):
                sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(n), "MessageBody": body, "MessageGroupId": f"g{start + n}",
                     "MessageDeduplicationId": f"d{start + n}"} for n in range(10)])
            sent += count

        def drain() -> float:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            started = time.perf_counter()
            lam.update_event_source_mapping(UUID=uuid, Enabled=True)
            while True:
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
                if all(attrs[n] == "0" for n in names):
                    break
                time.sleep(0.02)
            seconds = time.perf_counter() - started
            lam.update_event_source_mapping(UUID=uuid, Enabled=False)
            time.sleep(0.5)
            return seconds

        fill(200)
        drain()
        for r in range(args.rounds):
            fill(args.messages)
            (u0, s0), (_, w0) = _user_system(proc.pid), cpu_seconds(proc.pid)
            seconds = drain()
            (u1, s1), (_, w1) = _user_system(proc.pid), cpu_seconds(proc.pid)
            batches = args.messages / BATCHES_OF
            print(f"round {r + 1}: {args.messages} messages in {seconds:.2f} s = {args.messages / seconds:.0f}/s; "
                  f"CPU per batch of {BATCHES_OF}: sandbox server {(u1 - u0 + s1 - s0) / batches * 1000:.2f} ms "
                  f"(user {(u1 - u0) / batches * 1000:.2f}, system {(s1 - s0) / batches * 1000:.2f}), "
                  f"Lambda workers {max(w1 - w0, 0.0) / batches * 1000:.2f} ms")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
