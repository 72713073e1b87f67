"""Queue mode: web processes accept predictions and put them on the bus's job queue;
workers (``canvasflow worker``) run them. Above the engine: it runs ``Prediction`` and reduces
events with ``Outcome``; nothing below the engine imports it."""

from canvasflow.queue.jobs import Job, JobQueue, QueueFull
from canvasflow.queue.remote import RemotePrediction

__all__ = ["Job", "JobQueue", "QueueFull", "RemotePrediction"]
