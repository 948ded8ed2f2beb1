"""What enforcing IAM costs the sandbox per request (``runbook_lib/sandbox/iam_auth.py``).

Not a test: it prints figures. The check runs on every request. For the sandbox's default
credentials (root-like, unrestricted) it must be a dict lookup; for a principal the sandbox issued
it evaluates the principal's policies (parsed once, cached by their text) against the call's
resource ARN.

Printed:
- in this process, around no HTTP at all: the hook's cost for a root-key request and for an IAM
  user's request (resolving the principal, reading its policies, evaluating), in microseconds;
- over HTTP against one sandbox: ``PutItem`` of single items signed with the default key and with
  an IAM user's key holding a policy of the applier's shape, in alternating rounds, items per
  second each way and the median ratio (1.00 = no cost). The last line is ``iam_user/root: <ratio>``.

    .venv/bin/python benchmarks/iam_auth_bench.py                 # 3 rounds of 1,000 items
    .venv/bin/python benchmarks/iam_auth_bench.py --items 300 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "123456789012"


class _Handler:
    """Just what the hook reads of a moto response handler."""

    def __init__(self, key: str, body: dict, token: str | None = None) -> None:
        auth = f"AWS4-HMAC-SHA256 Credential={key}/20261130/{REGION}/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
        self.headers = {"Authorization": auth, "X-Target": "DynamoDB_20120810.PutItem"}
        if token:
            self.headers["X-Amz-Security-Token"] = token
        self.body = body
        self.querystring: dict = {}
        self.service_name = "dynamodb"
        self.region = REGION
        self.response_headers: dict = {}

    def _get_action(self) -> str:
        return "PutItem"


def _per_call_us(fn, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import logging

    logging.disable(logging.CRITICAL)
    from runbook_lib.sandbox import iam_auth
    from runbook_lib.sandbox.server import Sandbox

    with Sandbox() as sb:
        root = dict(endpoint_url=sb.endpoint_url, region_name=REGION, aws_access_key_id="testing",
                    aws_secret_access_key="testing")
        ddb = boto3.client("dynamodb", **root)
        ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        iam = boto3.client("iam", **root)
        iam.create_user(UserName="bench")
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/bench"
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage"], "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"},
            {"Effect": "Allow", "Action": "dynamodb:BatchGetItem", "Resource": table + "-source"},
            {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"},
            {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"},
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": table,
             "Condition": {"StringEquals": {"aws:RequestedRegion": REGION}}},
        ]}
        iam.put_user_policy(UserName="bench", PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="bench")["AccessKey"]
        user = dict(endpoint_url=sb.endpoint_url, region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                    aws_secret_access_key=key["SecretAccessKey"])

        body = {"TableName": "bench", "Item": {"pk": {"S": "a"}}}
        root_handler = _Handler("testing", body)
        user_handler = _Handler(key["AccessKeyId"], body)
        n = 20_000
        root_us = _per_call_us(lambda: iam_auth._check_normal(root_handler), n)
        user_us = _per_call_us(lambda: iam_auth._check_normal(user_handler), n // 4)
        print(f"hook, in process: root key {root_us:.2f} us/request, IAM user {user_us:.1f} us/request")

        clients = {"root": boto3.client("dynamodb", **root), "iam_user": boto3.client("dynamodb", **user)}
        ratios = []
        for r in range(args.rounds):
            rates = {}
            for name in ("root", "iam_user") if r % 2 == 0 else ("iam_user", "root"):
                client = clients[name]
                started = time.perf_counter()
                for i in range(args.items):
                    client.put_item(TableName="bench", Item={"pk": {"S": f"{name}-{r}-{i}"}})
                rates[name] = args.items / (time.perf_counter() - started)
            ratios.append(rates["iam_user"] / rates["root"])
            print(f"round {r + 1}: root {rates['root']:.0f} items/s, IAM user {rates['iam_user']:.0f} items/s")
        print(f"iam_user/root: {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
