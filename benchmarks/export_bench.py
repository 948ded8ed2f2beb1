"""The export comparison's throughput and peak memory, against the scan path's on the sandbox.

Not a test: it prints figures.

    .venv/bin/python benchmarks/export_bench.py                          # 1,000,000 items per export
    .venv/bin/python benchmarks/export_bench.py --items 100000 --scan-items 5000   # quicker

1. Two exports of ``--items`` items each are written in AWS's layout ("DynamoDB table export output
   format": manifest-summary.json, manifest-files.json, 8 gzip data files of ``{"Item": ...}`` lines)
   under ``--dir`` (kept and reused when present with the same parameters). Items carry S, N, B,
   BOOL, NULL, L, M, SS, NS and BS attributes (about 440 bytes of DynamoDB JSON each, 64 hex
   characters of them incompressible). The target
   differs in ``--diff`` of the keys, split into missing, extra and changed items, and writes every
   item's attributes in another order (equal items must not become candidates for that).
2. The comparison runs in a child process (so that its peak memory is its own): the two folders are
   opened as local exports (:func:`open_local_export`, MD5 checked), the one query runs on DuckDB
   (``memory_limit`` 512 MB, spilling beyond it), the candidates' export lines are read back. Printed:
   items per second (items of both exports over the wall time of the query plus the read-back), the
   child's peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), candidate counts.
3. The scan path: ``reconcile()`` of two sandbox tables of ``--scan-items`` items (the same item
   shape and difference rate; a smaller table than the exports: a sandbox table of a million items
   would take hours to load), sandbox in a child process; its items per second (both tables' items
   over the scan's wall time, as ``Reconciliation.items_per_second``).
4. The ratio (goal >= 10) and Athena's cost: Athena bills the bytes it reads from S3, compressed
   (Amazon Athena pricing, https://aws.amazon.com/athena/pricing/: $5.00 per TB scanned in most
   regions, 10 MB minimum per query), so one comparison of two tables of a billion items each reads
   both exports once: 2e9 x (compressed bytes per item).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import logging
import multiprocessing as mp
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

REGION = "us-east-1"
ATHENA_USD_PER_TB = 5.00
FILES = 8


def item(i: int, changed: bool = False) -> dict:
    noise = hashlib.blake2b(str(i).encode(), digest_size=32).hexdigest()  # as little to compress as real text
    return {
        "pk": {"S": f"customer#{i:09d}"}, "sk": {"N": str(i % 97)},
        "name": {"S": f"name {noise[:12]}"}, "note": {"S": noise}, "total": {"N": f"{i * 3}.{i % 100:02d}"},
        "state": {"S": "shipped" if changed else "open"}, "paid": {"BOOL": i % 2 == 0}, "gone": {"NULL": True},
        "blob": {"B": base64.b64encode(bytes([i % 256, 7, 9, 11])).decode()},
        "tags": {"SS": ["a", "b", f"t{i % 13}"]}, "sizes": {"NS": ["1", "2.5", str(i % 7)]},
        "codes": {"BS": ["AAE=", "AQI="]},
        "lines": {"L": [{"S": "sku-1"}, {"N": "2"}, {"M": {"qty": {"N": "1"}}}]},
        "address": {"M": {"city": {"S": "Lyon"}, "zip": {"S": f"{i % 99999:05d}"}}},
    }


def _shuffled(it: dict, rng: random.Random) -> dict:
    names = list(it)
    rng.shuffle(names)
    return {n: it[n] for n in names}


def side_items(n: int, diff: float, side: str, seed: int = 1):
    """The source's items, or the target's: a third of ``diff`` missing, a third changed, a third extra."""
    order = random.Random(seed)
    step = max(1, int(round(1 / diff))) if diff > 0 else 0
    for i in range(n):
        kind = (i // step) % 3 if step and i % step == 0 else None
        base = item(i)
        if side == "source":
            yield base
        elif kind == 0:
            continue  # missing in the target
        elif kind == 1:
            yield _shuffled({**base, "state": {"S": "shipped"}}, order)
        else:
            yield _shuffled(base, order)
        if side == "target" and kind == 2:
            yield _shuffled(item(n + i), order)  # extra in the target


def write_export(folder: Path, items, export_id: str, table: str) -> int:
    """An export in AWS's layout, written as it streams; returns its item count."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    writers = [gzip.open(data / f"{export_id}-{k:04d}.json.gz", "wb", compresslevel=6) for k in range(FILES)]
    counts = [0] * FILES
    for n, it in enumerate(items):
        writers[n % FILES].write(json.dumps({"Item": it}, separators=(",", ":")).encode() + b"\n")
        counts[n % FILES] += 1
    lines = []
    for k, w in enumerate(writers):
        w.close()
        path = data / f"{export_id}-{k:04d}.json.gz"
        digest = hashlib.md5(path.read_bytes(), usedforsecurity=False)
        lines.append(json.dumps({"itemCount": counts[k], "md5Checksum": base64.b64encode(digest.digest()).decode(),
                                 "etag": digest.hexdigest(), "dataFileS3Key": f"AWSDynamoDB/{export_id}/data/{path.name}"}))
    (folder / "manifest-files.json").write_text("\n".join(lines) + "\n")
    arn = f"arn:aws:dynamodb:{REGION}:123456789012:table/{table}/export/{export_id}"
    (folder / "manifest-summary.json").write_text(json.dumps({
        "version": "2020-06-30", "exportArn": arn, "itemCount": sum(counts), "outputFormat": "DYNAMODB_JSON",
        "manifestFilesS3Key": f"AWSDynamoDB/{export_id}/manifest-files.json", "exportType": "FULL_EXPORT"}))
    return sum(counts)


