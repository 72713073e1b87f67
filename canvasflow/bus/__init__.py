"""Event logs and abort signals shared between the engine and the server."""

from canvasflow.bus.base import Bus, EventLog, EventsExpired
from canvasflow.bus.memory import MemoryBus, MemoryEventLog

__all__ = ["Bus", "EventLog", "EventsExpired", "MemoryBus", "MemoryEventLog"]
