"""An export's files in S3, as AWS lays them out, and their local copies.

AWS's layout ("DynamoDB table export output format", Amazon DynamoDB Developer Guide,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataExport.Output.html)::

    <prefix>/AWSDynamoDB/<ExportId>/manifest-summary.json   one JSON object: itemCount, manifestFilesS3Key, ...
    <prefix>/AWSDynamoDB/<ExportId>/manifest-files.json     JSON lines: itemCount, md5Checksum, etag, dataFileS3Key
    <prefix>/AWSDynamoDB/<ExportId>/data/<name>.json.gz      gzip, one {"Item": {...DynamoDB JSON...}} a line

``md5Checksum`` is the base64 MD5 of the data file's bytes (the gzip object), checked on download.
The guide's example gives ``manifestFilesS3Key`` without the export prefix while naming one in
``s3Prefix``; keys are therefore taken as they are when they start with the prefix and under the
prefix otherwise (:func:`_under_prefix`).

:func:`locate_export` (DescribeExport -> bucket, prefix, manifest) and :func:`download_export` (the
data files to a local work dir, MD5 checked, with a progress bar) are what the comparison reads;
:func:`build_export` writes an export in the same layout from a list of items (tests, benchmarks).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import ClientError

from ... import progress as progress_bar
from ...aws.clients import AwsTarget
from ...aws.codes import error_code, error_message
from ...errors import RunbookError
from ..values import to_wire

log = logging.getLogger(__name__)

#: ``arn:<partition>:dynamodb:<region>:<account>:table/<table>/export/<export id>``
_EXPORT_ARN = re.compile(r"^arn:[\w-]+:dynamodb:[\w-]*:\d*:table/(?P<table>[^/]+)/export/(?P<id>[^/]+)$")
_CHUNK = 1 << 20
#: data files downloaded at once
DOWNLOAD_THREADS = 8


class ExportError(RunbookError):
    """An export cannot be read as AWS documents it (missing manifest, checksum mismatch, count
    mismatch, export failed): nothing was compared."""


@dataclass(frozen=True)
class DataFile:
    """One line of ``manifest-files.json``."""

    key: str
    item_count: int
    md5: str  # base64, as the manifest gives it
    etag: str = ""


@dataclass(frozen=True)
class ExportLocation:
    """Where an export's files are: what :func:`locate_export` reads from DescribeExport."""

    export_arn: str
    bucket: str
    prefix: str  # "" when the export had no S3Prefix
    manifest_summary_key: str
    bucket_owner: str | None = None
    item_count: int | None = None  # DescribeExport's ItemCount, when given
    export_time: Any = None

    @property
    def export_id(self) -> str:
        return export_id_of(self.export_arn)

    @property
    def table(self) -> str:
        m = _EXPORT_ARN.match(self.export_arn)
        return m.group("table") if m else ""

    @property
    def data_prefix(self) -> str:
        """``<prefix>/AWSDynamoDB/<ExportId>/data/``: the folder an Athena table's LOCATION names."""
        return _under_prefix(self.prefix, f"AWSDynamoDB/{self.export_id}/data/")


@dataclass(frozen=True)
class LocalExport:
    """An export's data files on this machine, with the counts its manifests give."""

    location: ExportLocation
    files: tuple[Path, ...]
    data_files: tuple[DataFile, ...]
    item_count: int  # manifest-summary.json's itemCount
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest_item_count(self) -> int:
        """The sum of manifest-files.json's itemCount lines (equal to the summary's)."""
        return sum(f.item_count for f in self.data_files)


def export_id_of(export_arn: str) -> str:
    m = _EXPORT_ARN.match(export_arn or "")
    if not m:
        raise ExportError(f"not an export ARN: {export_arn!r} (arn:PARTITION:dynamodb:REGION:ACCOUNT:table/T/export/ID)")
    return m.group("id")


def _under_prefix(prefix: str, key: str) -> str:
    """``key`` under ``prefix`` unless it already is (AWS's manifests may give either)."""
    prefix = (prefix or "").strip("/")
    if not prefix or key == prefix or key.startswith(prefix + "/"):
        return key
    return f"{prefix}/{key}"


# -- locating ---------------------------------------------------------------------------------------------


def describe_export(target: AwsTarget, export_arn: str) -> dict[str, Any]:
    """DescribeExport's ``ExportDescription``; ExportNotFoundException as an :class:`ExportError`."""
    ddb = target.client("dynamodb")
    try:
        return ddb.describe_export(ExportArn=export_arn)["ExportDescription"]
    except ClientError as exc:
        if error_code(exc) == "ExportNotFoundException":
            raise ExportError(f"export {export_arn} not found: check the ARN and the region",
                              code="ExportNotFoundException") from None
        raise


