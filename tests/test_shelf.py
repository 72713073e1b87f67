"""The shelf of finished event logs (``bus/shelf.py``): entries in unlinked files, found
by the digest of their id, expired a segment at a time."""

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


def test_segments_are_unlinked_files_in_the_given_directory(tmp_path) -> None:
    """Entries live in the kernel's page cache, not the process's memory: each segment is
    a file in the directory, unlinked at once (nothing left behind), closed on expiry."""
    import os

    shelf = Shelf(span=30.0, directory=tmp_path)
    shelf.put("p", 1.0, 2, 3, blob(3))
    segment = shelf._segments[0]
    fd = segment.file.fileno()
    assert os.fstat(fd).st_nlink == 0 and os.fstat(fd).st_size == segment.used > len(blob(3))
    assert os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    assert shelf.get("p", now=2.0, retention=600.0).blob == blob(3)
    shelf.expire(now=700.0, retention=600.0)
    assert segment.file.closed


async def test_a_log_the_shelf_cannot_take_stays_in_memory(tmp_path, caplog) -> None:
    """A full disk (or a directory that went away): the finished log is kept as objects,
    with one warning per sweep, and is still read in full until retention."""
    from canvasflow.bus.memory import PACK_AFTER, MemoryBus
    from canvasflow.events import Event

    bus = MemoryBus(retention_seconds=600, shelf_dir=tmp_path / "gone")
    logs = []
    for pid in ("a", "b"):
        log = bus.open_log(pid)
        log.append(Event("token", pid))
        log.close()
        logs.append(log)
    with caplog.at_level("WARNING", logger="canvasflow.bus"):
        bus._sweep(now=logs[-1].closed_at + PACK_AFTER)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "stay in memory" in messages[0]
    kept = await bus.get_log("a")
    assert kept is logs[0] and [e.data async for e in kept.follow(0) if e] == ["a"]
    bus._sweep(now=logs[-1].closed_at + 600)
    assert await bus.get_log("a") is None and bus.stats() == (0, 0)
