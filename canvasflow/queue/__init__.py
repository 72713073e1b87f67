"""Queue mode: web processes accept predictions and put them on a Redis Stream; workers
(``canvasflow worker``) run them. Above the engine: it runs ``Prediction`` and reduces
events with ``Outcome``; nothing below the engine imports it."""

from canvasflow.queue.jobs import JobQueue, JobSpec, QueueFull
from canvasflow.queue.remote import RemotePrediction

__all__ = ["JobQueue", "JobSpec", "QueueFull", "RemotePrediction"]
