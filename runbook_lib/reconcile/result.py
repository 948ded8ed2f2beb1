"""What a reconciliation found: :class:`Difference` rows and the frozen :class:`Reconciliation`.

Compute once, then ask (datacompy's shape): :func:`runbook_lib.reconcile.reconcile` builds one
:class:`Reconciliation`; the notebook, ``summary.json``, ``differences.csv`` and the HTML report all
render from it (:mod:`runbook_lib.report`).

Its own views follow the report's rules: :meth:`Reconciliation.summary` leaves out what is unknown
(no nulls, no empty fields) and gives times to the second with ``Z``; :meth:`Reconciliation.view_frame`
(the notebook's table) leaves out columns with nothing in them and shows times to the second, UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import InputError
from ..times import clock, iso_second

MISSING = "missing"  # in the source, not in the target
EXTRA = "extra"  # in the target, not in the source
CHANGED = "changed"  # in both, some attribute differs
KINDS = (MISSING, EXTRA, CHANGED)

EXPLAINED = "explained"
UNEXPLAINED = "unexplained"
IN_FLIGHT = "in_flight"
CLASSES = (EXPLAINED, UNEXPLAINED, IN_FLIGHT)

PASS = "PASS"
FAIL = "FAIL"

#: one row per difference: the DataFrame's columns and differences.csv's
DIFFERENCE_COLUMNS = (
    "key",
    "key_hash",
    "kind",
    "classification",
    "attributes",
    "last_change",
    "source_values",
    "target_values",
)

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode


def export_json(export: dict[str, Any] | None) -> dict[str, Any] | None:
    """The export facts as JSON: the export time to the second with ``Z``; unknown fields left out."""
    if not export:
        return None
    out = {k: (iso_second(v) if isinstance(v, datetime) else v) for k, v in export.items()}
    return {k: v for k, v in out.items() if v is not None and v != ""} or None


def verdict_for(unexplained: int, in_flight: int) -> str:
    """PASS iff nothing is unexplained and nothing is still in flight."""
    return PASS if unexplained == 0 and in_flight == 0 else FAIL


@dataclass(frozen=True)
class Difference:
    """One key that differs after the re-reads.

    ``key`` is the DynamoDB JSON key (wire form), or its keyed digest when keys are redacted;
    ``key_hash`` is the keyed digest whenever the reconciliation had a ``key_digest`` (what the
    handlers log and use as message group id), else empty. ``source_values`` and ``target_values``
    hold the differing attributes (DynamoDB JSON) only with ``show_values=True`` (never the key
    attributes when keys are redacted).
    """

    key: dict[str, Any] | str
    kind: str
    attributes: tuple[str, ...]
    classification: str
    last_change: datetime | None
    key_hash: str = ""
    source_values: dict[str, Any] | None = None
    target_values: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what is known of the difference (no digest, last change or values when there are none)."""
        out: dict[str, Any] = {
            "key": self.key,
            "key_hash": self.key_hash,
            "kind": self.kind,
            "attributes": list(self.attributes),
            "classification": self.classification,
            "last_change": iso_second(self.last_change) if self.last_change else None,
            "source_values": self.source_values,
            "target_values": self.target_values,
        }
        return {k: v for k, v in out.items() if v is not None and v != ""}


