"""The dry run's write layer: reads see earlier deletes and updates; the database never changes."""

from __future__ import annotations

from pledge.connectors.base import RowChange
from pledge.retention.overlay import Overlay, OverlayConnector
from tests.retention.fixtures import Shop, sqlite_shop_fixture  # noqa: F401 - fixture


def test_reads_see_what_the_dry_run_did(sqlite_shop: Shop) -> None:
    before = sqlite_shop.snapshot()
    real = sqlite_shop.connectors()["shop"]
    overlay = Overlay()
    layer = OverlayConnector(real, overlay)
    with layer.session(write=True) as s:
        assert s.delete("addresses", ["id"], [(10,), (20,), (999,)]) == 2  # 999 does not exist
        assert s.delete("addresses", ["id"], [(10,)]) == 0  # already gone (for this dry run)
        changes = [
            RowChange((1,), {"city": None}),
            RowChange((30,), {"city": "X"}),
            RowChange((10,), {"city": "Y"}),
        ]
        assert s.update("addresses", ["id"], changes) == 1  # 1 and 10 do not exist (any more)
        assert s.update("referrals", ["id"], [RowChange((2,), {"referrer_id": None})]) == 1
    with layer.session() as s:
        found = s.read("addresses", ["street", "city"], "customer_id", [1, 2, 3, 4])
        assert sorted(r["city"] for r in found) == ["Hull", "X"]  # 10 and 20 gone, 30 rewritten
        assert all(set(r) == {"street", "city"} for r in found)  # the key was read, then dropped
        # A row whose searched column the dry run rewrote no longer matches the old value.
        assert s.read("referrals", ["id"], "referrer_id", [1]) == [{"id": 1}]
        assert s.read_any("addresses", ["id"], {"id": [10, 30], "customer_id": [4]}) == [
            {"id": 30},
            {"id": 40},
        ]
    rows = overlay.apply("shop", "addresses", [{"id": 10, "city": "Leeds"}, {"id": 30, "city": "York"}])
    assert rows == [{"id": 30, "city": "X"}]
    assert sqlite_shop.snapshot() == before
