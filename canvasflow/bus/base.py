"""Where a prediction's events live while it runs and for a while after, and how an
abort reaches the process running it. The in-process backend is the default; a Redis
backend implements the same interface for several processes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable

from canvasflow.events import Event


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


class Bus(ABC):
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
