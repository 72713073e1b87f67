"""Where finished event logs wait for a resume: packed blobs in anonymous memory maps.

A finished prediction's events are kept for ``CANVASFLOW_RETENTION`` seconds. Held as
Python objects, the thousands written during a burst stay scattered over the heap for
minutes, and no page holding one of them can be given back to the system, so a process
stayed near its peak long after the burst. Here an entry is bytes written into a
*segment*: an anonymous memory map outside the Python heap, filled in order and unmapped
whole once its newest entry is past retention. There is no Python object per entry: a
look-up finds the digest of the prediction id in the segment's index (fixed-size
records), then reads the entry it points to.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from collections import deque
from dataclasses import dataclass

SEGMENT_BYTES = 4 << 20  # pages a segment does not use are never touched, so not resident
_HEADER = struct.Struct("<dqI")  # closed_at (monotonic), id before the first event, count
_RECORD = struct.Struct("<16sQQ")  # digest of the prediction id, position, length


def _digest(prediction_id: str) -> bytes:
    return hashlib.blake2b(prediction_id.encode(), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class Shelved:
    """One finished log as it was shelved."""

    closed_at: float
    offset: int  # the id of the event before the first one kept
    count: int  # events in the blob
    blob: bytes  # orjson: a list of [kind, data]


class _Segment:
    __slots__ = ("data", "entries", "events", "first_at", "index", "last_at", "used")

    def __init__(self, size: int, at: float) -> None:
        self.data = mmap.mmap(-1, size)
        self.index = bytearray()  # _RECORD after _RECORD
        self.used = 0
        self.first_at = self.last_at = at
        self.entries = self.events = 0

    def room(self) -> int:
        return len(self.data) - self.used

    def add(self, digest: bytes, closed_at: float, offset: int, count: int, blob: bytes) -> None:
        start, length = self.used, _HEADER.size + len(blob)
        _HEADER.pack_into(self.data, start, closed_at, offset, count)
        self.data[start + _HEADER.size : start + length] = blob
        self.used += length
        self.index += _RECORD.pack(digest, start, length)
        self.last_at = max(self.last_at, closed_at)
        self.entries += 1
        self.events += count

    def find(self, digest: bytes) -> Shelved | None:
        end = len(self.index)
        while (at := self.index.rfind(digest, 0, end)) >= 0:
            if at % _RECORD.size == 0:  # a record's start, not bytes inside a position
                _, start, length = _RECORD.unpack_from(self.index, at)
                closed_at, offset, count = _HEADER.unpack_from(self.data, start)
                blob = self.data[start + _HEADER.size : start + length]
                return Shelved(closed_at, offset, count, blob)
            end = at + len(digest) - 1
        return None

    def close(self) -> None:
        self.data.close()


class Shelf:
    """Finished logs, oldest segment first. A segment takes entries for ``span`` seconds
    (or until full), so it is unmapped at most ``span`` after its oldest entry's time;
    until then, expired entries are not returned but are still counted by ``stats``."""

    def __init__(self, span: float) -> None:
        self._segments: deque[_Segment] = deque()
        self._span = span

    def put(
        self, prediction_id: str, closed_at: float, offset: int, count: int, blob: bytes
    ) -> None:
        need = _HEADER.size + len(blob)
        last = self._segments[-1] if self._segments else None
        if last is None or last.room() < need or closed_at - last.first_at > self._span:
            size = max(SEGMENT_BYTES, -(-need // mmap.PAGESIZE) * mmap.PAGESIZE)
            last = _Segment(size, closed_at)
            self._segments.append(last)
        last.add(_digest(prediction_id), closed_at, offset, count, blob)

    def get(self, prediction_id: str, now: float, retention: float) -> Shelved | None:
        digest = _digest(prediction_id)
        for segment in reversed(self._segments):
            found = segment.find(digest)
            if found is not None:
                return found if found.closed_at + retention > now else None
        return None

    def expire(self, now: float, retention: float) -> None:
        """Unmap the segments whose newest entry is past retention."""
        while self._segments and self._segments[0].last_at + retention <= now:
            self._segments.popleft().close()

    def next_expiry(self, retention: float) -> float | None:
        return self._segments[0].last_at + retention if self._segments else None

    def stats(self) -> tuple[int, int]:
        """(entries, events) in the segments still mapped."""
        return (
            sum(s.entries for s in self._segments),
            sum(s.events for s in self._segments),
        )

    def close(self) -> None:
        while self._segments:
            self._segments.popleft().close()
