"""The shelf of finished event logs (``bus/shelf.py``): entries in memory maps, found by
the digest of their id, expired a segment at a time."""

from __future__ import annotations

import orjson

from canvasflow.bus import shelf as shelf_module
from canvasflow.bus.shelf import Shelf, _digest


def blob(n: int) -> bytes:
    return orjson.dumps([["token", f"t{i}"] for i in range(n)])


def test_entries_are_found_by_id_until_retention() -> None:
    shelf = Shelf(span=30.0)
    for i in range(2000):
        shelf.put(f"p{i}", 100.0 + i / 100, i, 3, blob(3))
    found = shelf.get("p1234", now=120.0, retention=600.0)
    assert found is not None
    assert (found.closed_at, found.offset, found.count) == (112.34, 1234, 3)
    assert orjson.loads(found.blob) == [["token", "t0"], ["token", "t1"], ["token", "t2"]]
    assert shelf.get("nobody", now=120.0, retention=600.0) is None
    assert shelf.stats() == (2000, 6000)
    # past its own retention an entry is not returned, even while its segment is mapped
    assert shelf.get("p0", now=100.0 + 600.0, retention=600.0) is None
    assert shelf.get("p1999", now=100.0 + 600.0, retention=600.0) is not None
    shelf.expire(now=200.0 + 600.0, retention=600.0)
    assert shelf.stats() == (0, 0) and shelf.next_expiry(600.0) is None


def test_segments_roll_by_time_and_size_and_expire_whole() -> None:
    shelf = Shelf(span=10.0)
    shelf.put("a", 0.0, 0, 1, blob(1))
    shelf.put("b", 5.0, 0, 1, blob(1))
    shelf.put("c", 11.0, 0, 1, blob(1))  # more than span after the first segment began
    big = blob(300_000)
    assert len(big) > shelf_module.SEGMENT_BYTES  # a segment of its own, sized to fit
    shelf.put("d", 12.0, 7, 300_000, big)
    assert len(shelf._segments) == 3
    assert shelf.next_expiry(60.0) == 5.0 + 60.0
    shelf.expire(now=66.0, retention=60.0)  # the first segment (a, b) is unmapped
    assert shelf.get("a", now=66.0, retention=60.0) is None
    assert shelf.get("c", now=66.0, retention=60.0) is not None
    d = shelf.get("d", now=66.0, retention=60.0)
    assert d is not None and d.blob == big and d.offset == 7
    shelf.close()
    assert shelf.stats() == (0, 0)


def test_a_digest_inside_another_record_is_not_a_match() -> None:
    """The index is searched for the digest; a match that is not at a record's start
    (the bytes of a position or length) is skipped."""
    shelf = Shelf(span=30.0)
    shelf.put("x", 1.0, 0, 1, blob(1))
    segment = shelf._segments[0]
    target = _digest("y")
    # forge the index so the digest appears straddling the first record's fields
    segment.index[:] = segment.index[:8] + target + segment.index[8 + len(target) :]
    assert shelf.get("y", now=2.0, retention=600.0) is None