def location_of(description: Mapping[str, Any]) -> ExportLocation:
    """The files of a COMPLETED export, from its DescribeExport description."""
    arn = description["ExportArn"]
    status = description.get("ExportStatus")
    if status != "COMPLETED":
        detail = f": {description.get('FailureCode')} {description.get('FailureMessage') or ''}".rstrip()
        raise ExportError(
            f"export {arn} is {status}{detail if status == 'FAILED' else ''}; only a COMPLETED export can be "
            + ("compared: start a new export" if status == "FAILED" else "compared: wait for it (DescribeExport)"),
            code=description.get("FailureCode"),
        )
    prefix = description.get("S3Prefix") or ""
    manifest = description.get("ExportManifest") or f"AWSDynamoDB/{export_id_of(arn)}/manifest-summary.json"
    return ExportLocation(
        export_arn=arn, bucket=description["S3Bucket"], prefix=prefix,
        manifest_summary_key=_under_prefix(prefix, manifest), bucket_owner=description.get("S3BucketOwner"),
        item_count=description.get("ItemCount"), export_time=description.get("ExportTime"),
    )  # fmt: skip


def locate_export(target: AwsTarget, export_arn: str) -> ExportLocation:
    """DescribeExport -> S3Bucket, S3Prefix, ExportManifest of a COMPLETED export."""
    return location_of(describe_export(target, export_arn))


# -- reading the manifests ----------------------------------------------------------------------------------


def _get(s3, location: ExportLocation, key: str) -> bytes:
    kwargs: dict[str, Any] = {"Bucket": location.bucket, "Key": key}
    if location.bucket_owner:
        kwargs["ExpectedBucketOwner"] = location.bucket_owner
    try:
        return s3.get_object(**kwargs)["Body"].read()
    except ClientError as exc:
        code = error_code(exc)
        if code in ("NoSuchKey", "NoSuchBucket"):
            raise ExportError(f"s3://{location.bucket}/{key} of export {location.export_arn} not found ({code}): "
                              "was the export's folder moved or deleted? Export again", code=code) from None
        raise


def read_manifests(target: AwsTarget, location: ExportLocation) -> tuple[dict[str, Any], tuple[DataFile, ...]]:
    """manifest-summary.json and the data files manifest-files.json lists."""
    s3 = target.client("s3")
    summary = _json(_get(s3, location, location.manifest_summary_key), location.manifest_summary_key)
    files_key = summary.get("manifestFilesS3Key") or location.manifest_summary_key.replace(
        "manifest-summary.json", "manifest-files.json")
    text = _get(s3, location, _under_prefix(location.prefix, files_key)).decode("utf-8")
    files = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        entry = _json(line.encode(), f"{files_key} line {n}")
        try:
            files.append(DataFile(key=_under_prefix(location.prefix, entry["dataFileS3Key"]),
                                  item_count=int(entry["itemCount"]), md5=entry["md5Checksum"],
                                  etag=entry.get("etag", "")))
        except (KeyError, TypeError, ValueError):
            raise ExportError(f"{files_key} line {n} lacks dataFileS3Key, itemCount or md5Checksum: "
                              "not a DynamoDB export manifest") from None
    if summary.get("outputFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise ExportError(f"export {location.export_arn} is {summary.get('outputFormat')}: export with "
                          "ExportFormat=DYNAMODB_JSON to compare")
    return summary, tuple(files)


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        raise ExportError(f"{what} is not JSON: not a DynamoDB export manifest") from None
    if not isinstance(value, dict):
        raise ExportError(f"{what} is not a JSON object: not a DynamoDB export manifest")
    return value


# -- downloading ----------------------------------------------------------------------------------------------


def download_export(
    target: AwsTarget, location: ExportLocation, work_dir: str | Path, *, progress: bool = True
) -> LocalExport:
    """Every data file of the export into ``work_dir/<ExportId>/``, each checked against its
    manifest's md5Checksum (a file already there with the right checksum is kept)."""
    summary, files = read_manifests(target, location)
    item_count = int(summary.get("itemCount", sum(f.item_count for f in files)))
    if item_count != sum(f.item_count for f in files):
        raise ExportError(f"export {location.export_arn}: manifest-summary.json counts {item_count} items, "
                          f"manifest-files.json {sum(f.item_count for f in files)}: export again")
    folder = Path(work_dir) / location.export_id
    folder.mkdir(parents=True, exist_ok=True)
    s3 = target.client("s3", config=Config(max_pool_connections=DOWNLOAD_THREADS + 2))
    paths = [folder / f"{n:05d}-{Path(f.key).name}" for n, f in enumerate(files, 1)]

    def fetch(pair: tuple[DataFile, Path]) -> None:
        f, path = pair
        if not (path.exists() and _md5_of_file(path) == f.md5):
            _download(s3, location, f, path)

    bar = progress_bar.wait(f"downloading export {location.export_id} of {location.table}",
                            total=len(files), unit="files", show=progress)
    try:  # one export has a file per partition at least: thousands for a large table
        with ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS, thread_name_prefix="export-download") as pool:
            for n, _ in enumerate(pool.map(fetch, zip(files, paths)), 1):
                bar.update(n)
    finally:
        bar.close()
    log.info("export %s: %d data files, %d items, in %s", location.export_id, len(files), item_count, folder)
    return LocalExport(location, tuple(paths), files, item_count, summary)


