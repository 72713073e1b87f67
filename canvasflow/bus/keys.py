"""Every Redis key and channel canvasflow uses, in one place."""

from __future__ import annotations

ABORT_CHANNEL = "cf:abort"  # pub/sub: "canvas id\nchat id" of a prediction to stop
JOBS = "cf:jobs"  # stream of queued jobs (queue mode)
GROUP = "cf-workers"  # the workers' consumer group on JOBS


def events(prediction_id: str) -> str:
    """A prediction's event log (a stream with entry ids 0-n)."""
    return f"cf:ev:{prediction_id}"


def running(canvas_id: str, chat_id: str) -> str:
    """Set while a prediction runs for that chat: which process runs it."""
    return f"cf:run:{canvas_id}:{chat_id}"


def job(prediction_id: str) -> str:
    """A queued job's spec (queue mode)."""
    return f"cf:job:{prediction_id}"


def heartbeat(kind: str, name: str) -> str:
    """A heart-beat (expires when its owner dies). ``node``: a process (a prediction is
    alive while the process named in its ``started`` key is); ``worker``: a worker's
    load (queue mode). ``name`` ``*`` makes the pattern of every one of a kind."""
    if kind == "node":
        return f"cf:node:{name}:alive"
    return f"cf:{kind}:{name}"


def started(prediction_id: str) -> str:
    """Set when a process starts running the prediction."""
    return f"cf:job:{prediction_id}:started"


def final(prediction_id: str) -> str:
    """Set once by the one process that finishes a lost prediction."""
    return f"cf:job:{prediction_id}:final"


def memory(canvas_id: str, session: str) -> str:
    """A Redis-backed chat memory's messages on the server's own Redis (a node with its
    own Redis keeps the session id as its key). Its own prefix, kept since the first
    release: a session id cannot name the server's keys."""
    return f"canvasflow:memory:{canvas_id}:{session}"
