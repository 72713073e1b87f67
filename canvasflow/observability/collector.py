"""Python's cycle collector waits while predictions run.

A prediction's objects (its tasks, coroutines, upstream response, events kept for a
resume) live as long as its answer streams, a second or more, and a young collection
walks every one of them that was made since the last: in a burst of 500 streams, some
twenty young collections of 20-40 ms and a middle one of ~400 ms (it walks all the
survivors of the young ones) held the event loop while the streams waited for their first
tokens (BENCHMARKS.md, "Bursts, seventh pass"). Nearly all of those objects are freed by
their reference counts once their answer ends; a collection afterwards walks only what is
still there.

So :class:`CollectorPause` turns automatic collection off when a prediction starts and on
again once none has run for ``QUIET_SECONDS`` (the first trim of a quiet spell collects
at about the same time, observability/memory.py): not at the moment the last one ends,
which in a burst is while the last streams are still being written, and may be just
before the next burst. A spell of predictions that never ends (a server that is never
quiet) is bounded: once the objects made since the last collection pass ``limit``,
collection is on again for the rest of the spell, as it is with no pause. Only garbage
that is a reference cycle waits for the collector (a prediction leaves a few dozen such
objects); everything else is freed as it always is."""

from __future__ import annotations

import asyncio
import gc

from canvasflow.observability.memory import IDLE_SECONDS

CHECK_SECONDS = 0.25  # how often a pause looks at the objects made since the collection
# with no prediction running this long, collection is on again: the quiet spell's first
# trim (observability/memory.py) collects at the same time
QUIET_SECONDS = IDLE_SECONDS
QUIET_CHECKS = round(QUIET_SECONDS / CHECK_SECONDS)


class CollectorPause:
    """Told when a prediction starts and when none is running (``ServerState``)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # young objects; 0: never paused
        self.paused = False
        self.spent = False  # this spell hit the limit: collection stays on until idle
        self._check: asyncio.TimerHandle | None = None
        self._quiet = 0  # checks left before a quiet spell turns collection on again

    def started(self) -> None:
        """A prediction started: collection waits (unless the spell already reached the
        limit, or something else turned collection off: that is left as it is)."""
        self._quiet = 0  # a quiet spell that was counting down is over
        if self.paused or self.spent or self.limit <= 0 or not gc.isenabled():
            return
        gc.disable()
        self.paused = True
        self._check = asyncio.get_running_loop().call_later(CHECK_SECONDS, self._look)

    def idle(self) -> None:
        """No prediction is running: collection is on again if none starts for
        ``QUIET_SECONDS``, and the next spell may pause it."""
        if self.paused:
            self._quiet = QUIET_CHECKS
        else:  # on already (the spell reached the limit): the next spell may pause it
            self.spent = False

    def close(self) -> None:
        """The server stops: collection is on again (a process that goes on, a test run's,
        must not keep it off)."""
        self._resume()

    def _look(self) -> None:
        self._check = None
        if not self.paused:
            return
        if gc.get_count()[0] > self.limit:
            self._resume()
            self.spent = True
            return
        if self._quiet:
            self._quiet -= 1
            if not self._quiet:  # (a paused spell never reached the limit: not spent)
                self._resume()
                return
        self._check = asyncio.get_running_loop().call_later(CHECK_SECONDS, self._look)

    def _resume(self) -> None:
        if self._check is not None:
            self._check.cancel()
            self._check = None
        if self.paused:
            self.paused = False
            gc.enable()
