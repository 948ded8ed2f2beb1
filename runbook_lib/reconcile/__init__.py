"""Prove the restored table is right: counts, an item-by-item comparison, every difference classified.

Compute once, then ask (datacompy's shape): :func:`reconcile` scans both tables and returns a frozen
:class:`Reconciliation`; the notebook, ``summary.json``, the CSV and the HTML report all render from
it (see :mod:`runbook_lib.report`).

How it works
------------
1. **Scan.** Both tables are scanned at the same time by parallel segmented ``Scan`` calls
   (``TotalSegments=segments``, one thread per segment and table, eventually consistent reads,
   ``ReturnConsumedCapacity="TOTAL"``). Each item is reduced at once to a compact key id and a
   16-byte BLAKE2b digest of its canonical encoding (:func:`item_digest`); the item itself is
   dropped. Items are matched as they arrive: a key seen on both sides leaves memory as soon as
   the second side is seen, so memory holds only the keys not yet matched (at worst one side's
   keys, about 150 bytes each). The counts are exact: every item of each table is counted once by
   that same full parallel scan (``ItemCount`` is never used; it is refreshed about every six
   hours). :func:`count_items` counts a table alone with ``Select="COUNT"``.
2. **Re-read.** The source may be live, so each difference is read again with a consistent read on
   both sides (``BatchGetItem`` with ``ConsistentRead=True``, the batched ``GetItem``), for at most
   ``reread_rounds`` rounds, calling ``wait_drained()`` before each round (the caller's "buffer
   drained" check). A difference that reads equal is dropped (``settled`` counts them). The rounds
   stop early once no differing item changed between two reads. An item that still changed, on
   either side, between the last two reads is **in flight**. The last read also names the
   attributes that differ (:func:`differing_attributes`), and gives the values when asked for.
3. **Classify.** With restore point T and replay start R, a difference whose key last changed in
   ``[floor(T), R)`` is **explained** (written in the window the restore reverts on purpose).
   Stream times are rounded down to the second, hence ``floor(T)``. Last-change times come from
   ``last_changes`` (an explicit mapping, e.g. from an incremental export) or else from the
   source's stream (:func:`last_change_by_key`), read only when there are differences and R > T.
   When the stream may not hold every change since T, ``coverage_warning`` says so.
4. **Verdict.** ``PASS`` iff there is no unexplained difference **and** no difference in flight:
   an item still changing has not been shown equal, and an auditor must not read PASS over it.
   ``in_flight`` is counted apart from ``unexplained`` so the operator knows to drain and re-run.

Values never appear in a log line. Reports show keys and attribute names only, unless
``show_values=True``. Keys are data too: with ``redact_keys=True`` every key is shown as its keyed
digest (:class:`runbook_lib.cdc.codec.KeyDigest`, HMAC-SHA256 under the buffer stack's secret), the
same digest the CDC handlers use as the message group id and log, so a row of a redacted report can
be matched to a log line or a DLQ message; values shown with ``show_values`` then leave out the key
attributes. Given a ``key_digest`` without redacting, reports show the key and its digest side by
side (column ``key_hash``). There is no unkeyed hash of a key anywhere: without a ``key_digest``
the ``key_hash`` column is empty and log lines name no key.

Modules
-------
:mod:`.values` canonical values, item digests, key ids; :mod:`.tables` the two tables' description
and key schema; :mod:`.scan` the parallel scans and their read budget; :mod:`.reread` the consistent
re-reads; :mod:`.stream` last changes from the source's stream; :mod:`.classify` the classes;
:mod:`.result` :class:`Difference`, :class:`Reconciliation`, the verdict; :mod:`.digest` the key
digest's secret; :mod:`.pipeline` :func:`reconcile` itself, as a pipeline of named stages.
"""

from __future__ import annotations

from .digest import check_redaction, key_digest_for, key_digest_secret_arn, load_key_digest
from .pipeline import reconcile
from .result import (
    CHANGED,
    CLASSES,
    DIFFERENCE_COLUMNS,
    EXPLAINED,
    EXTRA,
    FAIL,
    IN_FLIGHT,
    KINDS,
    MISSING,
    PASS,
    UNEXPLAINED,
    Difference,
    Reconciliation,
    verdict_for,
)
from .scan import RateLimit, count_items
from .stream import STREAM_RETENTION, LastChanges, last_change_by_key
from .tables import MAX_THREADS
from .values import (
    attribute_digests,
    canonical_item,
    canonical_number,
    canonical_value,
    differing_attributes,
    item_digest,
    key_from_id,
    key_id,
    to_wire,
)

__all__ = [
    "CHANGED", "CLASSES", "DIFFERENCE_COLUMNS", "EXPLAINED", "EXTRA", "FAIL", "IN_FLIGHT", "KINDS", "MAX_THREADS",
    "MISSING", "PASS", "STREAM_RETENTION", "UNEXPLAINED",
    "Difference", "LastChanges", "RateLimit", "Reconciliation",
    "attribute_digests", "canonical_item", "canonical_number", "canonical_value", "check_redaction", "count_items",
    "differing_attributes", "item_digest", "key_digest_for", "key_digest_secret_arn", "key_from_id", "key_id",
    "last_change_by_key", "load_key_digest", "reconcile", "to_wire", "verdict_for",
]
