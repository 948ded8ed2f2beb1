"""Reading a table does not make the sandbox's memory grow (``speed_models``: moto kept every item
copy a ``Scan`` made, in the class-level list of its dashboard, until the next reset)."""

from __future__ import annotations

import gc

from moto.dynamodb.models.dynamo_type import Item

from runbook_lib.sandbox.traffic import create_demo_table, seed_items


def _items_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Item)


def test_scanning_a_table_leaves_no_item_copies_behind(aws):
    # GIVEN a table of 300 items
    ddb = aws("dynamodb")
    create_demo_table(ddb, "read-often", pitr=False, stream=None)
    seed_items(ddb, "read-often", 300, seed=2)
    before = _items_alive()
    # WHEN it is scanned three times (moto deep-copies every item it returns)
    for _ in range(3):
        assert len(ddb.scan(TableName="read-often")["Items"]) == 300
    # THEN the copies are gone once the answers are (only the table's own items stay alive)
    assert _items_alive() - before < 30
