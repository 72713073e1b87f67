"""The ports of cluster mode. Where a prediction's events live while it runs and for a
while after (:class:`EventLog`), how an abort reaches the process running it
(:class:`Bus`), where queued jobs wait for a worker (:class:`JobStore`), who is alive
(:class:`Heartbeat`), and where rate limits are counted (:meth:`Bus.rate_storage`). A
backend implements them all in one module: the in-process one (the default) for one
process, Redis for several."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from canvasflow.events import Event

if TYPE_CHECKING:
    from limits.aio.storage import Storage


class EventsExpired(Exception):
    """The events asked for have left the log (ring buffer overflow or retention)."""


class EventLog(ABC):
    """The ordered events of one prediction. Ids count 1, 2, 3... within it."""

    @property
    @abstractmethod
    def last_id(self) -> int: ...

    @property
    @abstractmethod
    def closed(self) -> bool: ...

    async def current_last_id(self) -> int:
        """The id of the last event written so far (asks the backend if it must)."""
        return self.last_id

    @abstractmethod
    def append(self, event: Event) -> Event:
        """Give the event the next id, store it and wake every follower."""

    @abstractmethod
    def close(self) -> None:
        """No more events: followers return after the last one."""

    @abstractmethod
    def follow(self, after: int = 0, ping: float | None = None) -> AsyncIterator[Event | None]:
        """Events with id > ``after``, then live ones until closed. Yields ``None`` when
        ``ping`` seconds pass with nothing new, so the caller can send a heartbeat."""


class Heartbeat(ABC):
    """Who is alive. A process or a worker marks itself for ``ttl`` seconds at a time;
    once its marks stop, it counts as gone (and so does what it ran)."""

    @abstractmethod
    async def beat(
        self, kind: str, name: str, ttl: float, info: dict[str, Any] | None = None
    ) -> bool:
        """Mark ``name`` (of ``kind``: ``node``, ``worker``) alive; False if the mark
        could not be written (the store is away)."""

    @abstractmethod
    async def alive(self, kind: str, name: str) -> bool: ...

    @abstractmethod
    async def members(self, kind: str) -> list[dict[str, Any]]:
        """The ``info`` of every ``kind`` alive."""

    @abstractmethod
    async def forget(self, kind: str, name: str) -> None:
        """``name`` stops on purpose: gone at once, not after its ``ttl``."""


@dataclass(frozen=True, slots=True)
class JobState:
    """What the job store knows of one job: its payload (None once expired), the process
    that started it, and the code it was given up with (set once)."""

    payload: bytes | None
    started_on: str | None
    final: str | None


class JobStore(ABC):
    """Queued jobs waiting for a worker: each taken by one worker of the group, and
    acknowledged once done. Jobs are opaque bytes here; ``canvasflow.queue`` says what
    they hold."""

    @abstractmethod
    async def ensure(self) -> None:
        """Make the queue and the workers' group (again, after the store lost them)."""

    @abstractmethod
    async def depth(self) -> int:
        """Jobs put on the queue that no worker has taken yet."""

    @abstractmethod
    async def put(self, pid: str, payload: bytes, ttl: float, cap: int) -> None:
        """Queue a job; its payload is kept ``ttl`` seconds, the queue at most ``cap``."""

    @abstractmethod
    async def take(self, consumer: str, wait: float) -> list[tuple[Any, str]]:
        """Up to one job for ``consumer``, waiting up to ``wait`` seconds: (entry, pid)."""

    @abstractmethod
    async def ack(self, entry: Any) -> None:
        """The job taken as ``entry`` is done."""

    @abstractmethod
    async def state(self, pid: str) -> JobState: ...

    @abstractmethod
    async def give_up(self, pid: str, code: str, ttl: float) -> bool:
        """Mark the job finished as lost; True only for the one caller that did."""


class Bus(ABC):
    # whether several processes share it (cluster mode, queue mode)
    shared: bool = False
    # how long a finished prediction's events are kept
    retention: float = 600.0
    # called when a follower has waited a while for news of a prediction run elsewhere
    # (queue mode uses it to notice a worker that died)
    on_idle: Callable[[str, int], Awaitable[None]] | None = None
    # this process's name among those alive
    node_id: str = "local"
    heartbeat: Heartbeat
    jobs: JobStore

    @abstractmethod
    def rate_storage(self) -> Storage:
        """Where rate limits are counted (the ``limits`` library's storage)."""

    @abstractmethod
    def remote_log(self, prediction_id: str) -> EventLog:
        """The log of a prediction another process (a worker) will write."""

    @abstractmethod
    async def replay(self, prediction_id: str) -> list[Event]:
        """Every event of a prediction still kept, in order."""

    @abstractmethod
    def resume_log(self, prediction_id: str, last_id: int) -> EventLog:
        """A log to finish a prediction whose process is gone: it writes after
        ``last_id``. Its ``flushed()`` returns once what it wrote is stored."""

    @abstractmethod
    def open_log(self, prediction_id: str) -> EventLog: ...

    @abstractmethod
    async def get_log(self, prediction_id: str) -> EventLog | None:
        """The log of a running or recently finished prediction, None if unknown."""

    @abstractmethod
    def add_running(self, canvas_id: str, chat_id: str, abort: Callable[[], None]) -> None: ...

    @abstractmethod
    def remove_running(self, canvas_id: str, chat_id: str) -> None: ...

    @abstractmethod
    async def abort(self, canvas_id: str, chat_id: str) -> bool:
        """Stop the prediction running for that chat. False when none runs."""

    async def flushed(self, log: EventLog) -> None:  # noqa: B027 - optional hook
        """Wait until what ``log`` was given is stored (at once, in one process)."""

    async def running_elsewhere(self, prediction_id: str) -> bool:
        """Whether another live process runs that prediction (never, in one process)."""
        return False

    async def kept_text(self, prediction_id: str) -> str:
        """The answer's tokens still kept for a prediction whose process died."""
        return ""

    async def healthy(self) -> bool:
        """Whether new predictions can be taken (a shared store answers)."""
        return True

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect, subscribe: called once when the process starts."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def stats(self) -> tuple[int, int]:
        """(event logs held by this process, events in them)."""
        return (0, 0)
