"""Where finished event logs wait for a resume: packed blobs in unlinked files.

A finished prediction's events are kept for ``CANVASFLOW_RETENTION`` seconds. Held as
Python objects, the thousands written during a burst stay scattered over the heap for
minutes, and no page holding one of them can be given back to the system, so a process
stayed near its peak long after the burst. Here an entry is bytes appended to a
*segment*: a temporary file (unlinked at once, in the data directory) filled in order and
closed whole once its newest entry is past retention. Its bytes live in the kernel's page
cache, which can write them out and drop them under memory pressure, not in the process
(an anonymous memory map, the first version, still counted them as the process's own
memory: 2 MB per 5,000 answers). There is no Python object per entry: a look-up finds the
digest of the prediction id in the segment's index (fixed-size records, in memory), then
reads the entry it points to (one ``pread``; a resume after the end is rare).
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

SEGMENT_BYTES = 4 << 20  # a segment takes entries until this size (or its time span)
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
    __slots__ = ("entries", "events", "file", "first_at", "index", "last_at", "used")

    def __init__(self, directory: Path | None, at: float) -> None:
        self.file = tempfile.TemporaryFile(dir=directory, prefix="shelf-")
        self.index = bytearray()  # _RECORD after _RECORD
        self.used = 0
        self.first_at = self.last_at = at
        self.entries = self.events = 0

    def add(self, digest: bytes, closed_at: float, offset: int, count: int, blob: bytes) -> None:
        start = self.used
        entry = _HEADER.pack(closed_at, offset, count) + blob
        if os.pwrite(self.file.fileno(), entry, start) != len(entry):
            raise OSError("short write to the shelf")
        self.used += len(entry)
        self.index += _RECORD.pack(digest, start, len(entry))
        self.last_at = max(self.last_at, closed_at)
        self.entries += 1
        self.events += count

    def find(self, digest: bytes) -> Shelved | None:
        end = len(self.index)
        while (at := self.index.rfind(digest, 0, end)) >= 0:
            if at % _RECORD.size == 0:  # a record's start, not bytes inside a position
                _, start, length = _RECORD.unpack_from(self.index, at)
                entry = os.pread(self.file.fileno(), length, start)
                closed_at, offset, count = _HEADER.unpack_from(entry)
                return Shelved(closed_at, offset, count, entry[_HEADER.size :])
            end = at + len(digest) - 1
        return None

    def close(self) -> None:
        self.file.close()


class Shelf:
    """Finished logs, oldest segment first. A segment takes entries for ``span`` seconds
    (or up to ``SEGMENT_BYTES``), so it is closed at most ``span`` after its oldest
    entry's time; until then, expired entries are not returned but are still counted by
    ``stats``. Segments are files in ``directory`` (the system's temporary directory when
    None); ``put`` raises ``OSError`` when one cannot be made or written (a full disk)."""

    def __init__(self, span: float, directory: Path | None = None) -> None:
        self._segments: deque[_Segment] = deque()
        self._span = span
        self._directory = directory

    def put(
        self, prediction_id: str, closed_at: float, offset: int, count: int, blob: bytes
    ) -> None:
        need = _HEADER.size + len(blob)
        last = self._segments[-1] if self._segments else None
        if (
            last is None
            or (last.used and last.used + need > SEGMENT_BYTES)
            or closed_at - last.first_at > self._span
        ):
            last = _Segment(self._directory, closed_at)
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
        """Close the segments whose newest entry is past retention."""
        while self._segments and self._segments[0].last_at + retention <= now:
            self._segments.popleft().close()

    def next_expiry(self, retention: float) -> float | None:
        return self._segments[0].last_at + retention if self._segments else None

    def stats(self) -> tuple[int, int]:
        """(entries, events) in the segments still open."""
        return (
            sum(s.entries for s in self._segments),
            sum(s.events for s in self._segments),
        )

    def close(self) -> None:
        while self._segments:
            self._segments.popleft().close()
