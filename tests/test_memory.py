"""Giving memory back after a burst (``observability/memory.py``): the server runs on
glibc's malloc, and trims (after a full collection) while it stays idle."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from canvasflow.observability import memory
from tests.support import Proc

ROOT = Path(__file__).resolve().parent.parent

SHOW = (
    "from canvasflow.observability.memory import use_malloc, pymalloc_in_use\n"
    "use_malloc({allocator!r})\n"
    "print('pymalloc' if pymalloc_in_use() else 'malloc')\n"
)


def run(allocator: str, *flags: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}  # no PYTHONMALLOC
    out = subprocess.run(
        [sys.executable, *flags, "-c", SHOW.format(allocator=allocator)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_use_malloc_starts_the_process_again_once() -> None:
    """The process is started again with PYTHONMALLOC=malloc (one line printed: the first
    run never got past the exec); pymalloc asked for, or an interpreter that ignores the
    environment, is left as it is (no loop of execs)."""
    assert run("malloc") == "malloc"
    assert run("pymalloc") == "pymalloc"
    assert run("malloc", "-E") == "pymalloc"


def test_serve_runs_on_malloc(server: Proc) -> None:
    """``canvasflow serve`` (the same pid, started again) has PYTHONMALLOC=malloc."""
    assert server.proc is not None
    environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    assert b"PYTHONMALLOC=malloc" in environ


async def test_the_trimmer_trims_while_quiet_and_stops_when_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "IDLE_SECONDS", 0.01)
    monkeypatch.setattr(memory, "AGAIN_SECONDS", 0.01)
    running = [0]
    trims: list[int] = []
    trimmer = memory.Trimmer(lambda: running[0])
    trimmer._trim = lambda pad: trims.append(pad) or 1  # count instead of trimming
    trimmer.idle()
    await poll_async(lambda: len(trims) == memory.QUIET_TRIMS)
    assert trimmer._pending is None  # the spell is over: no timer left
    # busy when the timer fires: no trim, and no timer until the next idle
    trims.clear()
    trimmer.idle()
    running[0] = 1
    await poll_async(lambda: trimmer._pending is None)
    assert trims == []
    running[0] = 0
    trimmer.idle()
    await poll_async(lambda: len(trims) == memory.QUIET_TRIMS)


async def poll_async(check: Callable[[], bool]) -> None:
    """Until ``check`` holds, for 10 s at most."""
    async with asyncio.timeout(10):
        while not check():  # noqa: ASYNC110 - the timers under test set no event
            await asyncio.sleep(0.01)


async def test_the_task_registry_is_compacted_for_the_tasks_alive() -> None:
    """After a burst of tasks, asyncio's registry keeps a table sized for all of them;
    compacting it gives the table back and keeps every live task registered."""
    import gc

    async def quick() -> None:
        await asyncio.sleep(0)

    async def burst() -> None:
        tasks = [asyncio.create_task(quick()) for _ in range(20_000)]
        await asyncio.wait(tasks)

    await burst()
    gc.collect()
    pending = asyncio.create_task(asyncio.sleep(60))
    try:
        registry = asyncio.tasks._all_tasks  # type: ignore[attr-defined]
        assert sys.getsizeof(registry.data) > 500_000  # a table for 20,000 tasks
        assert registry in memory.task_registries()
        assert memory.compact(registry)
        assert sys.getsizeof(registry.data) < 10_000
        assert {pending, asyncio.current_task()} <= asyncio.all_tasks()
    finally:
        pending.cancel()


def grown(kind: type) -> object:
    """A table grown for 20,000 items, of which 3 are left (as after a burst)."""
    keep = [Item(i) for i in range(20_000)]
    table: Any
    if kind in (set, weakref.WeakSet):
        table = kind()
        for item in keep:
            table.add(item)
        for item in keep[3:]:
            table.discard(item)
    else:
        table = kind()
        for i, item in enumerate(keep):
            table[item if kind is weakref.WeakKeyDictionary else i] = item
        for i, item in enumerate(keep[3:], start=3):
            del table[item if kind is weakref.WeakKeyDictionary else i]
    grown.kept = keep[:3]  # type: ignore[attr-defined]  # the weak collections' items
    return table


class Item:
    def __init__(self, n: int) -> None:
        self.n = n


def table_bytes(table: object) -> int:
    return sys.getsizeof(getattr(table, "data", table))


@pytest.mark.parametrize(
    "kind",
    [
        set,
        dict,
        OrderedDict,
        weakref.WeakSet,
        weakref.WeakKeyDictionary,
        weakref.WeakValueDictionary,
    ],
)
def test_compact_remakes_a_grown_table_in_place(kind: type) -> None:
    table: Any = grown(kind)
    before = list(table.items()) if hasattr(table, "items") else set(table)
    assert table_bytes(table) > 300_000
    same = id(table), id(getattr(table, "data", table))
    assert memory.compact(table)
    assert table_bytes(table) < 5_000
    assert (id(table), id(getattr(table, "data", table))) == same  # the same objects
    after = list(table.items()) if hasattr(table, "items") else set(table)
    assert after == before  # every item, in the same order for dicts
    assert not memory.compact(table)  # small now: left alone


def test_compact_leaves_full_tables_subclasses_and_open_iterations() -> None:
    full = set(range(20_000))
    size = sys.getsizeof(full)
    assert not memory.compact(full)
    assert sys.getsizeof(full) == size and len(full) == 20_000

    class Counting(dict):  # type: ignore[type-arg]  # a subclass's methods may do more
        pass

    sub: Any = grown(Counting)
    assert sys.getsizeof(sub) > 300_000
    assert not memory.compact(sub)
    assert sys.getsizeof(sub) > 300_000 and len(sub) == 3
    table: Any = grown(weakref.WeakSet)
    iterating = iter(table)
    next(iterating)  # an iteration is open: removals are deferred, the table is left
    assert not memory.compact(table)
    del iterating
    assert memory.compact(table)


def test_compact_tables_covers_the_loop_and_the_owners_given() -> None:
    """uvloop's loop keeps a set of live timers (a field of an extension type, not an
    attribute); after 20,000 timers came and went its table is compacted, as are the
    tables of the owners passed."""
    import uvloop

    class Owner:
        def __init__(self) -> None:
            self.running: Any = grown(set)
            self.small = {1: 2}

    async def burst() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        handles = [loop.call_later(60, lambda: None) for _ in range(20_000)]
        for handle in handles:
            handle.cancel()
        owner = Owner()
        before = sum(table_bytes(t) for t in memory.tables_of(loop))
        assert memory.compact_tables([owner]) >= 2
        after = sum(table_bytes(t) for t in memory.tables_of(loop))
        assert table_bytes(owner.running) < 5_000 and owner.small == {1: 2}
        return before, after

    runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        before, after = runner.run(burst())
    assert before > 500_000 and after < before - 500_000


async def test_the_trimmer_releases_caches_at_the_end_of_a_quiet_spell(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(memory, "IDLE_SECONDS", 0.01)
    monkeypatch.setattr(memory, "AGAIN_SECONDS", 0.01)
    steps: list[str] = []
    releases = [0]

    async def release() -> None:
        steps.append("release")
        releases[0] += 1
        if releases[0] > 1:
            raise RuntimeError("cannot")

    trimmer = memory.Trimmer(lambda: 0, lambda: [], release)
    trimmer._trim = lambda pad: steps.append("trim") or 1
    monkeypatch.setattr(memory.gc, "collect", lambda: steps.append("collect") or 0)
    trimmer.idle()
    await poll_async(lambda: steps.count("trim") == memory.QUIET_TRIMS)
    # released once, before the spell's last trim; a full collection (which holds the
    # loop) before the first trim and the last only
    middle = ["trim"] * (memory.QUIET_TRIMS - 2)
    assert steps == ["collect", "trim", *middle, "release", "collect", "trim"]
    steps.clear()
    with caplog.at_level("WARNING", logger="canvasflow.memory"):
        trimmer.idle()  # the next spell: a failed release is logged, the trims go on
        await poll_async(lambda: steps.count("trim") == memory.QUIET_TRIMS)
    assert steps[-3:] == ["release", "collect", "trim"]
    assert "releasing caches when idle failed" in caplog.text


MAPPED = """
import ctypes, sys
from canvasflow.observability import memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks "
                "fsmblks uordblks fordblks keepcost".split()]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
fixed = {fix} and memory.fix_mmap_threshold()
big = bytearray(2 << 20)  # mapped on its own; freeing it raises glibc's threshold...
del big
before = libc.mallinfo2().hblks
block = bytearray(512 << 10)  # ...so this one is carved from the heap, unless fixed
print(fixed, libc.mallinfo2().hblks - before)
"""


@pytest.mark.parametrize("fix", [False, True])
def test_a_fixed_mmap_threshold_keeps_large_blocks_out_of_the_heap(fix: bool) -> None:
    out = subprocess.run(
        [sys.executable, "-c", MAPPED.format(fix=fix)],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONMALLOC": "malloc"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == (["True", "1"] if fix else ["False", "0"])