def generate(root: Path, n: int, diff: float) -> tuple[Path, Path]:
    marker = root / "params.json"
    params = {"items": n, "diff": diff, "version": 3}
    folders = (root / "source" / "AWSDynamoDB" / "01700000000000-aaaaaaaa",
               root / "target" / "AWSDynamoDB" / "01700000000001-bbbbbbbb")
    if marker.exists() and json.loads(marker.read_text()) == params:
        return folders
    shutil.rmtree(root, ignore_errors=True)
    clock = time.monotonic()
    for folder, side, table in zip(folders, ("source", "target"), ("bench", "bench-restored")):
        count = write_export(folder, side_items(n, diff, side), folder.name, table)
        print(f"wrote {side} export: {count:,} items in {folder}", flush=True)
    marker.write_text(json.dumps(params))
    print(f"generated in {time.monotonic() - clock:.0f} s", flush=True)
    return folders


def _compare_child(folders, work, memory_limit, conn) -> None:
    from runbook_lib.reconcile.exports import open_local_export, run_duckdb
    from runbook_lib.reconcile.exports.query import candidate_images

    clock = time.monotonic()
    src, tgt = (open_local_export(f) for f in folders)
    opened = time.monotonic() - clock
    clock = time.monotonic()
    result, con = run_duckdb(src.files, tgt.files, ("pk", "sk"), work_dir=work, memory_limit=memory_limit)
    images = candidate_images(con, result, ("pk", "sk"))
    con.close()
    seconds = time.monotonic() - clock
    kinds: dict[str, int] = {}
    for c in result.candidates:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    conn.send({"seconds": seconds, "query_seconds": result.seconds, "md5_seconds": opened,
               "rows": (result.source_rows, result.target_rows), "expected": (src.item_count, tgt.item_count),
               "kinds": kinds, "images": (len(images[0]), len(images[1])),
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "compressed_bytes": sum(p.stat().st_size for p in (*src.files, *tgt.files))})


def measure_export(folders, work: Path, memory_limit: str) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_compare_child, args=(folders, work, memory_limit, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


def _serve(conn) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from runbook_lib.sandbox import Sandbox

    with Sandbox() as sandbox:
        conn.send(sandbox.endpoint_url)
        conn.recv()


def measure_scan(n: int, diff: float) -> dict:
    from runbook_lib.aws.clients import AwsTarget
    from runbook_lib.reconcile import reconcile

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    try:
        target = AwsTarget(REGION, parent.recv())
        ddb = target.client("dynamodb")
        for table, side in (("bench", "source"), ("bench-restored", "target")):
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "N"}])
            batch = []
            for it in side_items(n, diff, side):
                batch.append({"PutRequest": {"Item": {k: _to_boto(v) for k, v in it.items()}}})
                if len(batch) == 25:
                    _write(ddb, table, batch)
                    batch = []
            if batch:
                _write(ddb, table, batch)
        result = reconcile(target, "bench", "bench-restored", reread_rounds=1)
        return {"items_per_second": result.items_per_second, "items": result.items_scanned,
                "seconds": result.scan_seconds, "differences": len(result.differences)}
    finally:
        parent.send("stop")
        proc.join(timeout=30)


def _to_boto(av: dict) -> dict:
    ((kind, value),) = av.items()
    if kind == "B":
        return {"B": base64.b64decode(value)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in value]}
    if kind == "M":
        return {"M": {k: _to_boto(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [_to_boto(v) for v in value]}
    return av


def _write(ddb, table: str, batch: list) -> None:
    request = {table: batch}
    while request:
        request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=1_000_000, help="items per export")
    p.add_argument("--diff", type=float, default=0.03, help="share of keys that differ")
    p.add_argument("--scan-items", type=int, default=20_000, help="items per sandbox table for the scan path")
    p.add_argument("--dir", default="/tmp/pitr-export-bench", help="where the generated exports are kept")
    p.add_argument("--memory-limit", default="512MB", help="DuckDB's memory_limit (it spills beyond it)")
    args = p.parse_args()
    root = Path(args.dir)
    folders = generate(root, args.items, args.diff)
    load = os.getloadavg()
    exp = measure_export(folders, root / "work", args.memory_limit)
    assert exp["rows"] == exp["expected"], exp
    total = sum(exp["rows"])
    export_rate = total / exp["seconds"]
    print(f"export: {total:,} items ({exp['rows'][0]:,} + {exp['rows'][1]:,}) in {exp['seconds']:.1f} s "
          f"(query {exp['query_seconds']:.1f} s; MD5 check of the files {exp['md5_seconds']:.1f} s, not counted): "
          f"{export_rate:,.0f} items/s; peak RSS {exp['peak_rss_mb']:.0f} MB; candidates {exp['kinds']}; "
          f"load average before {load[0]:.1f}", flush=True)
    scan = measure_scan(args.scan_items, args.diff)
    print(f"scan:   {scan['items']:,} items in {scan['seconds']:.1f} s: {scan['items_per_second']:,.0f} items/s "
          f"({scan['differences']} differences)", flush=True)
    per_item = exp["compressed_bytes"] / total
    cost = 2e9 * per_item / 1e12 * ATHENA_USD_PER_TB
    print(f"athena: {per_item:.0f} compressed bytes per item; two exports of 1e9 items each: "
          f"{2e9 * per_item / 1e12:.2f} TB scanned, ${cost:.2f} at ${ATHENA_USD_PER_TB:.2f}/TB")
    print(f"export/scan: {export_rate / scan['items_per_second']:.1f}")


if __name__ == "__main__":
    main()
