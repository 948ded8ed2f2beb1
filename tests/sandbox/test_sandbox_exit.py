"""A process that ran a sandbox ends without the garbage collector walking what the sandbox held."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import atexit, gc, os
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
# registered first, so it runs last (atexit runs handlers last in, first out)
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count(), flush=True))
from runbook_lib.sandbox import Sandbox
from runbook_lib.aws.clients import AwsTarget
from runbook_lib.sandbox.traffic import create_demo_table, seed_items
with Sandbox() as sandbox:
    ddb = AwsTarget(region=sandbox.region, endpoint_url=sandbox.endpoint_url).client("dynamodb")
    create_demo_table(ddb, "held")
    seed_items(ddb, "held", 200)
print("frozen after stop:", gc.get_freeze_count(), flush=True)
"""


def test_a_process_that_ran_a_sandbox_freezes_its_objects_at_exit():
    # GIVEN a process that starts a sandbox, fills a table and stops the sandbox
    # WHEN it exits
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=True).stdout
    lines = dict(line.split(": ") for line in out.strip().splitlines())
    # THEN stop gave the collector its objects back, and at exit they were frozen (the shutdown's
    # collections walk none of the sandbox's state)
    assert int(lines["frozen after stop"]) == 0
    assert int(lines["frozen at exit"]) > 100_000