def _download(s3, location: ExportLocation, f: DataFile, path: Path) -> None:
    kwargs: dict[str, Any] = {"Bucket": location.bucket, "Key": f.key}
    if location.bucket_owner:
        kwargs["ExpectedBucketOwner"] = location.bucket_owner
    try:
        body = s3.get_object(**kwargs)["Body"]
    except ClientError as exc:
        raise ExportError(f"s3://{location.bucket}/{f.key} of export {location.export_arn}: "
                          f"{error_message(exc)}: export again", code=error_code(exc)) from None
    digest = hashlib.md5(usedforsecurity=False)
    partial = path.with_name(path.name + ".part")
    with open(partial, "wb") as out:
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    got = base64.b64encode(digest.digest()).decode("ascii")
    if got != f.md5:
        partial.unlink(missing_ok=True)
        raise ExportError(f"s3://{location.bucket}/{f.key}: MD5 {got} is not the manifest's md5Checksum {f.md5}: "
                          "the file is damaged or was replaced; export again")
    partial.replace(path)


def _md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def fetch_export(target: AwsTarget, export_arn: str, work_dir: str | Path, *, progress: bool = True) -> LocalExport:
    """Given an ExportArn: DescribeExport -> S3Bucket, S3Prefix, ExportManifest, then every data file
    downloaded into ``work_dir`` and checked (:func:`locate_export`, :func:`download_export`)."""
    return download_export(target, locate_export(target, export_arn), work_dir, progress=progress)


def open_local_export(folder: str | Path, *, verify: bool = True) -> LocalExport:
    """An export already copied to this machine (``aws s3 sync s3://BUCKET/PREFIX/AWSDynamoDB/ID/ DIR``):
    ``folder`` holds manifest-summary.json, manifest-files.json and data/. Data files are found by
    their key's name under ``data/`` and, with ``verify``, checked against md5Checksum."""
    folder = Path(folder)
    summary = _json((folder / "manifest-summary.json").read_bytes(), str(folder / "manifest-summary.json"))
    files, paths = [], []
    for n, line in enumerate((folder / "manifest-files.json").read_text().splitlines(), 1):
        if not line.strip():
            continue
        entry = _json(line.encode(), f"manifest-files.json line {n}")
        f = DataFile(entry["dataFileS3Key"], int(entry["itemCount"]), entry["md5Checksum"], entry.get("etag", ""))
        path = folder / "data" / Path(f.key).name
        if not path.exists():
            raise ExportError(f"{path} is missing: copy the export's whole folder (data/ and both manifests)")
        if verify and _md5_of_file(path) != f.md5:
            raise ExportError(f"{path} does not match its md5Checksum {f.md5}: copy it again")
        files.append(f)
        paths.append(path)
    arn = summary.get("exportArn", "")
    location = ExportLocation(arn, summary.get("s3Bucket", ""), summary.get("s3Prefix") or "",
                              str(folder / "manifest-summary.json"), item_count=summary.get("itemCount"),
                              export_time=summary.get("exportTime"))
    return LocalExport(location, tuple(paths), tuple(files), int(summary.get("itemCount", 0)), summary)


# -- writing an export in AWS's layout (tests, benchmarks) ------------------------------------------------------


def build_export(
    items: Iterable[Mapping[str, Any]],
    *,
    export_arn: str,
    bucket: str,
    prefix: str = "",
    files: int = 2,
    table_arn: str | None = None,
) -> dict[str, bytes]:
    """An export of ``items`` (DynamoDB JSON, as the low-level client returns them) in AWS's layout:
    S3 key -> bytes, for put_object or a local folder. Items are spread over ``files`` data files by
    position; each line is ``{"Item": {...}}`` with binary as base64, as AWS writes it."""
    export_id = export_id_of(export_arn)
    base = _under_prefix(prefix, f"AWSDynamoDB/{export_id}")
    buffers = [io.BytesIO() for _ in range(max(1, files))]
    writers = [gzip.GzipFile(fileobj=b, mode="wb", mtime=0) for b in buffers]
    counts = [0] * len(writers)
    for n, item in enumerate(items):
        i = n % len(writers)
        writers[i].write(json.dumps({"Item": {k: to_wire(v) for k, v in item.items()}},
                                    separators=(",", ":")).encode() + b"\n")
        counts[i] += 1
    out: dict[str, bytes] = {}
    lines = []
    for i, (w, b) in enumerate(zip(writers, buffers)):
        w.close()
        data = b.getvalue()
        key = f"{base}/data/{export_id}-{i:04d}.json.gz"
        out[key] = data
        lines.append(json.dumps({
            "itemCount": counts[i], "md5Checksum": base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode(),
            "etag": hashlib.md5(data, usedforsecurity=False).hexdigest(), "dataFileS3Key": key,
        }))
    files_key = f"{base}/manifest-files.json"
    out[files_key] = ("\n".join(lines) + "\n").encode()
    out[f"{base}/manifest-summary.json"] = json.dumps({
        "version": "2020-06-30", "exportArn": export_arn, "tableArn": table_arn or export_arn.split("/export/")[0],
        "s3Bucket": bucket, "s3Prefix": prefix or None, "s3SseAlgorithm": "AES256", "manifestFilesS3Key": files_key,
        "itemCount": sum(counts), "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT",
    }).encode()
    return out