@dataclass(frozen=True)
class Reconciliation:
    """Everything one reconciliation found; computed once by :func:`reconcile`, then asked."""

    source_table: str
    target_table: str
    source_count: int
    target_count: int
    items_scanned: int
    scan_seconds: float
    items_per_second: float
    differences: tuple[Difference, ...]
    explained: int
    unexplained: int
    in_flight: int
    verdict: str
    restore_time: datetime | None = None
    replay_from: datetime | None = None
    coverage_warning: str | None = None
    settled: int = 0
    reread_rounds: int = 0
    segments: int = 1
    consumed_capacity: dict[str, float] = field(default_factory=dict)
    started_at: datetime | None = None
    seconds: float = 0.0
    show_values: bool = False
    show_keys: bool = True
    sample_size: int = 20
    #: ``key_hash`` holds keyed digests (a ``key_digest`` was given)
    keys_digested: bool = False
    #: the ARN of the secret that keyed ``key_hash`` (never its value), when known
    key_digest_secret_arn: str | None = None
    #: most keys held at once while matching (memory is about 170 bytes for each)
    peak_unmatched_keys: int = 0
    #: how the tables were compared: ``"scan"`` (both read through the API) or ``"export"`` (two PITR exports)
    method: str = "scan"
    #: why that method: ``"as asked"``, or what ``method="auto"`` weighed (the step's plan line)
    method_reason: str | None = None
    #: with ``method="export"``: ``engine`` (duckdb or athena), ``source_export_arn``, ``target_export_arn``,
    #: ``export_time`` (the one moment both exports hold)
    export: dict[str, Any] | None = None
    #: where the last changes that explain differences came from: ``stream`` (the source's stream),
    #: ``incremental_export`` (with ``incremental_exports``: their ARNs), ``given`` (``last_changes=``)
    explained_from: dict[str, Any] | None = None

    # -- asking -------------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        return self.verdict == PASS

    @property
    def missing_in_target(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind == MISSING)

    @property
    def extra_in_target(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind == EXTRA)

    @property
    def changed(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if d.kind == CHANGED)

    def by_class(self, classification: str) -> tuple[Difference, ...]:
        if classification not in CLASSES:
            raise InputError(f"classification must be one of {', '.join(CLASSES)}")
        return tuple(d for d in self.differences if d.classification == classification)

    def counts_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for d in self.differences:
            counts[d.kind] += 1
        return counts

    def counts_by_class_and_kind(self) -> dict[str, dict[str, int]]:
        table = {c: dict.fromkeys(KINDS, 0) for c in CLASSES}
        for d in self.differences:
            table[d.classification][d.kind] += 1
        return table

    def sample(self, n: int | None = None) -> tuple[Difference, ...]:
        """The first ``n`` differences (``sample_size`` by default), unexplained and in flight first."""
        order = {UNEXPLAINED: 0, IN_FLIGHT: 1, EXPLAINED: 2}
        ranked = sorted(self.differences, key=lambda d: order[d.classification])
        return tuple(ranked[: self.sample_size if n is None else n])

    def to_dataframe(self):
        """The differences as a pandas DataFrame, one row per key (values only if asked for)."""
        import pandas as pd

        columns = list(DIFFERENCE_COLUMNS)
        rows = [
            {
                "key": d.key if isinstance(d.key, str) else _dumps(d.key),
                "key_hash": d.key_hash,
                "kind": d.kind,
                "classification": d.classification,
                "attributes": ";".join(d.attributes),
                "last_change": d.last_change,
                "source_values": _dumps(d.source_values) if d.source_values is not None else None,
                "target_values": _dumps(d.target_values) if d.target_values is not None else None,
            }
            for d in self.differences
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame["last_change"] = pd.to_datetime(frame["last_change"], utc=True)
        return frame

    def view_frame(self, n: int = 50):
        """The first ``n`` differences as the notebook shows them: the DataFrame's columns that hold
        something (no empty digest, last change or value columns), times to the second, UTC."""
        frame = self.to_dataframe().head(n)
        if frame.empty:
            return frame
        frame["last_change"] = [clock(t.to_pydatetime()) if t is not None and t == t else "" for t in frame["last_change"]]
        keep = [c for c in frame.columns if c in ("key", "kind", "classification")
                or frame[c].map(lambda v: v is not None and v == v and v != "").any()]
        return frame[keep]

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: verdict, counts, classes, T and R, throughput, a sample; only what
        is known (an unknown T, an absent coverage warning or key digest are left out)."""
        kinds = self.counts_by_kind()
        out = {
            "verdict": self.verdict,
            "source_table": self.source_table,
            "target_table": self.target_table,
            "counts": {"source": self.source_count, "target": self.target_count},
            "differences": {**kinds, "total": len(self.differences)},
            "explained": self.explained,
            "unexplained": self.unexplained,
            "in_flight": self.in_flight,
            "settled_on_reread": self.settled,
            "restore_time": iso_second(self.restore_time) if self.restore_time else None,
            "replay_from": iso_second(self.replay_from) if self.replay_from else None,
            "coverage_warning": self.coverage_warning,
            "items_scanned": self.items_scanned,
            "scan_seconds": round(self.scan_seconds, 3),
            "items_per_second": round(self.items_per_second, 1),
            "segments": self.segments,
            "peak_unmatched_keys": self.peak_unmatched_keys,
            "reread_rounds": self.reread_rounds,
            "consumed_capacity_units": {k: round(v, 1) for k, v in self.consumed_capacity.items()} or None,
            "method": self.method,
            "method_reason": self.method_reason,
            "export": export_json(self.export),
            "explained_from": self.explained_from,
            "values_shown": self.show_values,
            "keys_shown": self.show_keys,
            "key_digest": (
                {"algorithm": "HMAC-SHA256", "secret_arn": self.key_digest_secret_arn}
                if self.keys_digested
                else None
            ),
            "sample": [d.to_dict() for d in self.sample()] or None,
        }
        return {k: v for k, v in out.items() if v is not None}

    def _repr_html_(self) -> str:  # a notebook shows the verdict line and the counts
        import html

        colour = "#1a7f37" if self.passed else "#cf222e"
        s = self.summary()
        return (
            f'<p><b style="color:{colour}">{html.escape(self.verdict)}</b> '
            f"{html.escape(self.source_table)} &rarr; {html.escape(self.target_table)}: "
            f"{s['counts']['source']} / {s['counts']['target']} items; "
            f"{self.unexplained} unexplained, {self.in_flight} in flight, {self.explained} explained</p>"
        )
